"""Printing reports as tables or JSON, and the CLI's exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from db.json_values import to_json_types

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad usage or bad input: exit code 2."""


class CommandFailed(Exception):
    """The request was refused or failed: exit code 1."""

    def __init__(self, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.data = data or {}


def print_json(data: Any) -> None:
    """Print ``data`` as one JSON document (UUIDs, dates and exceptions included)."""
    sys.stdout.write(json.dumps(to_json_types(data), indent=2) + "\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def error(message: str) -> None:
    """Print an error for a person on stderr."""
    sys.stderr.write(f"lifecycle: error: {message}\n")
