"""Import throughput: `dozor import` of a generated 100k-post Desktop export vs bare sqlite3.

    python bench/import.py [--posts 100000]

The baseline writes the very rows the import stored (posts, versions, events, search index
entries) into a fresh database with the same schema and indexes, with sqlite3's executemany in
batches of the same size (the index entries grouped into statements as dozor groups them): the
cost of the writes alone, with no parsing, hashing or change detection. The goal is an import
of at least 50 % of that baseline.

It also imports the export once in a process of its own and prints that process's peak resident
memory: an export is read one message at a time, so memory must not grow with its size. The
same posts written as Desktop's HTML export (tests/fakes/desktophtml.py renders them as Desktop
does) are imported too, for their speed and memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import insert_bare, peak_rss_mb, post_texts, rate, report, timed
from dozor import db
from dozor.config import DatabaseConfig
from dozor.importer import import_desktop_export
from dozor.importer.desktophtml import read_html_export
from dozor.importer.htmlimport import import_html_export
from dozor.importer.run import BATCH_SIZE
from tests.fakes.desktophtml import write_html_export

CHANNEL = 1525384822


def make_export(path: Path, count: int) -> None:
    rng = random.Random(1)
    start = datetime(2019, 1, 1, tzinfo=UTC)
    messages: list[dict[str, Any]] = []
    for mid, text in enumerate(post_texts(count), start=1):
        date = start + timedelta(minutes=mid * 7)
        message: dict[str, Any] = {
            "id": mid,
            "type": "message",
            "date": date.replace(tzinfo=None).isoformat(),
            "date_unixtime": str(int(date.timestamp())),
            "from": "Bench",
            "from_id": f"channel{CHANNEL}",
            "text": text,
            "text_entities": [{"type": "plain", "text": text}],
        }
        if mid % 5 == 0:
            head, tail = text[:12], text[12:]
            message["text"] = [{"type": "bold", "text": head}, tail]
            message["text_entities"] = [
                {"type": "bold", "text": head},
                {"type": "plain", "text": tail},
            ]
        if mid % 4 == 0:
            message.update(
                photo=f"photos/photo_{mid}.jpg",
                photo_file_size=rng.randint(10**4, 10**6),
                width=1280,
                height=720,
            )
        if mid % 3 == 0:
            message["reactions"] = [{"type": "emoji", "count": rng.randint(1, 500), "emoji": "👍"}]
        if mid % 10 == 0:
            edited = date + timedelta(minutes=5)
            message.update(
                edited=edited.replace(tzinfo=None).isoformat(),
                edited_unixtime=str(int(edited.timestamp())),
            )
        messages.append(message)
    export = {
        "name": "Bench channel",
        "type": "public_channel",
        "id": CHANNEL,
        "messages": messages,
    }
    path.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")


async def migrated(url: str) -> None:
    engine = db.create_engine(DatabaseConfig(url=url))
    await db.upgrade(engine)
    await engine.dispose()


async def run_import(url: str, export: Path) -> int:
    """Import *export*: a result.json, or the folder of an HTML export."""
    engine = db.create_engine(DatabaseConfig(url=url))
    sessions = db.session_factory(engine)
    try:
        if export.name != "result.json":  # the folder of an HTML export
            html = await asyncio.to_thread(read_html_export, export)
            result = await import_html_export(sessions, html, channel=str(-(10**12 + CHANNEL)))
        else:
            result = await import_desktop_export(sessions, export)
    finally:
        await engine.dispose()
    return result.outcome.new


def make_html_export(export: Path, folder: Path) -> float:
    """*export* written as Desktop's HTML export into *folder*; its size in MB."""
    data = json.loads(export.read_bytes())
    write_html_export(data, folder, offset=timedelta(hours=6))
    return sum(f.stat().st_size for f in folder.iterdir()) / 1e6


TABLES = ("posts", "post_versions", "events", "post_search")  # post_search feeds FTS5


