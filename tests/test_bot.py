"""The team bot end to end: the real aiogram Bot and Dispatcher, polling over real HTTP a local
fake of the Bot API (tests/fakes/botapi.py), wired exactly as `dozor bot` wires it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import random
import re
import socket
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from bot.access import REFUSAL
from bot.handlers.errors import explain
from bot.handlers.fallback import PLAIN, STALE_BUTTON
from bot.service import TeamService
from dozor.cli.bot_cmd import notice_chats, team_service
from dozor.cli.main import main
from dozor.config import Config
from dozor.errors import ConfigError
from dozor.models import alerts, channel_requests, rules
from dozor.records import ChannelRecord, PostRecord, ShownCounters, Source
from dozor.rules.store import add_rule
from dozor.search import engine as search_engine
from dozor.storage import mark_deleted, store_posts, upsert_channel
from dozor.storage.facts import lost_chats, moved_chats
from dozor.storage.metrics import add_shown_counters
from dozor.storage.requests import finish_request
from dozor.storage.sync import set_channel_status, set_not_joined, set_tracked
from dozor.storage.unreadable import note_unreadable
from tests import pg
from tests.fakes.botapi import Call, FakeBotAPI, html_problem

CH = -1001525384822
ADMIN, MEMBER, OUTSIDER = 1001, 1002, 6666
TEAM_CHAT = -1009999
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def team_config(api: FakeBotAPI, database_url: str, work_dir: Path, **bot: Any) -> Config:
    return Config.model_validate(
        {
            "database": {"url": database_url},
            "bot": {
                "token": "123456:TEST-token",
                "admins": [ADMIN],
                "members": [MEMBER],
                "team_chat_id": TEAM_CHAT,
                "timezone": "Asia/Bishkek",
                "api_server": api.url,
                "work_dir": str(work_dir),
                **bot,
            },
        }
    )


@pytest.fixture
async def service(
    api: FakeBotAPI,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[TeamService]:
    """The running team service; stopped (and checked to stop cleanly) after the test."""
    running = await team_service(team_config(api, database_url, tmp_path), sessions)
    running.polling_timeout = 1
    running.requests_every = 0.1
    running.delivery.limiter.enabled = False
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    await api.wait_for("getupdates")
    yield running
    stop.set()
    async with asyncio.timeout(10):
        await task


async def archive(
    sessions: async_sessionmaker[AsyncSession], texts: list[str], *, first_id: int = 1
) -> None:
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        await upsert_channel(
            session,
            ChannelRecord(CH, "МВД Кыргызстана", "mvd_test"),
            observed_at=now,
            source=Source.LIVE,
        )
        await store_posts(
            session,
            [
                PostRecord(CH, first_id + i, now - timedelta(seconds=len(texts) - i), text=text)
                for i, text in enumerate(texts)
            ],
            source=Source.LIVE,
            observed_at=now,
        )


async def settle(seconds: float = 0.6) -> None:
    """Give the bot time to do what it should not (a second alert, a reply to an outsider)."""
    await asyncio.sleep(seconds)


async def test_outsiders_get_one_polite_refusal_and_nothing_else(
    api: FakeBotAPI,
    service: TeamService,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await archive(sessions, ["Задержан мигрант"])
    caplog.set_level(logging.WARNING, logger="bot.access")
    api.message(OUTSIDER, "/search мигрант")
    api.message(OUTSIDER, "/channels")
    api.message(OUTSIDER, "/help")
    api.message(OUTSIDER, "/search мигрант", chat_id=TEAM_CHAT, chat_type="supergroup")
    (refusal,) = await api.wait_for(chat_id=OUTSIDER)
    await settle()
    assert refusal.text == REFUSAL
    assert api.sent(chat_id=OUTSIDER) == [refusal]
    assert api.sent(chat_id=TEAM_CHAT) == []
    assert sum(f"refused user {OUTSIDER}" in r.getMessage() for r in caplog.records) == 4


async def test_a_member_in_a_foreign_group_is_not_answered(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, ["Задержан мигрант"])
    api.message(MEMBER, "/search мигрант", chat_id=-100555, chat_type="supergroup")
    api.message(MEMBER, "/search мигрант", chat_id=TEAM_CHAT, chat_type="supergroup")
    (answer,) = await api.wait_for(chat_id=TEAM_CHAT)
    await settle()
    assert "1 result · page 1/1" in answer.text
    assert api.tried(chat_id=-100555) == []


async def test_admin_only_commands_are_refused_for_members(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api.message(MEMBER, "/addchannel @mediamvd")
    api.message(MEMBER, "/teamrules add мигрант")
    answers = await api.wait_for(chat_id=MEMBER, count=2)
    assert all("Only admins" in a.text for a in answers)
    api.message(ADMIN, "/addchannel @mediamvd @@@")  # one bad name: none is asked for
    (refused,) = await api.wait_for(chat_id=ADMIN)
    assert "'@@@' is not a channel username, t.me link or id" in refused.text
    api.message(ADMIN, "/addchannel @mediamvd")
    _, answer = await api.wait_for(chat_id=ADMIN, count=2)
    assert "Asked the archiver to follow @mediamvd" in answer.text
    async with sessions() as session:
        refs = (await session.execute(select(channel_requests.c.ref))).scalars().all()
    assert refs == ["@mediamvd"]
    api.message(ADMIN, "/status")
    *_, status = await api.wait_for(chat_id=ADMIN, count=3)
    assert status.text.splitlines()[-1] == "1 channel request(s) waiting for the archiver"


async def test_channel_requests_are_reported_back_once_carried_out(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api.message(ADMIN, "/addchannel @mediamvd https://t.me/nosuch")
    await api.wait_for(chat_id=ADMIN)
    async with sessions.begin() as session:
        ids = (await session.execute(select(channel_requests.c.id))).scalars().all()
        now = datetime.now(UTC)
        await finish_request(session, ids[0], ok=True, detail="МВД России", now=now, channel_id=CH)
        await finish_request(session, ids[1], ok=False, detail="no such channel", now=now)
    _, done, failed = await api.wait_for(chat_id=ADMIN, count=3)
    await settle()
    assert "Now archiving МВД России" in done.text
    assert "Could not follow https://t.me/nosuch: no such channel" in failed.text
    assert len(api.sent(chat_id=ADMIN)) == 3


async def test_the_team_group_upgraded_to_a_supergroup_is_followed(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The team group becomes a supergroup while the bot runs: Telegram refuses its old id.
    The notice goes to the new id, and the team's commands are answered there at once."""
    supergroup = -1001009999
    api.moved[TEAM_CHAT] = supergroup
    await archive(sessions, ["Первый пост"])
    async with sessions.begin() as session:
        renamed = ChannelRecord(CH, "МВД КР", "mvd_test")
        await upsert_channel(session, renamed, observed_at=datetime.now(UTC), source=Source.LIVE)
    (notice,) = await api.wait_for(chat_id=supergroup, seconds=8)
    assert "Channel renamed" in notice.params["text"]
    assert service.notice_chats == (supergroup,)
    api.message(MEMBER, "/channels", chat_id=supergroup, chat_type="supergroup")
    (_, answer) = await api.wait_for(chat_id=supergroup, count=2, seconds=8)
    assert "МВД КР" in answer.params["text"]
    async with sessions() as session:
        assert await moved_chats(session) == {TEAM_CHAT: supergroup}
    api.message(ADMIN, "/teamrules add мигрант")  # a team rule alerts the supergroup
    await api.wait_for(chat_id=ADMIN, seconds=8)
    async with sessions() as session:
        rule_chats = (await session.execute(select(rules.c.chat_id))).scalars().all()
    assert rule_chats == [supergroup]


