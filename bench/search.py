"""Search latency on 1M generated Russian posts, against raw FTS5 queries of the same terms.

    python bench/search.py [--posts 1000000] [--db PATH] [--repeat 20]

Posts are sentences of real Russian news (the factRuEval sample) with words drawn from a
generated Zipf-distributed vocabulary of 200k Russian-looking words mixed in, over 50
channels, dated over five years. The database is built once with sqlite3 straight into dozor's
schema (posts and the search index; the same analyzer dozor uses), then reused.

For every query class it reports p50/p95 of ``dozor.search.search`` (parse, plan, total count
up to 10,000, page of 20, join, snippets) newest-first and by relevance, and of the raw FTS5
query for the same terms (``ORDER BY rowid DESC LIMIT 20`` / ``ORDER BY bm25(...) LIMIT 20``),
each query run once untimed first (the index in the OS page cache, as in a running service).
Goals: newest-first p95 <= 20 ms for every class; relevance <= 2x raw bm25.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sqlite3
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.common import russian_sentences
from dozor import db
from dozor.config import DatabaseConfig
from dozor.query.document import build_document
from dozor.search import search
from dozor.search.engine import compile_plan, prepare_query
from dozor.storage.search_index import SLOT_BITS, SLOT_MASK

CHANNELS = 50
START = datetime(2020, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 5 * 365 * 86400
SYLLABLES = [
    "ба",
    "ва",
    "га",
    "да",
    "за",
    "ка",
    "ла",
    "ма",
    "на",
    "па",
    "ра",
    "са",
    "та",
    "ша",
    "ро",
    "ко",
    "ло",
    "но",
    "то",
    "ми",
    "ни",
    "ли",
    "ки",
    "ти",
    "ст",
    "пр",
    "кр",
]
ENDINGS = [
    "ов",
    "ами",
    "ах",
    "ой",
    "ый",
    "ого",
    "ение",
    "ость",
    "ник",
    "ский",
    "ать",
    "ует",
    "или",
    "ая",
    "ие",
]


def vocabulary(size: int, rng: random.Random, syllables: list[str] = SYLLABLES) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        stem = "".join(rng.choices(syllables, k=rng.randint(2, 4)))
        words.add(stem + rng.choice(ENDINGS))
    return sorted(words)


def build(path: Path, count: int) -> None:
    """Fill a migrated database with *count* posts (and their index entries)."""
    rng = random.Random(5)
    sentences = russian_sentences()
    vocab = vocabulary(200_000, rng)
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocab))))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    now = "2025-01-01 00:00:00.000000"
    conn.executemany(
        "INSERT INTO channels (id, username, title, tracked, status, first_seen_at, updated_at)"
        " VALUES (?, ?, ?, 0, 'ok', ?, ?)",
        [
            (-(10**12 + 1_000_000_000 + c), f"bench_{c}", f"Канал {c}", now, now)
            for c in range(CHANNELS)
        ],
    )
    started = time.perf_counter()
    batch_posts, batch_index = [], []
    for mid in range(1, count + 1):
        channel = -(10**12 + 1_000_000_000 + min(int(rng.expovariate(0.15)), CHANNELS - 1))
        date = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        text = " ".join(rng.choices(sentences, k=rng.randint(1, 3)))
        text += " " + " ".join(rng.choices(vocab, cum_weights=cumulative, k=rng.randint(3, 12)))
        post = {
            "channel_id": channel,
            "message_id": mid,
            "date": date,
            "text": text,
            "media": None,
            "media_type": None,
            "entities": None,
            "current_version": 1,
        }
        doc = build_document(post)
        day = date.strftime("%Y-%m-%d %H:%M:%S.000000")
        batch_posts.append((channel, mid, "message", day, text, "x" * 64, 1, now, now))
        key = (int(date.timestamp()) << SLOT_BITS) | (mid & SLOT_MASK)
        batch_index.append(
            (
                key,
                channel,
                mid,
                " ".join(doc.words),
                " ".join(doc.stems),
                " ".join(sorted(doc.facets)),
            )
        )
        if len(batch_posts) == 5000 or mid == count:
            conn.executemany(
                "INSERT INTO posts (channel_id, message_id, kind, date, text, content_sha256,"
                " current_version, first_seen_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                batch_posts,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO post_search (search_key, channel_id, message_id, words,"
                " stems, facets) VALUES (?,?,?,?,?,?)",
                batch_index,
            )
            conn.commit()
            batch_posts, batch_index = [], []
            rate = mid / (time.perf_counter() - started)
            print(f"\r  building: {mid:,}/{count:,} posts ({rate:,.0f}/s)", end="", flush=True)
    conn.execute("INSERT INTO post_search_fts(post_search_fts) VALUES ('optimize')")
    conn.commit()
    conn.close()
    print()


def pick_words(path: Path) -> dict[str, list[str]]:
    """Query words by frequency class, read from the index itself."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.v USING fts5vocab(main, 'post_search_fts', 'row')"
    )
    rows = conn.execute("SELECT term, doc FROM temp.v").fetchall()
    conn.close()
    total = max(doc for _, doc in rows)

    def between(low: float, high: float) -> list[str]:
        chosen = [t for t, d in rows if low <= d < high and t.isalpha() and len(t) > 3]
        random.Random(1).shuffle(chosen)
        return chosen[:20]

    return {
        "rare": between(5, 50),
        "medium": between(total * 0.005, total * 0.02),
        "frequent": between(total * 0.2, total * 1.01),
    }


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return statistics.median(ordered), p95


