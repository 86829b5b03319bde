"""Shared pieces of the benchmarks: a realistic Russian text generator and timing."""

from __future__ import annotations

import itertools
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from dozor.storage.bulk import rows_per_statement

ROOT = Path(__file__).resolve().parent.parent
RU_TEXTS = ROOT / "tests" / "fixtures" / "text" / "factrueval-ru-news"


def russian_sentences() -> list[str]:
    """Sentences of real Russian news (factRuEval-2016 sample, MIT) to build posts from."""
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(RU_TEXTS.glob("*.txt")))
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 20]


def post_texts(count: int, seed: int = 7) -> Iterator[str]:
    """*count* post texts of 1–6 sentences each, deterministic for a seed."""
    rng = random.Random(seed)
    sentences = russian_sentences()
    for _ in range(count):
        yield " ".join(rng.choices(sentences, k=rng.randint(1, 6)))


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f}/s"


def report(rows: list[tuple[str, str]], printer: Callable[[str], None] = print) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        printer(f"  {label:<{width}}  {value}")


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ``ru_maxrss``: Linux carries ru_maxrss
    over from the parent across fork and exec, so a worker started by a big bench would report
    the bench's own peak."""
    status = Path("/proc/self/status").read_text()
    peak_kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(peak_kb) / 1024


def insert_bare(
    conn: sqlite3.Connection, table: str, columns: list[str], rows: Sequence[tuple[object, ...]]
) -> None:
    """A bare baseline's insert: one executemany, but the search index entries grouped into
    statements as dozor groups them (FTS5 writes what it gathered at every statement)."""
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    one_row = f"({', '.join('?' for _ in columns)})"
    if table != "post_search":
        conn.executemany(insert + one_row, rows)
        return
    per_statement = rows_per_statement(len(columns))
    for first in range(0, len(rows), per_statement):
        group = rows[first : first + per_statement]
        conn.execute(insert + ", ".join([one_row] * len(group)), list(itertools.chain(*group)))
