"""The README and docs/ stay true to the repository they describe.

- the README is a short guide: at most 200 lines (the rest lives in docs/);
- every relative link of README.md and docs/*.md reaches a file of the repository, and every
  anchor a heading of its page (as GitHub makes anchors of headings);
- no page names an absolute path of some machine;
- every `make <target>` a page names is a target of the Makefile;
- every variable a page gives `make run` (`NAME=value make run`, or the table of its
  environment in docs/development.md) is one it can act on: `make run` sets the functions'
  environment from the template alone (plus its own settings, read by local_api and the
  Makefile), so a variable only the layer reads would silently do nothing there.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200

FENCE = re.compile(r"^ {0,3}(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"`([^`]+)`")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~/}$…-])/(?:work|home|Users|tmp|root|var|opt|usr|etc|mnt|srv|private|Volumes)/"
    r"|(?<![\w/])~/"
    r"|\b[A-Za-z]:\\"
    r"|file://"
)
ASSIGNMENTS = r"((?:[A-Z][A-Z0-9_]*=\S*\s+)*)"
MAKE = re.compile(r"(?:^|[\s;&|(])" + ASSIGNMENTS + r"make\s+" + ASSIGNMENTS + r"([a-z][a-z0-9-]*)")
VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")
MAKEFILE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", re.MULTILINE)
MAKE_RUN_ENVIRONMENT = "`make run` and its environment"


def split(text: str) -> tuple[str, str]:
    """The page's prose and the text of its fenced code blocks, each joined by newlines."""
    prose: list[str] = []
    code: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is not None:
            code.append(line)
        else:
            prose.append(line)
    return "\n".join(prose), "\n".join(code)


