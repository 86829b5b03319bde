"""Everything the archive knows about one post: its versions, counters over time, events."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.errors import UserError
from dozor.ids import INT32
from dozor.models import (
    channel_changes,
    events,
    post_metrics,
    post_versions,
    posts,
    unreadable_messages,
)
from dozor.records import EventKind
from dozor.storage.channels import PINNED, resolve_channel

# t.me/name/123, t.me/s/name/123, t.me/c/1292077344/123 (any of them with ?single etc.),
# and the short forms name/123, @name/123, -1001292077344/123.
_POST_LINK = re.compile(
    r"^(?:(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(?:s/)?)?"
    r"(?P<channel>c/\d+|@?[A-Za-z0-9_]+|-?\d+)/(?P<id>\d+)/?(?:\?[^\s]*)?$"
)


class PostNotFound(UserError):
    """The channel is archived, the post is not."""


@dataclass(frozen=True)
class PostHistory:
    channel: dict[str, Any]  # the channels row
    post: dict[str, Any]  # the current state (the posts row)
    versions: list[dict[str, Any]]  # every content the post had, oldest first
    metrics: list[dict[str, Any]]  # views, forwards, replies, reactions as sampled
    events: list[dict[str, Any]]  # new, edited, deleted, restored: the change feed
    pinned: list[PinSpan] = field(default_factory=list)  # when the channel showed it pinned


@dataclass(frozen=True)
class PinSpan:
    """The channel showed the post pinned from *since* until *until* (None: still), as the
    archiver saw it."""

    since: datetime
    until: datetime | None


def parse_post_ref(text: str) -> tuple[str, int]:
    """The channel reference and message id in a post link such as
    ``https://t.me/mvd_official_kg/1234`` (see :data:`_POST_LINK` for the other forms)."""
    match = _POST_LINK.match(text.strip())
    if match is None or not 0 < int(match["id"]) <= INT32:
        raise UserError(
            f"{text.strip()!r} is not a post link: give one like https://t.me/mvd_official_kg/1234 "
            "or t.me/c/1292077344/1234, or the channel and the post number"
        )
    channel = match["channel"]
    return (f"t.me/{channel}" if channel.startswith("c/") else channel), int(match["id"])


async def post_history(session: AsyncSession, channel_ref: str, message_id: int) -> PostHistory:
    """The whole record of post *message_id* of the archived channel *channel_ref*;
    ChannelNotFound, or PostNotFound (naming the channel) if it was never archived."""
    channel = await resolve_channel(session, channel_ref)
    key = (posts.c.channel_id == channel["id"], posts.c.message_id == message_id)
    row = (
        (await session.execute(select(posts).where(*key))).first()
        if 0 < message_id <= INT32
        else None
    )
    if row is None:
        unreadable = await session.execute(
            select(unreadable_messages.c.reason).where(
                unreadable_messages.c.channel_id == channel["id"],
                unreadable_messages.c.message_id == message_id,
            )
        )
        reason = unreadable.scalar()
        why = f": Telegram has it, but {reason}" if reason else ""
        raise PostNotFound(f"{channel['title']}: post {message_id} is not in the archive{why}")
    return PostHistory(
        channel=channel,
        post=dict(row._mapping),
        versions=await _rows(session, post_versions, channel["id"], message_id, "version"),
        metrics=await _rows(session, post_metrics, channel["id"], message_id, "sampled_at"),
        events=await _events(session, row._mapping),
        pinned=await _pin_spans(session, channel["id"], message_id),
    )


async def _pin_spans(session: AsyncSession, channel_id: int, message_id: int) -> list[PinSpan]:
    """When the channel showed the post pinned, from its logged pin changes."""
    number = str(message_id)
    changes = await session.execute(
        select(channel_changes.c.observed_at, channel_changes.c.new_value)
        .where(
            channel_changes.c.channel_id == channel_id,
            channel_changes.c.field == PINNED,
            (channel_changes.c.old_value == number) | (channel_changes.c.new_value == number),
        )
        .order_by(channel_changes.c.id)
    )
    spans: list[PinSpan] = []
    for seen, pinned_now in changes:
        if pinned_now == number:
            spans.append(PinSpan(seen, None))
        elif spans and spans[-1].until is None:
            spans[-1] = PinSpan(spans[-1].since, seen)
    return spans


async def _events(session: AsyncSession, post: Any) -> list[dict[str, Any]]:
    """The post's events, and the mass deletion that took it (filed under the purge's first
    post, at the moment the post's tombstone records)."""
    found = await _rows(session, events, post["channel_id"], post["message_id"], "seq")
    if post["deleted_at"] is not None:
        purges = await session.execute(
            select(events).where(
                events.c.channel_id == post["channel_id"],
                events.c.kind == EventKind.MASS_DELETED.value,
                events.c.occurred_at == post["deleted_at"],
            )
        )
        seqs = {event["seq"] for event in found}
        found += [
            dict(event._mapping)
            for event in purges
            if event.seq not in seqs
            and post["message_id"] in (event.details or {}).get("message_ids", ())
        ]
    return sorted(found, key=lambda event: event["seq"])


async def _rows(
    session: AsyncSession, table: Any, channel_id: int, message_id: int, order: str
) -> list[dict[str, Any]]:
    query = (
        select(table)
        .where(table.c.channel_id == channel_id, table.c.message_id == message_id)
        .order_by(table.c[order])
    )
    return [dict(row._mapping) for row in await session.execute(query)]
