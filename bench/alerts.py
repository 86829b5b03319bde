"""Alerts: the generator on a backfill, alerts/second through the delivery worker, and latency
from archive event to the Bot API request, with 10,000 subscribers' rules.

    python bench/alerts.py [--rules 10000] [--backfill 20000] [--posts 50] [--live 120] [--rate 4]

Everything runs as in production — a migrated SQLite file, dozor's alert generator and
delivery worker, the real aiogram client over HTTP — against the fake Bot API of the tests on
a loopback port.

0. Backfill: the events of old posts (a channel's history, an old export), which predate every
   rule's alert window, go through the generator; none may alert.
1. Throughput: posts matching many rules are archived, turned into alerts, and the worker
   sends them all with Telegram's rate limits switched off (the fake is the only bottleneck
   besides dozor).
2. Latency: the whole team service runs (bot polling, generator, worker with the limits on)
   while posts are archived one by one at ``--rate`` per second, each matching a few
   subscribers; for each alert, the time from the archive commit to the fake receiving the
   sendMessage request. Goal: p95 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.common import report
from bench.rules import make_posts, make_rules
from bench.search import vocabulary
from bot.delivery import Delivery, RateLimiter
from dozor.alerts.generator import RuleCache, generate_alerts
from dozor.cli.bot_cmd import team_service
from dozor.config import Config
from dozor.db import create_engine, session_factory, upgrade
from dozor.models import rules
from dozor.records import ChannelRecord, PostRecord, Source
from dozor.storage import store_posts, upsert_channel
from tests.fakes.botapi import FakeBotAPI

CHANNEL = -1001525384822
USERNAME = "bench"
FIRST_CHAT = 10_000_000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--backfill", type=int, default=20_000, help="old posts, none alerting")
    parser.add_argument("--posts", type=int, default=50, help="posts for the throughput run")
    parser.add_argument("--live", type=int, default=120, help="posts for the latency run")
    parser.add_argument("--rate", type=float, default=4.0, help="posts/s in the latency run")
    args = parser.parse_args()
    rng = random.Random(11)
    vocab = vocabulary(20_000, rng)
    queries = make_rules(args.rules, rng, vocab)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/alerts.db"
        config = Config.model_validate({"database": {"url": url}})
        engine = create_engine(config.database)
        await upgrade(engine)
        sessions = session_factory(engine)
        api = FakeBotAPI()
        await api.start()
        try:
            await setup(sessions, queries)
            print(f"alerts — {args.rules:,} subscribers' rules, fake Bot API at {api.url}")
            await backfill(sessions, make_posts(args.backfill, rng, vocab))
            await throughput(sessions, api, make_posts(args.posts, rng, vocab))
            await latency(sessions, api, url, queries, args.live, args.rate)
        finally:
            await api.stop()
            await engine.dispose()


async def setup(sessions: async_sessionmaker[AsyncSession], queries: list[str]) -> None:
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        await upsert_channel(
            session,
            ChannelRecord(CHANNEL, "Bench channel", USERNAME),
            observed_at=now,
            source=Source.LIVE,
        )
        await session.execute(
            insert(rules),
            [
                {
                    "name": f"rule {i}",
                    "query": query,
                    "events": "new,edited",
                    "chat_id": FIRST_CHAT + i,
                    "owner_id": FIRST_CHAT + i,
                    "mode": "instant",
                    "status": "active",
                    "origin": "bot",
                    "alert_from": now - timedelta(hours=1),
                    "created_at": now,
                    "updated_at": now,
                }
                for i, query in enumerate(queries)
            ],
        )


_next_id = 0


async def archive(
    sessions: async_sessionmaker[AsyncSession], texts: list[str], *, age: timedelta = timedelta()
) -> list[int]:
    """Store *texts* as posts published *age* ago."""
    global _next_id
    now = datetime.now(UTC)
    ids = list(range(_next_id + 1, _next_id + 1 + len(texts)))
    _next_id += len(texts)
    async with sessions.begin() as session:
        await store_posts(
            session,
            [PostRecord(CHANNEL, i, now - age, text=t) for i, t in zip(ids, texts, strict=True)],
            source=Source.LIVE,
            observed_at=now,
        )
    return ids


async def backfill(sessions: async_sessionmaker[AsyncSession], texts: list[str]) -> None:
    """A channel's history arriving (a first backfill, an old export): its events go through
    the generator, and none may alert, since every post predates every rule."""
    cache = RuleCache()
    async with sessions() as session:
        await cache.current(session)
    for first in range(0, len(texts), 2_000):
        await archive(sessions, texts[first : first + 2_000], age=timedelta(days=365))
    start = time.perf_counter()
    made, events = await _generate(sessions, cache)
    seconds = time.perf_counter() - start
    assert made == 0, "history must not alert"
    report([("backfill events", f"{events:,} in {seconds:.1f} s ({events / seconds:,.0f}/s)")])


async def _generate(
    sessions: async_sessionmaker[AsyncSession], cache: RuleCache
) -> tuple[int, int]:
    """Alerts made and events read, until the change feed is exhausted."""
    made = events = 0
    while True:
        async with sessions.begin() as session:
            result = await generate_alerts(session, cache, now=datetime.now(UTC))
        made += result.alerts
        events += result.events
        if result.events == 0:
            return made, events


async def throughput(
    sessions: async_sessionmaker[AsyncSession], api: FakeBotAPI, texts: list[str]
) -> None:
    await archive(sessions, texts)
    cache = RuleCache()
    start = time.perf_counter()
    async with sessions() as session:
        rules_loaded = len(await cache.current(session))  # once per start and rule change
    compiled = time.perf_counter() - start
    start = time.perf_counter()
    made, _ = await _generate(sessions, cache)
    generated = time.perf_counter() - start
    delivery = Delivery(
        _bot(api), sessions, ZoneInfo("UTC"), limiter=RateLimiter(enabled=False), batch=500
    )
    start = time.perf_counter()
    sent = (await delivery.run_once()).sent
    delivered = time.perf_counter() - start
    await delivery.bot.session.close()
    report(
        [
            ("rules compiled", f"{rules_loaded:,} in {compiled:.1f} s (in a worker thread)"),
            ("posts archived", f"{len(texts):,}"),
            ("alerts generated", f"{made:,} in {generated:.1f} s ({made / generated:,.0f}/s)"),
            ("alerts delivered", f"{sent:,} in {delivered:.1f} s ({sent / delivered:,.0f}/s)"),
        ]
    )


def _bot(api: FakeBotAPI) -> Bot:
    return Bot("1:bench", session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))


async def latency(
    sessions: async_sessionmaker[AsyncSession],
    api: FakeBotAPI,
    url: str,
    queries: list[str],
    posts: int,
    rate: float,
) -> None:
    """Posts each matching 1–3 single-word rules, archived at *rate*/s while the service runs."""
    words = [q for q in queries if q.isalpha()]
    rng = random.Random(5)
    config = Config.model_validate(
        {
            "database": {"url": url},
            "bot": {"token": "1:bench", "admins": [1], "api_server": api.url},
        }
    )
    service = await team_service(config, sessions)
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    await service.generate()  # compile the rules before measuring (done once at start)
    api.calls.clear()
    archived: dict[int, float] = {}
    for _ in range(posts):
        text = " ".join(rng.sample(words, rng.randint(1, 3)))
        (message_id,) = await archive(sessions, [text])
        archived[message_id] = time.monotonic()
        await asyncio.sleep(1 / rate)
    await asyncio.sleep(3)
    stop.set()
    await running
    delays = [
        call.at - archived[about]
        for call in api.sent("sendmessage")
        if (about := _message_id(call.params.get("text", ""))) is not None and about in archived
    ]
    delays.sort()
    p95 = delays[int(len(delays) * 0.95) - 1] if delays else float("nan")
    verdict = "✓" if p95 < 1.0 else "✗"
    report(
        [
            ("live posts", f"{posts} at {rate:g}/s, limits on"),
            ("alerts sent", f"{len(delays):,}"),
            ("event → Bot API p50", f"{statistics.median(delays) * 1000:,.0f} ms"),
            ("event → Bot API p95", f"{p95 * 1000:,.0f} ms  {verdict} goal < 1,000 ms"),
            ("event → Bot API max", f"{delays[-1] * 1000:,.0f} ms"),
        ]
    )


def _message_id(text: str) -> int | None:
    marker = f"https://t.me/{USERNAME}/"
    if marker not in text:
        return None
    digits = text.split(marker, 1)[1].split('"', 1)[0]
    return int(digits) if digits.isdigit() else None


if __name__ == "__main__":
    asyncio.run(main())
