"""Alert delivery with the real aiogram client over HTTP to a local fake Bot API:
exactly once through 429 storms and 5xx, blocked users, crashes, safe HTML, trimming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import Delivery, RateLimiter
from dozor.alerts.generator import RuleCache, generate_alerts
from dozor.models import alerts, rules
from dozor.records import ChannelRecord, PostRecord, Source, make_entity
from dozor.rules.store import add_rule
from dozor.storage import mark_deleted, store_posts, upsert_channel
from dozor.storage.facts import lost_chats, moved_chats
from tests.fakes.botapi import FakeBotAPI, html_problem, visible_length

CH = -1001525384822
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
USER, TEAM, SUPERGROUP = 5001, -1009999, -1001009999
TOKEN = "123456:TEST-token"


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.url))
    client = Bot(TOKEN, session=session)
    yield client
    await client.session.close()


class Slept(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


def delivery(bot: Bot, sessions: async_sessionmaker[AsyncSession], **kw: Any) -> Delivery:
    return Delivery(
        bot,
        sessions,
        ZoneInfo("Asia/Bishkek"),
        limiter=RateLimiter(enabled=False),
        sleep=kw.pop("sleep", Slept()),
        now=lambda: NOW,
        **kw,
    )


async def setup(
    sessions: async_sessionmaker[AsyncSession],
    texts: list[str],
    *,
    query: str = "мигрант",
    chat: int = USER,
    mode: str = "instant",
    events: tuple[str, ...] = ("new", "edited", "deleted"),
    grouped: int | None = None,
    media: dict[str, Any] | None = None,
) -> None:
    async with sessions.begin() as session:
        await upsert_channel(
            session,
            ChannelRecord(CH, "МВД <тест> & Co", "mvd_test"),
            observed_at=NOW,
            source=Source.LIVE,
        )
        await add_rule(
            session,
            name=f"Rule {query}",
            query=query,
            chat_id=chat,
            now=NOW,
            history=timedelta(minutes=10),
            mode=mode,
            events=events,
        )
        await store_posts(
            session,
            [
                PostRecord(
                    CH,
                    i + 1,
                    NOW + timedelta(minutes=i + 1),
                    text=text,
                    grouped_id=grouped,
                    media=media,
                )
                for i, text in enumerate(texts)
            ],
            source=Source.LIVE,
            observed_at=NOW,
        )
    await generate(sessions)


async def generate(sessions: async_sessionmaker[AsyncSession]) -> None:
    cache = RuleCache()
    while True:
        async with sessions.begin() as session:
            if (await generate_alerts(session, cache, now=NOW)).events == 0:
                return


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list(
            (await session.execute(select(alerts.c.status).order_by(alerts.c.id))).scalars()
        )


async def test_an_alert_arrives_once_with_safe_html(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await setup(sessions, ["Задержан мигрант <script>alert(1)</script> & <b>незакрыто"])
    report = await delivery(bot, sessions).run_once()
    assert report.sent == 1
    (call,) = api.sent(chat_id=USER)
    text = call.params["text"]
    assert html_problem(text) is None
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;незакрыто" in text
    assert "<b>мигрант</b>" in text
    assert "МВД &lt;тест&gt; &amp; Co" in text
    assert "https://t.me/mvd_test/1" in text
    assert "2025-06-01 18:01" in text  # Bishkek time
    assert (await delivery(bot, sessions).run_once()).sent == 0
    assert await statuses(sessions) == ["sent"]


async def test_an_alert_about_a_file_shows_the_file_the_rule_matched(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The post has no text: the rule matched the file's name, which the alert shows."""
    document = {"type": "document", "file_name": "мигранты_2024.pdf", "size": 2048}
    await setup(sessions, [""], media=document)
    assert (await delivery(bot, sessions).run_once()).sent == 1
    (call,) = api.sent(chat_id=USER)
    assert "📎 file <b>мигранты</b>_2024.pdf · 2.0 KB" in call.params["text"].splitlines()


