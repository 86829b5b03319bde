"""Requests to follow a channel, made where no Telegram user session is (the bot).

Only the archiver can resolve a username and join a channel, and it may run in another process
or on another machine. So the bot records the request here; the archiver picks pending requests
up, follows the channel and writes the outcome, which the bot reports back to whoever asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import channel_requests

PENDING, DONE, FAILED = "pending", "done", "failed"


@dataclass(frozen=True)
class ChannelRequest:
    id: int
    ref: str
    requested_by: int | None
    chat_id: int | None
    status: str
    detail: str | None
    channel_id: int | None

    @classmethod
    def from_row(cls, row: Any) -> ChannelRequest:
        m = row._mapping
        return cls(
            m["id"],
            m["ref"],
            m["requested_by"],
            m["chat_id"],
            m["status"],
            m["detail"],
            m["channel_id"],
        )


async def request_channel(
    session: AsyncSession,
    ref: str,
    *,
    now: datetime,
    requested_by: int | None = None,
    chat_id: int | None = None,
) -> int:
    result = await session.execute(
        insert(channel_requests)
        .values(ref=ref, requested_by=requested_by, chat_id=chat_id, requested_at=now)
        .returning(channel_requests.c.id)
    )
    return int(result.scalar_one())


async def requests_by_id(session: AsyncSession, ids: list[int]) -> list[ChannelRequest]:
    """The requests *ids*, as they stand now, in that order."""
    result = await session.execute(select(channel_requests).where(channel_requests.c.id.in_(ids)))
    found = {request.id: request for request in map(ChannelRequest.from_row, result)}
    return [found[i] for i in ids if i in found]


async def waiting_request_count(session: AsyncSession) -> int:
    """How many requests the archiver has not carried out yet."""
    result = await session.execute(select(func.count()).where(channel_requests.c.status == PENDING))
    return int(result.scalar_one())


async def pending_requests(session: AsyncSession, limit: int = 50) -> list[ChannelRequest]:
    """Requests the archiver has still to carry out."""
    result = await session.execute(
        select(channel_requests)
        .where(channel_requests.c.status == PENDING)
        .order_by(channel_requests.c.id)
        .limit(limit)
    )
    return [ChannelRequest.from_row(row) for row in result]


async def unreported_outcomes(session: AsyncSession, limit: int = 50) -> list[ChannelRequest]:
    """Carried-out requests whose outcome the requester has not been told yet."""
    result = await session.execute(
        select(channel_requests)
        .where(
            channel_requests.c.status.in_((DONE, FAILED)),
            channel_requests.c.chat_id.is_not(None),
            channel_requests.c.reported_at.is_(None),
        )
        .order_by(channel_requests.c.id)
        .limit(limit)
    )
    return [ChannelRequest.from_row(row) for row in result]


async def finish_request(
    session: AsyncSession,
    request_id: int,
    *,
    ok: bool,
    detail: str,
    now: datetime,
    channel_id: int | None = None,
) -> None:
    await session.execute(
        update(channel_requests)
        .where(channel_requests.c.id == request_id)
        .values(status=DONE if ok else FAILED, detail=detail, channel_id=channel_id, done_at=now)
    )


async def mark_reported(session: AsyncSession, request_id: int, *, now: datetime) -> None:
    """The outcome reached the user who asked: do not report it again."""
    await session.execute(
        update(channel_requests).where(channel_requests.c.id == request_id).values(reported_at=now)
    )
