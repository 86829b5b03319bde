"""Copying an archive to another database: `dozor db copy`, rows/s and peak memory.

    python bench/dbcopy.py [--db PATH] [--posts 200000] [--postgres URL]

The archive is built as bench/search.py builds its own (generated Russian posts over 50
channels, with their search index entries), at PATH (default
/tmp/dozor-bench-copy-<posts>.db; built on first use). Each copy runs in a process of its own,
so its peak RSS is its own:

* ``dozor → SQLite``: `dozor db copy NEW.db` (every table through SQLAlchemy, the FTS5 index
  built by its triggers as entries arrive);
* ``sqlite3 backup``: the same file copied page by page by SQLite's backup API, the floor of
  any copy (no rows decoded, the index copied, not built);
* ``dozor → PostgreSQL`` with ``--postgres URL`` (an empty database: a new one is made there
  for each run and dropped after).

A copy reads batches of 2,000 rows; its memory should not grow with the archive's size.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy.engine import URL, make_url

from bench.common import peak_rss_mb, report
from bench.export import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--postgres", help="server URL, e.g. postgresql://user:pass@127.0.0.1")
    parser.add_argument("--worker", nargs=2, metavar=("HOW", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = args.db or Path(f"/tmp/dozor-bench-copy-{args.posts}.db")
    if args.worker:
        how, target = args.worker
        (run_dozor if how == "dozor" else run_backup)(path, target)
        return
    prepare(path, args.posts)
    rows = _rows(path)
    size = path.stat().st_size / 1e6
    print(f"archive: {args.posts:,} posts, {rows:,} rows in all, {size:,.0f} MB")
    figures = []
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        for how, label in (("backup", "sqlite3 backup"), ("dozor", "dozor → SQLite")):
            seconds, rss = measure(path, how, str(Path(folder) / f"{how}.db"))
            figures.append((label, _figure(rows, seconds, rss)))
    if args.postgres:
        with _new_postgres_database(args.postgres) as url:
            seconds, rss = measure(path, "dozor", url)
        figures.append(("dozor → PostgreSQL", _figure(rows, seconds, rss)))
    report(figures)


def measure(path: Path, how: str, target: str) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one copy in its own process."""
    command = [sys.executable, __file__, "--db", str(path), "--worker", how, target]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds, rss = done.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(rss)


def run_dozor(path: Path, target: str) -> None:
    from dozor.cli.main import main as dozor

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.toml"
        config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{path}"\n', encoding="utf-8")
        start = time.perf_counter()
        status = dozor(["db", "copy", "--config", str(config), "--json", target])
        seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"dozor db copy exited with {status}")
    print(seconds, peak_rss_mb())


def run_backup(path: Path, target: str) -> None:
    start = time.perf_counter()
    with sqlite3.connect(path) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    print(time.perf_counter() - start, peak_rss_mb())


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        listed = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = [name for (name,) in listed]
        wanted = [t for t in tables if not t.startswith(("post_search_fts", "sqlite_", "alembic"))]
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in wanted)


def _figure(rows: int, seconds: float, rss: float) -> str:
    return f"{seconds:7.1f} s  {rows / seconds:>9,.0f} rows/s  peak RSS {rss:,.0f} MB"


@contextmanager
def _new_postgres_database(url: str) -> Iterator[str]:
    """A new, empty database on the server at *url*, dropped on exit; yields its URL."""
    server = make_url(url).set(drivername="postgresql")
    name = f"dozor_copy_{uuid.uuid4().hex[:8]}"
    asyncio.run(_on_server(server, f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(drivername="postgresql+asyncpg", database=name).render_as_string(False)
    finally:
        asyncio.run(_on_server(server, f'DROP DATABASE IF EXISTS "{name}"'))


async def _on_server(server: URL, statement: str) -> None:
    conn = await asyncpg.connect(server.set(database="postgres").render_as_string(False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
