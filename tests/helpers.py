"""Small helpers shared by tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.models import events, post_metrics, post_versions, posts


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
    return await _post_rows(sessions, post_versions, channel_id, message_id, "version")


async def metric_samples(
    sessions: async_sessionmaker[AsyncSession], channel_id: int, message_id: int
) -> list[dict[str, Any]]:
    return await _post_rows(sessions, post_metrics, channel_id, message_id, "sampled_at")


async def _post_rows(
    sessions: async_sessionmaker[AsyncSession],
    table: Table,
    channel_id: int,
    message_id: int,
    order: str,
) -> list[dict[str, Any]]:
    """A post's rows of *table* (its versions, its counter samples), in *order*."""
    async with sessions() as session:
        result = await session.execute(
            select(table)
            .where(table.c.channel_id == channel_id, table.c.message_id == message_id)
            .order_by(table.c[order])
        )
        return [dict(row._mapping) for row in result]


async def event_log(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, int | None]]:
    async with sessions() as session:
        result = await session.execute(
            select(events.c.kind, events.c.message_id).order_by(events.c.seq)
        )
        return [(kind, mid) for kind, mid in result]


def account_export(folder: Path, *, lone_surrogate: bool = False) -> Path:
    """A whole-account Desktop export ("Export Telegram data") holding three channels of the
    fixtures between a personal chat and a group, one of them in "left_chats"."""
    from tests.conftest import DESKTOP

    def chat(fixture: str, **changes: Any) -> dict[str, Any]:
        return {**json.loads((DESKTOP / fixture / "result.json").read_text()), **changes}

    messages: list[dict[str, Any]] = [
        {"id": n, "type": "message", "date_unixtime": "1700000000", "text": f"привет {n}"}
        for n in range(1, 4)
    ]
    messages[1]["text"] += "SURROGATE" if lone_surrogate else ""
    person = {
        "name": "Айбек",
        "type": "personal_chat",
        "id": 5001,
        "messages": messages,
    }
    group = {**person, "name": "Группа", "type": "private_group", "id": 6001}
    left = chat("media-kinds", id=1777000001, name="Покинутый канал")
    data = {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": 42, "first_name": "Аналитик"},
        "contacts": {"about": "", "list": []},
        "chats": {
            "about": "",
            "list": [
                person,
                chat("current-format-early"),
                group,
                chat("tg2md-private-channel-2021"),
            ],
        },
        "left_chats": {"about": "", "list": [group, left]},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "result.json"
    text = json.dumps(data, ensure_ascii=False).replace("SURROGATE", "\\ud800")
    path.write_text(text, encoding="utf-8")
    return path
