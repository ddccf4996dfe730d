"""What the conformance tests share: the local API with objects that generated cases can act
on (the tally of what those cases got back is in tally.py).

Generated path parameters are mostly well-formed SIDs that name nothing, and would only ever
meet a 404. `Target.prepare` swaps each well-formed one for a SID that exists: a Service of
the account (a fresh one for a delete) and a binding in it (a fresh one for a delete). Malformed
SIDs, which negative generation makes on purpose, go out as they are. Likewise an identity (the
Users paths) that an identity can be becomes one with a binding: a fresh one for a delete.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from pydantic import ValidationError

from notify_bindings.api.requests.users import UserPath
from tests.e2e.support import Credentials

SID = re.compile(r"^(IS|BS|NT)[0-9a-fA-F]{32}$")
IDENTITY = "conformance"  # the identity of the target's binding


@dataclass
class Target:
    """The local API, with a Service and a binding that generated cases can act on."""

    url: str
    account: Credentials
    http: requests.Session
    service: str = ""
    binding: str = ""
    created: list[str] = field(default_factory=list)
    addresses: Iterator[int] = field(default_factory=itertools.count)
    notification_sid: str | None = None

    @property
    def auth(self) -> tuple[str, str]:
        return (self.account.username, self.account.password)

    def post(self, path: str, form: dict[str, str]) -> str:
        reply = self.http.post(self.url + path, data=form, auth=self.auth, timeout=30)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["sid"])

    def new_service(self) -> str:
        sid = self.post("/v1/Services", {"FriendlyName": "conformance"})
        self.created.append(sid)
        return sid

    def new_binding(self, service: str, identity: str = IDENTITY) -> str:
        address = f"conformance-{next(self.addresses)}"  # a new one: not a replace
        return self.post(
            f"/v1/Services/{service}/Bindings",
            {"Identity": identity, "BindingType": "fcm", "Address": address},
        )

    def notification(self) -> str:
        """A notification of the Service (to its identity), made once."""
        if self.notification_sid is None:
            path = f"/v1/Services/{self.service}/Notifications"
            self.notification_sid = self.post(path, {"Identity": IDENTITY, "Body": "Hi"})
        return self.notification_sid

    def new_identity(self, service: str) -> str:
        identity = f"{IDENTITY}-{next(self.addresses)}"
        self.new_binding(service, identity)
        return identity

    def prepare(self, case: Any) -> None:
        """Point the case's well-formed SIDs at objects that exist."""
        parameters = case.path_parameters
        if not parameters:
            return
        deletes = case.method.upper() == "DELETE"
        if "ServiceSid" in parameters:  # a binding path: /v1/Services/{ServiceSid}/Bindings...
            if _well_formed(parameters["ServiceSid"]):
                parameters["ServiceSid"] = self.service
            if _well_formed(parameters.get("Sid")) and case.path.endswith("/Notifications/{Sid}"):
                parameters["Sid"] = self.notification()
            elif _well_formed(parameters.get("Sid")):
                ours = parameters["ServiceSid"] == self.service
                fresh = deletes and ours
                parameters["Sid"] = self.new_binding(self.service) if fresh else self.binding
            if _possible_identity(parameters.get("Identity")):  # a Users path
                ours = parameters["ServiceSid"] == self.service
                fresh = deletes and ours
                parameters["Identity"] = self.new_identity(self.service) if fresh else IDENTITY
        elif _well_formed(parameters.get("Sid")):  # a Service path: /v1/Services/{Sid}
            parameters["Sid"] = self.new_service() if deletes else self.service

    def delete_created(self) -> None:
        for sid in self.created:
            self.http.delete(f"{self.url}/v1/Services/{sid}", auth=self.auth, timeout=30)


def _well_formed(value: object) -> bool:
    return isinstance(value, str) and SID.match(value) is not None


def _possible_identity(value: object) -> bool:
    """Whether a generated path segment names an identity a binding may have."""
    if not isinstance(value, str):
        return False
    try:
        UserPath.model_validate({"Identity": quote(value, safe="")})
    except ValidationError:
        return False
    return True
