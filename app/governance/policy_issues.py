"""Mistakes in a policy file: `PolicyIssue(line, path, message)`, the `PolicyError` that lists
them all, and the collector that finds the line of any key path while a file is read.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass

PathT = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class PolicyIssue:
    line: int | None  # 1-based; None when the problem is not in the text (unreadable file)
    path: str  # dotted key path, e.g. "use_cases.draft.approval.approvers"; "" for the file
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class PolicyError(Exception):
    """The policy file has one or more problems; `errors` lists them all, in line order."""

    def __init__(self, errors: list[PolicyIssue], source_name: str = "<policy>") -> None:
        self.errors = errors
        self.source_name = source_name
        lines = "\n".join(f"  {issue}" for issue in errors)
        super().__init__(f"{source_name}: {len(errors)} problem(s) in the policy:\n{lines}")


def dotted(path: PathT) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def suggest(word: object, options: Collection[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Issues:
    """Collects problems and finds the line for any key path."""

    def __init__(self, lines: dict[PathT, int]) -> None:
        self.lines = lines
        self.items: list[PolicyIssue] = []
        # Values that failed validation and were dropped: later checks that trip over their
        # absence would only repeat the same mistake in other words, so they stay quiet.
        self.broken: set[PathT] = set()

    def line_of(self, path: PathT) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def add(self, path: PathT, message: str) -> None:
        if any(path[:end] in self.broken for end in range(1, len(path) + 1)):
            return
        self.items.append(PolicyIssue(self.line_of(path), dotted(path), message))

    def sorted(self) -> list[PolicyIssue]:
        return sorted(set(self.items), key=lambda i: (i.line or 0, i.path, i.message))
