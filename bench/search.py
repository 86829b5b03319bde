"""Search latency on 1M generated Russian posts, against raw FTS5 queries of the same terms.

    python bench/search.py [--posts 1000000] [--db PATH] [--repeat 20] [--postgres URL]

Posts are sentences of real Russian news (the factRuEval sample) with words drawn from a
generated Zipf-distributed vocabulary of 200k Russian-looking words mixed in, over 50
channels, dated over five years. The database is built once with sqlite3 straight into dozor's
schema (posts and the search index; the same analyzer dozor uses), then reused.

For every query class it reports p50/p95 of ``dozor.search.search`` (parse, plan, total count
up to 10,000, page of 20, join, snippets) newest-first and by relevance, and of the raw FTS5
query for the same terms (``ORDER BY rowid DESC LIMIT 20`` / ``ORDER BY bm25(...) LIMIT 20``),
each query run once untimed first (the index in the OS page cache, as in a running service).
With one sample per query, a p95 hides the worst query of a class: "dozor max" shows it.
Goals: newest-first p95 <= 20 ms for every class; relevance <= 2x raw bm25.

A reused database is migrated and its index rebuilt if an older analyzer built it. With
``--postgres URL`` the same archive is copied into PostgreSQL (once) and dozor's search is timed
there instead, for the same query classes, after checking that both backends find the same hits.
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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.common import russian_sentences
from dozor import db
from dozor.cli.db_cmd import rebuild_if_stale
from dozor.config import DatabaseConfig
from dozor.query.document import build_document
from dozor.search import search
from dozor.search.engine import compile_plan, prepare_query
from dozor.storage.facts import mark_index_current
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
    """Query words by frequency class, read from the index itself: words as posts spell them
    (a stem typed as a query word is analysed again, and may find nothing)."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.v USING fts5vocab(main, 'post_search_fts', 'col')"
    )
    rows = conn.execute("SELECT term, doc FROM temp.v WHERE col = 'words'").fetchall()
    total = conn.execute("SELECT count(*) FROM post_search").fetchone()[0]
    conn.close()

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


def query_classes(path: Path) -> dict[str, list[str]]:
    """The queries of every class, words chosen by their frequency in the archive at *path*."""
    words = pick_words(path)
    rng = random.Random(3)
    sentences = russian_sentences()
    pairs: Counter[tuple[str, str]] = Counter()
    for sentence in sentences:
        tokens = [t for t in sentence.lower().split() if t.isalpha() and len(t) > 3]
        pairs.update(itertools.pairwise(tokens))
    phrases = [f'"{a} {b}"' for (a, b), _ in pairs.most_common(40)]
    medium, frequent = words["medium"], words["frequent"]
    return {
        "rare word": words["rare"],
        "medium word": medium,
        "frequent word": frequent,
        "two words": [f"{a} {b}" for a, b in zip(medium, frequent, strict=False)],
        "phrase": phrases,
        "3-letter prefix": [w[:3] + "*" for w in medium],
        "4-letter prefix": [w[:4] + "*" for w in medium],
        "word + channel": [f"{w} channel:bench_{rng.randrange(5, 15)}" for w in medium],
    }


async def measure(path: Path, repeat: int) -> None:
    classes = query_classes(path)
    engine = db.create_engine(DatabaseConfig(url=f"sqlite+aiosqlite:///{path}"))
    sessions = db.session_factory(engine)
    raw = sqlite3.connect(path)
    print(
        f"{'query class':18} {'dozor newest p50/p95':>22} {'raw FTS5 p50/p95':>18} "
        f"{'dozor relevance p50/p95':>25} {'raw bm25 p50/p95':>18} {'dozor max':>10}  "
        "hits (median)"
    )
    for name, queries in classes.items():
        newest, ranked, hits = await _time_dozor(sessions, queries, repeat)
        raw_newest, raw_ranked = await _time_raw(sessions, raw, queries, repeat)
        cells = [_cell(samples) for samples in (newest, raw_newest, ranked, raw_ranked)]
        worst = f"{1000 * max(newest + ranked):7.1f} ms"
        print(
            f"{name:18} {cells[0]:>22} {cells[1]:>18} {cells[2]:>25} {cells[3]:>18} "
            f"{worst:>10}  {statistics.median(hits):,.0f}"
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


async def marked_current(url: str) -> None:
    """The archive was indexed by this dozor's analyzer (build and copy write its entries)."""
    engine = db.create_engine(DatabaseConfig(url=url))
    async with db.session_factory(engine).begin() as session:
        await mark_index_current(session, now=datetime.now(UTC))
    await engine.dispose()


async def brought_up_to_date(url: str) -> None:
    """Migrate a reused archive and rebuild its index if an older analyzer built it, as the
    main job does: a stale index would time queries that miss posts."""
    engine = db.create_engine(DatabaseConfig(url=url))
    await db.upgrade(engine)
    await rebuild_if_stale(db.session_factory(engine))
    await engine.dispose()


def _progress(label: str) -> Callable[[int, int], None]:
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"\r  {label}: {done:,}/{total:,} posts ({rate:,.0f}/s)", end="", flush=True)

    return report