async def test_an_alert_whose_rule_no_longer_parses_is_still_sent(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await setup(sessions, ["Задержан мигрант"])
    async with sessions.begin() as session:  # edited in the database after the alert was made
        await session.execute(update(rules).values(query='мигрант "unbalanced'))
    assert (await delivery(bot, sessions).run_once()).sent == 1
    (call,) = api.sent(chat_id=USER)
    assert "Задержан мигрант" in call.params["text"]  # unmarked, but delivered
    assert await statuses(sessions) == ["sent"]


async def test_a_429_storm_and_server_errors_deliver_every_alert_exactly_once(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await setup(sessions, [f"мигрант номер {n}" for n in range(1, 6)])
    api.fail("sendMessage", (429, 3), (429, 7), (500, 0), (502, 0), (429, 1))
    slept = Slept()
    report = await delivery(bot, sessions, sleep=slept).run_once()
    assert report.sent == 5
    accepted = [c.params["text"] for c in api.sent(chat_id=USER)]
    assert len(api.tried(chat_id=USER)) == 10  # five refused, five accepted
    numbers = sorted(next(n for n in range(1, 6) if f"номер {n}" in t) for t in accepted)
    assert numbers == [1, 2, 3, 4, 5]
    assert slept == [3, 7, 1.0, 2.0, 1]  # retry_after, retry_after, backoff x2, retry_after
    assert await statuses(sessions) == ["sent"] * 5


async def test_a_blocked_user_pauses_their_rules(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await setup(sessions, ["мигрант раз", "мигрант два"])
    api.blocked.add(USER)
    report = await delivery(bot, sessions).run_once()
    assert report.dropped == 2
    async with sessions() as session:
        rule_status = (await session.execute(select(rules.c.status))).scalar_one()
    assert rule_status == "paused"
    assert await statuses(sessions) == ["dropped", "dropped"]
    async with sessions() as session:  # for the admins, and for the bot's return
        (lost,) = await lost_chats(session)
    assert (lost.chat_id, lost.dropped, len(lost.rule_ids), lost.told) == (USER, 2, 1, False)
    assert lost.error == "Forbidden: bot was blocked by the user"


async def test_alerts_follow_a_group_upgraded_to_a_supergroup(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A team group becomes a supergroup (Telegram gives it a new id, and refuses the old
    one): alerts were failing there for good; now they, and the rules, move with it."""
    await setup(sessions, ["мигрант раз", "мигрант два"], chat=TEAM)
    api.moved[TEAM] = SUPERGROUP
    report = await delivery(bot, sessions).run_once()
    assert (report.sent, report.failed) == (2, 0)
    assert len(api.sent(chat_id=SUPERGROUP)) == 2
    assert await statuses(sessions) == ["sent", "sent"]
    async with sessions() as session:
        rule_chats = (await session.execute(select(rules.c.chat_id))).scalars().all()
        alert_chats = (await session.execute(select(alerts.c.chat_id))).scalars().all()
        moves = await moved_chats(session)
    assert rule_chats == [SUPERGROUP]
    assert alert_chats == [SUPERGROUP, SUPERGROUP]
    assert moves == {TEAM: SUPERGROUP}


class Killed(Exception):
    pass


async def test_a_crash_between_send_and_mark_loses_nothing(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await setup(sessions, ["мигрант первый", "мигрант второй", "мигрант третий"])

    def die_after_second(ids: list[int]) -> None:
        if ids == [2]:
            raise Killed

    with pytest.raises(Killed):
        await delivery(bot, sessions, after_send=die_after_second).run_once()
    assert await statuses(sessions) == ["sent", "sending", "pending"]
    restarted = delivery(bot, sessions)
    assert (await restarted.run_once()).sent == 1  # the dead worker's claim still holds
    restarted.now = lambda: NOW + timedelta(minutes=3)  # its lease has run out
    await restarted.run_once()
    texts = [c.params["text"] for c in api.sent(chat_id=USER)]
    assert len(texts) == 4
    assert sum("первый" in t for t in texts) == 1
    assert sum("третий" in t for t in texts) == 1  # accepted and recorded: never again
    assert [("второй" in t, "sent again" in t) for t in texts if "второй" in t] == [
        (True, False),
        (True, True),
    ]  # unconfirmed: repeated, and says so
    assert await statuses(sessions) == ["sent"] * 3


async def test_two_workers_never_send_the_same_alert(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await setup(sessions, [f"мигрант №{i}" for i in range(30)])
    api.fail("sendmessage", (429, 1), (500, 0))
    first, second = delivery(bot, sessions), delivery(bot, sessions)
    reports = await asyncio.gather(first.run_once(), second.run_once())
    texts = [c.params["text"] for c in api.sent(chat_id=USER)]
    assert sorted(int(t.split("№")[1].split()[0].split("<")[0]) for t in texts) == list(range(30))
    assert sum(r.sent for r in reports) == 30
    assert await statuses(sessions) == ["sent"] * 30


async def test_long_posts_are_trimmed_around_the_match(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    long_text = "слово " * 1500 + "мигрант задержан " + "текст " * 1000
    assert len(long_text) > 10_000
    await setup(sessions, [long_text])
    assert (await delivery(bot, sessions).run_once()).sent == 1
    (call,) = api.sent(chat_id=USER)
    assert visible_length(call.params["text"]) <= 4096
    assert "<b>мигрант</b>" in call.params["text"]


async def test_silent_mode_albums_edits_and_deletions(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await setup(sessions, ["мигрант на фото", "", ""], mode="silent", grouped=77)
    await delivery(bot, sessions).run_once()
    (album,) = api.sent(chat_id=USER)
    assert album.params["disable_notification"] == "true"
    assert "album of 3" in album.params["text"]
    async with sessions.begin() as session:
        await store_posts(
            session,
            [
                PostRecord(
                    CH,
                    1,
                    NOW + timedelta(minutes=1),
                    text="два мигранта на фото",
                    grouped_id=77,
                    edit_date=NOW + timedelta(hours=1),
                )
            ],
            source=Source.LIVE,
            observed_at=NOW + timedelta(hours=1),
        )
        await mark_deleted(
            session, CH, [1], source=Source.LIVE, observed_at=NOW + timedelta(hours=2)
        )
    await generate(sessions)
    await delivery(bot, sessions).run_once()
    edited, deleted = (c.params["text"] for c in api.sent(chat_id=USER)[1:])
    assert "edited" in edited
    assert "<s>мигрант</s>" in edited
    assert "<u><b>два мигранта</b></u>" in edited
    assert "deleted" in deleted
    assert "Last archived text" in deleted


async def test_an_edit_that_takes_out_the_watched_word_is_alerted(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The channel quietly edits the word a rule watches out of a post that had matched."""
    await setup(sessions, ["Задержаны двое мигрантов"])
    await delivery(bot, sessions).run_once()
    edited_at = NOW + timedelta(hours=1)
    async with sessions.begin() as session:
        record = PostRecord(CH, 1, NOW + timedelta(minutes=1), text="Задержаны двое граждан")
        await store_posts(
            session,
            [replace(record, edit_date=edited_at)],
            source=Source.LIVE,
            observed_at=edited_at,
        )
    await generate(sessions)
    await delivery(bot, sessions).run_once()
    new, edited = (call.params["text"] for call in api.sent(chat_id=USER))
    assert "<b>мигрантов</b>" in new
    assert "✏️ edited" in edited
    assert "✂️ The edit took out the words this rule matched." in edited
    assert "<s>мигрантов</s><u><b>граждан</b></u>" in edited


async def test_an_edit_alert_tells_what_else_the_edit_changed(
    api: FakeBotAPI,
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """An edit that changes the watched words and swaps the photo and a link: the alert
    shows the words changed and names the rest."""
    photo = {"type": "photo", "id": "1", "width": 800, "height": 600}
    await setup(sessions, ["Задержаны двое мигрантов, подробности тут"], media=photo)
    await delivery(bot, sessions).run_once()
    edited_at = NOW + timedelta(hours=1)
    text = "Задержаны трое мигрантов и мигрант, подробности тут"
    async with sessions.begin() as session:
        record = PostRecord(
            CH,
            1,
            NOW + timedelta(minutes=1),
            text=text,
            entities=[make_entity("text_link", len(text) - 3, 3, url="https://example.org/<x>")],
            media={**photo, "id": "2"},
            edit_date=edited_at,
        )
        await store_posts(session, [record], source=Source.LIVE, observed_at=edited_at)
    await generate(sessions)
    await delivery(bot, sessions).run_once()
    _, edited = (call.params["text"] for call in api.sent(chat_id=USER))
    assert (
        "Задержаны <s>двое</s><u><b>трое</b></u> <s>мигрантов,</s><u><b>мигрантов и мигрант,"
        "</b></u> подробности тут"
        "\n• attachment replaced by another photo 800×600"
        "\n• link added: «тут» → https://example.org/&lt;x&gt;\n"
    ) in edited


async def test_the_rate_limiter_keeps_telegram_limits() -> None:
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    limiter = RateLimiter(clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        await limiter.wait(USER)
    assert clock[0] == pytest.approx(2.0)  # one a second in a private chat
    clock[0] = 100.0
    for _ in range(21):
        await limiter.wait(TEAM)
    assert clock[0] == pytest.approx(160.0)  # the 21st group message waits for the minute
