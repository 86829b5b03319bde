"""Progress for long commands: a rich bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger(__name__)

Report = Callable[[int, int], None]


@contextmanager
def progress_bar(
    description: str, *, log_every_seconds: float = 10.0, in_bytes: bool = False
) -> Iterator[Report]:
    """Yield ``report(done, total)``, callable from any thread; draws a bar if stderr is a
    terminal. *in_bytes*: done and total count bytes, shown as MB."""
    if sys.stderr.isatty():
        columns = (
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn() if in_bytes else MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task(description, total=None)

            def draw(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield draw
        return
    last = 0.0
    finished = False

    def write(done: int, total: int) -> None:
        nonlocal last, finished
        now = time.monotonic()
        if finished or (now - last < log_every_seconds and done < total):
            return
        last, finished = now, done >= total
        if in_bytes:
            log.info("%s: %.1f/%.1f MB", description, done / 1e6, total / 1e6)
        else:
            log.info("%s: %d/%d", description, done, total)

    yield write