def raw_expression(plan_expression: str) -> str:
    return plan_expression


async def measure(path: Path, repeat: int) -> None:
    words = pick_words(path)
    rng = random.Random(3)
    sentences = russian_sentences()
    pairs: Counter[tuple[str, str]] = Counter()
    for sentence in sentences:
        tokens = [t for t in sentence.lower().split() if t.isalpha() and len(t) > 3]
        pairs.update(itertools.pairwise(tokens))
    phrases = [f'"{a} {b}"' for (a, b), _ in pairs.most_common(40)]
    medium, frequent = words["medium"], words["frequent"]
    classes = {
        "rare word": words["rare"],
        "medium word": medium,
        "frequent word": frequent,
        "two words": [f"{a} {b}" for a, b in zip(medium, frequent, strict=False)],
        "phrase": phrases,
        "3-letter prefix": [w[:3] + "*" for w in medium],
        "4-letter prefix": [w[:4] + "*" for w in medium],
        "word + channel": [f"{w} channel:bench_{rng.randrange(5, 15)}" for w in medium],
    }
    engine = db.create_engine(DatabaseConfig(url=f"sqlite+aiosqlite:///{path}"))
    sessions = db.session_factory(engine)
    raw = sqlite3.connect(path)
    print(
        f"{'query class':18} {'dozor newest p50/p95':>22} {'raw FTS5 p50/p95':>18} "
        f"{'dozor relevance p50/p95':>25} {'raw bm25 p50/p95':>18}  hits (median)"
    )
    for name, queries in classes.items():
        results: dict[str, list[float]] = {k: [] for k in ("new", "raw", "rel", "rawrel")}
        hits: list[int] = []
        for query in queries:  # warm: the OS cache and SQLite's page cache hold the index
            async with sessions() as session:
                await search(session, query, limit=20)
                await search(session, query, limit=20, sort="relevance")
        for query in (queries * repeat)[: max(repeat, len(queries))]:
            async with sessions() as session:
                t = time.perf_counter()
                found = await search(session, query, limit=20)
                results["new"].append(time.perf_counter() - t)
                t = time.perf_counter()
                await search(session, query, limit=20, sort="relevance")
                results["rel"].append(time.perf_counter() - t)
                plan = compile_plan(session, await prepare_query(session, query))
            hits.append(found.total)
            t = time.perf_counter()
            raw.execute(
                "SELECT rowid FROM post_search_fts WHERE post_search_fts MATCH ? "
                "ORDER BY rowid DESC LIMIT 20",
                (plan.expression,),
            ).fetchall()
            results["raw"].append(time.perf_counter() - t)
            t = time.perf_counter()
            raw.execute(
                "SELECT rowid FROM post_search_fts WHERE post_search_fts MATCH ? "
                "ORDER BY bm25(post_search_fts, 0.5, 1.0, 0.0) LIMIT 20",
                (plan.expression,),
            ).fetchall()
            results["rawrel"].append(time.perf_counter() - t)
        cells = [
            "{:7.1f} /{:7.1f} ms".format(*(1000 * x for x in percentiles(results[k])))
            for k in ("new", "raw", "rel", "rawrel")
        ]
        print(
            f"{name:18} {cells[0]:>22} {cells[1]:>18} {cells[2]:>25} {cells[3]:>18}  "
            f"{statistics.median(hits):,.0f}"
        )
    raw.close()
    floor = await statement_floor(sessions)
    await engine.dispose()
    print(
        f"floor: one statement through SQLAlchemy + aiosqlite (SELECT 1) p50 {floor:.2f} ms; "
        "dozor runs one (short page) or two (page and count)"
    )
    print("goals: newest-first p95 <= 20 ms for every class; relevance <= 2x raw bm25")


async def statement_floor(sessions: async_sessionmaker[AsyncSession]) -> float:
    """What any query costs dozor before SQLite does any work: the driver's thread hop."""
    samples = []
    for _ in range(200):
        async with sessions() as session:
            t = time.perf_counter()
            await session.execute(text("SELECT 1"))
            samples.append(time.perf_counter() - t)
    return 1000 * statistics.median(samples)


async def migrated(path: Path) -> None:
    engine = db.create_engine(DatabaseConfig(url=f"sqlite+aiosqlite:///{path}"))
    await db.upgrade(engine)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/dozor-bench-search.db"))
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    marker = args.db.with_suffix(f".{args.posts}.done")
    if not marker.exists():
        for stale in (args.db, args.db.with_suffix(".db-wal"), args.db.with_suffix(".db-shm")):
            stale.unlink(missing_ok=True)
        asyncio.run(migrated(args.db))
        print(f"building {args.db} with {args.posts:,} posts (once; reused afterwards)")
        build(args.db, args.posts)
        marker.touch()
    print(
        f"search over {args.posts:,} posts ({args.db.stat().st_size / 1e9:.1f} GB), "
        f"SQLite {sqlite3.sqlite_version}"
    )
    asyncio.run(measure(args.db, args.repeat))


if __name__ == "__main__":
    main()
