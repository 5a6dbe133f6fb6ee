"""The waiting display's figures, with a fake clock: rows per second and time left."""

import io
import re

import pytest
from rich.console import Console

from worker.cli.progress import JobDisplay


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rows_show_rate_and_time_left() -> None:
    out, clock = io.StringIO(), Clock()
    display = JobDisplay(Console(file=out, force_terminal=True, width=120), get_time=clock)
    display.rows(0, 1000)
    clock.now = 10.0
    display.rows(250, 1000)
    display.close()
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "250/1000 rows 25 rows/s ETA 0:00:30" in shown


def test_plain_display_prints_notices_only(capsys: pytest.CaptureFixture[str]) -> None:
    display = JobDisplay(None)
    display.waiting("queued")
    display.rows(5, 10)
    display.notice("no live worker heartbeat")
    display.close()
    captured = capsys.readouterr()
    assert captured.err == "lifecycle: no live worker heartbeat\n"
    assert captured.out == ""
