"""What a command shows on stderr while it waits for its job.

On a terminal: Rich progress (rows done of planned, rows per second, time left) and a
spinner while the job waits for a worker. Elsewhere (pipes, logs, ``--json``): plain
one-line notices and no control characters, so captured output stays clean.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from worker.cli.output import escape_controls, unescaped


def row_rate(task: Task) -> float | None:
    """Rows per second since the display first saw the job (``None`` until rows move)."""
    moved = task.completed - float(task.fields.get("first", 0))
    # Once every row is done the clock stops, so the final figure does not decay.
    elapsed = task.finished_time if task.finished_time is not None else task.elapsed
    if not elapsed or moved <= 0:
        return None
    return moved / elapsed


class RowRateColumn(ProgressColumn):
    """``1,234 rows/s``, or ``? rows/s`` before any row moved."""

    def render(self, task: Task) -> Text:
        rate = row_rate(task)
        return Text("? rows/s" if rate is None else f"{rate:,.0f} rows/s")


class TimeLeftColumn(ProgressColumn):
    """The rows still to move at the rate so far, as ``H:MM:SS`` (``-:--:--`` unknown)."""

    def render(self, task: Task) -> Text:
        rate = row_rate(task)
        if task.total is None or rate is None:
            return Text("-:--:--", style="progress.remaining")
        left = max(0.0, task.total - task.completed) / rate
        return Text(str(timedelta(seconds=round(left))), style="progress.remaining")


def _row_columns() -> tuple[ProgressColumn, ...]:
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        RowRateColumn(),
        TextColumn("ETA"),
        TimeLeftColumn(),
    )


class JobDisplay:
    """Notices and progress for one waiting command; ``console=None`` means plain text."""

    def __init__(
        self, console: Console | None, *, get_time: Callable[[], float] | None = None
    ) -> None:
        self.console = console
        self._get_time = get_time
        self._live: Progress | None = None
        self._rows: TaskID | None = None

    @classmethod
    def for_stderr(cls, *, rich: bool) -> JobDisplay:
        """Rich on a terminal when ``rich`` is wanted, plain lines otherwise.

        ``isatty`` itself decides, not Rich's detection, which ``FORCE_COLOR`` overrides:
        redirected output never gets control characters.
        """
        if not (rich and sys.stderr.isatty()):
            return cls(None)
        # The CLI's own drawing goes to the terminal itself; what it shows of the data is
        # printed with markup off and escaped (``notice``).
        return cls(Console(file=unescaped(sys.stderr)))

    def notice(self, message: str) -> None:
        """A line for the operator (above any progress on a terminal)."""
        if self.console is None:
            sys.stderr.write(f"lifecycle: {message}\n")
            sys.stderr.flush()
        else:
            self.console.print(escape_controls(message), markup=False, highlight=False)

    def waiting(self, message: str) -> None:
        """A spinner with elapsed time, on a terminal, until :meth:`rows` or :meth:`close`."""
        if self.console is None or self._live is not None:
            return
        message = escape_controls(message)
        self._start(SpinnerColumn(), TextColumn(message, markup=False), TimeElapsedColumn())
        assert self._live is not None
        self._live.add_task(message, total=None)

    def rows(self, done: int, total: int) -> None:
        """Rows done of ``total`` planned, with rate and time left (terminal only)."""
        if self.console is None:
            return
        if self._rows is None:
            self._stop()
            self._start(*_row_columns())
            assert self._live is not None
            self._rows = self._live.add_task(
                "moving references", total=total, completed=done, first=done
            )
        assert self._live is not None
        self._live.update(self._rows, completed=done, total=max(total, done))

    def finish_rows(self) -> None:
        """Show the bar full once the job reports success."""
        if self._live is not None and self._rows is not None:
            task = self._live.tasks[0]
            self._live.update(self._rows, completed=task.total or task.completed)

    def close(self) -> None:
        self._stop()

    def _start(self, *columns: ProgressColumn) -> None:
        self._live = Progress(*columns, console=self.console, get_time=self._get_time)
        self._live.start()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
