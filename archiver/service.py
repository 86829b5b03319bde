"""The archiver: keeps every tracked channel mirrored, completely and faithfully.

Per channel, three readers bring posts in, all through ``dozor.storage.store_posts``:

* **history** — catch-up (posts newer than the newest archived one) and backfill (older than
  the oldest, until the channel's start or the configured depth), one page per transaction, the
  cursor saved with the page: a kill at any moment resumes without gaps or duplicates;
* **live** — Telethon's NewMessage / MessageEdited / MessageDeleted events, through a client
  that keeps them coming past what Telethon cannot read or would drop (``archiver.updates``);
* **reconciliation** — a periodic re-read of the latest posts: what live updates missed, edits
  and deletions made while dozor was down, and views/reactions samples.

Faults stay per channel: a flood wait is slept if short and postpones the channel if long, a
private or vanished channel is marked as such, a lost connection is re-established with capped
exponential backoff; the other channels go on. A post this Telethon cannot read (a message
type newer than its schema) is read around and filed (``archiver.reading``). A session
Telegram logs out is no channel's fault: the archiver stops (``SessionLoggedOut``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial, wraps
from typing import Any, TypeVar

import telethon
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telethon import errors, events, functions
from telethon.errors import TypeNotFoundError
from telethon.tl import types

from archiver.client import error_name
from archiver.convert import channel_record, marked_id, post_record
from archiver.media import MediaDownloader
from archiver.reading import Listing, Reader, messages_of, unreadable_reason
from archiver.updates import ArchiverClient
from dozor import __version__ as dozor_version
from dozor.channel_refs import ChannelRef, parse_channel_ref
from dozor.config import ArchiverConfig
from dozor.db import write_transaction
from dozor.errors import ChannelNotFound, SessionLoggedOut, UserError
from dozor.failures import log_failure, system_failure
from dozor.ids import bare_channel_id
from dozor.models import posts
from dozor.records import ChannelRecord, PostRecord, Source
from dozor.storage import mark_deleted, store_posts, upsert_channel
from dozor.storage.channels import (
    archived_username,
    channel_rows,
    invited_channels,
    matching_channels,
    remember_invite,
)
from dozor.storage.facts import note_logout
from dozor.storage.posts import StoreOutcome, Tombstoned
from dozor.storage.requests import finish_request, pending_requests
from dozor.storage.sync import (
    NO_ACCESS,
    get_sync_state,
    pending_waits,
    postpone_channel,
    save_sync_state,
    set_channel_status,
    set_not_joined,
    set_tracked,
    tracked_channels,
    verification_due,
)
from dozor.storage.unreadable import (
    forget_unreadable,
    note_unreadable,
    unreadable_due,
    unreadable_ids,
)

log = logging.getLogger(__name__)
# The channel a task is syncing, for log lines (jobs run side by side, each in its own task).
_WORKING_ON: ContextVar[int | None] = ContextVar("working_on", default=None)
T = TypeVar("T")
Clock = Callable[[], datetime]
# channel id, phase, posts stored so far, posts in the channel (Telegram's count)
Progress = Callable[[int, str, int, int | None], None]
REQUESTS_SECONDS = 10  # how often requests to follow a channel (from the bot) are looked at
VERIFY_CHECK_MINUTES = 30  # how often channels due for a full re-read (verify_days) are looked for
UNMET_RETRY = timedelta(hours=6)  # how often a channel the session cannot find is looked for
JOIN_RETRY = timedelta(minutes=30)  # how often joining a channel Telegram refused is tried again
# A channel Telegram says changed is read again at most this often (the rest waits its turn).
CHANGED_REFRESH = timedelta(minutes=1)
# Who failed to read a message filed as unreadable: another version retries it at once.
READ_BY = f"dozor {dozor_version}, Telethon {telethon.__version__}"

# Telegram's refusals of a channel, and the status each leaves it in (NO_ACCESS).
_STATUS_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (errors.ChannelPrivateError, "private"),
    (errors.ChannelBannedError, "banned"),
    (errors.UserBannedInChannelError, "banned"),
    (errors.ChannelInvalidError, "not_found"),
    (errors.UsernameNotOccupiedError, "not_found"),
    (errors.UsernameInvalidError, "not_found"),
)


class ChannelPostponed(Exception):
    """A long flood wait: this channel's work resumes after *seconds*."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"flood wait of {seconds} s")
        self.seconds = seconds


@dataclass
class Unjoined:
    """A followed channel the account is not in: why, when joining is tried again, and when
    its new posts were last read (Telegram pushes none)."""

    reason: str
    retry_at: datetime
    polled_at: datetime | None = None


