"""Dead-token feedback (ours): why a push service rejected an address, which becomes the detail
of the removal of the binding that held it (its change event carries it)."""

from __future__ import annotations

from enum import StrEnum


class DeadTokenReason(StrEnum):
    """How the push service rejected the address."""

    UNREGISTERED = "unregistered"  # the app was uninstalled, or the token expired or rotated
    INVALID = "invalid"  # the token was never valid for this app or environment
