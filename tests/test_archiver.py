"""The archiver against an in-process Telegram (tests/fakes/telegram.py) with real Telethon:
backfill, restart, live updates, reconciliation, flood waits, disconnects, private channels."""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import telethon
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telethon import TelegramClient, errors
from telethon.tl import functions, types
from telethon.tl.alltlobjects import LAYER

from archiver import service
from archiver.service import Archiver
from dozor.config import ArchiverConfig
from dozor.errors import ChannelNotFound, SessionLoggedOut, UserError
from dozor.importer import import_desktop_export
from dozor.models import (
    channel_changes,
    channels,
    events,
    invite_links,
    post_versions,
    posts,
    unreadable_messages,
)
from dozor.records import ChannelRecord, Source
from dozor.storage import upsert_channel
from dozor.storage.channels import channel_history
from dozor.storage.facts import session_logout
from dozor.storage.history import PostNotFound, post_history
from dozor.storage.requests import (
    mark_reported,
    pending_requests,
    request_channel,
    unreported_outcomes,
)
from dozor.storage.stats import channel_health
from dozor.storage.sync import (
    ACCESS,
    NO_ACCESS,
    get_sync_state,
    set_channel_status,
    set_tracked,
)
from tests.fakes.telegram import UNKNOWN_CONSTRUCTOR, FakeChannel, FakeTelegram, connected_client
from tests.helpers import versions

BARE, OTHER = 1525384822, 1399999999
CH, CH2 = -(10**12 + BARE), -(10**12 + OTHER)
History = functions.messages.GetHistoryRequest
ById = functions.channels.GetMessagesRequest


class Killed(BaseException):
    """Stands for the process dying in the middle of something (not an Exception, which
    the archiver isolates per channel)."""


@pytest.fixture
def telegram() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def channel(telegram: FakeTelegram) -> FakeChannel:
    return telegram.channel(BARE, "mvd_test", "МВД")


class Slept(list[float]):
    """The archiver's sleep: records durations and lets the time pass at once (the fake
    Telegram's clock, and Telethon's memory of flood waits)."""

    def __init__(self, telegram: FakeTelegram) -> None:
        super().__init__()
        self.telegram = telegram
        self.clients: list[TelegramClient] = []

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.telegram.tick(seconds)
        for client in self.clients:
            client._flood_waited_requests.clear()
        await asyncio.sleep(0)


@pytest.fixture
def slept(telegram: FakeTelegram) -> Slept:
    return Slept(telegram)


@pytest.fixture
async def start(
    telegram: FakeTelegram, sessions: async_sessionmaker[AsyncSession], slept: Slept
) -> AsyncIterator[Callable[..., Any]]:
    """start() -> a connected Archiver; call again to "restart the process"."""
    clients: list[TelegramClient] = []

    async def make(join_channels: bool = True, **settings: Any) -> Archiver:
        client = await connected_client(telegram)
        clients.append(client)
        slept.clients.append(client)
        config = ArchiverConfig(
            **{
                "reconcile_window": 50,
                "mass_deletion_threshold": 5,
                "max_flood_sleep_seconds": 30,
                **settings,
            }
        )
        return Archiver(
            client,
            sessions,
            config,
            request_delay=0,
            sleep=slept,
            now=lambda: telegram.clock,
            join_channels=join_channels,
        )

    yield make
    for client in clients:
        await client.disconnect()


async def count(sessions: async_sessionmaker[AsyncSession], query: Any) -> int:
    async with sessions() as session:
        return int((await session.execute(query)).scalar_one())


async def post_ids(sessions: async_sessionmaker[AsyncSession], channel_id: int = CH) -> list[int]:
    async with sessions() as session:
        result = await session.execute(
            select(posts.c.message_id)
            .where(posts.c.channel_id == channel_id)
            .order_by(posts.c.message_id)
        )
        return list(result.scalars())


async def channel_status(sessions: async_sessionmaker[AsyncSession], channel_id: int) -> str:
    async with sessions() as session:
        query = select(channels.c.status).where(channels.c.id == channel_id)
        return str((await session.execute(query)).scalar_one())


