"""Sections that tests add to pytest's closing summary (the DynamoDB faults that tests/faults
injected, the schemathesis cases of tests/conformance, the model-based test's run, ...). Each is
complete whether one pytest process ran every test or `make test`'s xdist workers shared them out.

A `Summary` keeps what this process saw as plain data (dicts, lists, numbers, strings: what
xdist can send between processes). Each xdist worker hands its figures to the controller when it
finishes; the controller adds up every worker's (`merged`) and prints each section once. The
hooks that do it are in tests/conftest.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import reduce
from typing import Any

# Plain data: dicts, lists, ints, floats and strings, nested.
Figures = Any


class Summary(ABC):
    title: str

    @abstractmethod
    def figures(self) -> Figures:
        """What this process saw, as plain data; empty when it saw nothing."""

    @abstractmethod
    def lines(self, figures: Figures) -> list[str]:
        """The section's lines, given the figures of every process merged."""

    def render(self, every_process: list[Figures]) -> list[str]:
        """The section's lines, or none when no process saw anything."""
        present = [figures for figures in every_process if figures]
        return self.lines(reduce(merged, present)) if present else []


def merged(first: Figures, second: Figures) -> Figures:
    """Two processes' figures as one: numbers added up, lists joined, dicts merged key by key
    (keys in the order first seen), equal strings kept."""
    if isinstance(first, dict) and isinstance(second, dict):
        both = dict(first)
        for key, value in second.items():
            both[key] = merged(both[key], value) if key in both else value
        return both
    if isinstance(first, list) and isinstance(second, list):
        return first + second
    if all(isinstance(x, int | float) and not isinstance(x, bool) for x in (first, second)):
        return first + second
    if isinstance(first, str) and first == second:
        return first
    raise TypeError(f"figures that do not add up: {first!r} and {second!r}")


class Lines(Summary):
    """A section of lines that tests add as they run, printed in the order they ran (worker by
    worker under xdist)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.added: list[str] = []

    def add(self, line: str) -> None:
        self.added.append(line)

    def figures(self) -> list[str]:
        return list(self.added)

    def lines(self, figures: list[str]) -> list[str]:
        return list(figures)
