"""Progress for long commands: a rich bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
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
def progress_bar(description: str, *, log_every_seconds: float = 10.0) -> Iterator[Report]:
    """Yield ``report(done, total)``; draws a bar if stderr is a terminal."""
    if sys.stderr.isatty():
        columns = (
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
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
        log.info("%s: %d/%d", description, done, total)

    yield write