async def tombstoned(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessions() as session:
        query = select(posts.c.message_id).where(posts.c.deleted_at.is_not(None))
        return list((await session.execute(query)).scalars())


async def event_kinds(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        result = await session.execute(select(events.c.kind, func.count()).group_by(events.c.kind))
        return {str(row[0]): int(row[1]) for row in result}


async def eventually(check: Callable[[], Any], within: float = 3.0) -> None:
    """Wait until *check* holds (live updates are stored asynchronously)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - polling the database, not an event
            await asyncio.sleep(0.02)


async def test_backfill_of_ten_thousand_posts(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 10_000)
    archiver = await start()
    await archiver.add("https://t.me/mvd_test")
    report = await archiver.sync(CH)
    assert (report.status, report.new) == ("ok", 10_000)
    assert await post_ids(sessions) == list(range(1, 10_001))
    assert await event_kinds(sessions) == {"new": 10_000}
    async with sessions() as session:
        state = await get_sync_state(session, CH)
    assert (state.oldest_message_id, state.newest_message_id, state.backfill_complete) == (
        1,
        10_000,
        True,
    )
    assert telegram.count(History) >= 100


async def test_a_channel_is_added_by_id_through_the_username_the_archive_knows(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A new session knows no channel by id alone (Telegram wants its access hash): an
    imported channel is found by its archived username; another gets a way forward."""
    telegram.channel(OTHER, "border_test", "Погранслужба")
    async with sessions.begin() as session:
        record = ChannelRecord(id=CH, title="МВД", username="mvd_test")
        await upsert_channel(session, record, observed_at=telegram.clock, source=Source.IMPORT)
    archiver = await start()
    report = await archiver.add(str(CH))
    assert (report.channel_id, report.title) == (CH, "МВД")
    with pytest.raises(ChannelNotFound, match=r"add it by its username or t\.me link$"):
        await archiver.add(str(CH2))


async def test_a_private_channel_the_account_joined_is_found_by_id_among_its_chats(
    telegram: FakeTelegram, start: Any
) -> None:
    """A private channel has no username; the account joined it in the app (by an invite
    link), so Telegram lists it among the account's chats, with its access hash."""
    private = telegram.channel(OTHER, None, "Закрытый канал")
    telegram.post_many(private, 3)
    archiver = await start()
    with pytest.raises(ChannelNotFound, match="join it"):  # not joined yet
        await archiver.add(f"https://t.me/c/{OTHER}/2")
    private.joined = True
    report = await archiver.add(f"https://t.me/c/{OTHER}/2")
    assert (report.channel_id, report.title) == (CH2, "Закрытый канал")
    restarted = await start()  # a session that has not met it: found among the chats again
    assert (await restarted.sync(CH2)).new == 3
    assert telegram.count(functions.messages.GetDialogsRequest) == 3  # once each time


async def test_a_followed_channel_the_session_cannot_find_is_looked_for_every_six_hours(
    telegram: FakeTelegram, start: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A followed private channel the account has left (or a new session that never met
    it): looking for it pages through the account's chats, so not on every pass."""
    private = telegram.channel(OTHER, None, "Закрытый канал")
    telegram.post_many(private, 3)
    async with sessions.begin() as session:
        record = ChannelRecord(id=CH2, title="Закрытый канал")
        await upsert_channel(session, record, observed_at=telegram.clock, source=Source.IMPORT)
        await set_tracked(session, CH2, True, at=telegram.clock)
    archiver = await start()
    dialogs = functions.messages.GetDialogsRequest
    assert (await archiver.sync(CH2)).status == "not_found"
    assert telegram.count(dialogs) == 1
    telegram.tick(3600)
    assert (await archiver.sync(CH2)).status == "not_found"
    assert telegram.count(dialogs) == 1  # not looked for again within six hours
    private.joined = True  # the account joins it again in the app
    telegram.tick(5 * 3600)
    report = await archiver.sync(CH2)
    assert (report.status, report.new, telegram.count(dialogs)) == ("ok", 3, 2)


async def test_a_private_channel_is_joined_and_followed_by_its_invite_link(
    telegram: FakeTelegram, start: Any
) -> None:
    private = telegram.channel(OTHER, None, "Закрытый канал")
    telegram.post_many(private, 2)
    link = f"https://t.me/+{telegram.invite(private)}"
    careful = await start(join_channels=False)
    with pytest.raises(UserError, match="has not joined that channel yet"):
        await careful.add(link)
    archiver = await start()
    report = await archiver.add(link)
    assert (report.channel_id, report.title, private.joined) == (CH2, "Закрытый канал", True)
    assert (await archiver.sync(CH2)).new == 2
    assert (await archiver.add(f"t.me/joinchat/{telegram.invite(private)}")).channel_id == CH2
    with pytest.raises(ChannelNotFound, match="the invite link has expired or was revoked"):
        await archiver.add("https://t.me/+Revoked")
    group = telegram.channel(1777000001, None, "Чат")
    group.group = True
    with pytest.raises(UserError, match="leads to a group, not a channel"):
        await archiver.add(f"t.me/+{telegram.invite(group)}")
    assert not group.joined
    guarded = telegram.channel(1777000002, None, "С одобрением")
    with pytest.raises(UserError, match="a request to join was sent"):
        await archiver.add(f"t.me/+{telegram.invite(guarded, approval=True)}")


async def test_a_configured_invite_link_is_checked_with_telegram_once(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Each start of a cron job follows the configured channels; a followed channel's invite
    link is not checked again (Telegram rations those checks), and not kept in the archive."""
    private = telegram.channel(OTHER, None, "Закрытый канал")
    link_hash = telegram.invite(private)
    configured = [f"https://t.me/+{link_hash}", "@mvd_test"]
    assert await (await start()).add_configured(configured) == []
    checks = telegram.count(functions.messages.CheckChatInviteRequest)
    assert (checks, private.joined) == (1, True)
    for _ in range(2):  # two more starts
        assert await (await start()).add_configured(configured) == []
    assert telegram.count(functions.messages.CheckChatInviteRequest) == 1
    async with sessions() as session:
        (row,) = (await session.execute(select(invite_links))).all()
    assert row.channel_id == CH2 and link_hash not in row.link_sha256
    # The same link in its other form is the same link.
    assert await (await start()).add_configured([f"t.me/joinchat/{link_hash}"]) == []
    assert telegram.count(functions.messages.CheckChatInviteRequest) == 1
    async with sessions.begin() as session:  # `dozor channels remove`: followed again
        await set_tracked(session, CH2, False, at=telegram.clock)
    assert await (await start()).add_configured(configured) == []
    assert telegram.count(functions.messages.CheckChatInviteRequest) == 2
    assert await count(sessions, select(func.count()).select_from(invite_links)) == 1
    # The account was removed from the channel: the link is used again, and lets it back in.
    private.joined = False
    async with sessions.begin() as session:
        await set_channel_status(session, CH2, "private", "CHANNEL_PRIVATE", at=telegram.clock)
    assert await (await start()).add_configured(configured) == []
    assert telegram.count(functions.messages.CheckChatInviteRequest) == 3
    assert private.joined
    async with sessions() as session:
        status = await session.scalar(select(channels.c.status).where(channels.c.id == CH2))
    assert status == "ok"  # so the next start asks no more


async def test_an_archived_username_another_channel_holds_now_does_not_find_that_channel(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        record = ChannelRecord(id=CH, title="МВД", username="mvd_test")
        await upsert_channel(session, record, observed_at=telegram.clock, source=Source.IMPORT)
    channel.username = "mvd_renamed"
    telegram.channel(OTHER, "mvd_test", "Другой канал")  # took the freed name
    archiver = await start()
    with pytest.raises(ChannelNotFound, match=f"'{CH}': Telegram gives a channel by its id"):
        await archiver.add(str(CH))
    channel.joined = True
    assert (await archiver.add(str(CH))).title == "МВД"


async def test_groups_are_refused_with_the_reason(
    telegram: FakeTelegram, start: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    group = telegram.channel(1777000001, "chat_test", "Чат")
    group.group = True
    archiver = await start()
    with pytest.raises(UserError, match="'chat_test' is a group, not a channel"):
        await archiver.add("chat_test")
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(posts))).scalar_one() == 0


async def test_kill_and_restart_mid_backfill_leaves_no_gap_or_duplicate(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 1_000)
    archiver = await start(page_size=100)
    await archiver.add("mvd_test")

    def kill_on_fifth_page(request: Any) -> None:
        if isinstance(request, History) and telegram.count(History) == 5:
            raise Killed

    telegram.before_answer.append(kill_on_fifth_page)
    with pytest.raises(Killed):
        await archiver.sync(CH)
    assert len(await post_ids(sessions)) == 400
    telegram.before_answer.clear()
    telegram.post_many(channel, 30, "после перезапуска {n}")  # posted while dozor was down
    restarted = await start(page_size=100)
    await restarted.sync(CH)
    assert await post_ids(sessions) == list(range(1, 1_031))
    assert await event_kinds(sessions) == {"new": 1_030}


async def test_backfill_depth_is_respected(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 300)  # one post a minute
    archiver = await start(backfill_days=0)
    archiver.settings = archiver.settings.model_copy(update={"backfill_days": 1})
    telegram.tick(24 * 3600 - 100 * 60)  # now the newest 100 posts are within a day
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    ids = await post_ids(sessions)
    assert ids[0] > 150
    assert ids[-1] == 300
    async with sessions() as session:
        assert (await get_sync_state(session, CH)).backfill_complete


async def test_live_new_edited_deleted_and_albums(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 5)
    archiver = await start()
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    telegram.post(channel, "Задержан мигрант")
    telegram.album(channel, ["фото 1", "фото 2", "фото 3"])
    telegram.edit(channel, 2, "исправленный текст")
    telegram.delete(channel, [3])

    async def arrived() -> bool:
        kinds = await event_kinds(sessions)
        return kinds.get("new") == 9 and "edited" in kinds and "deleted" in kinds

    await eventually(arrived)
    async with sessions() as session:
        album = (
            (
                await session.execute(
                    select(posts.c.grouped_id).where(
                        posts.c.channel_id == CH, posts.c.message_id.in_([7, 8, 9])
                    )
                )
            )
            .scalars()
            .all()
        )
        texts = dict(
            (
                await session.execute(
                    select(posts.c.message_id, posts.c.text).where(posts.c.channel_id == CH)
                )
            ).all()
        )
        tomb = (
            await session.execute(
                select(posts.c.deleted_at).where(posts.c.channel_id == CH, posts.c.message_id == 3)
            )
        ).scalar_one()
    assert len(set(album)) == 1
    assert album[0] is not None
    assert texts[2] == "исправленный текст"
    assert texts[3] == "пост 3"  # kept, as a tombstone
    assert tomb is not None


async def test_reconciliation_finds_what_happened_while_down(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 40)
    archiver = await start()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    # dozor is down: nothing is pushed
    telegram.edit(channel, 38, "тихо исправлено", push=False)
    telegram.delete(channel, [39], push=False)
    telegram.post(channel, "пропущенный пост", push=False)
    report = await (await start()).sync(CH)
    assert (report.new, report.edited, report.deleted) == (1, 1, 1)
    async with sessions() as session:
        versions = (
            (
                await session.execute(
                    select(post_versions.c.text)
                    .where(post_versions.c.channel_id == CH, post_versions.c.message_id == 38)
                    .order_by(post_versions.c.version)
                )
            )
            .scalars()
            .all()
        )
    assert versions == ["пост 38", "тихо исправлено"]
    assert await event_kinds(sessions) == {"new": 41, "edited": 1, "deleted": 1}


async def test_a_full_re_read_finds_old_edits_and_deletions_the_window_misses(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 350)  # the re-read window is the latest 50
    archiver = await start(page_size=100)
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    # while dozor is down, old posts are quietly changed
    telegram.edit(channel, 20, "тихо исправлено", push=False)
    telegram.delete(channel, [7, 200], push=False)
    telegram.delete(channel, [1], push=False)  # the very first post: the bottom of the range
    telegram.delete(channel, [350], push=False)  # and the newest one
    plain = await archiver.sync(CH)
    assert (plain.edited, plain.deleted) == (0, 1)  # only the newest is in the window
    telegram.tick(60)
    report = await archiver.sync(CH, verify=True)
    assert (report.status, report.new, report.edited, report.deleted) == ("ok", 0, 1, 3)
    async with sessions() as session:
        gone = await session.execute(
            select(posts.c.message_id).where(
                posts.c.channel_id == CH, posts.c.deleted_at.is_not(None)
            )
        )
        assert sorted(gone.scalars()) == [1, 7, 200, 350]  # tombstoned, not erased
        assert (await get_sync_state(session, CH)).verified_at == telegram.clock
    assert len(await post_ids(sessions)) == 350
    assert await event_kinds(sessions) == {"new": 350, "edited": 1, "deleted": 4}


async def test_a_full_re_read_stays_within_the_archived_range(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 300)  # one post a minute
    archiver = await start(backfill_days=1, page_size=100)
    telegram.tick(24 * 3600 - 100 * 60)  # the newest 100 posts are within a day
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    archived = await post_ids(sessions)
    telegram.delete(channel, [archived[0], 250], push=False)
    report = await archiver.sync(CH, verify=True)
    assert report.deleted == 2
    assert await post_ids(sessions) == archived  # nothing older than the archive was added


async def test_channels_are_re_read_whole_every_verify_days(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 120)
    archiver = await start(verify_days=7)
    await archiver.add("mvd_test")
    await archiver.sync_all(verify_due=True)  # the first backfill read everything: a re-read
    telegram.delete(channel, [3], push=False)
    telegram.tick(6 * 24 * 3600)
    assert [r.deleted for r in await archiver.sync_all(verify_due=True)] == [0]  # not due yet
    telegram.tick(2 * 24 * 3600)
    assert [r.deleted for r in await archiver.sync_all()] == [0]  # only when asked (cron)
    assert [r.deleted for r in await archiver.sync_all(verify_due=True)] == [1]
    async with sessions() as session:
        assert (await get_sync_state(session, CH)).verified_at == telegram.clock
    # the running service re-reads due channels in a job of its own, beside the periodic one
    telegram.delete(channel, [4], push=False)
    telegram.tick(8 * 24 * 3600)
    await archiver._verify_round()
    assert sorted(await tombstoned(sessions)) == [3, 4]
    off = await start(verify_days=0)
    telegram.delete(channel, [5], push=False)
    telegram.tick(30 * 24 * 3600)
    assert [r.deleted for r in await off.sync_all(verify_due=True)] == [0]
    await off._verify_round()
    assert sorted(await tombstoned(sessions)) == [3, 4]


async def test_a_mass_deletion_is_one_summarised_event(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 30)
    archiver = await start()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    telegram.delete(channel, list(range(10, 30)), push=False)
    report = await archiver.sync(CH, history=False)
    assert report.deleted == 20
    assert await event_kinds(sessions) == {"new": 30, "mass_deleted": 1}
    async with sessions() as session:
        (details,) = (
            (await session.execute(select(events.c.details).where(events.c.kind == "mass_deleted")))
            .scalars()
            .all()
        )
        tombstones = await session.execute(
            select(func.count()).where(posts.c.deleted_at.is_not(None))
        )
    assert details["count"] == 20
    assert tombstones.scalar_one() == 20
    async with sessions() as session:
        (purge,) = await channel_history(session, CH, ["purge"])
    assert (purge["old_value"], purge["new_value"]) == (None, "20 posts, #10 to #29")


async def test_short_flood_waits_are_slept_long_ones_postpone_the_channel(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    slept: Slept,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    other = telegram.channel(OTHER, "border_test", "Погранслужба")
    telegram.post_many(channel, 250)
    telegram.post_many(other, 20)
    archiver = await start()
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    await archiver.add("border_test")
    telegram.flood(History, 12)  # in the middle of the backfill: slept, then on
    report = await archiver.sync(CH)
    assert report.status == "ok"
    assert 12 in slept
    assert len(await post_ids(sessions)) == 250
    # A long wait postpones the channel. Telegram's flood waits hold for the method on the
    # whole account, so the other channel's history reads wait too; nothing else stops.
    telegram.flood(History, 3600)
    reports = await archiver.sync_all()
    assert [r.status for r in reports] == ["flood_wait", "flood_wait"]
    assert reports[0].retry_after == 3600
    assert await channel_status(sessions, CH) == "flood_wait"
    telegram.post(channel, "живое обновление во время ожидания")

    async def live_arrived() -> bool:
        return 251 in await post_ids(sessions)

    await eventually(live_arrived)
    assert (await archiver.sync(CH)).status == "flood_wait"  # still postponed: not retried
    reads = telegram.count(History)
    restarted = await start()  # a cron run, or a restart: the wait holds all the same
    assert [r.status for r in await restarted.sync_all()] == ["flood_wait", "flood_wait"]
    assert telegram.count(History) == reads
    await slept(3600)  # the wait is over
    reports = await restarted.sync_all()
    assert [r.status for r in reports] == ["ok", "ok"]
    assert len(await post_ids(sessions, CH2)) == 20


async def test_a_lost_connection_is_re_established(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    slept: Slept,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 500)
    archiver = await start()
    await archiver.add("mvd_test")
    dropped = False

    def drop_once(request: Any) -> None:
        nonlocal dropped
        if isinstance(request, History) and telegram.count(History) == 3 and not dropped:
            dropped = True
            telegram.drop_connections()
            raise ConnectionError("connection reset by peer")

    telegram.before_answer.append(drop_once)
    report = await archiver.sync(CH)
    assert report.status == "ok"
    assert await post_ids(sessions) == list(range(1, 501))
    assert slept[:1] == [1.0]  # the first reconnect waited a second


async def test_a_one_pass_run_gives_up_on_a_connection_that_stays_lost(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    slept: Slept,
) -> None:
    """A cron pass must end: after give_up_after seconds of retries, every channel left is
    reported offline at once (the wait is shared, not repeated per channel)."""
    telegram.channel(OTHER, "border_test", "Погранслужба")
    telegram.post_many(channel, 10)
    archiver = await start()
    await archiver.add("mvd_test")
    await archiver.add("border_test")
    archiver.give_up_after = 60
    telegram.down = True
    telegram.drop_connections()
    reports = await archiver.sync_all()
    assert [r.status for r in reports] == ["offline", "offline"]
    assert reports[0].detail == "Telegram unreachable; gave up after 63 s of retries"
    assert sum(slept) == 63  # 1 + 2 + 4 + 8 + 16 + 32, once for both channels
    telegram.down = False
    assert [r.status for r in await archiver.sync_all()] == ["ok", "ok"]  # back: the wait resets


async def test_a_channel_going_private_is_recorded_and_others_continue(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    other = telegram.channel(OTHER, "border_test", "Погранслужба")
    telegram.post_many(channel, 10)
    archiver = await start()
    await archiver.add("mvd_test")
    await archiver.add("border_test")
    channel.private = True
    telegram.post_many(other, 7)
    reports = {r.channel_id: r for r in await archiver.sync_all()}
    assert reports[CH].status == "private"
    assert reports[CH2].new == 7
    async with sessions() as session:
        row = (
            await session.execute(
                select(channels.c.status, channels.c.status_detail).where(channels.c.id == CH)
            )
        ).one()
    assert row.status == "private"


async def test_a_channel_lost_and_regained_is_logged_once_each(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
    slept: Slept,
) -> None:
    """Going private, then a passing flood wait, then back: two access changes, neither
    repeated on later passes, and every refusal Telegram answers is one of NO_ACCESS."""
    assert {status for _, status in service._STATUS_ERRORS} == NO_ACCESS
    archiver = await start()
    await archiver.add("mvd_test")
    channel.private = True
    for _ in range(2):
        assert (await archiver.sync(CH)).status == "private"
    channel.private = False
    telegram.flood(functions.channels.GetFullChannelRequest, 3600)
    assert (await archiver.sync(CH)).status == "flood_wait"
    await slept(3600)
    for _ in range(2):
        assert (await archiver.sync(CH)).status == "ok"
    async with sessions() as session:
        changes = await channel_history(session, CH, [ACCESS])
    assert [(c["old_value"], c["new_value"]) for c in changes] == [
        ("ok", "private"),
        ("private", "ok"),
    ]


@pytest.mark.parametrize(
    ("failure", "detail"),
    [
        (RuntimeError("disk I/O error"), "RuntimeError: disk I/O error"),  # a bug
        # the system failing (a media file on a full disk): one line, no traceback
        (
            OSError(errno.ENOSPC, "No space left on device"),
            "the system failed: No space left on device",
        ),
    ],
)
async def test_an_unexpected_failure_stays_with_its_channel_and_the_next_pass_resumes(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
    detail: str,
) -> None:
    other = telegram.channel(OTHER, "border_test", "Погранслужба")
    telegram.post_many(channel, 250)
    telegram.post_many(other, 7)
    archiver = await start(page_size=100)
    await archiver.add("mvd_test")
    await archiver.add("border_test")

    def fail_third_page(request: Any) -> None:
        if isinstance(request, History) and telegram.count(History) == 3:
            raise failure

    telegram.before_answer.append(fail_third_page)
    reports = {r.channel_id: r for r in await archiver.sync_all()}
    assert (reports[CH].status, reports[CH].detail) == ("error", detail)
    assert (reports[CH2].status, reports[CH2].new) == ("ok", 7)
    assert "sync failed; the other channels go on" in caplog.text
    assert detail in caplog.text
    # A bug comes with its traceback, for a report; the system failing is one line
    assert ("Traceback" in caplog.text) == isinstance(failure, RuntimeError)
    assert await channel_status(sessions, CH) == "error"
    assert len(await post_ids(sessions)) == 200  # the pages read before the failure stay

    telegram.before_answer.clear()
    assert (await archiver.sync(CH)).status == "ok"
    assert await post_ids(sessions) == list(range(1, 251))
    assert await channel_status(sessions, CH) == "ok"


async def test_channel_metadata_changes_are_logged(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    archiver = await start()
    await archiver.add("mvd_test")
    channel.title, channel.about, channel.subscribers = "МВД КР", "Новое описание", 2000
    await archiver.refresh_info(CH)
    async with sessions() as session:
        changes = (
            await session.execute(
                select(channel_changes.c.field, channel_changes.c.new_value).order_by(
                    channel_changes.c.id
                )
            )
        ).all()
    assert [tuple(c) for c in changes] == [
        ("title", "МВД КР"),
        ("about", "Новое описание"),
        ("subscribers", "2000"),
    ]


async def test_a_config_naming_a_channel_by_a_name_it_gave_up_keeps_following_it(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The channel changed its username and someone took the old one: asking Telegram for
    the name in the config would follow the impostor."""
    archiver = await start()
    assert await archiver.add_configured(["@mvd_test"]) == []
    channel.username = "mvd_new"
    await archiver.refresh_info(CH)
    telegram.channel(BARE + 1, "mvd_test", "Самозванец")
    assert await archiver.add_configured(["@mvd_test", "https://t.me/mvd_new"]) == []
    async with sessions() as session:
        followed = (await session.execute(select(channels.c.id, channels.c.username))).all()
    assert [tuple(row) for row in followed] == [(CH, "mvd_new")]
    assert "names @mvd_test, which 'МВД' (-1001525384822) has given up; it is now @mvd_new" in (
        caplog.text
    )


async def test_views_are_sampled_over_time(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from dozor.models import post_metrics

    telegram.post_many(channel, 3)
    archiver = await start()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    for views in (50, 120):
        channel.messages[2].views = views
        telegram.tick(900)
        await archiver.reconcile(CH)
    async with sessions() as session:
        samples = (
            (
                await session.execute(
                    select(post_metrics.c.views)
                    .where(post_metrics.c.message_id == 2)
                    .order_by(post_metrics.c.sampled_at)
                )
            )
            .scalars()
            .all()
        )
    assert samples == [1, 50, 120]


async def test_unknown_channels_are_refused_clearly(start: Any) -> None:
    from dozor.errors import ChannelNotFound

    archiver = await start()
    with pytest.raises(ChannelNotFound, match="nobody_here"):
        await archiver.add("@nobody_here")


def test_the_default_clocks_tell_aware_utc_time() -> None:
    """dozor stores aware UTC times only (models.UTCDateTime refuses naive ones)."""
    from bot.delivery import Delivery
    from bot.service import TeamService

    for owner in (Archiver, Delivery, TeamService):
        clock = owner.__dataclass_fields__["now"].default
        assert callable(clock)
        assert clock().tzinfo is UTC, owner


async def test_run_forever_syncs_follows_live_and_stops(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 30)
    archiver = await start()
    await archiver.add("mvd_test")
    stop = asyncio.Event()
    running = asyncio.create_task(archiver.run_forever(stop))

    async def synced() -> bool:
        return len(await post_ids(sessions)) == 30

    await eventually(synced)
    telegram.post(channel, "пока работает")

    async def live() -> bool:
        return 31 in await post_ids(sessions)

    await eventually(live)
    stop.set()
    await asyncio.wait_for(running, timeout=5)
    assert running.done()
    assert running.exception() is None


async def test_attachments_are_downloaded_once_by_content(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    tmp_path: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    import hashlib

    from dozor.models import media_files

    picture = b"\xff\xd8" + bytes(range(256)) * 40
    telegram.post(channel, "с фото", media=telegram.photo(picture, photo_id=9001))
    telegram.post(channel, "то же фото ещё раз", media=telegram.photo(picture, photo_id=9002))
    telegram.post(channel, "другое", media=telegram.photo(b"\xff\xd8other", photo_id=9003))
    telegram.post(channel, "слишком большое", media=telegram.photo(b"x" * 3_000_000))
    telegram.expired_once.add(9003)  # its file reference expired: refetched, then downloaded
    archiver = await start(download_media=True, media_max_mb=1, media_dir=tmp_path)
    await archiver.add("mvd_test")
    report = await archiver.sync(CH)
    assert report.new == 4
    digest = hashlib.sha256(picture).hexdigest()
    stored = tmp_path / digest[:2] / digest[2:4] / f"{digest}.jpg"
    assert stored.read_bytes() == picture
    async with sessions() as session:
        rows = (await session.execute(select(media_files.c.sha256))).scalars().all()
        shas: dict[int, str | None] = dict(
            (
                await session.execute(
                    select(posts.c.message_id, posts.c.media["sha256"].as_string())
                )
            ).all()
        )
    assert len(rows) == 2  # the same picture twice is one file
    assert shas[1] == shas[2] == digest
    assert shas[3] is not None
    assert shas[4] is None  # over the size limit: metadata only


async def test_a_failing_download_never_blocks_text(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    tmp_path: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post(channel, "текст важнее", media=telegram.photo(b"jpeg", photo_id=9100))
    del telegram.files[9100]  # the server cannot serve the file
    archiver = await start(download_media=True, media_dir=tmp_path)
    await archiver.add("mvd_test")
    report = await archiver.sync(CH)
    assert (report.status, report.new) == ("ok", 1)
    assert await post_ids(sessions) == [1]


async def test_requests_from_the_bot_are_followed_and_their_outcome_recorded(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 3)
    async with sessions.begin() as session:
        good = await request_channel(session, "@mvd_test", now=telegram.clock, chat_id=7)
        bad = await request_channel(session, "t.me/nosuchchannel", now=telegram.clock, chat_id=7)
    archiver = await start()
    added = await archiver.process_requests()
    assert [report.channel_id for report in added] == [CH]
    async with sessions() as session:
        outcomes = {r.id: r for r in await unreported_outcomes(session)}
        assert await pending_requests(session) == []
        tracked = await session.execute(select(channels.c.tracked).where(channels.c.id == CH))
        assert tracked.scalar_one() is True
    assert (outcomes[good].status, outcomes[good].channel_id, outcomes[good].detail) == (
        "done",
        CH,
        "МВД",
    )
    assert outcomes[bad].status == "failed"
    assert "nosuchchannel" in (outcomes[bad].detail or "")
    async with sessions.begin() as session:
        await mark_reported(session, good, now=telegram.clock)
    async with sessions() as session:
        assert [r.id for r in await unreported_outcomes(session)] == [bad]
    assert await archiver.process_requests() == []  # carried out once only


async def test_an_import_beside_the_archiver_stores_each_post_once(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """A Desktop export of the channel is imported while the archiver reads its history, in
    small batches and pages, so both keep finding posts missing that the other is storing."""
    telegram.post_many(channel, 120)
    archiver = await start(page_size=10)
    await archiver.add("mvd_test")
    export = _desktop_export_of(channel, tmp_path / "result.json")
    report, imported = await asyncio.gather(
        archiver.sync(CH), import_desktop_export(sessions, export, batch_size=5)
    )
    assert report.status == "ok"
    assert report.new + imported.outcome.new == 120
    async with sessions() as session:
        stored = await session.execute(select(func.count()).select_from(posts))
        versions = await session.execute(select(func.count()).select_from(post_versions))
        kinds = await session.execute(select(events.c.kind, func.count()).group_by(events.c.kind))
    assert (stored.scalar_one(), versions.scalar_one()) == (120, 120)
    assert dict(kinds.all()) == {"new": 120}


def _desktop_export_of(channel: FakeChannel, path: Path) -> Path:
    """The channel's posts as Telegram Desktop exports them (JSON, the current format)."""
    messages = [
        {
            "id": message.id,
            "type": "message",
            "date": f"{message.date:%Y-%m-%dT%H:%M:%S}",
            "date_unixtime": str(int(message.date.timestamp())),
            "from": channel.title,
            "from_id": f"channel{BARE}",
            "text": message.message,
            "text_entities": [{"type": "plain", "text": message.message}],
        }
        for message in sorted(channel.messages.values(), key=lambda m: m.id)
    ]
    export = {"name": channel.title, "type": "public_channel", "id": BARE, "messages": messages}
    path.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    return path


async def filed_unreadable(sessions: async_sessionmaker[AsyncSession]) -> dict[int, Any]:
    async with sessions() as session:
        result = await session.execute(
            select(unreadable_messages).where(unreadable_messages.c.channel_id == CH)
        )
        return {row.message_id: row for row in result}


async def test_posts_telethon_cannot_read_are_read_around_filed_and_read_after_an_upgrade(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Telegram sends a new kind of message Telethon's schema lacks: every answer holding
    it fails to parse. The history goes on around it, and it is read once dozor can."""
    telegram.post_many(channel, 250)
    lost = {7, 120, 121, 250}  # two side by side, and the newest post
    channel.unreadable |= lost
    archiver = await start(page_size=100)
    await archiver.add("mvd_test")
    report = await archiver.sync(CH)
    assert (report.status, report.new, report.deleted) == ("ok", 246, 0)
    assert await post_ids(sessions) == sorted(set(range(1, 251)) - lost)
    filed = await filed_unreadable(sessions)
    assert sorted(filed) == sorted(lost)
    reason = (
        f"Telethon {telethon.__version__} (layer {LAYER}) does not know its type "
        "1badf00d: upgrade dozor"
    )
    assert filed[7].reason == reason
    async with sessions() as session:
        state = await get_sync_state(session, CH)
    assert (state.oldest_message_id, state.newest_message_id) == (1, 250)
    assert state.backfill_complete
    async with sessions() as session:  # asked for, the post says why it is missing
        with pytest.raises(PostNotFound) as missing:
            await post_history(session, "mvd_test", 7)
    assert str(missing.value) == f"МВД: post 7 is not in the archive: Telegram has it, but {reason}"

    # The next pass re-reads the newest 50, the newest post among them: a post filed before
    # is tried first as the culprit (one request more, not a search), and nothing is taken
    # for deleted. The same dozor asks for the filed posts again only a day later.
    histories, by_id = telegram.count(History), telegram.count(ById)
    telegram.tick(3600)
    again = await archiver.sync(CH)
    assert (again.status, again.new, again.deleted) == ("ok", 0, 0)
    assert telegram.count(History) - histories == 1 + 3  # catch-up; failed, culprit, rest
    assert telegram.count(ById) == by_id
    assert await tombstoned(sessions) == []
    telegram.tick(86_400)
    await archiver.sync(CH)
    assert telegram.count(ById) > by_id
    assert (await filed_unreadable(sessions))[7].last_tried_at == telegram.clock

    # dozor is upgraded and its Telethon reads the new kind: read at once, whatever the day
    channel.unreadable.clear()
    monkeypatch.setattr(service, "READ_BY", "dozor 9.0, Telethon 9.0")
    telegram.tick(60)
    after = await archiver.sync(CH)
    assert (after.status, after.new) == ("ok", 4)
    assert await post_ids(sessions) == list(range(1, 251))
    assert await filed_unreadable(sessions) == {}
    assert await event_kinds(sessions) == {"new": 250}


async def test_a_post_edited_into_an_unreadable_kind_is_not_taken_for_deleted(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    telegram.post_many(channel, 120)
    archiver = await start(page_size=100)
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    telegram.edit(channel, 30, "правка нового типа", push=False)  # outside the window of 50
    telegram.edit(channel, 110, "правка нового типа", push=False)
    telegram.post(channel, "новый пост нового типа", push=False)
    channel.unreadable |= {30, 110, 121}
    telegram.tick(60)
    report = await archiver.sync(CH, verify=True)  # the window and a whole re-read
    assert (report.status, report.new, report.edited, report.deleted) == ("ok", 0, 0, 0)
    assert await tombstoned(sessions) == []
    assert sorted(await filed_unreadable(sessions)) == [30, 110, 121]
    async with sessions() as session:
        assert (await get_sync_state(session, CH)).newest_message_id == 121

    channel.unreadable.clear()
    telegram.tick(86_400)
    later = await archiver.sync(CH)
    assert (later.new, later.edited) == (1, 2)
    assert await filed_unreadable(sessions) == {}


async def test_a_post_dozor_fails_to_convert_is_filed_and_the_others_are_stored(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    telegram.post_many(channel, 5)
    # A video without a duration: Telegram's schema requires one, dozor relies on it
    odd = types.MessageMediaDocument(
        document=types.Document(
            id=9,
            access_hash=1,
            file_reference=b"",
            date=telegram.clock,
            mime_type="video/mp4",
            size=10,
            dc_id=2,
            attributes=[types.DocumentAttributeVideo(duration=None, w=1, h=1)],
        )
    )
    telegram.post(channel, "видео", push=False, media=odd)
    telegram.post_many(channel, 2)
    archiver = await start(download_media=True, media_dir=str(tmp_path / "media"))
    await archiver.add("mvd_test")
    report = await archiver.sync(CH)
    assert (report.status, report.new) == ("ok", 7)
    assert await post_ids(sessions) == [1, 2, 3, 4, 5, 7, 8]
    filed = await filed_unreadable(sessions)
    assert list(filed) == [6]
    assert filed[6].reason.startswith("dozor could not convert it: TypeError: ")
    assert "message 6 could not be converted; filed as unreadable" in caplog.text
    assert caplog.text.count("Traceback") == 1  # a bug in dozor: its traceback, for a report
    caplog.clear()
    telegram.tick(60)
    await archiver.sync(CH)  # the re-read meets it again: one line, no second traceback
    assert "message 6 could not be converted" in caplog.text
    assert "Traceback" not in caplog.text


async def test_a_channel_whose_full_info_telethon_cannot_read_is_archived_all_the_same(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel.about = "Описание"
    telegram.post_many(channel, 3)
    archiver = await start()
    await archiver.add("mvd_test")

    def unknown_full_info(request: Any) -> None:  # ChannelFull gained a type Telethon lacks
        if isinstance(request, functions.channels.GetFullChannelRequest):
            raise errors.TypeNotFoundError(UNKNOWN_CONSTRUCTOR, b"")

    telegram.before_answer.append(unknown_full_info)
    channel.title, channel.about, channel.subscribers = "МВД КР", "Новое описание", 2000
    report = await archiver.sync(CH)
    assert (report.status, report.new) == ("ok", 3)
    assert await post_ids(sessions) == [1, 2, 3]
    assert "its full info cannot be read (Telethon" in caplog.text
    async with sessions() as session:
        row = (await session.execute(select(channels).where(channels.c.id == CH))).one()
        changes = await session.execute(
            select(channel_changes.c.field, channel_changes.c.new_value)
        )
        logged = [tuple(c) for c in changes]
    # the list of channels shows the title and subscribers, not the description
    assert (row.title, row.about, row.subscribers, row.status) == ("МВД КР", "Описание", 2000, "ok")
    assert logged == [("title", "МВД КР"), ("subscribers", "2000")]


async def test_a_channel_whose_newer_posts_are_all_of_a_new_kind_costs_few_requests(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """From post 51 on, every post is of a kind Telethon cannot read: the ids around the
    readable ones are read 100 at a time (fewer than 3 requests a post, not a search each),
    and a re-read passes over the filed run in two requests."""
    telegram.post_many(channel, 150)
    channel.unreadable |= set(range(51, 151))
    archiver = await start(page_size=100)
    await archiver.add("mvd_test")
    for _ in range(2):  # the second pass's catch-up files the newest ones
        assert (await archiver.sync(CH)).status == "ok"
        telegram.tick(60)
    assert await post_ids(sessions) == list(range(1, 51))
    assert sorted(await filed_unreadable(sessions)) == list(range(51, 151))
    asked = telegram.count(History) + telegram.count(ById)
    assert asked < 3 * 100
    await archiver.sync(CH)
    assert telegram.count(History) + telegram.count(ById) - asked == 3  # catch-up; re-read 2


Difference = functions.updates.GetChannelDifferenceRequest


async def test_live_updates_go_on_past_an_update_telethon_cannot_read(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A live post of a new kind is dropped by Telethon's sender; the difference asked for to
    fill the gap holds it too. Telethon alone disconnects there, on every reconnect, and
    live updates of every channel stop. Read around it, the updates beside it arrive live."""
    telegram.post_many(channel, 5)
    archiver = await start()
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    telegram.post(channel, "первый живой пост")
    await eventually(lambda: has_posts(sessions, 6))
    channel.unreadable.add(telegram.post(channel, "новый тип", push=False).id)  # 7
    telegram.edit(channel, 2, "исправлено, пока шёл пропуск", push=False)
    telegram.post(channel, "пост после нового типа", push=False)  # 8
    telegram.delete(channel, [3], push=False)
    telegram.post(channel, "этот пришёл живым")  # 9: Telethon sees the gap

    async def gap_filled() -> bool:  # each update is handled in a task of its own
        kinds = await event_kinds(sessions)
        return (kinds.get("new"), kinds.get("edited"), kinds.get("deleted")) == (8, 1, 1)

    await eventually(gap_filled)
    assert archiver.client.is_connected()
    assert await post_ids(sessions) == [1, 2, 3, 4, 5, 6, 8, 9]
    assert await tombstoned(sessions) == [3]
    assert telegram.count(Difference) <= 1 + 6 + 1  # failed; halved down to 1; the rest
    assert f"channel {CH}: live updates passed over an update (pts 8)" in caplog.text
    telegram.post(channel, "и дальше живые")  # 10
    await eventually(lambda: has_posts(sessions, 9))
    reports = await archiver.catch_up_missed()  # the archiver's own read files the post now
    assert [(r.channel_id, r.status) for r in reports] == [(CH, "ok")]
    assert sorted(await filed_unreadable(sessions)) == [7]
    assert await archiver.catch_up_missed() == []


async def test_live_updates_pass_over_many_unreadable_updates_in_rounds(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """30 posts of a new kind in a row: after the first, each costs two requests, and after
    20 the difference waits for the channel's next update instead of asking on."""
    archiver = await start()
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    telegram.post(channel, "первый")  # 1
    await eventually(lambda: has_posts(sessions, 1))
    for _ in range(30):
        channel.unreadable.add(telegram.post(channel, "новый тип", push=False).id)
    telegram.post(channel, "после")  # 32: Telethon sees the gap

    async def round_done() -> bool:
        return telegram.count(Difference) >= 1 + 6 + 19 * 2

    await eventually(round_done)
    await asyncio.sleep(0.3)  # and asks no more
    assert telegram.count(Difference) == 1 + 6 + 19 * 2
    assert await post_ids(sessions) == [1]
    telegram.post(channel, "ещё один")  # 33: the next round passes over the last 10
    await eventually(lambda: has_posts(sessions, 3))
    assert await post_ids(sessions) == [1, 32, 33]
    assert archiver.client.is_connected()


async def test_live_updates_pass_over_an_unreadable_account_difference(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The account's own updates (its chats, not a channel's) hold something Telethon cannot
    read: they are passed over from the account's current state, and live updates go on."""
    archiver = await start()
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    telegram.account_unreadable = True
    states = telegram.count(functions.updates.GetStateRequest)
    for sender in telegram.senders:
        sender.updates_queue.put_nowait(types.UpdatesTooLong())
    telegram.post(channel, "живой пост")

    async def difference_asked() -> bool:
        return telegram.count(functions.updates.GetDifferenceRequest) > 0

    await eventually(difference_asked)
    await eventually(lambda: has_posts(sessions, 1))
    assert telegram.count(functions.updates.GetStateRequest) == states + 1
    assert archiver.client.is_connected()


async def has_posts(sessions: async_sessionmaker[AsyncSession], count: int) -> bool:
    return len(await post_ids(sessions)) >= count


async def test_edits_and_deletions_made_during_a_gap_arrive_live(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Updates missed while disconnected come back in a channel difference, where Telethon
    alone drops every edit and deletion (only the periodic re-read would find them)."""
    telegram.post_many(channel, 5)
    archiver = await start()
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    telegram.post(channel, "живой пост")  # 6
    await eventually(lambda: has_posts(sessions, 6))
    telegram.edit(channel, 2, "исправлено без связи", push=False)
    telegram.delete(channel, [3], push=False)
    telegram.post(channel, "снова на связи")  # 7: Telethon sees the gap

    async def caught_up() -> bool:
        kinds = await event_kinds(sessions)
        return (kinds.get("new"), kinds.get("edited"), kinds.get("deleted")) == (7, 1, 1)

    await eventually(caught_up)
    assert await tombstoned(sessions) == [3]


async def gap_too_long(
    telegram: FakeTelegram, channel: FakeChannel, archiver: Archiver, *, missed: int
) -> None:
    """*missed* posts the archiver is not told of, then one it is: Telethon sees the gap, and
    Telegram answers its difference "too long" (it holds more than 3 updates)."""
    channel.difference_limit = 3
    for n in range(missed):
        telegram.post(channel, f"без связи {n}", push=False)
    telegram.post(channel, "снова на связи")

    async def told() -> bool:
        return CH in archiver.client.missed_channels

    await eventually(told)


async def test_posts_of_a_gap_telegram_calls_too_long_are_caught_up_at_once(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A long gap's difference is answered "too long": Telethon moves to the channel's newest
    state and hands over none of it. The archiver reads the channel within seconds, not at
    its next periodic pass."""
    archiver = await start()
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    telegram.post(channel, "первый")  # 1
    await eventually(lambda: has_posts(sessions, 1))
    await gap_too_long(telegram, channel, archiver, missed=5)  # 2-6, then 7
    assert await post_ids(sessions) == [1]
    await archiver._requests_round()  # the archiver's 10-second round
    assert await post_ids(sessions) == list(range(1, 8))
    assert archiver.client.missed_channels == set()


async def test_an_edit_of_an_older_post_in_a_gap_telegram_calls_too_long_is_found_soon(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A "too long" gap hides the edits of posts older than the latest ones re-read at once:
    the channel's whole archive is re-read at the next verify round (every half hour), not
    at its weekly one."""
    archiver = await start(reconcile_window=10)
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    telegram.post(channel, "первый")  # 1
    await eventually(lambda: has_posts(sessions, 1))
    await archiver.sync(CH)
    assert await archiver._verification_due() == set()  # the backfill read it all
    telegram.edit(channel, 1, "первый, исправлен", push=False)
    await gap_too_long(telegram, channel, archiver, missed=12)  # 2-13, then 14
    await archiver._requests_round()  # the newest posts: the ten latest re-read
    assert await post_ids(sessions) == list(range(1, 15))
    assert [v["text"] for v in await versions(sessions, CH, 1)] == ["первый"]  # not yet
    assert await archiver._verification_due() == {CH}
    await archiver._verify_round()
    assert [v["text"] for v in await versions(sessions, CH, 1)] == ["первый", "первый, исправлен"]
    assert await archiver._verification_due() == set()


async def test_a_pin_or_unpin_is_read_within_seconds(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Telegram pushes a channel's pins and unpins; which post it shows pinned is in its full
    info, which the archiver's next 10-second round reads then (the hourly info pass would
    tell the team an hour late). A channel not followed is not asked about."""
    telegram.post_many(channel, 5)
    other = telegram.channel(1999999999, "other_test", "Чужой канал")
    other.joined = True
    archiver = await start()
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    await archiver.sync(CH)

    async def pins() -> list[tuple[str | None, str | None]]:
        async with sessions() as session:
            changes = await channel_history(session, CH, ["pinned"])
        return [(change["old_value"], change["new_value"]) for change in changes]

    telegram.pin(channel, 4)
    await eventually(lambda: _has(archiver._changed))
    assert await pins() == []  # not before the round
    await archiver._requests_round()
    assert await pins() == [("", "4")]  # known to have none pinned before
    telegram.pin(channel, None)
    await eventually(lambda: _has(archiver._changed))
    telegram.tick(60)  # a minute on (a channel is read at most once a minute)
    await archiver._requests_round()
    assert await pins() == [("", "4"), ("4", "")]
    asked = telegram.count(functions.channels.GetFullChannelRequest)
    await archiver._requests_round()  # nothing pinned since
    telegram.pin(other, 1)  # the account is in it, but dozor does not follow it
    await eventually(lambda: _has(archiver._changed))
    await archiver._requests_round()
    assert telegram.count(functions.channels.GetFullChannelRequest) == asked


async def test_a_channel_renaming_itself_is_seen_within_seconds(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Telegram pushes `updateChannel` when a channel's info changes: the archiver's next
    10-second round reads it, rather than the hourly info pass."""
    archiver = await start()
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    telegram.rename(channel, "МВД КР (новое название)")
    await eventually(lambda: _has(archiver._changed))
    await archiver._requests_round()
    async with sessions() as session:
        (renamed,) = await channel_history(session, CH, ["title"])
    assert renamed["new_value"] == "МВД КР (новое название)"
    # A channel that keeps changing is read at most once a minute: the rest waits its turn.
    telegram.rename(channel, "МВД КР")
    await eventually(lambda: _has(archiver._changed))
    asked = telegram.count(functions.channels.GetFullChannelRequest)
    await archiver._requests_round()
    assert telegram.count(functions.channels.GetFullChannelRequest) == asked
    telegram.tick(60)
    await archiver._requests_round()
    assert telegram.count(functions.channels.GetFullChannelRequest) == asked + 1
    async with sessions() as session:
        assert len(await channel_history(session, CH, ["title"])) == 2


async def _has(items: set[int]) -> bool:
    return bool(items)


async def test_a_session_telegram_logs_out_stops_the_archiver_not_its_channels(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The account ends dozor's session from its phone: every request is refused (401).
    That is not each channel's fault, and asking on would only fill the log."""
    telegram.post_many(channel, 5)
    archiver = await start()
    await archiver.add("mvd_test")
    await archiver.sync(CH)
    telegram.authorized = False
    asked = len(telegram.requests)
    with pytest.raises(SessionLoggedOut) as logged_out:
        await archiver.sync(CH)
    assert str(logged_out.value) == (
        "Telegram logged dozor's session out (AUTH_KEY_UNREGISTERED): archiving has stopped; "
        "stop dozor, run `dozor login`, then start it again"
    )
    assert len(telegram.requests) == asked + 1  # the first refusal ends the pass
    assert await channel_status(sessions, CH) == "ok"
    async with sessions() as session:
        logout = await session_logout(session)
    assert logout is not None
    assert (logout.reason, logout.at, logout.told) == (
        "AUTH_KEY_UNREGISTERED",
        telegram.clock,
        False,
    )
    # Running, the archiver's rounds end rather than fail every few minutes.
    stop = asyncio.Event()
    with pytest.raises(SessionLoggedOut):
        await asyncio.wait_for(archiver.run_forever(stop), 10)
    assert not stop.is_set()


async def not_joined(sessions: async_sessionmaker[AsyncSession]) -> str | None:
    async with sessions() as session:
        (row,) = await channel_health(session)
    reason: str | None = row["not_joined"]
    return reason


async def test_a_channel_the_account_cannot_join_is_polled_and_said_so(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The account is in as many channels as Telegram allows: a followed channel it cannot
    join pushes no live updates. Its new posts are read every `unjoined_poll_seconds` (not
    only at the 15-minute re-read), `dozor status` says why, and joining is tried again
    every half hour; once it succeeds, posts come live and the polling stops."""
    telegram.post_many(channel, 3)
    telegram.join_refusal = errors.ChannelsTooMuchError
    archiver = await start(unjoined_poll_seconds=60)
    archiver.install_live_handlers()
    await archiver.add("mvd_test")
    assert (await archiver.sync(CH)).new == 3
    assert not channel.joined
    assert await not_joined(sessions) == (
        "the account is in as many channels and groups as Telegram allows (500, or 1,000 with "
        "Telegram Premium): leave some in the Telegram app, or give dozor an account of its "
        "own; its new posts are read every 60 s instead"
    )
    telegram.post(channel, "Задержан мигрант")  # not pushed: the account is not in it
    (polled,) = await archiver.poll_unjoined()
    assert (polled.channel_id, polled.new, await post_ids(sessions)) == (CH, 1, [1, 2, 3, 4])
    reads = telegram.count(History)
    assert await archiver.poll_unjoined() == []  # read a moment ago
    telegram.tick(60)
    assert [report.new for report in await archiver.poll_unjoined()] == [0]
    assert telegram.count(History) == reads + 1
    joins = telegram.count(functions.channels.JoinChannelRequest)
    await archiver.sync(CH)  # tried again after JOIN_RETRY, not at every pass
    assert telegram.count(functions.channels.JoinChannelRequest) == joins
    archiver = await start(unjoined_poll_seconds=60)  # nor at every cron run, or restart
    await archiver.sync(CH)
    assert telegram.count(functions.channels.JoinChannelRequest) == joins
    assert [report.channel_id for report in await archiver.poll_unjoined()] == [CH]
    assert await not_joined(sessions) is not None

    telegram.join_refusal = None  # the account left other channels
    telegram.tick(30 * 60)
    await archiver.sync(CH)
    assert (channel.joined, await not_joined(sessions)) == (True, None)
    telegram.tick(3600)
    assert await archiver.poll_unjoined() == []
    telegram.post(channel, "Пост пришёл сам")

    async def arrived() -> bool:
        return await post_ids(sessions) == [1, 2, 3, 4, 5]

    await eventually(arrived)


async def test_a_channel_left_in_the_app_is_joined_again(
    telegram: FakeTelegram,
    channel: FakeChannel,
    start: Any,
    sessions: async_sessionmaker[AsyncSession],
    slept: Slept,
) -> None:
    """Someone leaves a followed channel in the Telegram app: the next pass joins it again.
    A join Telegram puts off with a flood wait is retried once the wait is over, the channel
    polled meanwhile."""
    archiver = await start()
    await archiver.add("mvd_test")
    assert channel.joined
    channel.joined = False
    await archiver.sync(CH)
    assert (channel.joined, telegram.count(functions.channels.JoinChannelRequest)) == (True, 2)

    channel.joined = False
    telegram.flood(functions.channels.JoinChannelRequest, 3600)
    await archiver.sync(CH)
    assert await not_joined(sessions) == (
        "Telegram asked to wait 3600 s before the account joins more channels; its new posts "
        "are read every 120 s instead"
    )
    assert len(await archiver.poll_unjoined()) == 1
    joins = telegram.count(functions.channels.JoinChannelRequest)
    await slept(45 * 60)  # JOIN_RETRY has passed, the flood wait has not
    await archiver.sync(CH)
    assert telegram.count(functions.channels.JoinChannelRequest) == joins
    await slept(15 * 60)
    await archiver.sync(CH)
    assert (channel.joined, await not_joined(sessions)) == (True, None)


async def test_a_channel_lost_while_not_joined_is_not_polled(
    telegram: FakeTelegram, channel: FakeChannel, start: Any
) -> None:
    """Polling is for a channel the account can read but not join; one gone private waits
    for the passes, which find out when it is back."""
    telegram.join_refusal = errors.ChannelsTooMuchError
    archiver = await start()
    await archiver.add("mvd_test")
    channel.private = True
    assert (await archiver.sync(CH)).status == "private"
    assert await archiver.poll_unjoined() == []
    channel.private = False
    assert (await archiver.sync(CH)).status == "ok"
    assert [report.status for report in await archiver.poll_unjoined()] == ["ok"]
