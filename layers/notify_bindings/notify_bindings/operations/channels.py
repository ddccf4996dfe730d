"""A notification's generic fields mapped onto each channel: pure functions, no I/O.

As Twilio Notify mapped them (docs/api.md, "Sending"):

- APNs: `aps.alert.title` / `aps.alert.body` <- Title / Body, `aps.sound` <- Sound,
  `aps.category` <- Action, Data's keys at the payload's root beside `aps`; then the `Apn`
  override merged in. `apns-priority` 10 (high) or 5 (low), `apns-expiration` now + Ttl (0 -> 0:
  try once). `apns-push-type` is `alert` when the merged `aps` shows something (an alert, a
  sound or a badge), else `background` - which Apple requires at priority 5, so a background
  push is always sent at 5. The topic is the credential's.
- FCM HTTP v1 (fcm and gcm bindings alike; GCM's API is gone): a data-only message, as Twilio
  sent: `data.twi_body`, `twi_title`, `twi_sound`, `twi_action` and Data's keys (values that are
  not strings JSON-encoded: v1 takes strings only); `android.priority` HIGH or NORMAL,
  `android.ttl` "<Ttl>s". Then the binding type's own override (`Fcm` for fcm, `Gcm` for gcm),
  written in the legacy FCM HTTP keys Notify took, translated to v1 (see `legacy_to_v1`) and
  merged in.
- SMS: a Message through the Service's Messaging Service: To = the address, Body (`Sms.body`
  wins over Body), MediaUrl <- `Sms.media_urls`, StatusCallback <- `Sms.status_callback`,
  MaxPrice <- `Sms.max_price`.

Merging is JSON Merge Patch (RFC 7396): an object in the override is merged key by key into the
generic one, recursively; any other value replaces; `null` removes the key. So
`Apn={"aps":{"alert":{"title":"X"}}}` changes the title and keeps the generic body.

`notification_protocol_version` does not change the payload: the versions Twilio documented
(APNs and FCM "3") all sent the mapping above, and no other is known.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notify_bindings.domain.notifications import Notification, Priority
from notify_bindings.providers.apns import ApnsNotification

# The legacy FCM `notification` keys that v1 keeps at message.notification; the others go to
# android.notification (android_channel_id under its v1 name).
_COMMON_NOTIFICATION_KEYS = frozenset({"title", "body", "image"})
_RENAMED_ANDROID_NOTIFICATION_KEYS = {"android_channel_id": "channel_id"}
# Legacy root keys with a v1 home under message.android.
_ANDROID_KEYS = {
    "collapse_key": "collapse_key",
    "restricted_package_name": "restricted_package_name",
    "direct_boot_ok": "direct_boot_ok",
}
_LEGACY_PRIORITIES = {"high": "HIGH", "normal": "NORMAL", "10": "HIGH", "5": "NORMAL"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: `patch` applied to `target`; neither is changed."""
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def apns_request(notification: Notification, device_token: str, now: float) -> ApnsNotification:
    """The APNs request of `notification` for one device token, at Unix time `now`."""
    alert = {
        key: value
        for key, value in (("title", notification.title), ("body", notification.body))
        if value is not None
    }
    aps: dict[str, Any] = {}
    if alert:
        aps["alert"] = alert
    if notification.sound is not None:
        aps["sound"] = notification.sound
    if notification.action is not None:
        aps["category"] = notification.action
    payload: dict[str, Any] = {**(notification.data or {}), "aps": aps}
    if notification.apn is not None:
        payload = merge_patch(payload, notification.apn)
    merged_aps = payload.get("aps")
    shows = isinstance(merged_aps, Mapping) and any(
        merged_aps.get(key) not in (None, "", {}) for key in ("alert", "sound", "badge")
    )
    high = notification.priority is Priority.HIGH and shows
    return ApnsNotification(
        device_token=device_token,
        payload=payload,
        push_type="alert" if shows else "background",
        priority=10 if high else 5,
        expiration=0 if notification.ttl == 0 else int(now) + notification.ttl,
    )


