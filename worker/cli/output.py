"""Printing reports as tables or JSON, and the CLI's exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

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


# Characters that make a terminal do something instead of showing text: C0 controls but
# tab and newline (ESC starts colour, cursor and OSC-52 clipboard sequences; CR rewrites a
# line), DEL, C1 controls (0x9b is CSI, 0x9d OSC) and the bidirectional overrides and
# isolates that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """``text`` with each control character written as an escape (``\\x1b``, ``\\u202e``)."""
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


class EscapingStream(io.TextIOBase):
    """A text stream that writes control characters escaped to the stream it wraps, so
    data (a tenant's model name, a recipient's address) never drives the terminal."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.raw_stream = stream

    def write(self, text: str) -> int:
        self.raw_stream.write(escape_controls(text))
        return len(text)

    def flush(self) -> None:
        self.raw_stream.flush()

    def isatty(self) -> bool:
        return self.raw_stream.isatty()

    def fileno(self) -> int:
        return self.raw_stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.raw_stream.encoding


def unescaped(stream: TextIO) -> TextIO:
    """The terminal under an :class:`EscapingStream` (for the CLI's own progress display,
    which draws with control characters on purpose)."""
    raw: TextIO = getattr(stream, "raw_stream", stream)
    return raw


@contextlib.contextmanager
def escaped_output() -> Iterator[None]:
    """Within: everything written to stdout and stderr shows control characters escaped
    (JSON output has none: JSON escapes them itself)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = EscapingStream(saved[0]), EscapingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved
