"""A command's output: results to stdout, as text or JSON; notes and warnings to stderr."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class Output:
    """Results to stdout, as text or JSON; notes and warnings to stderr.

    JSON keeps non-ASCII text as it is (UTF-8) unless `ensure_ascii`: notify-migrate's
    summaries quote identities and reasons in any script."""

    as_json: bool
    # The streams of when the output is made, not of when this module was imported: a caller
    # that redirects sys.stdout (a test running a command's main()) gets what it printed.
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    ensure_ascii: bool = True

    def result(self, data: Any, text: str) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, ensure_ascii=self.ensure_ascii), file=self.out)
        elif text:
            print(text, file=self.out)

    def note(self, text: str) -> None:
        print(text, file=self.err)
