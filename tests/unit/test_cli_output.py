"""The CLI's text output shows control characters escaped, tab and newline excepted."""

from __future__ import annotations

import io
import sys

import pytest

from worker.cli.output import escape_controls, escaped_output, unescaped


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text\twith a tab\n", "plain text\twith a tab\n"),
        ("\x1b]52;c;ZXZpbA==\x07", "\\x1b]52;c;ZXZpbA==\\x07"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        ("over\rwrite", "over\\x0dwrite"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("c1 \x9b31m \x9d", "c1 \\x9b31m \\x9d"),
        ("bidi \u202eevil\u2066", "bidi \\u202eevil\\u2066"),
        ("unicode stays: é ü 模型 ✓", "unicode stays: é ü 模型 ✓"),
    ],
    ids=["plain", "osc-52", "csi", "carriage-return", "nul-del", "c1", "bidi", "unicode"],
)
def test_control_characters_are_escaped(text: str, shown: str) -> None:
    assert escape_controls(text) == shown


def test_everything_written_within_is_escaped_and_the_streams_come_back() -> None:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with escaped_output():
            print("name: \x1b[2J")
            sys.stderr.write("error: \x07\n")
            assert unescaped(sys.stdout) is out
    finally:
        restored = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = saved
    assert restored == (out, err)
    assert (out.getvalue(), err.getvalue()) == ("name: \\x1b[2J\n", "error: \\x07\n")