class TelegramUnreachable(Exception):
    """A one-pass run gave up waiting for a lost connection to Telegram."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"Telegram unreachable; gave up after {waited:.0f} s of retries")
        self.waited = waited


@dataclass
class ChannelReport:
    channel_id: int
    title: str = ""
    new: int = 0
    edited: int = 0
    deleted: int = 0
    expired: int = 0  # gone by the channel's auto-delete timer: nobody deleted them
    status: str = "ok"
    detail: str | None = None
    retry_after: int | None = None


Step = Callable[[int], Awaitable[ChannelReport]]  # one part of a channel's sync


@dataclass
class Archiver:
    client: ArchiverClient
    sessions: async_sessionmaker[AsyncSession]
    settings: ArchiverConfig
    join_channels: bool = True
    request_delay: float = 1.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    now: Clock = field(default=lambda: datetime.now(UTC))
    progress: Progress | None = None
    # One pass (cron): after this many seconds of waiting for a lost connection, give up (the
    # channels left get status "offline") rather than hang until the next run collides.
    give_up_after: float | None = None
    _offline: float = 0.0  # seconds waited since the connection was lost
    _entities: dict[int, Any] = field(default_factory=dict)
    _postponed: dict[int, datetime] = field(default_factory=dict)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    _media: MediaDownloader | None = None
    _total: int | None = None
    _reader: Reader = field(init=False)
    _unconverted: set[tuple[int, int]] = field(default_factory=set)  # (channel, message)
    _unmet_retry: dict[int, datetime] = field(default_factory=dict)  # see _unmet_entity
    _logout_noted: bool = False
    _unjoined: dict[int, Unjoined] = field(default_factory=dict)  # see _keep_joined
    _changed: set[int] = field(default_factory=set)  # channels whose info changed, live
    _refreshed: dict[int, datetime] = field(default_factory=dict)  # see refresh_changed
    _waits_restored: bool = False  # see _restore_waits
    _reread_soon: set[int] = field(default_factory=set)  # see catch_up_missed

    def __post_init__(self) -> None:
        self._reader = Reader(self.client, self._call)
        if self.settings.download_media:
            self._media = MediaDownloader(self.client, self.sessions, self.settings, self.now)

    async def _download(self, messages: Sequence[Any]) -> None:
        if self._media is not None:
            await self._media.fetch(messages)

    # --- channels ---------------------------------------------------------------------

    async def add(self, ref: str) -> ChannelReport:
        """Resolve a channel on Telegram, store it and start tracking it."""
        entity = await self._call(lambda: self._resolve(ref))
        if isinstance(entity, types.Channel) and entity.megagroup:
            raise UserError(
                f"{ref!r} is a group, not a channel: dozor archives channels (a group's "
                "messages have senders it does not keep)"
            )
        if not isinstance(entity, types.Channel) or not entity.broadcast:
            raise UserError(f"{ref!r} is not a channel")
        channel_id = marked_id(types.PeerChannel(entity.id))
        self._entities[channel_id] = entity
        await self.refresh_info(channel_id, tracked=True)
        invite = parse_channel_ref(ref).invite
        if invite is not None:
            async with self.sessions.begin() as session:
                await remember_invite(session, invite, channel_id, now=self.now())
        return ChannelReport(channel_id, entity.title)

    async def _resolve(self, ref: str) -> Any:
        parsed = parse_channel_ref(ref)
        try:
            if parsed.invite is not None:
                return await self._by_invite(parsed.invite, ref)
            if parsed.id is not None:
                return await self._by_id(parsed.id, ref)
            return await self.client.get_entity(parsed.username or parsed.name or ref)
        except ValueError as exc:
            raise ChannelNotFound(f"{ref!r}: Telegram knows no such channel ({exc})") from None

    async def _by_invite(self, invite: str, ref: str) -> Any:
        """The chat an invite link leads to, joined first if the account is not in it yet
        (the only way into a private channel)."""
        try:
            found = await self.client(functions.messages.CheckChatInviteRequest(invite))
            if isinstance(found, types.ChatInviteAlready | types.ChatInvitePeek):
                return found.chat
            if not found.broadcast:  # known before joining: do not join a group at all
                raise UserError(f"{ref!r} leads to a group, not a channel: dozor archives channels")
            if not self.join_channels:
                raise UserError(f"{ref!r}: this account has not joined that channel yet")
            joined = await self.client(functions.messages.ImportChatInviteRequest(invite))
        except (errors.InviteHashExpiredError, errors.InviteHashInvalidError):
            raise ChannelNotFound(f"{ref!r}: the invite link has expired or was revoked") from None
        except errors.InviteRequestSentError:
            raise UserError(
                f"{ref!r}: the channel's admins approve who joins; a request to join was sent, "
                "so add it again once they have approved it"
            ) from None
        channel = next(
            (c for c in getattr(joined, "chats", []) if isinstance(c, types.Channel)), None
        )
        if channel is None:
            raise ChannelNotFound(f"{ref!r}: Telegram joined no channel by this invite link")
        return channel

    async def _by_id(self, channel_id: int, ref: str) -> Any:
        entity = await self._find_by_id(channel_id)
        if entity is None:
            raise ChannelNotFound(
                f"{ref!r}: Telegram gives a channel by its id only to an account that has "
                "joined it or met it, and this account has not: join it (a private channel by "
                "its invite link), or add it by its username or t.me link"
            )
        return entity

    async def _find_by_id(self, channel_id: int) -> Any | None:
        """The entity of a channel known by id alone, which Telegram gives only with the
        access hash an account learns by meeting the channel: from the session, else as
        :meth:`_find_unmet` finds it."""
        try:
            return await self.client.get_entity(types.PeerChannel(bare_channel_id(channel_id)))
        except ValueError:
            return await self._find_unmet(channel_id)

    async def _find_unmet(self, channel_id: int) -> Any | None:
        """A channel the session has not met: by the archived username while it still names
        this channel, or among the account's chats (a private channel it joined in the app)."""
        bare = bare_channel_id(channel_id)
        username = await self._archived_username(channel_id)
        if username is not None:
            try:
                entity = await self.client.get_entity(username)
            except (ValueError, errors.UsernameInvalidError):
                entity = None  # the name is gone, or was never a public one
            if isinstance(entity, types.Channel) and entity.id == bare:
                return entity  # another channel may hold the name now: not that one
        async for dialog in self.client.iter_dialogs():
            if isinstance(dialog.entity, types.Channel) and dialog.entity.id == bare:
                return dialog.entity
        return None

    async def _keep_joined(self, channel_id: int) -> Unjoined | None:
        """Why the account is not in a followed channel and when joining is tried again, or
        None when it is in.

        Telegram pushes updates only of channels the account is in (history is readable
        without). A followed channel it is not in (new, a join Telegram refused or put off
        before, or one left in the Telegram app) is joined; while that fails, the channel's new
        posts are polled (:meth:`poll_unjoined`) and joining is tried again after
        ``JOIN_RETRY`` (or the flood wait Telegram asked for, if longer).
        """
        channel = self._entities.get(channel_id)
        if not self.join_channels or not isinstance(channel, types.Channel) or not channel.left:
            self._unjoined.pop(channel_id, None)
            return None
        await self._restore_waits()
        known = self._unjoined.get(channel_id)
        if known is not None and known.retry_at > self.now():
            return known
        try:
            await self._call(lambda: self.client(functions.channels.JoinChannelRequest(channel)))
        except (ChannelPostponed, errors.RPCError) as exc:
            why, wait = _join_refusal(exc)
            reason = (
                f"{why}; its new posts are read every {self.settings.unjoined_poll_seconds} s "
                "instead"
            )
            if known is None or known.reason != reason:
                log.warning("channel %s: the account could not join it: %s", channel_id, reason)
            retry_at = self.now() + max(JOIN_RETRY, timedelta(seconds=wait))
            polled_at = known.polled_at if known is not None else None
            self._unjoined[channel_id] = Unjoined(reason, retry_at, polled_at)
            return self._unjoined[channel_id]
        self._unjoined.pop(channel_id, None)
        log.info("channel %s: joined, for its live updates", channel_id)
        return None

    async def remove(self, channel_id: int) -> None:
        """Stop following a channel; its archive stays."""
        async with self.sessions.begin() as session:
            await set_tracked(session, channel_id, False, at=self.now())
        self._entities.pop(channel_id, None)
        self._unjoined.pop(channel_id, None)

    async def refresh_info(self, channel_id: int, *, tracked: bool | None = None) -> None:
        """Title, description, username, subscribers, the pinned post and Telegram's labels,
        every change logged; and the account kept in the channel (:meth:`_keep_joined`)."""
        entity = await self._entity(channel_id)
        try:
            full = await self._call(
                lambda: self.client(functions.channels.GetFullChannelRequest(entity))
            )
        except TypeNotFoundError as exc:
            record = await self._listed_record(channel_id, entity, exc)
        else:
            channel = next(c for c in full.chats if c.id == full.full_chat.id)
            self._entities[channel_id] = channel
            record = channel_record(channel, full.full_chat)
        unjoined = await self._keep_joined(channel_id)
        async with self.sessions.begin() as session:
            changed = await upsert_channel(
                session, record, observed_at=self.now(), source=Source.LIVE, tracked=tracked
            )
            await set_channel_status(session, channel_id, "ok", None, at=self.now())
            if unjoined is None:
                await set_not_joined(session, channel_id, None)
            else:
                await set_not_joined(session, channel_id, unjoined.reason, unjoined.retry_at)
        if changed:
            log.info("channel %s changed: %s", record.title, ", ".join(changed))

    async def _listed_record(
        self, channel_id: int, entity: Any, failure: TypeNotFoundError
    ) -> ChannelRecord:
        """The channel as a list of channels shows it (title, username, subscribers), when
        its full info holds something this Telethon cannot read: its posts are archived all
        the same, and its description is left as it was."""
        log.warning(
            "channel %s: its full info cannot be read (%s); its title and username are taken "
            "from the channel list, its description is not refreshed",
            channel_id,
            unreadable_reason(failure),
        )
        listed = await self._call(
            lambda: self.client(functions.channels.GetChannelsRequest([entity]))
        )
        channel = next(c for c in listed.chats if marked_id(types.PeerChannel(c.id)) == channel_id)
        self._entities[channel_id] = channel
        return channel_record(channel)

    async def _entity(self, channel_id: int) -> Any:
        """The Telethon entity of an archived channel: cached, from the session, by name, or
        among the account's chats."""
        if channel_id in self._entities:
            return self._entities[channel_id]
        try:
            entity = await self.client.get_input_entity(
                types.PeerChannel(bare_channel_id(channel_id))
            )
        except ValueError:
            entity = await self._unmet_entity(channel_id)
        self._entities[channel_id] = entity
        return entity

    async def _unmet_entity(self, channel_id: int) -> Any:
        """:meth:`_find_unmet`, at most once per :data:`UNMET_RETRY` for a channel it did
        not find: each search resolves a username (which Telegram rations account-wide) and
        pages through the account's chats, and a followed channel the account left would
        repeat both on every pass."""
        retry = self._unmet_retry.get(channel_id)
        if retry is None or retry <= self.now():
            entity = await self._call(lambda: self._find_unmet(channel_id))
            if entity is not None:
                self._unmet_retry.pop(channel_id, None)
                return entity
            self._unmet_retry[channel_id] = self.now() + UNMET_RETRY
        raise errors.ChannelInvalidError(request=None)

    async def _archived_username(self, channel_id: int) -> str | None:
        async with self.sessions() as session:
            return await archived_username(session, channel_id)

    # --- history ----------------------------------------------------------------------

    async def catch_up(self, channel_id: int) -> ChannelReport:
        """Store every post newer than the newest archived one, oldest first."""
        report = ChannelReport(channel_id)
        entity = await self._entity(channel_id)
        while True:
            async with self.sessions() as session:
                newest = (await get_sync_state(session, channel_id)).newest_message_id
            if newest is None:
                return report  # nothing archived yet: the backfill starts from the top
            page = await self._page(entity, min_id=newest, reverse=True)
            if not page:
                return report
            await self._store_page(
                channel_id, page, Source.BACKFILL, report, newest_message_id=max(page.ids)
            )
            self._tell(channel_id, "catch-up", report.new)

    async def backfill(self, channel_id: int) -> ChannelReport:
        """Store history older than the oldest archived post, one page per transaction."""
        report = ChannelReport(channel_id)
        entity = await self._entity(channel_id)
        cutoff = (
            self.now() - timedelta(days=self.settings.backfill_days)
            if self.settings.backfill_days
            else None
        )
        async with self.sessions() as session:
            state = await get_sync_state(session, channel_id)
        if state.backfill_complete:
            return report
        oldest, newest = state.oldest_message_id, state.newest_message_id or 0
        known = await self._filed_unreadable(channel_id)
        while True:
            page = await self._page(entity, offset_id=oldest or 0, known=known)
            kept = Listing(
                [m for m in page.messages if cutoff is None or m.date >= cutoff],
                page.unreadable,
                page.filed,
            )
            done = not page or len(kept) < len(page)
            if kept:
                oldest = min(kept.ids)
                newest = max(newest, *kept.ids)
                await self._store_page(
                    channel_id,
                    kept,
                    Source.BACKFILL,
                    report,
                    oldest_message_id=oldest,
                    newest_message_id=newest,
                    backfill_complete=done,
                )
            elif done:
                async with self.sessions.begin() as session:
                    await save_sync_state(session, channel_id, backfill_complete=True)
            if done:  # the whole archive has just been read: as good as a verification
                async with self.sessions.begin() as session:
                    await save_sync_state(session, channel_id, verified_at=self.now())
                return report
            self._tell(channel_id, "backfill", report.new)
            if self.request_delay:
                await self.sleep(self.request_delay)

    async def _page(self, entity: Any, **kw: Any) -> Listing:
        page = await self._reader.listing(entity, limit=self.settings.page_size, **kw)
        self._total = page.total
        return page

    async def _filed_unreadable(self, channel_id: int) -> set[int]:
        async with self.sessions() as session:
            return await unreadable_ids(session, channel_id)

    def _records(
        self, channel_id: int, messages: Iterable[Any], unreadable: Mapping[int, str]
    ) -> tuple[list[PostRecord], dict[int, str]]:
        """The messages' records; a message whose conversion fails is filed as unreadable
        with the listing's own unreadable ones, and the others are stored all the same."""
        records, failed = [], dict(unreadable)
        for message in messages:
            try:
                records.append(post_record(message))
            except Exception as exc:  # a bug in dozor must not stop the channel's archive
                failed[message.id] = f"dozor could not convert it: {type(exc).__name__}: {exc}"
                first = (channel_id, message.id) not in self._unconverted
                self._unconverted.add((channel_id, message.id))
                log.warning(  # the traceback once: a re-read meets the post every pass
                    "channel %s: message %s could not be converted; filed as unreadable",
                    channel_id,
                    message.id,
                    exc_info=first,
                )
        return records, failed

    async def _store_page(
        self,
        channel_id: int,
        page: Listing,
        source: Source,
        report: ChannelReport,
        **cursor: int,
    ) -> None:
        records, unreadable = self._records(channel_id, page.messages, page.unreadable)

        async def write(session: AsyncSession) -> StoreOutcome:  # the page and its cursor
            outcome = await store_posts(session, records, source=source, observed_at=self.now())
            await note_unreadable(session, channel_id, unreadable, read_by=READ_BY, now=self.now())
            await save_sync_state(
                session,
                channel_id,
                last_sync_at=self.now(),
                last_sync_source=source.value,
                **cursor,
            )
            return outcome

        outcome = await write_transaction(self.sessions, write)  # an import may run beside
        report.new += outcome.new
        report.edited += outcome.edited
        await self._download(page.messages)

    # --- reconciliation ---------------------------------------------------------------

    async def reconcile(self, channel_id: int) -> ChannelReport:
        """Re-read the latest posts: missed ones, edits, deletions, fresh counters."""
        entity = await self._entity(channel_id)
        known = await self._filed_unreadable(channel_id)
        window, reached_start = await self._newest(entity, self.settings.reconcile_window, known)
        low = 1 if reached_start else min(window.ids, default=0)
        async with self.sessions() as session:
            newest = (await get_sync_state(session, channel_id)).newest_message_id or 0
        top = max([newest, *window.ids])
        report = ChannelReport(channel_id)
        await self._recheck(
            channel_id, entity, window, known, low, top, report, newest_message_id=top or None
        )
        return report

    async def _newest(self, entity: Any, count: int, known: set[int]) -> tuple[Listing, bool]:
        """The newest *count* messages, read around unreadable ones; and whether they are
        all the channel has."""
        window, offset = Listing([]), 0
        while True:
            wanted = count - len(window)
            part = await self._reader.listing(entity, limit=wanted, offset_id=offset, known=known)
            window.messages += part.messages
            window.unreadable.update(part.unreadable)
            window.filed |= part.filed
            if not part.partial:  # a whole answer
                return window, len(part) < wanted
            if len(window) >= count:
                return window, False
            offset = min(part.ids)

    async def verify(self, channel_id: int) -> ChannelReport:
        """Re-read the whole archived history, newest first, one page per transaction:
        edits, deletions and counters of posts of any age (:meth:`reconcile` reads only the
        latest). Posts older than the archive's oldest (``backfill_days``) are left out."""
        entity = await self._entity(channel_id)
        async with self.sessions() as session:
            state = await get_sync_state(session, channel_id)
        oldest, size = state.oldest_message_id or 1, self.settings.page_size
        report, checked, offset = ChannelReport(channel_id), 0, 0
        known = await self._filed_unreadable(channel_id)
        while True:
            listing = await self._reader.listing(entity, limit=size, offset_id=offset, known=known)
            self._total = listing.total
            seen = Listing(
                [m for m in listing.messages if m.id >= oldest],
                {i: why for i, why in listing.unreadable.items() if i >= oldest},
                {i for i in listing.filed if i >= oldest},
            )
            low = min(listing.ids, default=0)
            done = (len(listing) < size and not listing.partial) or low <= oldest
            if offset:
                high, cursor = offset - 1, {}
            else:  # the top of the history: newer posts than the archived ones count too
                high = max([state.newest_message_id or 0, *seen.ids])
                cursor = {"newest_message_id": high or None}
            low = oldest if done else low
            await self._recheck(channel_id, entity, seen, known, low, high, report, **cursor)
            checked += len(seen.messages)
            self._tell(channel_id, "verify", checked)
            if done:
                break
            offset = min(listing.ids)
            if self.request_delay:
                await self.sleep(self.request_delay)
        async with self.sessions.begin() as session:
            await save_sync_state(session, channel_id, verified_at=self.now())
        self._reread_soon.discard(channel_id)
        return report

    async def _recheck(
        self,
        channel_id: int,
        entity: Any,
        seen: Listing,
        filed: set[int],
        low: int,
        high: int,
        report: ChannelReport,
        **cursor: int | None,
    ) -> None:
        """Store the posts Telegram listed between *low* and *high*, and tombstone archived
        ones it no longer has there (one it has but this dozor cannot read, listed or *filed*
        before, is not gone)."""
        listed = set(seen.ids) | filed
        suspects = await self._archived_ids(channel_id, low, high) - listed
        gone, unreadable = await self._confirm_deleted(entity, sorted(suspects))
        records, unreadable = self._records(
            channel_id, seen.messages, {**seen.unreadable, **unreadable}
        )

        async def write(session: AsyncSession) -> tuple[StoreOutcome, Tombstoned]:
            outcome = await store_posts(
                session, records, source=Source.RECONCILE, observed_at=self.now()
            )
            await note_unreadable(session, channel_id, unreadable, read_by=READ_BY, now=self.now())
            tombstoned = await mark_deleted(
                session,
                channel_id,
                gone,
                source=Source.RECONCILE,
                observed_at=self.now(),
                summarize_from=self.settings.mass_deletion_threshold,
            )
            await save_sync_state(
                session,
                channel_id,
                last_sync_at=self.now(),
                last_sync_source=Source.RECONCILE.value,
                **cursor,
            )
            return outcome, tombstoned

        outcome, tombstoned = await write_transaction(self.sessions, write)
        report.new += outcome.new
        report.edited += outcome.edited
        report.deleted += len(tombstoned.deleted)
        report.expired += len(tombstoned.expired)
        await self._download(seen.messages)
        for ids, how in ((tombstoned.deleted, "deleted"), (tombstoned.expired, "auto-deleted")):
            if ids:
                log.info("channel %s: %d posts %s on Telegram", channel_id, len(ids), how)

    async def _archived_ids(self, channel_id: int, low: int, high: int) -> set[int]:
        async with self.sessions() as session:
            result = await session.execute(
                select(posts.c.message_id).where(
                    posts.c.channel_id == channel_id,
                    posts.c.message_id.between(low, high),
                    posts.c.deleted_at.is_(None),
                )
            )
            return set(result.scalars())

    async def _confirm_deleted(
        self, entity: Any, ids: list[int]
    ) -> tuple[list[int], dict[int, str]]:
        """A post missing from the listing is deleted only if asking for it by id fails too;
        one that exists but cannot be read is filed as unreadable instead."""
        found, unreadable = await self._reader.by_ids(entity, ids)
        return [i for i in ids if i in found and found[i] is None], unreadable

    async def retry_unreadable(self, channel_id: int) -> ChannelReport:
        """Ask again for the posts filed as unreadable that are due (see
        ``dozor.storage.unreadable``); those read now are archived like any other."""
        report = ChannelReport(channel_id)
        async with self.sessions() as session:
            due = await unreadable_due(session, channel_id, read_by=READ_BY, now=self.now())
        if not due:
            return report
        entity = await self._entity(channel_id)
        found, still = await self._reader.by_ids(entity, due)
        readable = messages_of([found[i] for i in due if i in found])
        records, still = self._records(channel_id, readable, still)

        async def write(session: AsyncSession) -> StoreOutcome:
            outcome = await store_posts(
                session, records, source=Source.RECONCILE, observed_at=self.now()
            )
            await forget_unreadable(session, channel_id, set(due) - still.keys())
            await note_unreadable(session, channel_id, still, read_by=READ_BY, now=self.now())
            return outcome

        outcome = await write_transaction(self.sessions, write)
        report.new += outcome.new
        report.edited += outcome.edited
        if records:
            log.info(
                "channel %s: %d posts unreadable before are read now", channel_id, len(records)
            )
        await self._download(readable)
        return report

    # --- live updates -----------------------------------------------------------------

    def install_live_handlers(self) -> None:
        self.client.add_event_handler(self._on_message, events.NewMessage())
        self.client.add_event_handler(self._on_message, events.MessageEdited())
        self.client.add_event_handler(self._on_deleted, events.MessageDeleted())
        self.client.add_event_handler(
            self._on_info_changed,
            events.Raw((types.UpdateChannel, types.UpdatePinnedChannelMessages)),
        )

    async def _tracked_ids(self) -> set[int]:
        async with self.sessions() as session:
            return {row["id"] for row in await tracked_channels(session)}

    async def _on_message(self, event: Any) -> None:
        message = event.message
        if not isinstance(message.peer_id, types.PeerChannel):
            return
        channel_id = marked_id(message.peer_id)
        if channel_id not in await self._tracked_ids():
            return
        records, unreadable = self._records(channel_id, [message], {})
        if unreadable:
            async with self.sessions.begin() as session:
                await note_unreadable(
                    session, channel_id, unreadable, read_by=READ_BY, now=self.now()
                )
            return
        await self.store_live(records)
        await self._download([message])

    async def store_live(self, records: Iterable[PostRecord]) -> None:
        batch = list(records)

        async def write(session: AsyncSession) -> None:
            await store_posts(session, batch, source=Source.LIVE, observed_at=self.now())

        await write_transaction(self.sessions, write)

    async def _on_deleted(self, event: Any) -> None:
        channel_id = event.chat_id
        if channel_id is None or channel_id not in await self._tracked_ids():
            return  # deletions outside channels carry no chat: they are not ours
        async with self.sessions.begin() as session:
            await mark_deleted(
                session,
                channel_id,
                event.deleted_ids,
                source=Source.LIVE,
                observed_at=self.now(),
                summarize_from=self.settings.mass_deletion_threshold,
            )

    async def _on_info_changed(
        self, update: types.UpdateChannel | types.UpdatePinnedChannelMessages
    ) -> None:
        """Telegram says a channel changed (its title, username, description, the account's
        standing in it: ``updateChannel``) or pinned or unpinned posts. What it is now is in
        its full info, which the next requests round reads (:meth:`refresh_changed`)."""
        self._changed.add(marked_id(types.PeerChannel(update.channel_id)))

    async def refresh_changed(self) -> list[ChannelReport]:
        """Refresh the info of the followed channels Telegram said changed since the last
        round: a rename, a pin or a ban is told within seconds, not at the next info pass. A
        channel that keeps changing is read at most every ``CHANGED_REFRESH``."""
        if not self._changed:
            return []
        now = self.now()
        last_due = now - CHANGED_REFRESH
        due = {c for c in self._changed if self._refreshed.get(c, last_due) <= last_due}
        self._changed -= due
        reports = []
        for channel_id in sorted(due & await self._tracked_ids()):
            self._refreshed[channel_id] = now
            steps = [self._refresh_step]
            reports.append(await self._run_steps(channel_id, steps, ChannelReport(channel_id)))
        return reports

    # --- one pass over all channels ---------------------------------------------------

    async def sync(
        self, channel_id: int, *, history: bool = True, verify: bool = False
    ) -> ChannelReport:
        """Info, posts filed as unreadable, catch-up, backfill and reconciliation of one
        channel, and with *verify* a re-read of its whole archive; faults stay here."""
        steps: list[Step] = [self._refresh_step, self.retry_unreadable]
        if history:
            steps += [self.catch_up, self.backfill]
        steps.append(self.reconcile)
        if verify:
            steps.append(self.verify)
        return await self._run_steps(channel_id, steps, ChannelReport(channel_id))

    async def _refresh_step(self, channel_id: int) -> ChannelReport:
        await self.refresh_info(channel_id)
        return ChannelReport(channel_id)

    async def _run_steps(
        self, channel_id: int, steps: Sequence[Step], report: ChannelReport
    ) -> ChannelReport:
        """Run a channel's steps, one channel's work at a time (the periodic re-read and
        the full re-read never touch it together); a fault ends them and stays here."""
        await self._restore_waits()
        postponed = self._postponed.get(channel_id)
        if postponed is not None and postponed > self.now():
            report.status, report.detail = "flood_wait", f"until {postponed:%H:%M:%S} UTC"
            return report
        async with self._locks.setdefault(channel_id, asyncio.Lock()):
            _WORKING_ON.set(channel_id)
            try:
                for step in steps:
                    part = await step(channel_id)
                    report.new += part.new
                    report.edited += part.edited
                    report.deleted += part.deleted
                    report.expired += part.expired
            except SessionLoggedOut:
                raise  # not this channel's fault: the archiver stops
            except ChannelPostponed as exc:
                await self._postpone(channel_id, exc.seconds, report)
            except TelegramUnreachable as exc:
                report.status, report.detail = "offline", str(exc)
                log.warning("channel %s: %s", channel_id, exc)
            except errors.RPCError as exc:
                await self._fail(channel_id, exc, report)
            except Exception as exc:  # one channel's fault must not stop the others
                await self._fault(channel_id, exc, report)
        return report

    async def sync_all(
        self, *, history: bool = True, verify_due: bool = False
    ) -> list[ChannelReport]:
        """Sync every followed channel; with *verify_due*, then re-read whole the archives
        whose last full read is older than ``verify_days``."""
        async with self.sessions() as session:
            ids = [row["id"] for row in await tracked_channels(session)]
        reports = [await self.sync(channel_id, history=history) for channel_id in ids]
        due = await self._verification_due() if verify_due else set()
        for report in reports:
            if report.channel_id in due and report.status == "ok":
                await self._run_steps(report.channel_id, [self.verify], report)
        return reports

    async def _verification_due(self) -> set[int]:
        if not self.settings.verify_days:
            return set()
        before = self.now() - timedelta(days=self.settings.verify_days)
        async with self.sessions() as session:
            due = await verification_due(session, verified_before=before)
            if self._reread_soon:  # after a "too long" gap: if followed and backfilled
                now = self.now() + timedelta(seconds=1)
                due |= self._reread_soon & await verification_due(session, verified_before=now)
        return due

    async def _postpone(self, channel_id: int, seconds: int, report: ChannelReport) -> None:
        until = self.now() + timedelta(seconds=seconds)
        self._postponed[channel_id] = until
        report.status, report.retry_after = "flood_wait", seconds
        report.detail = f"Telegram asked to wait {seconds} s; resuming at {until:%H:%M:%S} UTC"
        log.warning("channel %s: flood wait of %d s, postponed", channel_id, seconds)
        async with self.sessions.begin() as session:
            await set_channel_status(
                session, channel_id, "flood_wait", report.detail, at=self.now()
            )
            await postpone_channel(session, channel_id, until)

    async def _restore_waits(self) -> None:
        """Take over the flood waits and join refusals an earlier run met that still hold (a
        cron run a quarter of an hour ago, a restart): asking Telegram again before their
        time gets nothing but longer waits. Once per archiver."""
        if self._waits_restored:
            return
        self._waits_restored = True
        async with self.sessions() as session:
            waits = await pending_waits(session, now=self.now())
        for channel_id, wait in waits.items():
            if wait.postponed_until is not None:
                self._postponed.setdefault(channel_id, wait.postponed_until)
            if wait.join_retry_at is not None and wait.not_joined:
                self._unjoined.setdefault(channel_id, Unjoined(wait.not_joined, wait.join_retry_at))

    async def _fail(self, channel_id: int, exc: errors.RPCError, report: ChannelReport) -> None:
        status = next((s for kind, s in _STATUS_ERRORS if isinstance(exc, kind)), "error")
        report.status, report.detail = status, str(exc)
        log.warning("channel %s: %s (%s)", channel_id, status, exc)
        if status in NO_ACCESS:  # nothing to poll: the passes find out when it is back
            self._unjoined.pop(channel_id, None)
        async with self.sessions.begin() as session:
            await set_channel_status(session, channel_id, status, str(exc), at=self.now())

    async def _fault(self, channel_id: int, exc: Exception, report: ChannelReport) -> None:
        """An unexpected failure (a full disk, a database that stays locked, a bug): logged,
        with its traceback if it is a bug, and recorded; what was committed stays, and the
        next pass resumes."""
        failure = system_failure(exc)
        report.status, report.detail = "error", (failure or f"{type(exc).__name__}: {exc}")[:500]
        log_failure(log, exc, "channel %s: sync failed; the other channels go on", channel_id)
        try:
            async with self.sessions.begin() as session:
                await set_channel_status(session, channel_id, "error", report.detail, at=self.now())
        except Exception:  # the database may be what failed
            log.warning("channel %s: could not record the failure", channel_id)

    # --- calling Telegram -------------------------------------------------------------

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        """Run a Telegram request: sleep short flood waits, postpone on long ones, reconnect
        after a lost connection (capped exponential backoff)."""
        delay = 1.0
        while True:
            try:
                result = await request()
            except errors.FloodWaitError as exc:
                log.warning(
                    "channel %s: Telegram asks to wait %d s (flood wait)",
                    _WORKING_ON.get() or "-",
                    exc.seconds,
                )
                if exc.seconds > self.settings.max_flood_sleep_seconds:
                    raise ChannelPostponed(exc.seconds) from None
                await self.sleep(exc.seconds)
            except errors.UnauthorizedError as exc:
                raise await self._logged_out(exc) from None
            except ConnectionError as exc:
                if await self._given_up():
                    raise TelegramUnreachable(self._offline) from None
                log.warning("connection lost (%s); reconnecting in %.0f s", exc, delay)
                await self.sleep(delay)
                self._offline += delay
                delay = min(delay * 2, self.settings.max_reconnect_delay_seconds)
                await self._reconnect()
            else:
                self._offline = 0.0
                return result

    async def _logged_out(self, exc: errors.UnauthorizedError) -> SessionLoggedOut:
        """Telegram answered 401: no request of this session can succeed any more. Recorded
        for `dozor status` and the team bot (best effort: the database may be what failed)."""
        logged_out = SessionLoggedOut(error_name(exc))
        if not self._logout_noted:
            self._logout_noted = True
            log.error("%s", logged_out)
            try:
                async with self.sessions.begin() as session:
                    await note_logout(session, logged_out.reason, now=self.now())
            except Exception:
                log.warning("could not record the logout in the database")
        return logged_out

    async def _given_up(self) -> bool:
        """Past ``give_up_after`` seconds offline, one more connection attempt decides."""
        if self.give_up_after is None or self._offline < self.give_up_after:
            return False
        await self._reconnect()
        return not self.client.is_connected()

    async def _reconnect(self) -> None:
        try:
            await self.client.disconnect()
            await self.client.connect()
        except (ConnectionError, OSError) as exc:
            log.warning("reconnect failed: %s", exc)

    def _tell(self, channel_id: int, phase: str, count: int) -> None:
        if self.progress is not None:
            self.progress(channel_id, phase, count, self._total)

    # --- the long-running service -----------------------------------------------------

    async def add_configured(self, refs: Iterable[str]) -> list[str]:
        """Track the channels named in the config; returns problems (one line each).

        A channel followed already is not looked up on Telegram again: by its name, or, for an
        invite link, by the channel the link led to before (checking a link costs a request
        Telegram rations)."""
        parsed_refs = [(ref, parse_channel_ref(ref)) for ref in refs]
        async with self.sessions() as session:
            followed = [row for row in await channel_rows(session) if row["tracked"]]
            invited = await invited_channels(
                session, [parsed.invite for _, parsed in parsed_refs if parsed.invite]
            )
        problems = []
        for ref, parsed in parsed_refs:
            if parsed.invite is not None:
                # The link again, where access was lost (the account left or was removed):
                # it may let the account back in.
                if any(
                    row["id"] == invited.get(parsed.invite) and row["status"] not in NO_ACCESS
                    for row in followed
                ):
                    continue
            elif found := matching_channels(parsed, followed):
                _warn_if_renamed(ref, parsed, found[0])
                continue
            try:
                await self.add(ref)
            except SessionLoggedOut:
                raise
            except (UserError, errors.RPCError, ChannelPostponed) as exc:
                problems.append(f"{ref}: {exc}")
        return problems

    async def process_requests(self) -> list[ChannelReport]:
        """Follow the channels asked for through the bot (recorded in ``channel_requests``)."""
        async with self.sessions() as session:
            pending = await pending_requests(session)
        added = []
        for request in pending:
            try:
                report = await self.add(request.ref)
            except SessionLoggedOut:
                raise  # the request waits for the archiver's next session
            except (UserError, errors.RPCError, ChannelPostponed) as exc:
                log.info("channel request %r failed: %s", request.ref, exc)
                outcome: dict[str, Any] = {"ok": False, "detail": str(exc)}
            else:
                added.append(report)
                outcome = {"ok": True, "detail": report.title, "channel_id": report.channel_id}
            async with self.sessions.begin() as session:
                await finish_request(session, request.id, now=self.now(), **outcome)
        return added

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Live updates, a first full sync, then periodic re-reads until *stop* is set."""
        self.install_live_handlers()
        scheduler = AsyncIOScheduler(timezone=UTC)
        every = {"trigger": "interval", "coalesce": True, "max_instances": 1}
        # The first full sync is the reconcile job's first run: it never overlaps a periodic
        # one, and the scheduler logs a failure instead of losing it.
        logged_out: list[SessionLoggedOut] = []
        ended = asyncio.Event()  # stop, or a logout
        job = partial(_until_logged_out, logged_out=logged_out, ended=ended)
        scheduler.add_job(
            job(self._reconcile_round),
            **every,
            minutes=self.settings.reconcile_minutes,
            next_run_time=datetime.now(UTC),
            id="reconcile",
        )
        scheduler.add_job(
            job(self._info_round), **every, minutes=self.settings.channel_info_minutes, id="info"
        )
        scheduler.add_job(
            job(self._requests_round), **every, seconds=REQUESTS_SECONDS, id="channel-requests"
        )
        # Full re-reads run beside the periodic ones (never on the same channel at once), so
        # a long one never holds up the other channels.
        scheduler.add_job(
            job(self._verify_round), **every, minutes=VERIFY_CHECK_MINUTES, id="verify"
        )
        scheduler.start()
        waiting = asyncio.create_task(stop.wait())
        waiting.add_done_callback(lambda _: ended.set())
        try:
            await ended.wait()
        finally:
            waiting.cancel()
            scheduler.shutdown(wait=False)
        if logged_out:
            raise logged_out[0]

    async def _reconcile_round(self) -> None:
        for report in await self.sync_all(history=True):
            if report.status != "ok":
                log.info("channel %s: %s %s", report.channel_id, report.status, report.detail or "")

    async def _verify_round(self) -> None:
        for channel_id in sorted(await self._verification_due()):
            report = await self._run_steps(channel_id, [self.verify], ChannelReport(channel_id))
            if report.status != "ok":
                log.info(
                    "channel %s: full re-read: %s %s", channel_id, report.status, report.detail
                )

    async def _requests_round(self) -> None:
        for report in await self.process_requests():
            await self.sync(report.channel_id)
        await self.catch_up_missed()
        await self.refresh_changed()
        await self.poll_unjoined()

    async def poll_unjoined(self) -> list[ChannelReport]:
        """Read the new posts of the followed channels the account is not in, each every
        ``unjoined_poll_seconds``: Telegram pushes none of them, and a post deleted before
        the next periodic re-read (``reconcile_minutes``) would never be archived."""
        every = timedelta(seconds=self.settings.unjoined_poll_seconds)
        reports = []
        for channel_id, unjoined in sorted(self._unjoined.items()):
            if unjoined.polled_at is not None and self.now() - unjoined.polled_at < every:
                continue
            unjoined.polled_at = self.now()
            steps = [self.catch_up]
            reports.append(await self._run_steps(channel_id, steps, ChannelReport(channel_id)))
        return reports

    async def catch_up_missed(self) -> list[ChannelReport]:
        """Sync now the followed channels whose missed updates the client could not hand
        over (``ArchiverClient.missed_channels``): their posts would otherwise wait for the
        next periodic pass."""
        missed = set(self.client.missed_channels)
        self.client.missed_channels.difference_update(missed)
        # A gap Telegram called too long held the edits and deletions of older posts too,
        # which no re-read of the latest posts finds: the next verify round re-reads it whole.
        gaps = set(self.client.gap_channels)
        self.client.gap_channels.difference_update(gaps)
        self._reread_soon |= gaps
        if not missed:
            return []
        followed = missed & await self._tracked_ids()
        return [await self.sync(channel_id) for channel_id in sorted(followed)]

    async def _info_round(self) -> None:
        async with self.sessions() as session:
            ids = [row["id"] for row in await tracked_channels(session)]
        for channel_id in ids:
            try:
                await self.refresh_info(channel_id)
            except (errors.RPCError, ChannelPostponed) as exc:
                log.warning("channel %s: could not refresh info: %s", channel_id, exc)


def _join_refusal(exc: ChannelPostponed | errors.RPCError) -> tuple[str, int]:
    """Why Telegram did not let the account join a channel, in words, and how many seconds
    it asked to wait before the next try."""
    if isinstance(exc, ChannelPostponed):
        return (
            f"Telegram asked to wait {exc.seconds} s before the account joins more channels",
            exc.seconds,
        )
    if isinstance(exc, errors.ChannelsTooMuchError):
        return (
            "the account is in as many channels and groups as Telegram allows (500, or 1,000 "
            "with Telegram Premium): leave some in the Telegram app, or give dozor an account of "
            "its own",
            0,
        )
    if isinstance(exc, errors.InviteRequestSentError):
        return "the channel's admins have yet to approve the account's request to join", 0
    return f"Telegram refused to let the account join ({error_name(exc)})", 0


def _until_logged_out(
    job: Callable[[], Awaitable[None]], *, logged_out: list[SessionLoggedOut], ended: asyncio.Event
) -> Callable[[], Awaitable[None]]:
    """*job* as a scheduled job that ends the archiver's rounds when the session is logged
    out (every later request would fail the same way)."""

    @wraps(job)  # the scheduler's log names the job
    async def run() -> None:
        try:
            await job()
        except SessionLoggedOut as exc:
            logged_out.append(exc)
            ended.set()

    return run


def _warn_if_renamed(ref: str, parsed: ChannelRef, row: Mapping[str, Any]) -> None:
    """A config naming a followed channel by a name it has given up: the channel is kept (asking
    Telegram for the old name could find nothing, or whoever took the name since)."""
    name = (parsed.username or parsed.name or "").lower()
    current = {(row["username"] or "").lower(), row["title"].casefold()}
    if parsed.id is None and name not in current:
        now = f"@{row['username']}" if row["username"] else repr(row["title"])
        log.warning(
            "archiver.channels names %s, which %r (%s) has given up; it is now %s: update the "
            "config",
            ref,
            row["title"],
            row["id"],
            now,
        )
