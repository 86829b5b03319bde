"""Alert rules: the rule index agrees with plain matching; the generator turns events into
alerts exactly once, without flooding history; rule storage and config sync."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.alerts import generator
from dozor.alerts.generator import CURSOR, RuleCache, generate_alerts
from dozor.config import RuleConfig
from dozor.errors import QueryError, UserError
from dozor.importer import import_desktop_export
from dozor.models import alerts, events, rules
from dozor.query import parse
from dozor.query.document import build_document
from dozor.query.match import bind_channels, matches
from dozor.records import ChannelRecord, PostRecord, Source
from dozor.rules import index as rule_index
from dozor.rules.explain import explain
from dozor.rules.index import CompiledRule, RuleIndex, anchor
from dozor.rules.store import add_rule, find_rule, list_rules, sync_config_rules, update_rule
from dozor.storage import mark_deleted, store_posts, upsert_channel
from dozor.storage.channels import channel_history
from dozor.storage.events import get_cursor
from tests.conftest import DESKTOP
from tests.test_search_property import corpus, queries

CH = -1001000000042
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HISTORY = timedelta(minutes=10)


def _compiled(number: int, query: str) -> CompiledRule:
    # mvd_one is archived; mvd_two is not yet, so its filter binds to no channel at all
    node = bind_channels(
        parse(query), lambda ref: frozenset({-1001000000001}) if "one" in ref else frozenset()
    )
    return CompiledRule(number, f"r{number}", node, frozenset({"new"}), 1, "instant", NOW)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=40))
def test_rule_index_finds_exactly_the_matching_rules(texts: list[str]) -> None:
    compiled = []
    for number, text in enumerate(texts):
        try:
            compiled.append(_compiled(number, text))
        except QueryError:
            continue
    index = RuleIndex(compiled)
    for record in corpus(size=40):
        doc = build_document(
            {
                "channel_id": record.channel_id,
                "message_id": record.message_id,
                "date": record.date,
                "text": record.text,
                "media": record.media,
                "media_type": (record.media or {}).get("type"),
                "entities": None,
                "current_version": 1,
            }
        )
        expected = [r for r in compiled if matches(r.node, doc)]
        assert index.matching(doc) == sorted(expected, key=lambda r: r.id)


def test_rule_index_word_memory_never_changes_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """What each word points at is remembered across posts, and forgotten past a bound."""
    monkeypatch.setattr(rule_index, "MAX_REMEMBERED_WORDS", 1)
    texts = ["задержан*", "=мигрантов", "мигрант -рейд", '"уголовное дело"', "бишк*", "ab*"]
    compiled = [_compiled(number, text) for number, text in enumerate(texts)]
    index = RuleIndex(compiled)
    posts = [
        "Задержанные мигранты переданы в суд",
        "Задержанные: новые слова после того, как память очищена",
        "Рейд: проверено сто мигрантов, задержано пятеро",
        "Возбуждено уголовное дело. В Бишкекте кармалды",
        "дело уголовное, задержанных нет; ABC abc",
    ]
    for text in posts * 3:  # later rounds read remembered (or forgotten) words
        doc = build_document(
            {"channel_id": 1, "message_id": 1, "date": NOW, "text": text, "media": None}
        )
        expected = [rule.name for rule in compiled if matches(rule.node, doc)]
        assert [rule.name for rule in index.matching(doc)] == expected
    assert [
        rule.name
        for rule in index.matching(
            build_document(
                {"channel_id": 1, "message_id": 1, "date": NOW, "text": posts[0], "media": None}
            )
        )
    ] == ["r0", "r2"]


def test_rule_index_finds_every_prefix_a_word_starts_with() -> None:
    """Prefixes are filed under their first two letters here (the shortest prefix is two
    letters long): a word may start with several of one stub's prefixes, or be shorter than
    the stub."""
    texts = ["ми*", "мигра*", "мигрант*", "мигрантк*", "бишкек*", "ми* -мир", "=м"]
    compiled = [_compiled(number, text) for number, text in enumerate(texts)]
    index = RuleIndex(compiled)

    def found(text: str) -> list[str]:
        doc = build_document(
            {"channel_id": 1, "message_id": 1, "date": NOW, "text": text, "media": None}
        )
        names = [rule.name for rule in index.matching(doc)]
        assert names == [rule.name for rule in compiled if matches(rule.node, doc)]
        return names

    assert found("Мигранттардын саны") == ["r0", "r1", "r2", "r5"]
    assert found("мигр") == ["r0", "r5"]
    assert found("м и р") == ["r6"]
    assert found("мир мигранты") == ["r0", "r1", "r2"]
    assert found("Бишкекте ми") == ["r0", "r4", "r5"]
    assert found("Бишкекте ми") == ["r0", "r4", "r5"]  # remembered words give the same
    assert found("бишке") == []


def test_anchors() -> None:
    assert anchor(parse("мигрант -задержан")) == frozenset({"s:мигрант", "s:~мигрант"})
    assert anchor(parse("=мигрантов")) == frozenset({"w:мигрантов"})
    assert anchor(parse("мигра* OR #мвд")) == frozenset({"p:мигра", "s:#мвд"})
    assert anchor(parse("задержан*")) == frozenset({"p:задержан"})
    assert anchor(parse("-мигрант")) is None
    assert anchor(parse("/задерж/ OR мигрант")) == frozenset(
        {"r:задерж", "s:мигрант", "s:~мигрант"}
    )
    assert anchor(parse("/задерж/ OR -мигрант")) is None
    assert anchor(parse("has:photo")) is None


# --- the generator -------------------------------------------------------------------------


def post(mid: int, text: str, **kw: Any) -> PostRecord:
    return PostRecord(
        channel_id=CH,
        message_id=mid,
        date=kw.pop("date", NOW + timedelta(hours=1)),
        text=text,
        **kw,
    )


async def _store(
    sessions: async_sessionmaker[AsyncSession],
    *records: PostRecord,
    source: Source = Source.LIVE,
    at: datetime | None = None,
) -> None:
    async with sessions.begin() as session:
        await upsert_channel(
            session, ChannelRecord(CH, "Канал", "kanal"), observed_at=NOW, source=source
        )
        await store_posts(session, records, source=source, observed_at=at or NOW)


async def _rule(sessions: async_sessionmaker[AsyncSession], query: str, **kw: Any) -> int:
    async with sessions.begin() as session:
        rule = await add_rule(
            session,
            name=kw.pop("name", query),
            query=query,
            chat_id=kw.pop("chat_id", 777),
            now=kw.pop("now", NOW),
            history=HISTORY,
            **kw,
        )
    return rule.id


async def _generate(
    sessions: async_sessionmaker[AsyncSession],
    cache: RuleCache | None = None,
) -> list[tuple[Any, ...]]:
    cache = cache or RuleCache()
    while True:
        async with sessions.begin() as session:
            report = await generate_alerts(session, cache, now=NOW, limit=3)
        if report.events == 0:
            break
    async with sessions() as session:
        result = await session.execute(
            select(
                alerts.c.rule_id,
                alerts.c.message_id,
                alerts.c.event_kind,
                alerts.c.version,
                alerts.c.chat_id,
            ).order_by(alerts.c.id)
        )
        return [tuple(row) for row in result]


async def test_new_post_alerts_exactly_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    rule = await _rule(sessions, "мигрант")
    await _store(sessions, post(1, "Задержаны мигранты"), post(2, "Погода"))
    assert await _generate(sessions) == [(rule, 1, "new", 1, 777)]
    assert await _generate(sessions) == [(rule, 1, "new", 1, 777)]  # no duplicate
    async with sessions() as session:
        assert await get_cursor(session, CURSOR) > 0


async def test_history_does_not_flood(sessions: async_sessionmaker[AsyncSession]) -> None:
    """An old export, or a first backfill, of posts dated before the rule: no alerts. Posts
    published after the rule but stored late (catch-up after downtime) do alert."""
    await _rule(sessions, "мигрант", now=datetime(2025, 1, 1, tzinfo=UTC))
    await import_desktop_export(sessions, DESKTOP / "current-format-later")  # 2024 posts
    await _store(
        sessions,
        post(5, "мигрант в прошлом", date=datetime(2024, 12, 31, tzinfo=UTC)),
        source=Source.BACKFILL,
    )
    assert await _generate(sessions) == []
    await _store(
        sessions,
        post(6, "мигранты сегодня", date=datetime(2025, 3, 1, tzinfo=UTC)),
        source=Source.BACKFILL,
        at=datetime(2025, 5, 1, tzinfo=UTC),
    )
    assert [a[1] for a in await _generate(sessions)] == [6]


async def test_each_rule_keeps_its_own_window_in_a_batch_of_old_and_new_posts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The generator skips the posts older than every window unread; the others still meet
    each rule's own window."""
    older = await _rule(sessions, "мигрант", name="older", now=datetime(2024, 6, 1, tzinfo=UTC))
    newer = await _rule(sessions, "мигрант", name="newer", now=datetime(2025, 1, 1, tzinfo=UTC))
    dates = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 9, 1, tzinfo=UTC), NOW]
    await _store(
        sessions,
        *(post(i, "мигранты", date=date) for i, date in enumerate(dates, start=1)),
        source=Source.BACKFILL,
    )
    alerts = [(a[0], a[1]) for a in await _generate(sessions)]
    assert sorted(alerts) == sorted([(older, 2), (older, 3), (newer, 3)])


