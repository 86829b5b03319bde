"""Archiver throughput: Telethon (over the in-process fake Telegram) → convert → store → events,
against a bare sqlite3 executemany of the same rows into the same tables and indexes (the search
index entries grouped into statements as dozor groups them).

    python bench/archive.py [--posts 20000]

The fake answers instantly, so this measures dozor's side of a backfill: Telethon's paging and
message objects, archiver.convert, store_posts (versions, events, the full-text index) and the
cursor commits, one page of 100 per transaction. Goal: >= 50 % of the bare baseline, so dozor is
never the bottleneck behind Telegram's own pace (a few hundred posts per second at best).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver.service import Archiver  # noqa: E402
from bench.common import insert_bare, post_texts  # noqa: E402
from dozor import db  # noqa: E402
from dozor.config import ArchiverConfig, DatabaseConfig  # noqa: E402
from tests.fakes.telegram import FakeTelegram, connected_client  # noqa: E402

BARE = 1525384822
TABLES = ("posts", "post_versions", "events", "post_search")


async def archive(url: str, count: int) -> float:
    telegram = FakeTelegram()
    channel = telegram.channel(BARE, "bench_channel", "Bench")
    rng = random.Random(3)
    for text in post_texts(count, seed=5):
        telegram.post(channel, text, push=False, views=rng.randint(1, 10_000))
    engine = db.create_engine(DatabaseConfig(url=url))
    await db.upgrade(engine)
    client = await connected_client(telegram)
    archiver = Archiver(
        client, db.session_factory(engine), ArchiverConfig(), request_delay=0, join_channels=False
    )
    await archiver.add("bench_channel")
    start = time.perf_counter()
    report = await archiver.sync(-(10**12 + BARE))
    elapsed = time.perf_counter() - start
    assert report.new == count, report
    await client.disconnect()
    await engine.dispose()
    return elapsed


def bare(source: Path, target: Path) -> float:
    with sqlite3.connect(source) as conn:
        tables = {}
        for table in TABLES:
            cursor = conn.execute(f"SELECT * FROM {table}")
            tables[table] = ([d[0] for d in cursor.description], cursor.fetchall())
        channel_row = conn.execute("SELECT * FROM channels").fetchall()
        channel_cols = [d[0] for d in conn.execute("SELECT * FROM channels").description]
    out = sqlite3.connect(target)
    out.execute("PRAGMA journal_mode=WAL")
    out.execute("PRAGMA synchronous=NORMAL")
    out.execute("PRAGMA foreign_keys=ON")
    out.executemany(
        f"INSERT INTO channels ({', '.join(channel_cols)}) VALUES "
        f"({', '.join('?' for _ in channel_cols)})",
        channel_row,
    )
    out.commit()
    # Same order in every table as in posts (arrival order), so each batch is self-contained.
    post_columns, post_rows = tables["posts"]
    order = {
        (r[post_columns.index("channel_id")], r[post_columns.index("message_id")]): i
        for i, r in enumerate(post_rows)
    }
    for table in TABLES[1:]:
        columns, rows = tables[table]
        channel_at, message_at = columns.index("channel_id"), columns.index("message_id")

        def arrival(row: tuple[Any, ...], c: int = channel_at, m: int = message_at) -> int:
            return order[(row[c], row[m])]

        rows.sort(key=arrival)
    total = len(post_rows)
    start = time.perf_counter()
    for first in range(0, total, 100):
        for table in TABLES:
            columns, rows = tables[table]
            insert_bare(out, table, columns, rows[first : first + 100])
        out.commit()
    elapsed = time.perf_counter() - start
    out.close()
    return elapsed


async def migrated(url: str) -> None:
    engine = db.create_engine(DatabaseConfig(url=url))
    await db.upgrade(engine)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dozor_db, bare_db = Path(tmp) / "dozor.db", Path(tmp) / "bare.db"
        dozor_time = asyncio.run(archive(f"sqlite+aiosqlite:///{dozor_db}", args.posts))
        asyncio.run(migrated(f"sqlite+aiosqlite:///{bare_db}"))
        bare_time = bare(dozor_db, bare_db)
    print(f"backfill of {args.posts:,} posts through the archiver, SQLite:")
    print(
        f"  dozor (Telethon paging, convert, store, index, events)  "
        f"{args.posts / dozor_time:10,.0f} posts/s"
    )
    print(
        f"  bare sqlite3 executemany of the same rows              "
        f"{args.posts / bare_time:10,.0f} posts/s"
    )
    print(
        f"  dozor / bare                                            "
        f"{bare_time / dozor_time:10.0%}  (goal: >= 50%)"
    )


if __name__ == "__main__":
    main()
