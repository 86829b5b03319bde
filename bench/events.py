"""`dozor events` on a large archive: how long the newest changes take to list.

    python bench/events.py [--posts 100000] [--database URL]

Builds a SQLite archive through the archiver's storage path: *posts* posts over ten channels
(one `new` event each), then 1 % of them edited, 1 % deleted one by one and a purge of 500,
so edits and deletions are a small part of a large change feed, as in a real archive. Then
times the listing (`dozor events`'s own function, 50 changes, with their posts and versions)
for several filters, each run five times (median and slowest). ``--database`` takes an
empty database to build it in instead of a temporary SQLite file, a PostgreSQL one say
(``postgresql+asyncpg://user:pass@127.0.0.1/dozor_bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.common import post_texts, report
from dozor.config import Config
from dozor.db import create_engine, session_factory, upgrade
from dozor.query import parse
from dozor.query.document import as_of_version, build_document
from dozor.query.match import matches
from dozor.records import ChannelRecord, PostRecord, Source
from dozor.storage import mark_deleted, store_posts, upsert_channel
from dozor.storage.post_changes import KINDS, ChangeFilter, Keep, PostChange, post_changes

CHANNELS = [-1001000000000 - number for number in range(10)]
BATCH = 2_000
RUNS = 5


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--database", help="an empty database's URL (default: a temporary file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite+aiosqlite:///{folder}/e.db"
        config = Config.model_validate({"database": {"url": url}})
        engine = create_engine(config.database)
        await upgrade(engine)
        sessions = session_factory(engine)
        try:
            start = time.perf_counter()
            await build(sessions, args.posts)
            built = time.perf_counter() - start
            print(
                f"events — {args.posts:,} posts over {len(CHANNELS)} channels in "
                f"{engine.dialect.name} ({built:.0f} s)"
            )
            await measure(sessions)
        finally:
            await engine.dispose()


async def build(sessions: async_sessionmaker[AsyncSession], count: int) -> None:
    rng = random.Random(5)
    texts = list(post_texts(count))
    published = datetime.now(UTC) - timedelta(days=400)
    async with sessions.begin() as session:
        for number, channel_id in enumerate(CHANNELS):
            record = ChannelRecord(channel_id, f"Канал {number}", f"bench_{number}")
            await upsert_channel(session, record, observed_at=published, source=Source.BACKFILL)
    per_channel = count // len(CHANNELS)
    for channel_id in CHANNELS:
        for first in range(0, per_channel, BATCH):
            ids = range(first + 1, min(first + BATCH, per_channel) + 1)
            records = [
                PostRecord(channel_id, i, published + timedelta(minutes=i), text=texts.pop())
                for i in ids
            ]
            async with sessions.begin() as session:
                await store_posts(session, records, source=Source.BACKFILL, observed_at=published)
    await change(sessions, rng, per_channel)


async def change(sessions: async_sessionmaker[AsyncSession], rng: random.Random, size: int) -> None:
    """1 % of each channel's posts edited, 1 % deleted, and one channel purging 500."""
    now = datetime.now(UTC)
    for channel_id in CHANNELS:
        edited = rng.sample(range(1, size + 1), size // 100)
        records = [
            PostRecord(
                channel_id,
                i,
                now - timedelta(days=400) + timedelta(minutes=i),
                text=f"Исправлено: пост {i} задержан мигрант",
                edit_date=now - timedelta(minutes=rng.randint(1, 60 * 24 * 30)),
            )
            for i in edited
        ]
        async with sessions.begin() as session:
            await store_posts(session, records, source=Source.RECONCILE, observed_at=now)
        for i in rng.sample(range(1, size + 1), size // 100):
            async with sessions.begin() as session:
                await mark_deleted(session, channel_id, [i], source=Source.LIVE, observed_at=now)
    async with sessions.begin() as session:
        await mark_deleted(
            session,
            CHANNELS[0],
            list(range(size - 500, size)),
            source=Source.RECONCILE,
            observed_at=now,
            summarize_from=10,
        )


async def measure(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime.now(UTC)
    node = parse("мигрант")

    def keep(change: PostChange) -> bool:
        shown = [v for v in (change.before, change.after) if v is not None]
        return any(matches(node, build_document(as_of_version(change.post, v))) for v in shown)

    week, days200, days230 = _ago(now, 7), _ago(now, 200), _ago(now, 230)
    cases: list[tuple[str, ChangeFilter, Keep | None]] = [
        ("edits and deletions, newest 50", ChangeFilter(), None),
        ("a channel's deletions, 7 days", ChangeFilter(("deleted",), (CHANNELS[3],), week), None),
        ("found in the last day", ChangeFilter(found_since=_ago(now, 1)), None),
        ("every kind, newest 50 (new posts too)", ChangeFilter(KINDS), None),
        ("--query мигрант", ChangeFilter(), keep),
        ("edits 200-230 days ago (none)", ChangeFilter(("edited",), (), days230, days200), None),
    ]  # fmt: skip
    rows = []
    for label, wanted, kept in cases:
        async with sessions() as session:
            seconds, found = await _timed(partial(post_changes, session, wanted, 50, kept))
        median, slowest = statistics.median(seconds) * 1e3, max(seconds) * 1e3
        rows.append((label, f"{median:7.1f} ms median, {slowest:7.1f} ms slowest ({found} listed)"))
    report(rows)


def _ago(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


async def _timed(work: Callable[[], Awaitable[list[PostChange]]]) -> tuple[list[float], int]:
    seconds, found = [], 0
    for _ in range(RUNS):
        start = time.perf_counter()
        found = len(await work())
        seconds.append(time.perf_counter() - start)
    return seconds, found


if __name__ == "__main__":
    asyncio.run(main())
