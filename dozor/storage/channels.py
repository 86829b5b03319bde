"""Channels: upsert with change history, lookup by any reference a user types, listing."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.channel_refs import USERNAME, ChannelRef, parse_channel_ref
from dozor.errors import AmbiguousChannel, ChannelNotFound
from dozor.ids import bare_channel_id, is_marked_channel_id
from dozor.models import channel_changes, channels, invite_links, posts, sync_state
from dozor.records import ChannelRecord, Source, without_nul
from dozor.storage.sync import ACCESS

log = logging.getLogger(__name__)

PINNED = "pinned"  # the post a channel shows pinned
_TRACKED_FIELDS = ("title", "username", "about", "subscribers", "labels", PINNED)
PURGE = "purge"  # the channel_changes field of many posts deleted at once
# What channel_changes logs: those, the channel lost to the account or regained, and purges.
CHANGE_FIELDS = (*_TRACKED_FIELDS, ACCESS, PURGE)
# The changes people are shown (the HTML export too) and told of: all but subscriber counts,
# which change by the hour.
TOLD_FIELDS = ("title", "username", "about", "labels", PINNED, ACCESS, PURGE)


async def upsert_channel(
    session: AsyncSession,
    record: ChannelRecord,
    *,
    observed_at: datetime,
    source: Source,
    tracked: bool | None = None,
) -> list[str]:
    """Insert or update a channel; every changed field is logged in channel_changes.

    Fields the record leaves as None are unknown to the source and left alone. Returns the
    names of the fields that changed.
    """
    record = replace(
        record,
        title=without_nul(record.title),
        username=without_nul(record.username),
        about=without_nul(record.about),
        labels=without_nul(record.labels),
    )
    stored = (
        (await session.execute(select(channels).where(channels.c.id == record.id)))
        .mappings()
        .first()
    )
    if record.username is not None and (stored is None or record.username != stored["username"]):
        await _release_username(session, record, observed_at=observed_at, source=source)
    if stored is None:
        await _insert_channel(session, record, observed_at=observed_at, tracked=bool(tracked))
        return []
    values = _changed_fields(record, stored)
    # An empty value where none was known (no description, no label) is no news to log.
    changes = {
        name: value for name, value in values.items() if stored[name] is not None or value != ""
    }
    if tracked is not None and tracked != stored["tracked"]:
        values["tracked"] = tracked
    if values:
        values["updated_at"] = observed_at
        await session.execute(update(channels).where(channels.c.id == record.id).values(values))
    if changes:
        rows = [
            {
                "channel_id": record.id,
                "field": name,
                "old_value": _text(stored[name]),
                "new_value": _text(value),
                "observed_at": observed_at,
                "source": source.value,
            }
            for name, value in changes.items()
        ]
        await session.execute(insert(channel_changes), rows)
    return list(changes)


def _changed_fields(record: ChannelRecord, stored: RowMapping) -> dict[str, Any]:
    """The tracked fields *record* knows (not None) whose value differs from *stored*."""
    known = {name: getattr(record, name) for name in _TRACKED_FIELDS}
    return {
        name: value for name, value in known.items() if value is not None and value != stored[name]
    }


async def log_purge(
    session: AsyncSession,
    channel_id: int,
    message_ids: Sequence[int],
    *,
    observed_at: datetime,
    source: Source,
) -> None:
    """Many posts deleted at once (a mass deletion) as a channel change: `dozor channels
    history` lists it, and the team hears of it whatever its rules watch."""
    first, last = min(message_ids), max(message_ids)
    await session.execute(
        insert(channel_changes).values(
            channel_id=channel_id,
            field=PURGE,
            old_value=None,
            new_value=f"{len(message_ids)} posts, #{first} to #{last}",
            observed_at=observed_at,
            source=source.value,
        )
    )


async def _insert_channel(
    session: AsyncSession, record: ChannelRecord, *, observed_at: datetime, tracked: bool
) -> None:
    await session.execute(
        insert(channels).values(
            id=record.id,
            title=record.title if record.title is not None else untitled(record.id),
            username=record.username,
            about=record.about,
            subscribers=record.subscribers,
            labels=record.labels,
            pinned=record.pinned,
            tracked=tracked,
            status="ok",
            first_seen_at=observed_at,
            updated_at=observed_at,
        )
    )


async def channel_history(
    session: AsyncSession, channel_id: int, fields: Sequence[str] = CHANGE_FIELDS
) -> list[dict[str, Any]]:
    """The logged changes of a channel's *fields*, oldest first: ``observed_at``, ``field``,
    ``old_value``, ``new_value`` (text; None where nothing was known), ``source``."""
    return (await channel_histories(session, fields, channel_id)).get(channel_id, [])


async def channel_histories(
    session: AsyncSession, fields: Sequence[str] = CHANGE_FIELDS, channel_id: int | None = None
) -> dict[int, list[dict[str, Any]]]:
    """:func:`channel_history` of every channel (or of *channel_id*), by channel id."""
    query = (
        select(
            channel_changes.c.channel_id,
            channel_changes.c.observed_at,
            channel_changes.c.field,
            channel_changes.c.old_value,
            channel_changes.c.new_value,
            channel_changes.c.source,
        )
        .where(channel_changes.c.field.in_(fields))
        .order_by(channel_changes.c.observed_at, channel_changes.c.id)
    )
    if channel_id is not None:
        query = query.where(channel_changes.c.channel_id == channel_id)
    histories: dict[int, list[dict[str, Any]]] = {}
    for row in (await session.execute(query)).mappings():
        change = dict(row)
        histories.setdefault(change.pop("channel_id"), []).append(change)
    return histories


async def _release_username(
    session: AsyncSession, record: ChannelRecord, *, observed_at: datetime, source: Source
) -> None:
    """A username belongs to one channel at a time: another channel that still holds the one
    *record* now has gave it up (Telegram usernames move). Logged like any other change."""
    assert record.username is not None
    holders = (
        await session.execute(
            select(channels.c.id, channels.c.title, channels.c.username).where(
                func.lower(channels.c.username) == record.username.lower(),
                channels.c.id != record.id,
            )
        )
    ).all()
    for holder in holders:
        log.warning(
            "username @%s moved from %r (%s) to %r (%s)",
            record.username,
            holder.title,
            holder.id,
            record.title,
            record.id,
        )
        await session.execute(
            update(channels)
            .where(channels.c.id == holder.id)
            .values(username=None, updated_at=observed_at)
        )
        await session.execute(
            insert(channel_changes).values(
                channel_id=holder.id,
                field="username",
                old_value=holder.username,
                new_value=None,
                observed_at=observed_at,
                source=source.value,
            )
        )


async def remember_invite(
    session: AsyncSession, invite: str, channel_id: int, *, now: datetime
) -> None:
    """Note that the invite link with hash *invite* led to *channel_id*, so that the
    configured link is known at the next start without asking Telegram."""
    key = _invite_key(invite)
    known = await session.scalar(
        select(invite_links.c.channel_id).where(invite_links.c.link_sha256 == key)
    )
    if known is None:
        await session.execute(
            insert(invite_links).values(link_sha256=key, channel_id=channel_id, resolved_at=now)
        )
    elif known != channel_id:
        await session.execute(
            update(invite_links)
            .where(invite_links.c.link_sha256 == key)
            .values(channel_id=channel_id, resolved_at=now)
        )


async def invited_channels(session: AsyncSession, invites: Sequence[str]) -> dict[str, int]:
    """The channels the invite links with these hashes led to, where dozor has followed one."""
    keys = {_invite_key(invite): invite for invite in invites}
    if not keys:
        return {}
    rows = await session.execute(
        select(invite_links.c.link_sha256, invite_links.c.channel_id).where(
            invite_links.c.link_sha256.in_(list(keys))
        )
    )
    return {keys[key]: int(channel_id) for key, channel_id in rows}


def _invite_key(invite: str) -> str:
    """What the archive keeps of an invite link: anyone holding the link may join the channel,
    and an archive gets copied and shared."""
    return hashlib.sha256(invite.encode()).hexdigest()


async def channel_title(session: AsyncSession, channel_id: int) -> str:
    """The archived title of a channel that exists."""
    found = await session.execute(select(channels.c.title).where(channels.c.id == channel_id))
    return str(found.scalar_one())


async def archived_username(session: AsyncSession, channel_id: int) -> str | None:
    """The username an archived channel has now, if any."""
    query = select(channels.c.username).where(channels.c.id == channel_id)
    return (await session.execute(query)).scalar_one_or_none()


async def newest_message_id(session: AsyncSession, channel_id: int) -> int | None:
    """The highest post number archived for a channel; None when it has no posts."""
    found = await session.execute(
        select(func.max(posts.c.message_id)).where(posts.c.channel_id == channel_id)
    )
    newest = found.scalar_one()
    return None if newest is None else int(newest)


def untitled(channel_id: int) -> str:
    """The title a channel gets until a source tells its real one."""
    return (
        f"channel {bare_channel_id(channel_id) if is_marked_channel_id(channel_id) else channel_id}"
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def record_sync(
    session: AsyncSession, channel_id: int, *, at: datetime, source: Source
) -> None:
    """Note that the channel was brought up to date from *source* at *at*."""
    exists = (
        await session.execute(
            select(sync_state.c.channel_id).where(sync_state.c.channel_id == channel_id)
        )
    ).first()
    values = {"last_sync_at": at, "last_sync_source": source.value}
    if exists:
        await session.execute(
            update(sync_state).where(sync_state.c.channel_id == channel_id).values(values)
        )
    else:
        await session.execute(
            insert(sync_state).values(channel_id=channel_id, backfill_complete=False, **values)
        )


async def resolve_channel(session: AsyncSession, text: str) -> dict[str, Any]:
    """The archived channel a user means by *text*, or ChannelNotFound / AmbiguousChannel."""
    ref = parse_channel_ref(text)
    if ref.id is not None:
        row = (await session.execute(select(channels).where(channels.c.id == ref.id))).first()
        return _one([dict(row._mapping)] if row else [], text)
    holders = await _current_holders(session, ref)
    return _one(holders or matching_channels(ref, await channel_rows(session)), text)


async def _current_holders(session: AsyncSession, ref: ChannelRef) -> list[dict[str, Any]]:
    """The channel that has the username *ref* names now: the usual answer, in one statement
    (matching_channels tries it first too, after reading every channel and its history)."""
    names = _usernames(ref)
    if not names:
        return []
    query = select(channels).where(func.lower(channels.c.username) == names[0].lower())
    return [dict(row._mapping) for row in await session.execute(query)]


async def channel_rows(session: AsyncSession) -> list[dict[str, Any]]:
    """Every archived channel, with the usernames and titles it had before, oldest first
    (``former_usernames``, ``former_titles``): what :func:`matching_channels` needs."""
    rows = {
        row["id"]: {**row, "former_usernames": [], "former_titles": []}
        for row in (await session.execute(select(channels))).mappings()
    }
    for channel_id, changes in (await channel_histories(session, ("title", "username"))).items():
        for change in changes:
            names = rows[channel_id][f"former_{change['field']}s"]
            if change["old_value"] is not None and change["old_value"] not in names:
                names.append(change["old_value"])
    return list(rows.values())


def matching_channels(ref: ChannelRef, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The channel rows a reference means: by id, else username, else title; and when no
    channel has that username or title now, the channel that had it before (renamed since,
    so rules, links and habits naming the old one keep working)."""
    if ref.id is not None:
        return [row for row in rows if row["id"] == ref.id]
    names = _usernames(ref)
    wanted = ref.name.casefold() if ref.name else None
    for current in (True, False):
        for name in names:
            found = [r for r in rows if _had_username(r, name.lower(), current)]
            if found:
                return found
        if wanted is not None:
            found = [r for r in rows if _had_title(r, wanted, current)]
            if found:
                return found
    return []


