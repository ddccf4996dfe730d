"""cfn-lint on template.yaml: what `make lint` runs, as a test, so `pytest` alone catches it too."""

from __future__ import annotations

import copy
import json
from typing import Any

from cfnlint.api import lint, lint_file

from local_api.template import TEMPLATE_PATH


def _described(matches: list[Any]) -> list[str]:
    return [f"{match.rule.id} line {match.linenumber}: {match.message}" for match in matches]


def test_given_the_template_when_cfn_lint_checks_it_then_it_reports_nothing():
    matches = lint_file(TEMPLATE_PATH)

    assert _described(matches) == []


def test_given_a_template_with_a_retired_runtime_when_cfn_lint_checks_it_then_it_reports_it(
    sam_document,
):
    # Shows that the check above lints this template for real: the same document, one fault.
    broken = copy.deepcopy(sam_document)
    broken["Globals"]["Function"]["Runtime"] = "python3.6"

    matches = lint(json.dumps(broken))

    assert any("python3.6" in message for message in _described(matches)), _described(matches)