async def test_the_team_hears_once_when_a_channel_renames_itself(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, ["Первый пост"])  # a channel seen for the first time: no notice
    async with sessions.begin() as session:  # nor for its description, seen for the first time
        described = ChannelRecord(CH, "МВД Кыргызстана", "mvd_test", about="Старое описание")
        await upsert_channel(session, described, observed_at=datetime.now(UTC), source=Source.LIVE)
    api.fail("sendmessage", (429, 1))
    async with sessions.begin() as session:
        changed = ChannelRecord(
            CH, "МВД <КР> & Ко", "mvd_kg", about="Новое описание", subscribers=9
        )
        await upsert_channel(session, changed, observed_at=datetime.now(UTC), source=Source.LIVE)
        imported = ChannelRecord(CH, "Название из экспорта")  # brought in by whoever imported
        await upsert_channel(session, imported, observed_at=datetime.now(UTC), source=Source.IMPORT)
    title, username, about = await api.wait_for(chat_id=TEAM_CHAT, count=3, seconds=8)
    await settle(1.0)
    assert len(api.sent(chat_id=TEAM_CHAT)) == 3  # once each, the 429 waited out
    assert api.tried(chat_id=TEAM_CHAT)[0].status == 429
    html = [notice.params["text"] for notice in (title, username, about)]
    assert "Channel renamed: <s>МВД Кыргызстана</s> → <b>МВД &lt;КР&gt; &amp; Ко</b>" in html[0]
    assert "changed its username: @mvd_test → @mvd_kg" in html[1]
    assert "changed its description" in html[2] and "<s>Старое</s><u><b>Новое</b></u>" in html[2]
    assert all(html_problem(text) is None for text in html)
    assert api.sent(chat_id=ADMIN) == []  # the team chat is where notices go