def _usernames(ref: ChannelRef) -> list[str]:
    """The usernames a reference may mean: its username, or a name shaped like one."""
    names = [ref.username] if ref.username else []
    if ref.name and USERNAME.match(ref.name):
        names.append(ref.name)
    return names


def _had_username(row: Mapping[str, Any], name: str, current: bool) -> bool:
    if current:
        return bool(row["username"]) and row["username"].lower() == name
    return any(old.lower() == name for old in row.get("former_usernames", ()))


def has_or_had_title(row: Mapping[str, Any], title: str) -> bool:
    """Is *title* (casefolded) a channel row's title, now or before (see channel_rows)?"""
    return _had_title(row, title, True) or _had_title(row, title, False)


def _had_title(row: Mapping[str, Any], title: str, current: bool) -> bool:
    if current:
        return bool(row["title"].casefold() == title)
    return any(old.casefold() == title for old in row.get("former_titles", ()))


def _one(rows: Sequence[Mapping[str, Any]], text: str) -> dict[str, Any]:
    if not rows:
        raise ChannelNotFound(f"no archived channel matches {text!r} (see `dozor channels list`)")
    if len(rows) > 1:
        ids = ", ".join(str(row["id"]) for row in rows)
        raise AmbiguousChannel(f"{text!r} matches several channels ({ids}); use the id")
    return dict(rows[0])