def fcm_message(
    notification: Notification, registration_token: str, *, gcm: bool
) -> dict[str, Any]:
    """The FCM HTTP v1 `message` of `notification` for one registration token; `gcm` takes the
    `Gcm` override instead of `Fcm`."""
    data = {
        f"twi_{name}": value
        for name, value in (
            ("body", notification.body),
            ("title", notification.title),
            ("sound", notification.sound),
            ("action", notification.action),
        )
        if value is not None
    }
    data.update(notification.data or {})
    message: dict[str, Any] = {
        "token": registration_token,
        "android": {
            "priority": "HIGH" if notification.priority is Priority.HIGH else "NORMAL",
            "ttl": f"{notification.ttl}s",
        },
    }
    if data:
        message["data"] = data
    override = notification.gcm if gcm else notification.fcm
    if override:
        message = merge_patch(message, legacy_to_v1(override))
    if "data" in message:
        message["data"] = string_values(message["data"])
    message["token"] = registration_token  # an override never redirects the message
    return message


def legacy_to_v1(override: Mapping[str, Any]) -> dict[str, Any]:
    """Notify's `Fcm`/`Gcm` override, in legacy FCM HTTP keys, as a patch of a v1 message:
    notification.{title,body,image} -> notification; notification's other keys -> android.
    notification (android_channel_id -> channel_id); data -> data; priority high/normal ->
    android.priority; time_to_live N -> android.ttl "Ns"; collapse_key, restricted_package_name,
    direct_boot_ok -> android; content_available / mutable_content true -> apns.payload.aps
    content-available / mutable-content 1. Other keys (dry_run, targets) are not carried."""
    patch: dict[str, Any] = {}
    android: dict[str, Any] = {}
    legacy_notification = override.get("notification")
    if isinstance(legacy_notification, Mapping):
        common, on_android = _split_notification(legacy_notification)
        if common:
            patch["notification"] = common
        if on_android:
            android["notification"] = on_android
    if isinstance(override.get("data"), Mapping):
        patch["data"] = dict(override["data"])
    priority = _LEGACY_PRIORITIES.get(str(override.get("priority", "")).lower())
    if priority is not None:
        android["priority"] = priority
    ttl = override.get("time_to_live")
    if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl >= 0:
        android["ttl"] = f"{ttl}s"
    android.update({v1: override[key] for key, v1 in _ANDROID_KEYS.items() if key in override})
    if android:
        patch["android"] = android
    aps = {
        name: 1
        for key, name in (
            ("content_available", "content-available"),
            ("mutable_content", "mutable-content"),
        )
        if override.get(key) is True
    }
    if aps:
        patch["apns"] = {"payload": {"aps": aps}}
    return patch


def _split_notification(legacy: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    common, on_android = {}, {}
    for key, value in legacy.items():
        if key in _COMMON_NOTIFICATION_KEYS:
            common[key] = value
        else:
            on_android[_RENAMED_ANDROID_NOTIFICATION_KEYS.get(key, key)] = value
    return common, on_android


def string_values(data: Mapping[str, Any]) -> dict[str, str]:
    """FCM v1's data map takes strings only: any other value as its JSON text."""
    return {
        str(key): value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for key, value in data.items()
    }


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """The parameters of the Message an sms delivery creates."""

    to: str
    messaging_service_sid: str
    body: str | None = None
    media_urls: tuple[str, ...] = ()
    status_callback: str | None = None
    max_price: str | None = None


def sms_message(notification: Notification, to: str, messaging_service_sid: str) -> SmsMessage:
    sms = notification.sms or {}
    body = sms.get("body") if isinstance(sms.get("body"), str) else notification.body
    media = sms.get("media_urls")
    media_urls = (
        tuple(url for url in media if isinstance(url, str)) if isinstance(media, list) else ()
    )
    callback = sms.get("status_callback")
    max_price = sms.get("max_price")
    return SmsMessage(
        to=to,
        messaging_service_sid=messaging_service_sid,
        body=body,
        media_urls=media_urls,
        status_callback=callback if isinstance(callback, str) else None,
        max_price=None if max_price is None or isinstance(max_price, bool) else str(max_price),
    )
