"""The User operations (ours): an identity and its bindings - fetch, list, list its bindings,
and erase it. A User exists while its identity has bindings; any other is a 404."""

from __future__ import annotations

from typing import TYPE_CHECKING

from notify_bindings import dependencies
from notify_bindings.models import Binding
from notify_bindings.paging import Listing, cursor_of, listing
from notify_bindings.platform.errors import NotFound
from notify_bindings.platform.observability import count, logger
from notify_bindings.store import MissingService
from notify_bindings.tokens import KeyCursor
from notify_bindings.user_models import ListUsersQuery, User, user_path, user_sid

if TYPE_CHECKING:
    from notify_bindings.binding_forms import ListUserBindingsQuery


def fetch_user(account_sid: str, service_sid: str, identity: str) -> User:
    user = dependencies.binding_store().get_user(account_sid, service_sid, identity)
    if user is None:
        raise NotFound(user_path(service_sid, identity))
    return user


def list_user_bindings(
    account_sid: str, service_sid: str, identity: str, query: ListUserBindingsQuery
) -> Listing[Binding]:
    path = f"{user_path(service_sid, identity)}/Bindings"
    # The identity is in the scope the token is signed for, so it is bound to this User.
    scope, signed = f"/Services/{service_sid}/Users/{identity}/Bindings", query.query_pairs()
    cursor = cursor_of(query.page_token, scope, signed)
    try:
        page = dependencies.binding_store().list_user_bindings(
            account_sid, service_sid, query.filters(identity), cursor, query.page_size
        )
    except MissingService:
        raise NotFound(path) from None
    if page is None:
        raise NotFound(path)
    return listing(page, lambda binding: binding.sid, cursor, scope, signed)


def list_users(account_sid: str, service_sid: str, query: ListUsersQuery) -> Listing[User]:
    scope = f"/Services/{service_sid}/Users"
    tokens = dependencies.page_tokens()
    cursor = tokens.read_key(query.page_token, scope, []) if query.page_token else None
    try:
        page = dependencies.binding_store().list_users_page(
            account_sid, service_sid, cursor, query.page_size
        )
    except MissingService:
        raise NotFound(scope) from None

    def token(at: KeyCursor | None) -> str | None:
        return tokens.issue_key(scope, [], at) if at is not None else None

    return Listing(page.items, token(page.after), token(page.before))


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
