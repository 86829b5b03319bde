"""Small helpers shared by tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.models import events, post_versions, posts


async def all_rows(sessions: async_sessionmaker[AsyncSession], table: Any) -> list[dict[str, Any]]:
    order = list(table.primary_key.columns)
    async with sessions() as session:
        result = await session.execute(select(table).order_by(*order))
        return [dict(row._mapping) for row in result]


async def post(
    sessions: async_sessionmaker[AsyncSession], channel_id: int, message_id: int
) -> dict[str, Any]:
    async with sessions() as session:
        row = (
            await session.execute(
                select(posts).where(
                    posts.c.channel_id == channel_id, posts.c.message_id == message_id
                )
            )
        ).one()
        return dict(row._mapping)


async def versions(
    sessions: async_sessionmaker[AsyncSession], channel_id: int, message_id: int
) -> list[dict[str, Any]]:
    async with sessions() as session:
        result = await session.execute(
            select(post_versions)
            .where(
                post_versions.c.channel_id == channel_id, post_versions.c.message_id == message_id
            )
            .order_by(post_versions.c.version)
        )
        return [dict(row._mapping) for row in result]


async def event_log(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, int | None]]:
    async with sessions() as session:
        result = await session.execute(
            select(events.c.kind, events.c.message_id).order_by(events.c.seq)
        )
        return [(kind, mid) for kind, mid in result]
