"""Sending the alert outbox through the Bot API, within Telegram's limits, never losing one.

An alert moves pending → sending → sent. A worker claims it (``sending``, ``claimed_at``,
committed) before the HTTP call and marks it ``sent`` (with Telegram's message id) only after
Telegram accepted it. Claims are all-or-none per message and exclusive, so several delivery
workers (a `dozor bot` and a `dozor bot --once` from cron, say) never send the same alert.
An alert still ``sending`` after its claim's lease ran out was left by a worker that died:
it may or may not have reached the chat — the Bot API has no idempotency key — so it is sent
again with a note saying so. Nothing is lost, nothing recorded as sent is sent again, and a
possible repeat is visible as such.

Limits: at most one message a second per private chat, 20 a minute per group, 30 a second
overall. A 429 waits ``retry_after``; 5xx and network errors back off exponentially; a 403
(the user blocked the bot) pauses that user's rules and drops their pending alerts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import LinkPreviewOptions
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.render import AlertContent, render_alert, render_digest
from dozor.edits import changes_beyond_words
from dozor.errors import QueryError
from dozor.failures import log_failure
from dozor.models import alerts, channels, events, post_versions, posts, rules
from dozor.query import Node, parse
from dozor.search.engine import post_link
from dozor.storage.facts import LostChat, forget_lost_chat, note_chat_lost, note_chat_moved

log = logging.getLogger(__name__)
INSTANT_MODES = ("instant", "silent")
REPEAT_NOTE = "\n\n<i>↻ sent again after an interruption: you may have seen this already</i>"


class RateLimiter:
    """Telegram's published limits, per chat and overall (sliding windows)."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.enabled = enabled
        self.clock = clock
        self.sleep = sleep
        self._sent: dict[int, deque[float]] = defaultdict(deque)
        self._overall: deque[float] = deque()

    async def wait(self, chat_id: int) -> None:
        if not self.enabled:
            return
        limit, window = (1, 1.0) if chat_id > 0 else (20, 60.0)
        while True:
            now = self.clock()
            delay = max(
                self._delay(self._sent[chat_id], limit, window, now),
                self._delay(self._overall, 30, 1.0, now),
            )
            if delay <= 0:
                self._sent[chat_id].append(now)
                self._overall.append(now)
                return
            await self.sleep(delay)

    @staticmethod
    def _delay(times: deque[float], limit: int, window: float, now: float) -> float:
        while times and times[0] <= now - window:
            times.popleft()
        return times[0] + window - now if len(times) >= limit else 0.0


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    retried: int = 0


