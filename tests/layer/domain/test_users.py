"""The path of a User's resource: its identity percent-encoded as one segment that no client
rewrites."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from notify_bindings.domain.users import user_path

SERVICE = "IS" + "3" * 32


@pytest.mark.parametrize(
    ("identity", "segment"),
    [
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("...", "..."),
        ("a.b", "a.b"),
        ("./x", ".%2Fx"),
        ("alice smith/1", "alice%20smith%2F1"),
        ("%2E", "%252E"),
    ],
)
def test_given_an_identity_then_its_segment_is_never_a_dot_segment_and_decodes_back(
    identity, segment
):
    path = user_path(SERVICE, identity)

    assert path == f"/v1/Services/{SERVICE}/Users/{segment}"
    assert unquote(path.rsplit("/", 1)[1]) == identity