async def test_edit_alerts_only_when_the_match_is_new_changed_or_gone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rule = await _rule(sessions, "мигрант", events=["new", "edited"])
    t = NOW + timedelta(hours=2)
    await _store(
        sessions,
        post(1, "Погода в Бишкеке"),
        post(2, "Задержаны двое мигрантов"),
        post(3, "Задержаны двое мигрантов"),
        post(4, "Задержаны двое мигрантов"),
        post(5, "Погода в Оше"),
    )
    await _generate(sessions)
    await _store(
        sessions,
        post(1, "Погода в Бишкеке: задержаны мигранты", edit_date=t),  # newly matches
        post(2, "Задержаны трое мигрантов", edit_date=t),  # same match: no alert
        post(3, "Задержаны двое мигрантов и мигрант", edit_date=t),  # match changed
        post(4, "Задержаны двое граждан", edit_date=t),  # the watched word edited out
        post(5, "Погода в Оше и Нарыне", edit_date=t),  # never matched: no alert
    )
    got = [(a[0], a[1], a[2], a[3]) for a in await _generate(sessions) if a[2] == "edited"]
    assert got == [(rule, 1, "edited", 2), (rule, 3, "edited", 2), (rule, 4, "edited", 2)]


async def test_deletion_alerts_for_posts_that_matched(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _rule(sessions, "мигрант", events=["deleted"])
    await _store(sessions, post(1, "Задержаны мигранты"), post(2, "Погода"))
    async with sessions.begin() as session:
        await mark_deleted(
            session, CH, [1, 2], source=Source.RECONCILE, observed_at=NOW + timedelta(hours=3)
        )
    assert [(a[1], a[2]) for a in await _generate(sessions)] == [(1, "deleted")]


async def test_posts_gone_by_their_auto_delete_timer_neither_alert_nor_purge(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A channel with auto-delete on: its posts vanish on time. They are tombstoned with an
    `expired` event, alert no rule watching deletions and count towards no purge; a post
    deleted before its time is a deletion all the same."""
    await _rule(sessions, "мигрант", events=["deleted"])
    day = timedelta(days=1)
    posted = NOW + timedelta(hours=1)
    await _store(
        sessions,
        *(post(mid, "Задержаны мигранты", expires_at=posted + day) for mid in (1, 2, 3)),
    )
    async with sessions.begin() as session:
        early = await mark_deleted(
            session, CH, [3], source=Source.LIVE, observed_at=posted + timedelta(hours=2)
        )
        on_time = await mark_deleted(
            session,
            CH,
            [1, 2],
            source=Source.LIVE,
            observed_at=posted + day - timedelta(seconds=20),  # Telegram's clock runs ahead
            summarize_from=2,
        )
    assert (early.deleted, early.expired, on_time.deleted, on_time.expired) == ([3], [], [], [1, 2])
    assert [(a[1], a[2]) for a in await _generate(sessions)] == [(3, "deleted")]
    async with sessions() as session:
        kinds = (
            await session.execute(
                select(events.c.message_id, events.c.kind)
                .where(events.c.kind != "new")
                .order_by(events.c.seq)
            )
        ).all()
        purges = await channel_history(session, CH, ["purge"])
    assert [tuple(row) for row in kinds] == [(3, "deleted"), (1, "expired"), (2, "expired")]
    assert purges == []


async def test_paused_and_removed_rules_stay_quiet(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    paused = await _rule(sessions, "мигрант", name="paused")
    removed = await _rule(sessions, "мигрант", name="removed")
    live = await _rule(sessions, "мигрант", name="live")
    async with sessions.begin() as session:
        await update_rule(session, paused, now=NOW, status="paused")
        await update_rule(session, removed, now=NOW, status="removed")
    await _store(sessions, post(1, "мигранты"))
    assert [a[0] for a in await _generate(sessions)] == [live]


async def test_rules_added_later_are_picked_up(sessions: async_sessionmaker[AsyncSession]) -> None:
    cache = RuleCache()
    await _store(sessions, post(1, "мигранты"))
    assert await _generate(sessions, cache) == []
    rule = await _rule(sessions, "паспорт")
    await _store(sessions, post(2, "поддельный паспорт"))
    assert [a[0] for a in await _generate(sessions, cache)] == [rule]


async def test_a_stored_rule_that_no_longer_parses_is_skipped(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    """One bad rule (another version's syntax, a hand edit) must not silence the others."""
    broken = await _rule(sessions, "мигрант", name="broken")
    working = await _rule(sessions, "паспорт")
    async with sessions.begin() as session:
        await session.execute(
            update(rules).where(rules.c.id == broken).values(query='мигрант "unbalanced')
        )
    await _store(sessions, post(1, "Мигрант предъявил поддельный паспорт"))
    assert [a[0] for a in await _generate(sessions)] == [working]
    assert f"rule #{broken} 'broken' skipped" in caplog.text


async def test_compiling_rules_leaves_the_event_loop_free(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bot in the same process keeps answering while thousands of rules compile."""
    build = generator._build_index

    def slow_build(*args: Any) -> RuleIndex:
        time.sleep(0.3)  # what ten thousand rules cost
        return build(*args)

    monkeypatch.setattr(generator, "_build_index", slow_build)
    rule = await _rule(sessions, "паспорт")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        async with sessions() as session:
            index = await RuleCache().current(session)
    finally:
        ticker.cancel()
    assert [r.id for r in index.rules] == [rule]
    assert ticks >= 10


async def test_a_crash_before_commit_loses_and_doubles_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _rule(sessions, "мигрант")
    await _store(sessions, post(1, "мигранты"), post(2, "мигрант"))
    async with sessions() as session:
        await generate_alerts(session, RuleCache(), now=NOW)
        await session.rollback()  # the process died before committing
    assert [a[1] for a in await _generate(sessions)] == [1, 2]


async def test_channel_rules_bind_to_channels_archived_later(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rule = await _rule(sessions, "мигрант channel:kanal")
    await _store(sessions, post(1, "мигранты"))
    assert [a[0] for a in await _generate(sessions)] == [rule]


async def test_channel_rules_follow_a_channel_that_renames_itself(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A rule names a channel by username or title; the channel renaming itself must not
    silently end its alerts."""
    by_username = await _rule(sessions, "мигрант channel:kanal")
    by_title = await _rule(sessions, "мигрант channel:Канал")
    await _store(sessions, post(1, "мигранты"))
    cache = RuleCache()
    assert len(await _generate(sessions, cache)) == 2
    async with sessions.begin() as session:
        await upsert_channel(
            session,
            ChannelRecord(CH, "Канал 2.0", "kanal_new"),
            observed_at=NOW + timedelta(hours=1),
            source=Source.LIVE,
        )
        await store_posts(
            session, [post(2, "мигрант")], source=Source.LIVE, observed_at=NOW + timedelta(hours=1)
        )
    alerted = {(rule, number) for rule, number, *_ in await _generate(sessions, cache)}
    assert alerted == {(rule, n) for rule in (by_username, by_title) for n in (1, 2)}


async def test_a_rule_naming_a_channel_nobody_archived_breaks_no_other_rule(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Its channel: filter binds to no channel: it matches nothing until the channel comes."""
    await _rule(sessions, "мигрант channel:nowhere")
    other = await _rule(sessions, "мигрант")
    await _store(sessions, post(1, "мигранты"))
    assert [a[0] for a in await _generate(sessions)] == [other]


# --- storage ----------------------------------------------------------------------------


async def test_rule_validation_and_lookup(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        with pytest.raises(QueryError):
            await add_rule(
                session, name="bad", query='"мигрант', chat_id=1, now=NOW, history=HISTORY
            )
        with pytest.raises(UserError, match="events"):
            await add_rule(
                session,
                name="bad",
                query="x",
                chat_id=1,
                now=NOW,
                history=HISTORY,
                events=["posted"],
            )
        # U+0000 (a TOML "\u0000", a bot message): PostgreSQL's text cannot hold it
        with pytest.raises(UserError, match="none of them U\\+0000"):
            await add_rule(session, name="a\x00b", query="x", chat_id=1, now=NOW, history=HISTORY)
        with pytest.raises(QueryError, match="cannot hold the NUL character"):
            await add_rule(session, name="ok", query="x\x00", chat_id=1, now=NOW, history=HISTORY)
        rule = await add_rule(
            session,
            name="Мигранты",
            query="мигрант",
            chat_id=1,
            now=NOW,
            history=HISTORY,
            events=["edited", "new"],
        )
        assert rule.events == ("new", "edited")
        assert rule.alert_from == NOW - HISTORY
        assert (await find_rule(session, "Мигранты")).id == rule.id
        assert (await find_rule(session, str(rule.id))).name == "Мигранты"
        with pytest.raises(UserError, match="no rule named"):
            await find_rule(session, "nothing")
        # team rules managed by name cannot share one; the bot's, named after queries, can
        with pytest.raises(UserError, match="a rule named 'Мигранты' already exists"):
            await sync_config_rules(
                session,
                [RuleConfig(name="Мигранты", query="мигрант")],
                default_chat=1,
                now=NOW,
                history=HISTORY,
            )
        for _ in range(2):
            await add_rule(
                session, name="мигрант", query="мигрант", chat_id=1, now=NOW, history=HISTORY,
                origin="bot",
            )  # fmt: skip


async def test_config_rules_sync(sessions: async_sessionmaker[AsyncSession]) -> None:
    first = [
        RuleConfig(name="A", query="мигрант"),
        RuleConfig(name="B", query="паспорт", chat_id=5),
    ]
    async with sessions.begin() as session:
        report = await sync_config_rules(session, first, default_chat=9, now=NOW, history=HISTORY)
        assert (report.added, report.changed, report.removed) == (["A", "B"], [], [])
        again = await sync_config_rules(session, first, default_chat=9, now=NOW, history=HISTORY)
        assert (again.added, again.changed, again.removed) == ([], [], [])
        later = [RuleConfig(name="A", query="мигрант OR беженец")]
        changed = await sync_config_rules(session, later, default_chat=9, now=NOW, history=HISTORY)
        assert (changed.added, changed.changed, changed.removed) == ([], ["A"], ["B"])
        kept = await list_rules(session)
        assert [(r.name, r.query, r.chat_id) for r in kept] == [("A", "мигрант OR беженец", 9)]
        with pytest.raises(UserError, match="chat_id"):
            await sync_config_rules(
                session,
                [RuleConfig(name="C", query="x")],
                default_chat=None,
                now=NOW,
                history=HISTORY,
            )
        await session.execute(update(rules).values(status="active"))
        assert len((await session.execute(select(rules))).all()) == 2


async def test_a_mass_deletion_alerts_once_per_rule(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    watcher = await _rule(sessions, "мигрант", events=["deleted"])
    await _rule(sessions, "паспорт", events=["new"])  # does not watch deletions
    await _store(
        sessions, *[post(i, "мигранты и паспорт" if i % 2 else "погода") for i in range(1, 21)]
    )
    await _generate(sessions)
    async with sessions.begin() as session:
        await mark_deleted(
            session,
            CH,
            range(1, 21),
            source=Source.RECONCILE,
            observed_at=NOW + timedelta(hours=3),
            summarize_from=10,
        )
    got = [a for a in await _generate(sessions) if a[2] == "mass_deleted"]
    assert got == [(watcher, 1, "mass_deleted", 1, 777)]


def test_explain_names_each_part_of_a_query_and_what_it_found() -> None:
    doc = build_document(
        {
            "channel_id": -1001525384822,
            "message_id": 1,
            "text": "Мигранты задержаны полицией по уголовному делу",
            "date": datetime(2024, 11, 1, tzinfo=UTC),
            "media": None,
            "media_type": None,
            "entities": None,
            "current_version": 1,
        }
    )
    query = '=мигранты мигра* "уголовное дело" /задерж\\w+/i -has:photo'
    assert explain(parse(query), doc) == [
        "✓ all of:",
        "  ✓ exactly «мигранты»: found «Мигранты»",
        "  ✓ a word starting with «мигра»: found «Мигранты»",
        "  ✓ the phrase «уголовное дело»: found «уголовному делу»",
        "  ✓ regular expression /задерж\\w+/i: found «задержаны»",
        "  ✓ not:",
        "    ✗ has:photo",
    ]
    assert explain(parse('"мигра* суд" OR суд'), doc) == [
        "✗ any of:",
        "  ✗ the phrase «мигра* суд»",
        "  ✗ any form of «суд» (stems суд, ~суд)",
    ]