@dataclass
class Delivery:
    bot: Bot
    sessions: async_sessionmaker[AsyncSession]
    timezone: ZoneInfo
    limiter: RateLimiter = field(default_factory=RateLimiter)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    batch: int = 100
    concurrency: int = 16  # chats served at once
    # An alert left "sending" this long is retaken: its worker died between claim and mark.
    lease: timedelta = timedelta(minutes=2)
    max_backoff: float = 300.0
    # Test seam: runs after Telegram accepted a message, before it is recorded as sent.
    after_send: Callable[[list[int]], None] | None = None
    # Told of a group that became a supergroup (old id, new id), after its rules moved.
    on_move: Callable[[int, int], None] | None = None

    async def send_digests(self, mode: str) -> DeliveryReport:
        """One summary per chat of the alerts waiting in *mode* (digest_hourly/digest_daily)."""
        report = DeliveryReport()
        while due := await self._due((mode,)):
            by_chat: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for alert in due:
                by_chat[alert["chat_id"]].append(alert)
            for chat_id, items in by_chat.items():
                for text, ids in render_digest(mode, items, self.timezone):
                    carried = set(ids)
                    attempts = max(a["attempts"] for a in items if a["id"] in carried)
                    await self.send(
                        chat_id, text, ids, silent=False, attempts=attempts, report=report
                    )
        return report

    async def run_once(self) -> DeliveryReport:
        """Send every deliverable pending alert (including unconfirmed ones from a crash).

        Chats are served concurrently (a Bot API round trip would otherwise cap delivery far
        below Telegram's 30 messages a second); each chat's alerts go out in order."""
        report = DeliveryReport()
        gate = asyncio.Semaphore(self.concurrency)

        async def serve(groups: list[list[dict[str, Any]]]) -> None:
            async with gate:
                for group in groups:
                    if not await self._deliver(group, report):
                        return  # the chat blocked the bot: the rest was dropped with it

        while due := await self._due():
            by_chat: dict[int, list[list[dict[str, Any]]]] = defaultdict(list)
            for group in _albums(due):
                by_chat[group[0]["chat_id"]].append(group)
            await asyncio.gather(*(serve(groups) for groups in by_chat.values()))
        return report

    async def run_forever(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        """Deliver as alerts appear (*wake* is set by the generator) until *stop*."""
        while not stop.is_set():
            wake.clear()  # before looking: a wake-up during run_once is not lost
            try:
                await self.run_once()
            except Exception as exc:
                log_failure(log, exc, "alert delivery failed; retrying shortly")
            if not wake.is_set():
                await _first_of(stop, wake, seconds=1.0)

    async def _due(self, modes: Sequence[str] = INSTANT_MODES) -> list[dict[str, Any]]:
        query = (
            select(
                alerts,
                rules.c.name.label("rule_name"),
                rules.c.query.label("rule_query"),
                rules.c.mode.label("rule_mode"),
                posts.c.grouped_id,
                posts.c.date,
                posts.c.text.label("post_text"),
                posts.c.media.label("post_media"),
                channels.c.title.label("channel_title"),
                channels.c.username.label("channel_username"),
                events.c.details.label("event_details"),
            )
            .join(rules, rules.c.id == alerts.c.rule_id)
            .join(
                posts,
                (posts.c.channel_id == alerts.c.channel_id)
                & (posts.c.message_id == alerts.c.message_id),
            )
            .join(channels, channels.c.id == alerts.c.channel_id)
            .outerjoin(events, events.c.seq == alerts.c.event_seq)
            .where(_claimable(self.now() - self.lease), rules.c.mode.in_(modes))
            .order_by(alerts.c.id)
            .limit(self.batch)
        )
        async with self.sessions() as session:
            return [dict(row._mapping) for row in await session.execute(query)]

    async def _deliver(self, group: list[dict[str, Any]], report: DeliveryReport) -> bool:
        first = group[0]
        text = await self._render(group)
        if any(a["status"] == "sending" for a in group):
            text += REPEAT_NOTE
        return await self.send(
            first["chat_id"],
            text,
            [a["id"] for a in group],
            silent=first["rule_mode"] == "silent",
            attempts=first["attempts"],
            report=report,
        )

    async def send(
        self,
        chat_id: int,
        text: str,
        ids: list[int],
        *,
        silent: bool,
        attempts: int,
        report: DeliveryReport,
    ) -> bool:
        """Send one message standing for the alerts *ids*, recording the outcome on them;
        False when the chat blocked the bot."""
        if not await self._claim(ids):
            return True  # another worker has them

        delay = 1.0
        while True:
            await self.limiter.wait(chat_id)
            try:
                message = await self.bot.send_message(
                    chat_id,
                    text,
                    parse_mode=ParseMode.HTML,
                    disable_notification=silent,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except TelegramRetryAfter as exc:
                log.info("chat %s: Telegram asks to wait %s s", chat_id, exc.retry_after)
                report.retried += 1
                await self._hold(ids, exc.retry_after)
                await self.sleep(exc.retry_after)
                continue
            except (TelegramServerError, TelegramNetworkError, TimeoutError) as exc:
                report.retried += 1
                attempts += 1
                await self._hold(ids, delay, last_error=str(exc)[:500], attempts=attempts)
                await self.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            except TelegramForbiddenError as exc:
                report.dropped += await self._blocked(chat_id, exc.message)
                return False
            except TelegramMigrateToChat as exc:
                await self.follow_move(chat_id, exc.migrate_to_chat_id)
                chat_id = exc.migrate_to_chat_id
                continue
            except TelegramBadRequest as exc:
                log.error("chat %s: Telegram refused alerts %s: %s", chat_id, ids, exc)
                await self._set(ids, status="failed", last_error=str(exc)[:500])
                report.failed += len(ids)
                return True
            if self.after_send is not None:
                self.after_send(ids)
            await self._set(
                ids,
                status="sent",
                sent_at=self.now(),
                telegram_message_id=message.message_id,
                attempts=attempts + 1,
            )
            report.sent += len(ids)
            return True

    async def _claim(self, ids: Sequence[int]) -> bool:
        """Take the alerts for this worker, all or none: pending ones, or ones whose worker
        took them more than ``lease`` seconds ago and never finished (it died)."""
        now = self.now()
        try:
            async with self.sessions.begin() as session:
                claimed = await session.execute(
                    update(alerts)
                    .where(alerts.c.id.in_(ids), _claimable(now - self.lease))
                    .values(status="sending", claimed_at=now)
                )
                if claimed.rowcount != len(ids):  # type: ignore[attr-defined]
                    raise _Taken
        except _Taken:
            return False
        return True

    async def _hold(self, ids: Sequence[int], seconds: float, **values: Any) -> None:
        """Keep the claim alive across a wait, so no other worker takes the alerts meanwhile."""
        await self._set(ids, claimed_at=self.now() + timedelta(seconds=seconds), **values)

    async def _set(self, ids: Sequence[int], **values: Any) -> None:
        async with self.sessions.begin() as session:
            await session.execute(update(alerts).where(alerts.c.id.in_(ids)).values(**values))

    async def follow_move(self, old: int, new: int) -> None:
        """A group became a supergroup (a new id): its rules and queued alerts follow it."""
        log.warning(
            "chat %s was upgraded to a supergroup, %s: its rules and alerts go there now; "
            "put the new id in the config where it names the old one",
            old,
            new,
        )
        async with self.sessions.begin() as session:
            await note_chat_moved(session, old, new, now=self.now())
            await session.execute(update(rules).where(rules.c.chat_id == old).values(chat_id=new))
            await session.execute(
                update(alerts)
                .where(alerts.c.chat_id == old, alerts.c.status.in_(("pending", "sending")))
                .values(chat_id=new)
            )
        if self.on_move is not None:
            self.on_move(old, new)

    async def _blocked(self, chat_id: int, error: str) -> int:
        async with self.sessions.begin() as session:
            return await lose_chat(session, chat_id, error, now=self.now())

    async def _render(self, group: list[dict[str, Any]]) -> str:
        first = group[0]
        async with self.sessions() as session:
            versions = await _versions(session, first["channel_id"], group)
            album = await _album_size(session, first["channel_id"], first["grouped_id"])
        shown = [versions.get((a["message_id"], a["version"]), _NO_VERSION) for a in group]
        # An album's caption is usually on one item only.
        version = next((v for v in shown if v["text"]), shown[0])
        details = first["event_details"] or {}
        previous, other_changes = None, []
        if first["event_kind"] == "edited" and details.get("previous_version"):
            before = versions.get((first["message_id"], details["previous_version"]))
            if before is not None:
                previous = before["text"]
                other_changes = changes_beyond_words(before, shown[0])
        content = AlertContent(
            rule_name=first["rule_name"],
            event_kind=first["event_kind"],
            channel_title=first["channel_title"],
            channel_link=(
                f"https://t.me/{first['channel_username']}" if first["channel_username"] else None
            ),
            post_link=post_link(
                first["channel_id"], first["channel_username"], first["message_id"]
            ),
            date=first["date"],
            text=version["text"] or "",
            query=_query_or_none(first["rule_query"]),
            previous_text=previous,
            other_changes=other_changes,
            album_size=max(album, len(group)),
            deleted_count=int(details.get("count", 1)),
            media=version["media"],
        )
        return render_alert(content, self.timezone)


def _query_or_none(query: str) -> Node | None:
    """The rule's query for marking matched words; an alert is still sent if it no longer
    parses (edited since in the database, another version's syntax)."""
    try:
        return parse(query)
    except QueryError:
        return None


async def lose_chat(session: AsyncSession, chat_id: int, error: str, *, now: datetime) -> int:
    """A user blocked the bot, or a group removed it: pause the chat's rules, drop what was
    queued for it (returns how many alerts were dropped), and record it for the admins (who
    hear of it) and for the bot's return (which resumes those rules)."""
    log.warning("chat %s blocked or removed the bot (%s): pausing its rules", chat_id, error)
    paused = await session.execute(
        update(rules)
        .where(rules.c.chat_id == chat_id, rules.c.status == "active")
        .values(status="paused", updated_at=now)
        .returning(rules.c.id)
    )
    rule_ids = tuple(paused.scalars())
    dropped = await session.execute(
        update(alerts)
        .where(alerts.c.chat_id == chat_id, alerts.c.status.in_(("pending", "sending")))
        .values(status="dropped", last_error=error[:500])
    )
    count = int(dropped.rowcount)  # type: ignore[attr-defined]
    before = await forget_lost_chat(session, chat_id)  # lost again, before a return
    if before is not None:
        rule_ids = before.rule_ids + rule_ids
    total = count + (before.dropped if before else 0)
    await note_chat_lost(session, LostChat(chat_id, error[:300], rule_ids, total, False), now=now)
    return count


async def _versions(
    session: AsyncSession, channel_id: int, group: list[dict[str, Any]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """(message id, version) → its text, entities and media, for every version the group's
    alerts may show."""
    versions = post_versions.c
    result = await session.execute(
        select(
            versions.message_id,
            versions.version,
            versions.text,
            versions.entities,
            versions.media,
            versions.buttons,
        ).where(
            versions.channel_id == channel_id,
            versions.message_id.in_({a["message_id"] for a in group}),
        )
    )
    return {
        (row.message_id, row.version): {
            "text": row.text,
            "entities": row.entities,
            "media": row.media,
            "buttons": row.buttons,
        }
        for row in result
    }


_NO_VERSION: dict[str, Any] = {"text": "", "entities": None, "media": None, "buttons": None}


async def _album_size(session: AsyncSession, channel_id: int, grouped_id: int | None) -> int:
    if grouped_id is None:
        return 1
    result = await session.execute(
        select(func.count()).where(
            posts.c.channel_id == channel_id, posts.c.grouped_id == grouped_id
        )
    )
    return int(result.scalar_one())


class _Taken(Exception):
    """Another delivery worker claimed some of these alerts first."""


def _claimable(stale_before: datetime) -> ColumnElement[bool]:
    return or_(
        alerts.c.status == "pending",
        and_(
            alerts.c.status == "sending",
            or_(alerts.c.claimed_at.is_(None), alerts.c.claimed_at < stale_before),
        ),
    )


def _albums(due: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Alerts of one rule about posts of one album (same chat) travel as one message."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for alert in due:
        if alert["grouped_id"] is not None and alert["event_kind"] == "new":
            key: tuple[Any, ...] = (alert["chat_id"], alert["rule_id"], alert["grouped_id"])
        else:
            key = ("single", alert["id"])
        groups.setdefault(key, []).append(alert)
    return list(groups.values())


async def _first_of(*signals: asyncio.Event, seconds: float) -> None:
    """Return when any of *signals* is set, or after *seconds*."""
    waiters = [asyncio.create_task(signal.wait()) for signal in signals]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