async def test_the_team_hears_when_telegram_labels_a_channel_anew(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A label seen with the channel the first time is no news; one Telegram adds later is."""
    await archive(sessions, ["Первый пост"])
    for labels in ("verified", "verified, scam, restricted (all: <terms>)"):
        async with sessions.begin() as session:
            record = ChannelRecord(CH, "МВД Кыргызстана", "mvd_test", labels=labels)
            await upsert_channel(session, record, observed_at=datetime.now(UTC), source=Source.LIVE)
    (notice,) = await api.wait_for(chat_id=TEAM_CHAT, seconds=8)
    await settle(1.0)
    assert len(api.sent(chat_id=TEAM_CHAT)) == 1
    text = notice.params["text"]
    assert text.startswith(
        '🏷 Telegram changed its labels on <b>МВД Кыргызстана</b> (<a href="https://t.me/'
        'mvd_test">@mvd_test</a>): verified → <b>verified, scam, restricted (all: &lt;terms&gt;)'
        "</b>"
    )
    assert html_problem(text) is None


async def test_the_team_hears_what_a_channel_pins_and_unpins(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Nothing pinned at the first sight is no news; a pin, a second pin and an unpin are,
    each with the post's archived text (a post older than the archive has none to show)."""
    await archive(sessions, ["Первый пост", "Важно: <телефон доверия> 102"])
    for pinned in ("", "2", "99", "2", ""):
        async with sessions.begin() as session:
            record = ChannelRecord(CH, "МВД Кыргызстана", "mvd_test", pinned=pinned)
            await upsert_channel(session, record, observed_at=datetime.now(UTC), source=Source.LIVE)
    notices = await api.wait_for(chat_id=TEAM_CHAT, count=4, seconds=8)
    await settle(1.0)
    assert len(api.sent(chat_id=TEAM_CHAT)) == 4
    texts = [notice.params["text"] for notice in notices]
    name = '<b>МВД Кыргызстана</b> (<a href="https://t.me/mvd_test">@mvd_test</a>)'
    post = '<a href="https://t.me/mvd_test/{0}">#{0}</a>'.format
    assert texts[0].startswith(
        f"📌 {name} pinned post {post(2)}\nВажно: &lt;телефон доверия&gt; 102\n<i>seen "
    )
    assert texts[1].startswith(f"📌 {name} now shows post {post(99)} pinned (before: {post(2)})")
    assert "\n<i>seen " in texts[1] and "Важно" not in texts[1]  # #99 is not archived
    assert texts[2].startswith(f"📌 {name} now shows post {post(2)} pinned (before: {post(99)})")
    assert texts[3].startswith(f"📌 {name} unpinned post {post(2)}: nothing is pinned now\nВажно")
    assert all(html_problem(text) is None for text in texts)
    async with sessions.begin() as session:  # and Telegram's apps hide it on iOS
        hidden = PostRecord(
            CH, 2, datetime.now(UTC), text="Важно: <телефон доверия> 102",
            restriction="restricted (ios: <porn>)",
        )  # fmt: skip
        await store_posts(session, [hidden], source=Source.LIVE, observed_at=datetime.now(UTC))
    api.message(MEMBER, "/post mvd_test/2")  # the post's own history tells both spans
    (answer,) = await api.wait_for(chat_id=MEMBER, seconds=8)
    lines = answer.params["text"].splitlines()
    spans = [line for line in lines if line.startswith("📌")]
    assert len(spans) == 2 and all(" to " in span for span in spans)
    assert "🚫 hidden by Telegram's apps: restricted (ios: &lt;porn&gt;)" in lines


async def test_changes_lists_how_a_channel_changed(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """/changes CHANNEL: the latest changes the team is told of, oldest first, worded as the
    notices were; first sights, subscriber counts and imports are left out."""
    await archive(sessions, ["Первый пост", "Важно: телефон доверия 102"])
    api.message(MEMBER, "/changes mvd_test")
    (none,) = await api.wait_for(chat_id=MEMBER, seconds=8)
    assert none.params["text"].startswith("No changes of <b>МВД Кыргызстана</b> seen yet.")
    records = [
        ChannelRecord(CH, "МВД Кыргызстана", "mvd_test", about="Пресс-служба", pinned=""),
        ChannelRecord(CH, "МВД КР", "mvd_test", subscribers=5, pinned="2"),
        ChannelRecord(CH, "МВД КР", "mvd_test", subscribers=9, labels="scam"),
    ]
    for record in records:
        async with sessions.begin() as session:
            await upsert_channel(session, record, observed_at=datetime.now(UTC), source=Source.LIVE)
    async with sessions.begin() as session:
        imported = ChannelRecord(CH, "Название из экспорта")
        await upsert_channel(session, imported, observed_at=datetime.now(UTC), source=Source.IMPORT)
    api.message(MEMBER, "/changes @mvd_test")
    api.message(MEMBER, "/changes nosuch")
    api.message(MEMBER, "/changes")
    answers = await api.wait_for(chat_id=MEMBER, count=4, seconds=8)
    text, _, usage, unknown = sorted(call.params["text"] for call in answers)  # <b> No Usage ⚠️
    assert text.startswith("<b>Название из экспорта</b>: the latest 2 changes, oldest first\n\n")
    renamed, pinned = text.split("\n\n")[1:]
    assert renamed.startswith("🏷 Channel renamed: <s>МВД Кыргызстана</s> → <b>МВД КР</b>")
    assert pinned.startswith("📌 <b>Название из экспорта</b>")
    assert "pinned post" in pinned and "Важно: телефон доверия 102" in pinned
    assert html_problem(text) is None
    assert unknown.startswith("⚠️ no archived channel matches 'nosuch'")
    assert usage.startswith("Usage: /changes <i>channel</i>")


async def test_events_lists_the_latest_edits_and_deletions_of_posts(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """/events [CHANNEL]: edits with their words, deletions with their text, a purge post by
    post, newest first; HTML as Telegram parses it."""
    api.message(MEMBER, "/events")
    (none,) = await api.wait_for(chat_id=MEMBER, seconds=8)
    assert none.params["text"] == "No edits, deletions or restrictions of posts archived yet."
    await archive(sessions, ["Задержаны <трое> граждан", "Второй пост", "Третий", "Четвёртый"])
    edited = datetime.now(UTC)
    async with sessions.begin() as session:
        changed = PostRecord(CH, 1, edited, text="Задержаны <двое> граждан", edit_date=edited)
        await store_posts(session, [changed], source=Source.LIVE, observed_at=edited)
    async with sessions.begin() as session:
        await mark_deleted(session, CH, [2], source=Source.LIVE, observed_at=datetime.now(UTC))
    async with sessions.begin() as session:
        await mark_deleted(
            session,
            CH,
            [3, 4],
            source=Source.LIVE,
            observed_at=datetime.now(UTC),
            summarize_from=2,
        )
    api.message(MEMBER, "/events mvd_test")
    api.message(MEMBER, "/events")
    api.message(MEMBER, "/events nosuch")
    answers = await api.wait_for(chat_id=MEMBER, count=4, seconds=8)
    one, every, unknown = sorted(call.params["text"] for call in answers[1:])  # " of" < ","
    post = '<a href="https://t.me/mvd_test/{0}">#{0}</a>'.format
    blocks = one.split("\n\n")
    assert blocks[0] == "<b>Latest edits and deletions</b> of <b>МВД Кыргызстана</b>, newest first"
    assert [block.split(" · ")[0] for block in blocks[1:]] == [
        f"🗑 deleted {post(4)}",
        f"🗑 deleted {post(3)}",
        f"🗑 deleted {post(2)}",
        f"✏️ edited {post(1)}",
    ]
    assert blocks[1].endswith(" · one of 2 deleted at once\nЧетвёртый")
    assert blocks[3].endswith("\nВторой пост") and "at once" not in blocks[3]
    assert blocks[4].endswith("\nЗадержаны <s>&lt;трое&gt;</s><u><b>&lt;двое&gt;</b></u> граждан")
    assert every.splitlines()[0] == "<b>Latest edits and deletions</b>, newest first"
    assert f"🗑 deleted {post(4)} · <b>МВД Кыргызстана</b> · " in every  # channels named
    assert all(html_problem(text) is None for text in (one, every))
    assert unknown.startswith("⚠️ no archived channel matches 'nosuch'")


async def test_the_team_hears_when_a_channel_is_lost_regained_and_purged(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, ["Первый пост", "Второй пост", "Третий пост"])
    for status in ("banned", "error", "ok"):  # a passing fault between is no news
        async with sessions.begin() as session:
            await set_channel_status(
                session, CH, status, "<Telegram's words>", at=datetime.now(UTC)
            )
    async with sessions.begin() as session:  # a purge, whatever the rules watch
        await mark_deleted(
            session,
            CH,
            [1, 2, 3],
            source=Source.LIVE,
            observed_at=datetime.now(UTC),
            summarize_from=3,
        )
    lost, back, purge = await api.wait_for(chat_id=TEAM_CHAT, count=3, seconds=8)
    await settle(1.0)
    assert len(api.sent(chat_id=TEAM_CHAT)) == 3
    assert purge.params["text"].startswith(
        '🗑 <b>МВД Кыргызстана</b> (<a href="https://t.me/mvd_test">@mvd_test</a>) deleted '
        "3 posts, #1 to #3 at once. dozor keeps them: <code>is:deleted</code> finds them."
    )
    assert lost.params["text"].startswith(
        '⛔ <b>МВД Кыргызстана</b> (<a href="https://t.me/mvd_test">@mvd_test</a>) can no '
        "longer be read: Telegram banned it, or banned the account in it. Its archive is kept"
    )
    assert back.params["text"].startswith("✅ <b>МВД Кыргызстана</b> (")
    assert "can be read again" in back.params["text"]
    assert all(html_problem(call.params["text"]) is None for call in (lost, back, purge))


async def test_the_team_hears_once_of_posts_the_archiver_cannot_read(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """No rule can alert on a post dozor cannot read: the team is told, once."""
    await archive(sessions, ["Первый пост"])
    api.fail("sendmessage", (429, 1))  # busy at first: told on a later round
    why = "Telethon 1.45.0 (layer 229) does not know its type 1badf00d: upgrade dozor"
    async with sessions.begin() as session:
        reasons = dict.fromkeys(range(5, 17), why)
        await note_unreadable(session, CH, reasons, read_by="dozor", now=datetime.now(UTC))
    (notice,) = await api.wait_for(chat_id=TEAM_CHAT, seconds=8)
    await settle(1.0)
    assert len(api.sent(chat_id=TEAM_CHAT)) == 1
    text = notice.params["text"]
    assert "<b>МВД Кыргызстана</b>" in text
    assert (
        "12 posts of a kind this dozor cannot read yet (#5, #6, #7, #8, #9, #10, #11, #12, #13, "
        "#14 and 2 more). Alert rules cannot check them until dozor is upgraded" in text
    )
    assert html_problem(text) is None
    async with sessions.begin() as session:  # one more, later: told on its own
        await note_unreadable(session, CH, {40: why}, read_by="dozor", now=datetime.now(UTC))
    _, single = await api.wait_for(chat_id=TEAM_CHAT, count=2, seconds=8)
    assert "a post of a kind this dozor cannot read yet (#40)" in single.params["text"]


def test_channel_notices_go_to_the_team_chat_else_the_admins_unless_off(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    def chats(**bot: Any) -> tuple[int, ...]:
        return notice_chats(team_config(api, "sqlite+aiosqlite://", tmp_path, **bot))

    assert chats() == (TEAM_CHAT,)
    assert chats(team_chat_id=None, admins=[ADMIN, 1003]) == (ADMIN, 1003)
    assert chats(channel_notices=False) == ()


async def test_subscribe_then_an_archive_event_gives_exactly_one_alert(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api.message(MEMBER, "/subscribe мигрант")
    (card,) = await api.wait_for(chat_id=MEMBER)
    assert "Subscribed" in card.text
    buttons = [
        b["callback_data"] for row in card.result["reply_markup"]["inline_keyboard"] for b in row
    ]
    assert any(data.endswith(":ev:deleted") for data in buttons)
    await archive(sessions, ["В Бишкеке задержаны мигранты <b>", "Погода в Оше"])
    _, alert = await api.wait_for(chat_id=MEMBER, count=2)
    await settle()
    assert len(api.sent(chat_id=MEMBER)) == 2
    assert "<b>мигранты</b>" in alert.params["text"]
    assert "&lt;b&gt;" in alert.params["text"]
    assert html_problem(alert.params["text"]) is None
    async with sessions() as session:
        statuses = (await session.execute(select(alerts.c.status))).scalars().all()
    assert statuses == ["sent"]


async def test_rule_buttons_pause_change_mode_and_delete(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api.message(MEMBER, "/subscribe задержан")
    (card,) = await api.wait_for(chat_id=MEMBER)
    rule_id = card.text.split("#", 1)[1].split()[0]
    for number, action in enumerate(("pause", "mode:digest_daily", "ev:new"), start=1):
        api.callback(MEMBER, f"r:{rule_id}:{action}", card.result)
        edits = await api.wait_for("editmessagetext", chat_id=MEMBER, count=number)
    assert "paused" in edits[0].text
    assert "daily digest" in edits[1].text
    assert "events: edited" in edits[2].text
    async with sessions() as session:
        row = (await session.execute(select(rules))).one()
    assert (row.status, row.mode, row.events) == ("paused", "digest_daily", "edited")
    api.message(MEMBER, "/rules")
    _, listing = await api.wait_for(chat_id=MEMBER, count=2)
    assert f"#{rule_id} задержан" in listing.text
    # the listing's ⚙ button opens the card; its "« all rules" goes back to the listing
    api.callback(MEMBER, f"r:{rule_id}:show", listing.result)
    opened = (await api.wait_for("editmessagetext", chat_id=MEMBER, count=4))[-1]
    assert f"#{rule_id} задержан" in opened.text
    back = opened.params["reply_markup"]["inline_keyboard"][-1][-1]
    assert back["callback_data"] == "rl:mine"
    api.callback(MEMBER, "rl:mine", listing.result)
    relisted = (await api.wait_for("editmessagetext", chat_id=MEMBER, count=5))[-1]
    assert "Tap a rule to change it." in relisted.text
    api.callback(MEMBER, f"r:{rule_id}:ev:edited", card.result)  # its only event left
    api.callback(MEMBER, "rl:team", card.result)  # members do not manage team rules
    popups = await api.wait_for("answercallbackquery", count=7)
    notes = {call.params.get("text", "") for call in popups[-2:]}  # updates run concurrently
    assert notes == {"A rule needs at least one kind of event.", "Only admins manage team rules."}
    api.message(MEMBER, f"/unsubscribe {rule_id}")
    _, _, gone = await api.wait_for(chat_id=MEMBER, count=3)
    assert "deleted" in gone.text
    async with sessions() as session:
        assert (await session.execute(select(rules.c.status))).scalar_one() == "removed"


async def test_a_button_no_handler_knows_is_answered(api: FakeBotAPI, service: TeamService) -> None:
    """A button an older dozor sent, or data a client made up: the press is answered (the
    user's app stops waiting) and says what to do."""
    api.message(MEMBER, "/subscribe задержан")
    (card,) = await api.wait_for(chat_id=MEMBER)
    for data in ("old:button", ":::"):
        api.callback(MEMBER, data, card.result)
    answers = await api.wait_for("answercallbackquery", count=2)
    assert [a.params["text"] for a in answers] == [STALE_BUTTON] * 2
    assert len(api.sent("sendmessage", MEMBER)) == 1  # nothing else happened


async def test_a_database_that_refuses_writes_is_told_not_apologised_for(
    api: FakeBotAPI, service: TeamService, engine: AsyncEngine, database_url: str
) -> None:
    """The archive's database turns read-only under the running bot (a standby, a disk
    remounted read-only): a button and a command say what failed."""
    api.message(MEMBER, "/subscribe задержан")
    (card,) = await api.wait_for(chat_id=MEMBER)
    rule_id = card.text.split("#", 1)[1].split()[0]
    await _refuse_writes(engine, database_url)

    api.callback(MEMBER, f"r:{rule_id}:pause", card.result)
    (answer,) = await api.wait_for("answercallbackquery")
    assert answer.params["text"].startswith("⚠️ the database failed: ")
    assert "read-only" in answer.params["text"]
    api.message(MEMBER, "/subscribe мигрант")
    _, reply = await api.wait_for(chat_id=MEMBER, count=2)
    assert reply.text.startswith("⚠️ dozor cannot do that now: the database failed: ")
    assert reply.text.endswith("Please try again later.")


async def _refuse_writes(engine: AsyncEngine, database_url: str) -> None:
    """Connections opened from now on may only read; the open ones are closed."""
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _query_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA query_only = 1")
            cursor.close()

    else:
        await pg.set_read_only(database_url, True)
    await engine.dispose()


async def test_nobody_changes_someone_elses_rule(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api.message(ADMIN, "/subscribe задержан")
    (card,) = await api.wait_for(chat_id=ADMIN)
    rule_id = card.text.split("#", 1)[1].split()[0]
    api.message(MEMBER, f"/unsubscribe {rule_id}")
    api.callback(MEMBER, f"r:{rule_id}:del", card.result)
    (answer,) = await api.wait_for(chat_id=MEMBER)
    (popup,) = await api.wait_for("answercallbackquery")
    assert f"you have no rule #{rule_id}" in answer.text
    assert f"you have no rule #{rule_id}" in popup.params["text"]
    async with sessions() as session:
        assert (await session.execute(select(rules.c.status))).scalar_one() == "active"


async def test_team_rules_post_to_the_team_chat(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api.message(ADMIN, "/teamrules add мигрант")
    (card,) = await api.wait_for(chat_id=ADMIN)
    assert "Team rule added" in card.text
    await archive(sessions, ["Мигрантов проверили"])
    (alert,) = await api.wait_for(chat_id=TEAM_CHAT)
    assert "<b>Мигрантов</b>" in alert.params["text"]


async def test_a_team_chat_that_removed_the_bot_pauses_then_resumes_its_rules(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Someone removes the bot from the team group: the team rules are paused (Telegram
    refuses every alert there), and before, nobody heard of it and they stayed paused for
    good. The admins are told once; adding the bot back resumes them."""
    api.message(ADMIN, "/teamrules add мигрант")
    await api.wait_for(chat_id=ADMIN)
    api.blocked.add(TEAM_CHAT)
    await archive(sessions, ["Мигрантов проверили"])
    (_, notice) = await api.wait_for(chat_id=ADMIN, count=2, seconds=8)
    assert notice.params["text"] == (
        f"⚠️ Chat <code>{TEAM_CHAT}</code> removed or blocked the bot (Telegram: Forbidden: "
        "bot was blocked by the user). Its 1 alert rule is paused and 1 queued alert was "
        "dropped. Add the bot back there and the rules resume by themselves."
    )
    await settle(1.0)
    assert len(api.sent(chat_id=ADMIN)) == 2  # told once
    assert api.sent(chat_id=MEMBER) == []  # members are not admins
    api.blocked.discard(TEAM_CHAT)
    api.bot_membership(ADMIN, TEAM_CHAT, "member")
    (back,) = await api.wait_for(chat_id=TEAM_CHAT, seconds=8)
    assert back.params["text"] == "▶ The bot is back: 1 alert rule is active here again."
    await archive(sessions, ["Мигранты снова"], first_id=2)
    (_, alert) = await api.wait_for(chat_id=TEAM_CHAT, count=2, seconds=8)
    assert "<b>Мигранты</b>" in alert.params["text"]
    async with sessions() as session:
        assert await lost_chats(session) == []


async def test_the_admins_hear_at_once_when_the_team_group_removes_the_bot(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Telegram tells the bot it was removed: the admins hear of it then, not at the next
    alert, and the team's notices are not lost meanwhile. Anyone may remove it (no role)."""
    api.message(ADMIN, "/teamrules add мигрант")
    await api.wait_for(chat_id=ADMIN)
    api.bot_membership(OUTSIDER, TEAM_CHAT, "left")
    (_, notice) = await api.wait_for(chat_id=ADMIN, count=2, seconds=8)
    assert "removed or blocked the bot (Telegram: the bot was removed)" in notice.params["text"]
    assert "Its 1 alert rule is paused and 0 queued alerts were dropped" in notice.params["text"]
    async with sessions() as session:
        assert (await session.execute(select(rules.c.status))).scalar_one() == "paused"
    api.bot_membership(OUTSIDER, -100777, "left")  # a chat of no rule: nothing to tell
    api.bot_membership(ADMIN, TEAM_CHAT, "member")
    await api.wait_for(chat_id=TEAM_CHAT, seconds=8)
    await settle()
    assert len(api.sent(chat_id=ADMIN)) == 2
    async with sessions() as session:
        assert (await session.execute(select(rules.c.status))).scalar_one() == "active"


async def test_a_notice_the_team_chat_refuses_tells_the_admins(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The bot was removed from the team group while dozor was down (no word of it came):
    the first notice refused there tells the admins, once."""
    await archive(sessions, ["Первый пост"])
    api.blocked.add(TEAM_CHAT)
    async with sessions.begin() as session:
        renamed = ChannelRecord(CH, "МВД КР", "mvd_test")
        await upsert_channel(session, renamed, observed_at=datetime.now(UTC), source=Source.LIVE)
        renamed = ChannelRecord(CH, "МВД КР", "mvd_kr")
        await upsert_channel(session, renamed, observed_at=datetime.now(UTC), source=Source.LIVE)
    (notice,) = await api.wait_for(chat_id=ADMIN, seconds=8)
    assert notice.params["text"] == (
        f"⚠️ Chat <code>{TEAM_CHAT}</code> removed or blocked the bot (Telegram: Forbidden: "
        "bot was blocked by the user). Nothing reaches it until the bot is added back."
    )
    await settle(1.0)
    assert len(api.sent(chat_id=ADMIN)) == 1
    assert len(api.tried(chat_id=TEAM_CHAT)) == 2  # both notices tried, one report


async def test_events_pages_go_back_in_time_in_the_same_message(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Twenty deletions: the newest fifteen, then "Older ▶" shows the other five in the
    same message, and "⏮ Newest" the first page again."""
    await archive(sessions, [f"Сообщение {n}" for n in range(1, 21)])
    for number in range(1, 21):  # one at a time: the last deleted is the newest change
        async with sessions.begin() as session:
            await mark_deleted(
                session, CH, [number], source=Source.LIVE, observed_at=datetime.now(UTC)
            )
    api.message(MEMBER, "/events mvd_test")
    (first,) = await api.wait_for(chat_id=MEMBER)
    shown = re.findall(r"#(\d+)</a>", first.params["text"])
    assert shown == [str(n) for n in range(20, 5, -1)]
    buttons = first.params["reply_markup"]["inline_keyboard"][0]
    channel_id = str(CH)
    assert [(b["text"], b["callback_data"]) for b in buttons] == [
        ("Older ▶", f"ev:{channel_id}:15")
    ]
    api.callback(MEMBER, f"ev:{channel_id}:15", first.result)
    (older,) = await api.wait_for("editmessagetext", chat_id=MEMBER)
    assert older.params["message_id"] == str(first.result["message_id"])
    assert older.text.startswith("Edits and deletions of МВД Кыргызстана after the newest 15")
    assert re.findall(r"#(\d+)</a>", older.params["text"]) == ["5", "4", "3", "2", "1"]
    buttons = older.params["reply_markup"]["inline_keyboard"][0]
    assert [(b["text"], b["callback_data"]) for b in buttons] == [
        ("⏮ Newest", f"ev:{channel_id}:0")
    ]
    api.callback(MEMBER, f"ev:{channel_id}:0", first.result)
    _, newest = await api.wait_for("editmessagetext", chat_id=MEMBER, count=2)
    assert re.findall(r"#(\d+)</a>", newest.params["text"]) == shown
    api.callback(MEMBER, "ev:0:20", first.result)  # every channel, past the last change
    _, _, none = await api.wait_for("editmessagetext", chat_id=MEMBER, count=3)
    assert none.params["text"] == "No older edits, deletions or restrictions of posts."
    back = none.params["reply_markup"]["inline_keyboard"][0]
    assert [(b["text"], b["callback_data"]) for b in back] == [("⏮ Newest", "ev:0:0")]


async def test_search_pages_edit_the_same_message(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, [f"Сообщение {i}: задержан мигрант" for i in range(12)])
    api.message(MEMBER, "/search мигрант\nзадержан")  # pages re-read the query's one line
    (first,) = await api.wait_for(chat_id=MEMBER)
    assert first.text.startswith("🔎 Search: мигрант задержан\n")
    assert "12 results · page 1/3" in first.text
    assert "Сообщение 11" in first.text  # newest first
    assert [b["text"] for b in first.params["reply_markup"]["inline_keyboard"][0]] == ["▶"]
    api.callback(MEMBER, "sp:3", first.result)
    (last,) = await api.wait_for("editmessagetext", chat_id=MEMBER)
    assert last.params["message_id"] == str(first.result["message_id"])
    assert "page 3/3" in last.text
    assert "Сообщение 0" in last.text
    assert [b["text"] for b in last.params["reply_markup"]["inline_keyboard"][0]] == ["◀"]
    assert await api.wait_for("answercallbackquery")
    api.callback(MEMBER, "sp:3", first.result)  # pressed again: Telegram refuses the same edit
    _, again = await api.wait_for("answercallbackquery", count=2)
    assert "went wrong" not in again.params.get("text", "")
    assert api.tried("editmessagetext", MEMBER)[-1].status == 400  # "message is not modified"


async def test_a_search_checked_post_by_post_pages_on_and_says_what_it_checked(
    api: FakeBotAPI,
    service: TeamService,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A regex is checked post by post: the total is a lower bound, the next page is offered,
    and a search stopped at MAX_SCAN says so rather than "No posts match"."""
    await archive(sessions, [f"Сообщение {i}: задержан мигрант" for i in range(12)])
    monkeypatch.setattr(search_engine, "SCAN_PAGE", 2)
    monkeypatch.setattr(search_engine, "SCAN_COUNT_BUDGET", 6)
    api.message(MEMBER, r"/search /задерж\w+/")
    (first,) = await api.wait_for(chat_id=MEMBER)
    assert "at least 6 results · page 1/2" in first.text
    assert [b["text"] for b in first.params["reply_markup"]["inline_keyboard"][0]] == ["▶"]
    monkeypatch.setattr(search_engine, "MAX_SCAN", 4)
    api.message(MEMBER, "/search /Сообщение 0:/")
    _, cut = await api.wait_for(chat_id=MEMBER, count=2)
    assert cut.text.splitlines()[1:] == [
        "No posts match.",
        "only the first 4 candidate posts were checked (this query is checked post by post): "
        "add a word, channel:, after: or before: to reach the rest",
    ]


async def test_post_shows_the_versions_deletion_and_views_of_one_post(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, ["Задержаны двое граждан", "Второй пост"])
    first = datetime.now(UTC)
    async with sessions.begin() as session:
        for number in range(1, 41):  # 40 edits, each seen with more views
            edited = PostRecord(
                CH,
                1,
                first - timedelta(seconds=2),
                text=f"Задержаны {number + 2} граждан Кыргызстана " + "подробности " * 40,
                edit_date=first + timedelta(minutes=number),
                views=100 * number,
            )
            seen = first + timedelta(minutes=number, seconds=5)
            await store_posts(session, [edited], source=Source.LIVE, observed_at=seen)
        await mark_deleted(
            session, CH, [1], observed_at=first + timedelta(hours=1), source=Source.LIVE
        )
        # a saved page from before the archiver, showing "1.2K"
        await add_shown_counters(session, CH, {1: ShownCounters(1_200, None, True)}, first)
    api.message(MEMBER, "/post https://t.me/mvd_test/1")
    (shown,) = await api.wait_for(chat_id=MEMBER)
    assert shown.status == 200 and len(shown.text) <= 4096
    lines = shown.text.splitlines()
    assert lines[0] == "📜 МВД Кыргызстана · post 1"
    assert lines[2].startswith("🗑 deleted on Telegram, seen ")
    assert lines[3] == "👁 ≈1,200 → 4,000 views (41 samples)"
    assert "v1 · seen " in shown.text and "Задержаны двое граждан" in shown.text
    assert "<s>3</s><u><b>4</b></u>" in shown.params["text"]  # v3 → v4: the number changed
    assert "more versions: dozor post https://t.me/mvd_test/1" in lines[-1]
    async with sessions.begin() as session:  # a saved page shows it edited, with no time
        page = PostRecord(CH, 2, first, text="Второй пост, исправлен", edit_time_unknown=True)
        await store_posts(session, [page], source=Source.IMPORT, observed_at=first)
    api.message(MEMBER, "/post mvd_test 2")
    _, second = await api.wait_for(chat_id=MEMBER, count=2)
    assert "v1 · seen " in second.text and "Второй пост" in second.text
    assert "v2 · seen " in second.text and " · edited (time unknown)" in second.text
    assert "deleted" not in second.text
    async with sessions.begin() as session:
        report = {"type": "document", "id": "7", "file_name": "отчет 2023.pdf", "size": 4096}
        get = [[{"type": "url", "text": "Скачать <pdf>", "url": "https://mvd.kg/r.pdf"}]]
        document = PostRecord(CH, 3, first, text="", media=report, buttons=get)
        await store_posts(session, [document], source=Source.LIVE, observed_at=first)
        report = {**report, "id": "8", "file_name": "отчет <2024>.pdf"}  # the file replaced
        document = replace(document, media=report, edit_date=first + timedelta(minutes=1))
        await store_posts(session, [document], source=Source.LIVE, observed_at=first)
        timed = [PostRecord(CH, n, first, text="Исчезнет", expires_at=first) for n in (4, 5)]
        await store_posts(session, timed, source=Source.LIVE, observed_at=first)
        await mark_deleted(session, CH, [4], observed_at=first, source=Source.LIVE)
    api.message(MEMBER, "/post mvd_test 3")
    *_, third = await api.wait_for(chat_id=MEMBER, count=3)
    assert third.text.splitlines()[2] == "📎 file отчет <2024>.pdf · 4.0 KB"  # escaped, shown
    assert third.text.splitlines()[3] == "🔘 Скачать <pdf> → https://mvd.kg/r.pdf"
    assert third.text.splitlines()[-2:] == [
        "text unchanged",
        "• attachment replaced: file отчет 2023.pdf · 4.0 KB → file отчет <2024>.pdf · 4.0 KB",
    ]
    api.message(MEMBER, "/post mvd_test 4")
    *_, expired = await api.wait_for(chat_id=MEMBER, count=4)
    assert expired.text.splitlines()[2].startswith("⌛ gone when its auto-delete timer ran out")
    api.message(MEMBER, "/post mvd_test 5")
    *_, expiring = await api.wait_for(chat_id=MEMBER, count=5)
    assert expiring.text.splitlines()[2].startswith("⌛ deletes itself ")
    for asked, answer in [
        ("/post", "Usage: /post link"),
        ("/post mvd_test/99", "МВД Кыргызстана: post 99 is not in the archive"),
        ("/post https://t.me/mvd_test", "is not a post link"),
        ("/post nosuch/5", "no archived channel matches 'nosuch'"),
    ]:
        api.message(MEMBER, asked)
        *_, reply = await api.wait_for(chat_id=MEMBER, count=len(api.sent(chat_id=MEMBER)) + 1)
        assert answer in reply.text, asked


async def test_bad_queries_and_empty_results_are_explained(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, ["Задержан мигрант"])
    api.message(MEMBER, '/search "уголовное дело')
    (bad,) = await api.wait_for(chat_id=MEMBER)
    assert "Query error at position 1" in bad.text
    assert "<pre>" in bad.params["text"]
    api.message(MEMBER, "/search космонавт")
    _, none = await api.wait_for(chat_id=MEMBER, count=2)
    assert "No posts match" in none.text
    api.message(MEMBER, "/search channel:nosuch мигрант")
    *_, unknown = await api.wait_for(chat_id=MEMBER, count=3)
    assert "no archived channel matches 'nosuch'" in unknown.text


async def test_export_of_a_channel_arrives_as_a_parseable_document(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    texts = ['Первый, "в кавычках"\nи с переводом строки', "Второй пост", "Третий мигрант"]
    await archive(sessions, texts)
    async with sessions.begin() as session:
        await mark_deleted(session, CH, [2], observed_at=datetime.now(UTC), source=Source.LIVE)
    api.message(MEMBER, "/export mvd_test csv")
    (document,) = await api.wait_for("senddocument", chat_id=MEMBER)
    (preparing,) = await api.wait_for(chat_id=MEMBER)
    *_, done = await api.wait_for("editmessagetext", chat_id=MEMBER)
    ((name, content),) = document.files.items()
    assert name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert [r["text"] for r in rows] == texts
    assert rows[1]["deleted_at"] != "" and rows[0]["deleted_at"] == ""
    assert document.params["caption"] == "3 posts · МВД Кыргызстана"
    assert "Preparing the export" in preparing.text
    assert "Exported 3 posts" in done.text


async def test_export_of_a_query_as_json_lines(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, ["Задержан мигрант", "Погода", "Мигранты прибыли"])
    api.message(MEMBER, "/export мигрант")
    (document,) = await api.wait_for("senddocument", chat_id=MEMBER)
    ((name, content),) = document.files.items()
    records = [json.loads(line) for line in content.decode().splitlines()]
    assert name.endswith(".jsonl")
    assert [(r["id"], r["text"]) for r in records] == [
        (1, "Задержан мигрант"),
        (3, "Мигранты прибыли"),
    ]
    assert records[0]["link"] == "https://t.me/mvd_test/1"
    assert records[0]["versions"][0]["text"] == "Задержан мигрант"
    api.message(MEMBER, "/export космонавт csv")
    *_, empty = await api.wait_for("editmessagetext", chat_id=MEMBER, count=2)
    assert "No posts match" in empty.text


async def test_channels_and_status(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, ["Задержан мигрант", "Погода"])
    async with sessions.begin() as session:  # followed, and its last read failed
        await set_tracked(session, CH, True, at=datetime.now(UTC))
        await set_channel_status(
            session, CH, "private", "<the channel became private>", at=datetime.now(UTC)
        )
        reasons = {7: "unknown type", 8: "unknown type"}  # a kind newer than Telethon
        await note_unreadable(session, CH, reasons, read_by="dozor", now=datetime.now(UTC))
        await set_not_joined(session, CH, "the <account> is in too many channels")
    api.message(MEMBER, "/channels")
    (channels,) = await api.wait_for(chat_id=MEMBER)
    assert "МВД Кыргызстана · 2 posts" in channels.text
    assert "⚠️ private" in channels.text
    api.message(MEMBER, "/status")
    _, status = await api.wait_for(chat_id=MEMBER, count=2)
    assert "⚠️ private МВД Кыргызстана · newest" in status.text
    assert "private: <the channel became private>" in status.text
    assert "2 posts of a kind this dozor cannot read yet: upgrade dozor" in status.text
    assert "no live updates: the <account> is in too many channels" in status.text
    assert "Alerts: 0 waiting · 0 sent" in status.text
    api.message(MEMBER, "/help")
    *_, help_text = await api.wait_for(chat_id=MEMBER, count=3)
    assert "/subscribe" in help_text.text and "/addchannel" not in help_text.text
    api.message(ADMIN, "/help")
    (admin_help,) = await api.wait_for(chat_id=ADMIN)
    assert "/addchannel" in admin_help.text
    # only admins stop following a channel; its archive stays
    api.message(MEMBER, "/removechannel mvd_test")
    *_, refused = await api.wait_for(chat_id=MEMBER, count=4)
    assert refused.text == "Only admins can change which channels are archived."
    api.message(ADMIN, "/removechannel")
    _, usage = await api.wait_for(chat_id=ADMIN, count=2)
    assert usage.text == "Usage: /removechannel name"
    api.message(ADMIN, "/removechannel @mvd_test")
    *_, stopped = await api.wait_for(chat_id=ADMIN, count=3)
    assert stopped.text == (
        "Stopped following МВД Кыргызстана. Its archive is kept and searchable."
    )
    api.message(ADMIN, "/channels")
    *_, listed = await api.wait_for(chat_id=ADMIN, count=4)
    assert "МВД Кыргызстана · 2 posts" in listed.text and "not followed" in listed.text


async def test_digest_mode_sends_one_summary_per_chat(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions.begin() as session:
        await add_rule(
            session,
            name="Мигранты",
            query="мигрант",
            chat_id=MEMBER,
            now=datetime.now(UTC),
            history=timedelta(minutes=10),
            mode="digest_hourly",
        )
    await archive(sessions, [f"Задержан мигрант №{i}" for i in range(4)])
    async with asyncio.timeout(5):
        while not await service.generate() and not await _pending(sessions):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await settle()
    assert api.sent(chat_id=MEMBER) == []  # digests wait for their hour
    report = await service.delivery.send_digests("digest_hourly")
    (digest,) = api.sent(chat_id=MEMBER)
    assert report.sent == 4
    assert "hourly digest" in digest.text
    assert all(f"№{i}" in digest.text for i in range(4))
    assert (await service.delivery.send_digests("digest_hourly")).sent == 0


async def _pending(sessions: async_sessionmaker[AsyncSession]) -> Any:
    async with sessions() as session:
        return (await session.execute(select(alerts.c.id))).first()


async def test_replies_wait_out_flood_control(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api.fail("sendmessage", (429, 1), (500, 0))
    api.message(MEMBER, "/help")
    async with asyncio.timeout(8):
        while not api.sent(chat_id=MEMBER):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    tried = api.tried(chat_id=MEMBER)
    assert [c.status for c in tried] == [429, 500, 200]
    assert tried[1].at - tried[0].at >= 1.0  # retry_after was honoured


def write_config(path: Path, api: FakeBotAPI, database_url: str, token: str) -> Path:
    path.write_text(
        f'[database]\nurl = "{database_url}"\n\n[bot]\ntoken = "{token}"\n'
        f'admins = [{ADMIN}]\nmembers = [{MEMBER}]\napi_server = "{api.url}"\n',
        encoding="utf-8",
    )
    return path


async def test_dozor_bot_once_sends_pending_alerts(
    api: FakeBotAPI,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path / "config.toml", api, database_url, "123456:TEST-token")
    async with sessions.begin() as session:
        await add_rule(
            session,
            name="Мигранты",
            query="мигрант",
            chat_id=MEMBER,
            now=datetime.now(UTC),
            history=timedelta(minutes=10),
        )
    await archive(sessions, ["Задержан мигрант", "Погода"])
    assert await asyncio.to_thread(main, ["bot", "--once", "--config", str(config)]) == 0
    assert "alerts: 1 sent, 0 failed" in capsys.readouterr().out
    (alert,) = api.sent(chat_id=MEMBER)
    assert "<b>мигрант</b>" in alert.params["text"]
    assert await asyncio.to_thread(main, ["bot", "--once", "--config", str(config)]) == 0
    assert len(api.sent(chat_id=MEMBER)) == 1
    async with sessions.begin() as session:  # without a team chat, admins hear of renames
        renamed = ChannelRecord(CH, "МВД КР", "mvd_test")
        await upsert_channel(session, renamed, observed_at=datetime.now(UTC), source=Source.LIVE)
    for _ in range(2):
        assert await asyncio.to_thread(main, ["bot", "--once", "--config", str(config)]) == 0
    (notice,) = api.sent(chat_id=ADMIN)
    assert "Channel renamed: <s>МВД Кыргызстана</s> → <b>МВД КР</b>" in notice.params["text"]


async def test_dozor_bot_explains_a_missing_or_rejected_token(
    api: FakeBotAPI, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.token = "123456:TEST-token"
    config = write_config(tmp_path / "config.toml", api, database_url, "999:revoked")
    assert await asyncio.to_thread(main, ["bot", "--once", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "dozor: bot.token: Telegram rejects this token (see @BotFather)"
    )
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    assert await asyncio.to_thread(main, ["bot", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"dozor: {config}: fill in bot.token (@BotFather on Telegram)")
    assert "DOZOR_BOT__TOKEN" in err


async def test_dozor_bot_refuses_a_team_chat_telegram_does_not_know(
    api: FakeBotAPI, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A group's id copied without its -100 (or a group the bot was never added to): every
    team alert would fail there and the team's commands go unanswered. Said at the start."""
    config = write_config(tmp_path / "config.toml", api, database_url, "123456:TEST-token")
    with config.open("a", encoding="utf-8") as file:
        file.write("team_chat_id = -9999\n")
    api.unknown_chats.add(-9999)
    assert await asyncio.to_thread(main, ["bot", "--once", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "dozor: bot.team_chat_id: Telegram knows no chat -9999 for this bot: add the bot to "
        "the team's group (a supergroup's id starts with -100)"
    )
    api.unknown_chats.clear()  # the bot added to the group
    assert await asyncio.to_thread(main, ["bot", "--once", "--config", str(config)]) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_mode_receives_updates_with_the_secret_only(
    api: FakeBotAPI, database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    port = free_port()
    config = team_config(
        api,
        database_url,
        tmp_path,
        webhook_url="https://dozor.example.org/telegram/hook",
        webhook_listen=f"127.0.0.1:{port}",
        webhook_secret="s3cret",
    )
    running = await team_service(config, sessions)
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    (hook,) = await api.wait_for("setwebhook")
    assert hook.params["url"] == "https://dozor.example.org/telegram/hook"
    assert hook.params["secret_token"] == "s3cret"
    update = api.message(MEMBER, "/help")
    api.updates.get_nowait()  # delivered by webhook, not by polling
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with aiohttp.ClientSession() as client:
        forged = await client.post(url, json=update, headers={SECRET_HEADER: "wrong"})
        assert forged.status == 401
        genuine = await client.post(url, json=update, headers={SECRET_HEADER: "s3cret"})
        assert genuine.status == 200
    (reply,) = await api.wait_for(chat_id=MEMBER)
    assert "/subscribe" in reply.text
    assert api.tried("getupdates") == []
    stop.set()
    async with asyncio.timeout(10):
        await task
    await settle(0.2)
    assert len(api.sent(chat_id=MEMBER)) == 1


async def test_html_export_arrives_as_one_zipped_site(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, ["Задержан мигрант", "Погода"])
    api.message(MEMBER, "/export mvd_test html")
    (document,) = await api.wait_for("senddocument", chat_id=MEMBER)
    ((name, content),) = document.files.items()
    assert name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(content)) as site:
        names = set(site.namelist())
        manifest = json.loads(site.read("manifest.json"))
        page = next(n for n in names if n.startswith("mvd_test/20") and n.endswith(".html"))
        assert "Задержан мигрант" in site.read(page).decode()
    assert {"index.html", "search.html", "assets/search.js"} <= names
    assert manifest["counts"]["posts"] == 2


async def test_a_bad_export_query_is_explained_before_any_work(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, ["Задержан мигрант"])
    api.message(MEMBER, '/export "уголовное дело csv')
    (answer,) = await api.wait_for(chat_id=MEMBER)
    await settle()
    assert "Query error at position 1" in answer.text
    assert api.sent(chat_id=MEMBER) == [answer]  # no "preparing…" left hanging
    assert api.tried("senddocument") == []


async def test_a_webhook_port_in_use_stops_the_service_with_a_clear_error(
    api: FakeBotAPI, database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = team_config(
            api,
            database_url,
            tmp_path,
            webhook_url="https://dozor.example.org/hook",
            webhook_listen=f"127.0.0.1:{port}",
        )
        running = await team_service(config, sessions)
        with pytest.raises(
            ConfigError, match=f"bot.webhook_listen: cannot listen on 127.0.0.1:{port}"
        ):
            async with asyncio.timeout(10):
                await running.run(asyncio.Event())


ODD_COMMANDS = [
    "/search",
    "/search " + "(" * 60 + "мигрант" + ")" * 60,
    "/search channel:99999999999999999999999",
    "/search channel:t.me/c/0",
    "/search /a{1000}{1000}/",
    "/search after:2024-02-30",
    "/search " + "мигрант " * 400,
    "/subscribe",
    "/subscribe -",
    "/subscribe channel:nope мигрант",
    "/unsubscribe 99999999999999999999999",
    "/unsubscribe abc",
    "/unsubscribe ²",
    "/teamrules add",
    '/teamrules add "unclosed',
    "/teamrules frobnicate",
    "/export",
    "/export мигрант pdf",
    "/export channel:99999999999999999999999",
    "/addchannel",
    "/addchannel t.me/c/0",
    "/removechannel 99999999999999999999999",
    "/changes 99999999999999999999999",
    "/changes <b>mvd_test</b>",
    "/events 99999999999999999999999",
    "/events <b>mvd_test</b>",
    "/status extra words",
    "/post mvd_test/99999999999999999999999",
    "/post 99999999999999999999999/1",
    "/post mvd_test ²",
    "/post t.me/c/0/1",
    "/post <b>mvd_test</b>/1",
    "/nosuchcommand",
    "just text",
]


async def test_odd_commands_get_an_answer_and_never_an_internal_error(
    api: FakeBotAPI,
    service: TeamService,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await archive(sessions, ["Задержан мигрант"])
    caplog.set_level(logging.ERROR)
    for text in ODD_COMMANDS:
        api.message(ADMIN, text)
    api.message(ADMIN, "meeting at 5", chat_id=TEAM_CHAT, chat_type="supergroup")
    api.message(ADMIN, "/nosuchcommand", chat_id=TEAM_CHAT, chat_type="supergroup")
    # every one is answered by a message (a file follows the one export that can run)
    replies = await api.wait_for(chat_id=ADMIN, count=len(ODD_COMMANDS), seconds=30)
    await settle()
    texts = [call.params["text"] for call in api.sent("sendmessage", ADMIN)]
    assert replies and not [t for t in texts if "went wrong" in t]
    assert "I don't know /nosuchcommand. /help lists what I can do." in texts
    assert texts.count(PLAIN) == 1  # "just text"
    assert api.sent("sendmessage", TEAM_CHAT) == []  # the team talks in its group: no replies
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- generated use: random commands with odd arguments, and presses of buttons with made-up
# data, from an admin and a member. Every one is answered, never with the apology for a
# handler's unexpected exception, and Telegram accepts every message (the fake parses the HTML
# as Telegram does).

APOLOGY = explain(RuntimeError())  # what a user sees of a handler's unexpected exception
COMMANDS = [
    "/search", "/post", "/export", "/subscribe", "/unsubscribe", "/rules", "/teamrules",
    "/channels", "/status", "/removechannel", "/help", "/start", "/changes", "/events",
]  # fmt: skip
WORDS = [
    "мигрант", "mvd_test", "-1001525384822", "1", "0", "-5", "99999999999999999999",
    "https://t.me/mvd_test/1", "t.me/c/1525384822/1", '"', "(", ")", "OR", "-", "*", "=",
    "/re(/", "/a+/i", "channel:mvd_test", "after:2024-13-01", "has:photo", "is:deleted",
    "csv", "jsonl", "html", "desktop", "\u200b", "😀", "ё", "<b>", "&amp;", "@mvd_test",
    "digest", "silent", "new,edited", "x" * 300,
]  # fmt: skip
BUTTONS = [
    "sp:0", "sp:-1", "sp:99999", "sp:x", "sp:", "r:1:show", "r:999:show", "r:1:del", "r:x:del",
    "r:1:ev:new", "r:1:ev:bogus", "r:1:mode:digest", "r:1:mode:zzz", "r:1:pause", "r:1:resume",
    "rl:team", "rl:mine", "rl:x", "old:button", "", ":::", "r:-1:del",
    "ev:0:0", "ev:0:15", "ev:-1001525384822:3", "ev:5:0", "ev:x:1", "ev:0:-1", "ev:0", "ev:",
]  # fmt: skip
ROUNDS = 30


async def test_generated_commands_and_button_presses_are_always_answered(
    api: FakeBotAPI, service: TeamService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await archive(sessions, ["Задержан мигрант 😀", "Второй <b> пост & ещё"] * 15)
    rng = random.Random(7)
    for _ in range(ROUNDS):
        user = rng.choice([ADMIN, MEMBER])
        text = " ".join([rng.choice(COMMANDS), *rng.choices(WORDS, k=rng.randint(0, 4))])
        before = len(api.calls)
        api.message(user, text)
        _check(await _answered(api, before, _to(user)), text)
    for _ in range(ROUNDS):
        user, data = rng.choice([ADMIN, MEMBER]), rng.choice(BUTTONS)
        message = rng.choice([c for c in api.calls if c.method == "sendmessage" and c.result])
        before = len(api.calls)
        api.callback(user, data, message.result)
        _check(await _answered(api, before, _button_answer), data)


def _to(user: int) -> Callable[[Call], bool]:
    return lambda call: call.params.get("chat_id") == str(user)


def _button_answer(call: Call) -> bool:
    return call.method == "answercallbackquery"


async def _answered(api: FakeBotAPI, before: int, answers: Callable[[Call], bool]) -> list[Call]:
    """The calls the bot made since call number *before*, once one of them *answers* (and a
    moment more, for the rest of its reply)."""
    async with asyncio.timeout(5):
        while not any(answers(c) for c in api.calls[before:]):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    return api.calls[before:]


def _check(calls: list[Call], sent: str) -> None:
    for call in calls:
        if call.method != "editmessagetext":  # an identical edit is refused, as by Telegram
            assert call.status == 200, (sent, call.method, call.params)
        assert APOLOGY not in str(call.params.get("text", "")), (sent, call.params)
