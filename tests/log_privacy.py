"""What no log line may contain: the values a privacy test feeds the API, in every form they
can take on the way (percent-encoded, form-encoded, JSON-escaped, inside a Basic header).

Identities, addresses and tags are personal data; auth tokens, API key secrets, Basic header
values and the page token secret are secrets. Logs name accounts, Services and bindings by SID
and say nothing else of them.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from tests.factories import basic


def distinctive(label: str) -> str:
    """A value no log line could contain by chance."""
    return f"{label}-{secrets.token_hex(8)}"


def phone_number() -> str:
    return "+1" + "".join(secrets.choice("0123456789") for _ in range(12))


def messenger_id() -> str:
    return "".join(secrets.choice("123456789") for _ in range(16))


@dataclass
class Unloggable:
    """The values of a scenario that must never reach a log, by kind."""

    personal: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)

    def identity(self, label: str = "identity") -> str:
        # '@', '+' and '.' change under percent- and form-encoding: those forms are checked too.
        value = f"{distinctive(label)}+user@example.org"
        self.personal.add(value)
        return value

    def address(self, value: str) -> str:
        self.personal.add(value)
        return value

    def tag(self) -> str:
        value = distinctive("tag")
        self.personal.add(value)
        return value

    def secret(self, value: str) -> str:
        self.secrets.add(value)
        return value

    def authorization(self, username: str, password: str) -> str:
        """A Basic header for the credentials: the password, the header and its base64 value
        are all secret."""
        header = basic(username, password)
        self.secrets.update({password, header, header.removeprefix("Basic ")})
        return header

    def forms(self) -> dict[str, str]:
        """Every form of every value -> what it is."""
        found: dict[str, str] = {}
        for kind, values in (("personal data", self.personal), ("secret", self.secrets)):
            for value in values:
                for form in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)):
                    found[form.strip('"')] = f"{kind} {value!r}"
        return found

    def leaks(self, text: str) -> dict[str, str]:
        """The forms found in `text`, and what each is."""
        return {form: what for form, what in self.forms().items() if form in text}