@dataclass(frozen=True)
class ChannelSummary:
    id: int
    username: str | None
    title: str
    tracked: bool
    status: str
    posts: int
    deleted_posts: int
    first_post_at: datetime | None
    last_post_at: datetime | None
    last_sync_at: datetime | None
    last_sync_source: str | None
    labels: str | None  # Telegram's marks (verified, scam...); empty: none; None: not known

    @property
    def link(self) -> str | None:
        return f"https://t.me/{self.username}" if self.username else None


async def list_channels(session: AsyncSession) -> list[ChannelSummary]:
    counts = (
        select(
            posts.c.channel_id,
            func.count().label("posts"),
            func.count(posts.c.deleted_at).label("deleted_posts"),
            func.min(posts.c.date).label("first_post_at"),
            func.max(posts.c.date).label("last_post_at"),
        )
        .group_by(posts.c.channel_id)
        .subquery()
    )
    query = (
        select(
            channels.c.id,
            channels.c.username,
            channels.c.title,
            channels.c.tracked,
            channels.c.status,
            func.coalesce(counts.c.posts, 0),
            func.coalesce(counts.c.deleted_posts, 0),
            counts.c.first_post_at,
            counts.c.last_post_at,
            sync_state.c.last_sync_at,
            sync_state.c.last_sync_source,
            channels.c.labels,
        )
        .outerjoin(counts, counts.c.channel_id == channels.c.id)
        .outerjoin(sync_state, sync_state.c.channel_id == channels.c.id)
        .order_by(func.lower(channels.c.title), channels.c.id)
    )
    rows = (await session.execute(query)).all()
    return [ChannelSummary(*tuple(row)) for row in rows]