def code_spans(prose: str) -> list[str]:
    """Inline code, a line break inside a span read as a space, as Markdown renders it."""
    return [" ".join(span.split()) for span in CODE_SPAN.findall(prose)]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its rendered text lower-cased, punctuation dropped."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose, _ = split(page.read_text(encoding="utf-8"))
    seen: Counter[str] = Counter()
    found: set[str] = set()
    for line in prose.splitlines():
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    prose, _ = split(page.read_text(encoding="utf-8"))
    return LINK.findall(CODE_SPAN.sub("", prose))


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of `page` that reaches no file of `root`, or no heading of its page."""
    broken = []
    for target in links(page):
        if SCHEME.match(target):
            continue  # a web address: not this repository's to check
        path, _, anchor = target.partition("#")
        reached = (page.parent / path).resolve() if path else page
        if not reached.is_relative_to(root.resolve()) or not reached.exists():
            broken.append(f"{target}: no such file")
        elif anchor and reached.suffix == ".md" and anchor not in anchors(reached):
            broken.append(f"{target}: no heading with that anchor")
    return broken


def make_commands(page: Path) -> list[tuple[str, list[str]]]:
    """Each `make <target>` the page names in code, with the variables given to it."""
    prose, code = split(page.read_text(encoding="utf-8"))
    found = []
    for text in [*code_spans(prose), *code.splitlines()]:
        for before, after, target in MAKE.findall(text):
            found.append((target, VARIABLE.findall(before + " " + after)))
    return found


def makefile_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(MAKEFILE_TARGET.findall(makefile))


def make_run_environment_table() -> list[str]:
    """The variables in the first column of development.md's table of `make run`'s
    environment."""
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    section = text.split(f"## {MAKE_RUN_ENVIRONMENT}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [name for row in rows for name in VARIABLE.findall(row.split("|")[1])]


def read_by_make_run(name: str) -> bool:
    """Whether `make run` can act on variable `name`: the template declares it for the
    functions, or the local API or the Makefile reads it."""
    sources = [
        ROOT / "template.yaml",
        ROOT / "Makefile",
        *sorted((ROOT / "local_api").glob("*.py")),
    ]
    word = re.compile(rf"\b{re.escape(name)}\b")
    return any(word.search(source.read_text(encoding="utf-8")) for source in sources)


# -- the checks --------------------------------------------------------------------------


def test_given_the_readme_then_it_is_a_short_guide():
    lines = README.read_text(encoding="utf-8").splitlines()

    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_given_a_page_then_every_relative_link_reaches_a_file_and_heading(page: Path):
    assert broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_given_a_page_then_it_names_no_absolute_path(page: Path):
    text = page.read_text(encoding="utf-8")

    assert [match.group(0) for match in ABSOLUTE_PATH.finditer(text)] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_given_a_page_then_every_make_target_it_names_exists(page: Path):
    targets = makefile_targets()

    assert [t for t, _ in make_commands(page) if t not in targets] == []


def test_given_the_docs_then_every_variable_given_to_make_run_is_one_it_reads():
    given = [
        name
        for page in PAGES
        for target, names in make_commands(page)
        if target == "run"
        for name in names
    ]
    named = [*given, *make_run_environment_table()]

    assert [name for name in named if not read_by_make_run(name)] == []


# -- the checks can fail ------------------------------------------------------------------


def test_given_the_docs_then_the_checks_find_what_they_check():
    every_link = [target for page in PAGES for target in links(page)]
    relative = [target for target in every_link if not SCHEME.match(target)]
    commands = [command for page in PAGES for command in make_commands(page)]
    given_to_run = [names for target, names in commands if target == "run" and names]

    assert len(relative) >= 20
    assert any("#" in target for target in relative)
    assert {"run", "test", "invoke", "audit", "bench", "lock"} <= {t for t, _ in commands}
    assert ["AUTH_CACHE_SECONDS"] in given_to_run
    assert {"PORT", "NOTIFY_DEV_ACCOUNTS", "TTL_SWEEP_SECONDS"} <= set(make_run_environment_table())


def test_given_headings_then_their_anchors_are_githubs(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n## `make run` and its environment\n## Binding expiry (ours)\n"
        "## Erasure, and what readers see\n## Notes\n## Notes\n```\n# not a heading\n```\n",
        encoding="utf-8",
    )

    assert anchors(page) == {
        "title",
        "make-run-and-its-environment",
        "binding-expiry-ours",
        "erasure-and-what-readers-see",
        "notes",
        "notes-1",
    }


def test_given_a_page_with_broken_links_then_each_is_reported(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "architecture.md").write_text("# Architecture\n## Data model\n", encoding="utf-8")
    (docs / "operations.md").write_text("# Operations\n", encoding="utf-8")
    (tmp_path.parent / "outside.md").write_text("# Outside\n", encoding="utf-8")
    page = docs / "api.md"
    page.write_text(
        "[ok](architecture.md#data-model) [file](missing.md) [anchor](operations.md#nowhere)\n"
        "[up](../../outside.md) [web](https://example.com/x) [here](#api) `[code](gone.md)`\n"
        "# API\n```\n[fenced](gone-too.md)\n```\n",
        encoding="utf-8",
    )

    assert broken_links(page, tmp_path) == [
        "missing.md: no such file",
        "operations.md#nowhere: no heading with that anchor",
        "../../outside.md: no such file",
    ]


def test_given_commands_then_make_targets_and_their_variables_are_read(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "Run `AUTH_CACHE_SECONDS=0 make run`, then `make test PYTEST_WORKERS=0`; `make` alone,\n"
        "or `TTL_SWEEP_SECONDS=3600 make\nrun`.\n```sh\nsam build   # or: make build\n```\n",
        encoding="utf-8",
    )

    assert make_commands(page) == [
        ("run", ["AUTH_CACHE_SECONDS"]),
        ("test", []),
        ("run", ["TTL_SWEEP_SECONDS"]),
        ("build", []),
    ]


def test_given_paths_then_only_a_machines_absolute_ones_are_refused():
    allowed = (
        "GET /v1/Services, /aws/lambda/<function>, layers/notify_bindings/, .venv/bin/pytest, "
        "DELETE …/Users/{Identity}, /v1/Services/{ServiceSid}/Users/{Identity}"
    )
    refused = ["/home/someone/x", "see /tmp/out.json", "C:\\Users\\x", "~/project"]

    assert ABSOLUTE_PATH.search(allowed) is None
    assert all(ABSOLUTE_PATH.search(text) for text in refused)
