"""Same meaning everywhere: for generated queries, search hits equal the rule matcher's hits.

The corpus is generated (deterministically) from a Russian/Kyrgyz vocabulary with word forms,
hashtags, numbers, links, media, forwards, replies, edits and deletions; hypothesis generates
queries from the whole language. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.errors import QueryError
from dozor.models import posts
from dozor.query.document import build_document
from dozor.query.match import matches
from dozor.records import ChannelRecord, Forward, PostRecord, Source
from dozor.search import search
from dozor.search.engine import prepare_query
from dozor.storage import mark_deleted, store_posts, upsert_channel

CHANNELS = {-1001000000001: "mvd_one", -1001000000002: "mvd_two"}
T0 = datetime(2024, 1, 1, tzinfo=UTC)
WORDS = [
    "мигрант",
    "мигранты",
    "мигрантов",
    "мигрантами",
    "задержали",
    "задержан",
    "задержанных",
    "уголовное",
    "уголовного",
    "дело",
    "дела",
    "делу",
    "полиция",
    "полиции",
    "Бишкек",
    "Бишкеке",
    "Бишкекте",
    "милиция",
    "кармалды",
    "кармады",
    "мигранттардын",
    "мигранттарды",
    "жана",
    "менен",
    "паспорт",
    "паспорта",
    "граница",
    "границе",
    "суд",
    "суда",
    "#МВД",
    "#Бишкек",
    "2024",
    "10:30",
    "mvd.gov.kg",
    "@mvd_one",
    "Ёлка",
    "елка",
    "этот",  # 14 stems, and день 18: phrases of up to 1,024 combinations are one expression,
    "этого",  # longer ones need every pair of neighbours side by side
    "день",
    "дня",
    "и",
    "в",
    "на",
]
MEDIA = [None, None, "photo", "video_file", "document", "poll"]


def corpus(seed: int = 11, size: int = 160) -> list[PostRecord]:
    rng = random.Random(seed)
    records = []
    for mid in range(1, size + 1):
        channel = rng.choice(list(CHANNELS))
        words = rng.choices(WORDS, k=rng.randint(2, 12))
        media_type = rng.choice(MEDIA)
        records.append(
            PostRecord(
                channel_id=channel,
                message_id=mid,
                date=T0 + timedelta(hours=rng.randint(0, 24 * 60), seconds=rng.choice([0, 0, 1])),
                text=" ".join(words),
                media={"type": media_type} if media_type else None,
                forward=Forward(from_name="Источник") if rng.random() < 0.15 else None,
                reply_to_message_id=rng.randint(1, mid) if rng.random() < 0.15 else None,
                edit_date=T0 + timedelta(days=70) if rng.random() < 0.2 else None,
            )
        )
    return records


@pytest.fixture
async def generated(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    async with sessions.begin() as session:
        for channel_id, username in CHANNELS.items():
            await upsert_channel(
                session,
                ChannelRecord(channel_id, username.upper(), username),
                observed_at=T0,
                source=Source.LIVE,
            )
        await store_posts(session, corpus(), source=Source.BACKFILL, observed_at=T0)
        for channel_id in CHANNELS:
            await mark_deleted(
                session,
                channel_id,
                range(1, 161, 9),
                source=Source.LIVE,
                observed_at=T0 + timedelta(days=80),
            )
    return sessions


def _word(draw: st.DrawFn) -> str:
    word = draw(st.sampled_from(WORDS))
    style = draw(st.sampled_from(["plain", "plain", "exact", "prefix"]))
    if style == "exact":
        return "=" + word
    if style == "prefix" and len(word) >= 4 and word[0].isalpha():
        return word[: draw(st.integers(2, len(word) - 1))] + "*"
    return word


def _phrase_part(draw: st.DrawFn) -> str:
    """A word of a phrase, sometimes a prefix ("уголовн* дел*") or an exact form (=дело)."""
    word = draw(st.sampled_from(WORDS))
    style = draw(st.integers(0, 3))
    if style == 0 and len(word) >= 4 and word.isalpha():
        return word[: draw(st.integers(2, len(word) - 1))] + "*"
    return "=" + word if style == 1 else word


@st.composite
def leaf(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["word", "word", "word", "phrase", "filter", "regex"]))
    if kind == "word":
        return _word(draw)
    if kind == "phrase":
        words = [_phrase_part(draw) for _ in range(draw(st.integers(2, 3)))]
        return ("=" if draw(st.booleans()) else "") + '"' + " ".join(words) + '"'
    if kind == "regex":
        return draw(
            st.sampled_from(
                [r"/задерж\w+/i", r"/\bсуд\b/", r"/мигрант(ы|ов)/", r"/\d+:\d+/", r"/БИШКЕК/i"]
            )
        )
    day = (T0 + timedelta(days=draw(st.integers(0, 60)))).date().isoformat()
    return draw(
        st.sampled_from(
            [
                "has:media",
                "has:photo",
                "has:video",
                "has:document",
                "has:link",
                "is:forward",
                "is:reply",
                "is:edited",
                "is:deleted",
                "channel:mvd_one",
                "channel:@mvd_two",
                f"after:{day}",
                f"before:{day}",
            ]
        )
    )


queries = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda ab: f"{ab[0]} {ab[1]}"),
        st.tuples(inner, inner).map(lambda ab: f"{ab[0]} OR {ab[1]}"),
        inner.map(lambda a: f"-{a}" if not a.startswith("-") else a),
        inner.map(lambda a: f"({a})"),
    ),
    max_leaves=5,
)


async def _all_posts(session: AsyncSession) -> list[dict[str, Any]]:
    return [
        dict(r._mapping)
        for r in await session.execute(select(posts).where(posts.c.kind == "message"))
    ]


@settings(
    max_examples=int(os.environ.get("DOZOR_PROPERTY_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(query=queries)
async def test_search_hits_equal_matcher_hits(
    generated: async_sessionmaker[AsyncSession], query: str
) -> None:
    async with generated() as session:
        try:
            result = await search(session, query, limit=1000)
        except QueryError:
            return  # e.g. a prefix shorter than two letters: refused by both alike
        node = await prepare_query(session, query)
        expected = {
            (row["channel_id"], row["message_id"])
            for row in await _all_posts(session)
            if matches(node, build_document(row))
        }
    found = [(hit.channel_id, hit.message_id) for hit in result.hits]
    assert set(found) == expected, query
    assert result.total == len(expected)
    dates = [hit.date for hit in result.hits]
    assert dates == sorted(dates, reverse=True), "newest first"