def stored_rows(path: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    with sqlite3.connect(path) as conn:
        out = {}
        for table in TABLES:
            cursor = conn.execute(f"SELECT * FROM {table}")
            columns = [d[0] for d in cursor.description]
            out[table] = (columns, cursor.fetchall())
        return out


def bare_baseline(path: Path, rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(
        "INSERT INTO channels (id, title, tracked, status, first_seen_at, updated_at) "
        "VALUES (?, 'Bench', 0, 'ok', '2024-01-01', '2024-01-01')",
        (-(10**12 + CHANNEL),),
    )
    total = len(rows["posts"][1])
    for start in range(0, total, BATCH_SIZE):
        for table in TABLES:
            columns, data = rows[table]
            insert_bare(conn, table, columns, data[start : start + BATCH_SIZE])
        conn.commit()
    conn.close()


def import_rss_mb(export: Path, database: Path) -> float:
    """Peak resident memory of a fresh process importing *export*."""
    out = subprocess.run(
        [sys.executable, __file__, "--rss-of", str(export), "--into", str(database)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.split()[-1])


def import_and_print_rss(export: Path, database: Path) -> None:
    url = f"sqlite+aiosqlite:///{database}"
    asyncio.run(migrated(url))
    asyncio.run(run_import(url, export))
    print(peak_rss_mb())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each; medians reported")
    parser.add_argument("--rss-of", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_of:
        import_and_print_rss(args.rss_of, args.into)
        return
    samples: dict[str, list[float]] = {"dozor": [], "bare": [], "again": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export = work / "result.json"
        make_export(export, args.posts)
        size_mb = export.stat().st_size / 1e6
        rss = import_rss_mb(export, work / "rss.db")
        for round_ in range(args.rounds):
            dozor_db, bare_db = work / f"dozor{round_}.db", work / f"bare{round_}.db"
            for path in (dozor_db, bare_db):
                asyncio.run(migrated(f"sqlite+aiosqlite:///{path}"))
            times: dict[str, float] = {}
            with timed("dozor", times):
                new = asyncio.run(run_import(f"sqlite+aiosqlite:///{dozor_db}", export))
            assert new == args.posts, f"imported {new} of {args.posts}"
            rows = stored_rows(dozor_db)
            with timed("bare", times):
                bare_baseline(bare_db, rows)
            with timed("again", times):
                asyncio.run(run_import(f"sqlite+aiosqlite:///{dozor_db}", export))
            for key, value in times.items():
                samples[key].append(value)
            dozor_db.unlink()
            bare_db.unlink()
        html_mb = make_html_export(export, work / "html")
        html_db = work / "html.db"
        asyncio.run(migrated(f"sqlite+aiosqlite:///{html_db}"))
        html_times: dict[str, float] = {}
        with timed("html", html_times):
            new = asyncio.run(run_import(f"sqlite+aiosqlite:///{html_db}", work / "html"))
        assert new == args.posts, f"imported {new} of {args.posts} from HTML"
        html_rss = import_rss_mb(work / "html", work / "html-rss.db")
    median = {key: statistics.median(values) for key, values in samples.items()}
    print(
        f"import of {args.posts:,} posts ({size_mb:.0f} MB Desktop export), SQLite, "
        f"median of {args.rounds} runs:"
    )
    report(
        [
            ("dozor import (parse, convert, hash, store)", rate(args.posts, median["dozor"])),
            ("bare sqlite3 executemany of the same rows", rate(args.posts, median["bare"])),
            ("re-import of the same export (all unchanged)", rate(args.posts, median["again"])),
            ("dozor / bare", f"{median['bare'] / median['dozor']:>10.0%}  (goal: >= 50%)"),
            ("peak memory of an import process", f"{rss:>7.0f} MB"),
            (
                f"HTML export of the same posts ({html_mb:.0f} MB, one run)",
                rate(args.posts, html_times["html"]),
            ),
            ("peak memory of an HTML import process", f"{html_rss:>7.0f} MB"),
        ]
    )


if __name__ == "__main__":
    main()
