"""The User operations (ours): an identity and its bindings - fetch, list, list its bindings,
and erase it. A User exists while its identity has bindings; any other is a 404."""

from __future__ import annotations

from notify_bindings import dependencies
from notify_bindings.domain.bindings import Binding, BindingFilters
from notify_bindings.domain.paging import KeyCursor, Listing, PageCursor, key_listing, sid_listing
from notify_bindings.domain.services import MissingService
from notify_bindings.domain.users import User, user_path, user_sid
from notify_bindings.platform.errors import NotFound
from notify_bindings.platform.observability import count, logger


def fetch_user(account_sid: str, service_sid: str, identity: str) -> User:
    user = dependencies.binding_store().get_user(account_sid, service_sid, identity)
    if user is None:
        raise NotFound(user_path(service_sid, identity))
    return user


def list_user_bindings(
    account_sid: str,
    service_sid: str,
    filters: BindingFilters,
    cursor: PageCursor | None,
    size: int,
) -> Listing[Binding, PageCursor]:
    """A page of the bindings of the identity `filters` names."""
    (identity,) = filters.identities
    path = f"{user_path(service_sid, identity)}/Bindings"
    try:
        page = dependencies.binding_store().list_user_bindings(
            account_sid, service_sid, filters, cursor, size
        )
    except MissingService:
        raise NotFound(path) from None
    if page is None:
        raise NotFound(path)
    return sid_listing(page, lambda binding: binding.sid, cursor)


def list_users(
    account_sid: str, service_sid: str, cursor: KeyCursor | None, size: int
) -> Listing[User, KeyCursor]:
    try:
        page = dependencies.binding_store().list_users_page(account_sid, service_sid, cursor, size)
    except MissingService:
        raise NotFound(f"/Services/{service_sid}/Users") from None
    return key_listing(page, lambda user: user.identity, cursor)


def delete_user(account_sid: str, service_sid: str, identity: str) -> None:
    """Erase the identity: every binding of it, at once to every reader."""
    try:
        erased = dependencies.binding_store().erase(account_sid, service_sid, identity)
    except MissingService:
        erased = False
    if not erased:
        raise NotFound(user_path(service_sid, identity))
    count("UsersErased")
    # The identity is personal data: the User is named by its SID, derived from it.
    logger.info(
        "User erased",
        extra={"service_sid": service_sid, "user_sid": user_sid(service_sid, identity)},
    )