async def load_into_postgres(path: Path, url: str) -> None:
    """Copy the SQLite archive at *path* into the PostgreSQL database at *url* (once)."""
    engine = db.create_engine(DatabaseConfig(url=url))
    await db.upgrade(engine)
    await engine.dispose()
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    source = sqlite3.connect(path)
    try:
        fingerprint = "SELECT count(*), sum(length(stems)) FROM post_search"
        if tuple(await conn.fetchrow(fingerprint)) == source.execute(fingerprint).fetchone():
            return  # loaded earlier, with the same index entries
        foreign = (
            "SELECT count(*) FROM channels WHERE username IS NULL OR username NOT LIKE 'bench_%'"
        )
        if await conn.fetchval(foreign):
            raise SystemExit(
                f"{make_url(url).render_as_string(hide_password=True)}: holds channels this "
                "bench did not load; give it an empty database"
            )
        await conn.execute("TRUNCATE post_search, posts, channels CASCADE")
        for table, columns in PG_COPY.items():
            await _copy_table(source, conn, table, columns)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
        source.close()


PG_COPY = {
    "channels": ("id", "username", "title", "tracked", "status", "first_seen_at", "updated_at"),
    "posts": (
        "channel_id",
        "message_id",
        "kind",
        "date",
        "text",
        "content_sha256",
        "current_version",
        "first_seen_at",
        "updated_at",
    ),
    "post_search": ("search_key", "channel_id", "message_id", "words", "stems", "facets"),
}
PG_TIMES = frozenset({"date", "first_seen_at", "updated_at"})


async def _copy_table(
    source: sqlite3.Connection, conn: asyncpg.Connection, table: str, columns: tuple[str, ...]
) -> None:
    convert = [_sqlite_time if c in PG_TIMES else bool if c == "tracked" else None for c in columns]
    cursor = source.execute(f"SELECT {', '.join(columns)} FROM {table}")
    report, done = _progress(f"copying {table}"), 0
    total = source.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    while batch := cursor.fetchmany(50_000):
        records = [
            tuple(v if f is None or v is None else f(v) for f, v in zip(convert, row, strict=True))
            for row in batch
        ]
        await conn.copy_records_to_table(table, records=records, columns=list(columns))
        done += len(batch)
        report(done, total)
    print()


def _sqlite_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")


async def measure_postgres(path: Path, url: str, repeat: int) -> None:
    """dozor's search over the same archive in PostgreSQL (its GIN index, no FTS5), after
    checking that both backends find the same hits."""
    engine = db.create_engine(DatabaseConfig(url=url))
    sessions = db.session_factory(engine)
    classes = query_classes(path)
    await _same_hits_as_sqlite(path, sessions, classes)
    print(f"{'query class':18} {'newest p50/p95':>20} {'relevance p50/p95':>22}  hits (median)")
    for name, queries in classes.items():
        newest, ranked, hits = await _time_dozor(sessions, queries, repeat)
        print(f"{name:18} {_cell(newest):>20} {_cell(ranked):>22}  {statistics.median(hits):,.0f}")
    await engine.dispose()


