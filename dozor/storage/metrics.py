"""Counter samples that come from a rendering rather than from Telegram: a saved t.me page
shows a post's views and reactions at the time of its capture."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import post_metrics, posts
from dozor.records import ShownCounters
from dozor.storage.bulk import insert_rows
from dozor.storage.posts import message_id_conditions


async def add_shown_counters(
    session: AsyncSession,
    channel_id: int,
    shown: Mapping[int, ShownCounters],
    sampled_at: datetime,
) -> int:
    """Record the counters *shown* (by message id) as samples taken at *sampled_at*, for the
    posts the archive has. A post that has a sample at that moment already gets none (the
    same page imported again). Returns how many samples were added."""
    archived: set[int] = set()
    sampled: set[int] = set()
    for condition in message_id_conditions(posts.c.message_id, list(shown)):
        archived.update(
            await session.scalars(
                select(posts.c.message_id).where(posts.c.channel_id == channel_id, condition)
            )
        )
    for condition in message_id_conditions(post_metrics.c.message_id, list(shown)):
        sampled.update(
            await session.scalars(
                select(post_metrics.c.message_id).where(
                    post_metrics.c.channel_id == channel_id,
                    post_metrics.c.sampled_at == sampled_at,
                    condition,
                )
            )
        )
    rows = [
        {
            "channel_id": channel_id,
            "message_id": message_id,
            "sampled_at": sampled_at,
            "views": shown[message_id].views,
            "forwards": None,
            "replies": None,
            "reactions": shown[message_id].reactions,
            "rounded": shown[message_id].rounded,
        }
        for message_id in sorted(shown)
        if message_id in archived and message_id not in sampled
    ]
    await insert_rows(session, post_metrics, rows)
    return len(rows)