async def _same_hits_as_sqlite(
    path: Path, postgres: async_sessionmaker[AsyncSession], classes: dict[str, list[str]]
) -> None:
    """Totals and two newest-first pages (the first, and one at offset 40) must be equal."""
    engine = db.create_engine(DatabaseConfig(url=f"sqlite+aiosqlite:///{path}"))
    sqlite = db.session_factory(engine)
    compared = 0
    for queries in classes.values():
        for query in queries[:6]:
            assert await _pages(sqlite, query) == await _pages(postgres, query), query
            compared += 1
    await engine.dispose()
    print(f"same totals and pages as SQLite for all {compared} queries checked")


async def _pages(sessions: async_sessionmaker[AsyncSession], query: str) -> list[object]:
    async with sessions() as session:
        pages = [await search(session, query, limit=20, offset=o) for o in (0, 40)]
    return [pages[0].total] + [[hit.message_id for hit in page.hits] for page in pages]


async def _time_dozor(
    sessions: async_sessionmaker[AsyncSession], queries: list[str], repeat: int
) -> tuple[list[float], list[float], list[int]]:
    """Seconds per search newest-first and by relevance, and hit counts (each query is run
    once untimed first)."""
    newest: list[float] = []
    ranked: list[float] = []
    hits: list[int] = []
    for query in queries:
        async with sessions() as session:
            await search(session, query, limit=20)
            await search(session, query, limit=20, sort="relevance")
    for query in (queries * repeat)[: max(repeat, len(queries))]:
        async with sessions() as session:
            t = time.perf_counter()
            found = await search(session, query, limit=20)
            newest.append(time.perf_counter() - t)
            t = time.perf_counter()
            await search(session, query, limit=20, sort="relevance")
            ranked.append(time.perf_counter() - t)
        hits.append(found.total)
    return newest, ranked, hits


async def _time_raw(
    sessions: async_sessionmaker[AsyncSession],
    raw: sqlite3.Connection,
    queries: list[str],
    repeat: int,
) -> tuple[list[float], list[float]]:
    """Seconds per hand-written FTS5 query of the same terms: newest first, and by bm25."""
    expressions = []
    async with sessions() as session:
        for query in queries:
            expressions.append(
                compile_plan(session, await prepare_query(session, query)).expression
            )
    newest: list[float] = []
    ranked: list[float] = []
    for expression in (expressions * repeat)[: max(repeat, len(expressions))]:
        for order, samples in (
            ("rowid DESC", newest),
            ("bm25(post_search_fts, 0.5, 1.0, 0.0)", ranked),
        ):
            t = time.perf_counter()
            raw.execute(
                "SELECT rowid FROM post_search_fts WHERE post_search_fts MATCH ? "
                f"ORDER BY {order} LIMIT 20",
                (expression,),
            ).fetchall()
            samples.append(time.perf_counter() - t)
    return newest, ranked


def _cell(samples: list[float]) -> str:
    return "{:7.1f} /{:7.1f} ms".format(*(1000 * x for x in percentiles(samples)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/dozor-bench-search.db"))
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also load the archive into this (empty or earlier loaded) PostgreSQL database, "
        "e.g. postgresql+asyncpg://user:pass@127.0.0.1/dozor_bench, and time dozor there",
    )
    args = parser.parse_args()
    marker = args.db.with_suffix(f".{args.posts}.done")
    fresh = not marker.exists()
    if fresh:
        for stale in (args.db, args.db.with_suffix(".db-wal"), args.db.with_suffix(".db-shm")):
            stale.unlink(missing_ok=True)
    # A new file gets the schema here; a reused one is migrated and its index rebuilt if stale.
    asyncio.run(brought_up_to_date(f"sqlite+aiosqlite:///{args.db}"))
    if fresh:
        print(f"building {args.db} with {args.posts:,} posts (once; reused afterwards)")
        build(args.db, args.posts)
        marker.touch()
    if args.postgres:
        asyncio.run(load_into_postgres(args.db, args.postgres))
        asyncio.run(marked_current(args.postgres))  # it holds the up-to-date archive's entries
        print(f"search over the same {args.posts:,} posts in PostgreSQL")
        asyncio.run(measure_postgres(args.db, args.postgres, args.repeat))
        return
    print(
        f"search over {args.posts:,} posts ({args.db.stat().st_size / 1e9:.1f} GB), "
        f"SQLite {sqlite3.sqlite_version}"
    )
    asyncio.run(measure(args.db, args.repeat))


if __name__ == "__main__":
    main()
