"""Search over a real database on both backends: index maintenance, filters, ordering."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.errors import QueryError, UserError
from dozor.importer import import_desktop_export
from dozor.models import post_search, posts
from dozor.query import Node, parse
from dozor.query.document import Document, build_document, indexed_document
from dozor.query.match import default_scope, matches
from dozor.records import ChannelRecord, Forward, PostRecord, Source
from dozor.search import engine as engine_module
from dozor.search import reindex as reindex_module
from dozor.search import search
from dozor.search.compile import MAX_QUERY_VARIANTS, Fts5Compiler
from dozor.storage import bulk, mark_deleted, store_posts, upsert_channel
from dozor.storage.search_index import SLOT_BITS, compact_search_index
from tests.conftest import DESKTOP

MVD = -1001525384822
OTHER = -1001000000777
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


async def ids(sessions: async_sessionmaker[AsyncSession], query: str, **kw: Any) -> list[int]:
    async with sessions() as session:
        result = await search(session, query, limit=100, **kw)
    assert result.total == len(result.hits)
    return [hit.message_id for hit in result.hits]


@pytest.fixture
async def archive(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    await import_desktop_export(sessions, DESKTOP / "current-format-later", username="mvd_test")
    return sessions


async def test_word_forms_phrases_prefixes_exact(archive: async_sessionmaker[AsyncSession]) -> None:
    assert await ids(archive, "мигрант") == [9, 4, 2]
    assert await ids(archive, "МИГРАНТЫ") == [9, 4, 2]
    assert await ids(archive, "=мигрантов") == [2]
    assert await ids(archive, "мигра*") == [9, 4, 2]
    assert await ids(archive, '"уголовное дело"') == [3]
    assert await ids(archive, '"уголовного дела"') == [3]
    assert await ids(archive, '"дело уголовное"') == []
    assert await ids(archive, "Бишкек") == [4, 2]
    assert await ids(archive, "кармалды") == [4]  # Kyrgyz verb form, no Kyrgyz letters


async def test_a_button_that_opens_a_page_is_a_link(
    archive: async_sessionmaker[AsyncSession],
) -> None:
    """has:link finds a post whose only link is the button under it, in the index and in a
    rule's match alike; a bot's button leads nowhere."""
    read = {"type": "url", "text": "Читать", "url": "https://mvd.kg/1"}
    vote = {"type": "callback", "text": "Голосовать"}
    async with archive.begin() as session:
        posts = [
            PostRecord(MVD, 50, T0, text="Сводка за день", buttons=[[read]]),
            PostRecord(MVD, 51, T0, text="Опрос за день", buttons=[[vote]]),
        ]
        await store_posts(session, posts, source=Source.LIVE, observed_at=T0)
    assert await ids(archive, "has:link день") == [50]
    stored = {"channel_id": MVD, "date": T0, "text": "Сводка за день"}
    assert matches(parse("has:link"), build_document({**stored, "buttons": [[read]]}))
    assert not matches(parse("has:link"), build_document({**stored, "buttons": [[vote]]}))


async def test_boolean_and_filters(archive: async_sessionmaker[AsyncSession]) -> None:
    assert await ids(archive, "задержан -мигрант") == [7, 6]
    assert await ids(archive, "мигрант OR паспорт") == [9, 6, 4, 2]
    assert await ids(archive, "has:photo") == [4]
    assert await ids(archive, "has:video") == [5]
    assert await ids(archive, "has:media -has:photo") == [10, 5]
    assert await ids(archive, "has:link") == [7, 3]
    assert await ids(archive, "is:forward") == [6]
    assert await ids(archive, "is:reply") == [7]
    assert await ids(archive, "is:edited") == [3, 2]
    assert await ids(archive, "channel:mvd_test мигрант") == [9, 4, 2]
    assert await ids(archive, "channel:@mvd_test -мигрант has:media") == [10, 5]


async def test_date_filters_use_utc_days(archive: async_sessionmaker[AsyncSession]) -> None:
    assert await ids(archive, "after:2024-03-04 before:2024-03-05") == [7, 6]
    assert await ids(archive, "мигрант after:2024-03-03") == [9, 4]
    assert await ids(archive, "мигрант OR after:2024-03-06") == [10, 9, 4, 2]  # nested: checked
    assert await ids(archive, "before:2024-03-02T00:00") == [2]


async def test_regex_queries(archive: async_sessionmaker[AsyncSession]) -> None:
    assert await ids(archive, r"/задерж\w+/i") == [7, 6, 2]
    assert await ids(archive, r"/ЗАДЕРЖ/") == []
    assert await ids(archive, r"/задерж/ -/показания/") == [6, 2]


async def test_snippets_mark_matched_words(archive: async_sessionmaker[AsyncSession]) -> None:
    async with archive() as session:
        result = await search(session, '"уголовное дело" OR МВД*')
    (hit,) = result.hits
    assert hit.link == "https://t.me/mvd_test/3"
    # МВД* is a prefix of words: the hashtag #МВД does not start with it
    assert hit.snippet.marked("<", ">") == (
        "Внимание! Возбуждено <уголовное дело>. Подробности: сайт <МВД> #МВД"
    )


async def test_paging_counts_and_relevance(archive: async_sessionmaker[AsyncSession]) -> None:
    async with archive() as session:
        page = await search(session, "мигрант", limit=2, offset=1)
        ranked = await search(session, "мигрант OR Бишкек", sort="relevance")
    assert page.total == 3
    assert [h.message_id for h in page.hits] == [4, 2]
    assert {h.message_id for h in ranked.hits} == {9, 4, 2}
    assert ranked.hits[-1].message_id == 9  # mentions only one of the two words


async def test_unknown_channel_and_bad_query(archive: async_sessionmaker[AsyncSession]) -> None:
    async with archive() as session:
        with pytest.raises(UserError, match="channel:nobody"):
            await search(session, "channel:nobody мигрант")
        with pytest.raises(QueryError, match="position 1"):
            await search(session, '"мигрант')


def rec(mid: int, text_: str, **kw: Any) -> PostRecord:
    return PostRecord(channel_id=OTHER, message_id=mid, date=kw.pop("date", T0), text=text_, **kw)


async def _other(
    sessions: async_sessionmaker[AsyncSession], *records: PostRecord, source: Source = Source.LIVE
) -> None:
    async with sessions.begin() as session:
        await upsert_channel(
            session, ChannelRecord(OTHER, "Другой канал", "other_ch"), observed_at=T0, source=source
        )
        await store_posts(session, records, source=source, observed_at=T0)


async def test_index_follows_edits_and_deletions(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _other(sessions, rec(1, "Задержан мигрант"), rec(2, "Погода в Бишкеке"))
    assert await ids(sessions, "мигрант") == [1]
    await _other(sessions, rec(1, "Задержан турист", edit_date=T0 + timedelta(hours=1)))
    assert await ids(sessions, "мигрант") == []
    assert await ids(sessions, "турист is:edited") == [1]
    async with sessions.begin() as session:
        await mark_deleted(session, OTHER, [2], source=Source.LIVE, observed_at=T0)
    assert await ids(sessions, "Бишкек") == []
    assert await ids(sessions, "Бишкек is:deleted") == [2]
    assert await ids(sessions, "is:deleted") == [2]
    await _other(sessions, rec(2, "Погода в Бишкеке"), source=Source.RECONCILE)  # restored
    assert await ids(sessions, "Бишкек") == [2]


async def test_newest_first_follows_dates_not_arrival(
    sessions: async_sessionmaker[AsyncSession],
    backend: str,
) -> None:
    """A backfill stores old posts after new ones; results are still in date order, and posts
    in the same second keep distinct keys."""
    await _other(sessions, rec(50, "мигрант сегодня", date=T0 + timedelta(days=3)))
    await _other(
        sessions,
        rec(10, "мигрант давно", date=T0 - timedelta(days=300)),
        rec(11, "мигрант тогда же", date=T0 - timedelta(days=300)),
        rec(30, "мигрант вчера", date=T0 + timedelta(days=2)),
    )
    assert await ids(sessions, "мигрант") == [50, 30, 11, 10]
    async with sessions() as session:
        keys = (
            (await session.execute(text("SELECT search_key FROM post_search ORDER BY search_key")))
            .scalars()
            .all()
        )
    assert len(set(keys)) == 4
    assert keys[0] >> SLOT_BITS == int((T0 - timedelta(days=300)).timestamp())


async def test_service_messages_are_not_searchable(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await import_desktop_export(sessions, DESKTOP / "current-format-early")
    assert 1 not in await ids(sessions, "channel:-1001525384822")
    assert 8 not in await ids(sessions, "-мигрант")


async def test_forward_names_and_polls(sessions: async_sessionmaker[AsyncSession]) -> None:
    poll = {
        "type": "poll",
        "poll": {"question": "Нужен ли рейд?", "answers": [{"text": "Да"}, {"text": "Нет"}]},
    }
    await _other(sessions, rec(1, "", media=poll, forward=Forward(from_name="Пресс-служба")))
    assert await ids(sessions, "рейд has:media is:forward") == [1]


async def test_repeated_channel_filters_widen(
    archive: async_sessionmaker[AsyncSession],
) -> None:
    await _other(archive, rec(1, "Мигранты в другом канале"))
    assert await ids(archive, "мигрант channel:mvd_test") == [9, 4, 2]
    both = await ids(archive, "мигрант channel:mvd_test channel:other_ch")
    assert sorted(both) == [1, 2, 4, 9]


async def test_totals_are_capped_unless_asked(archive: async_sessionmaker[AsyncSession]) -> None:
    async with archive() as session:
        capped = await search(session, "мигрант", limit=1, count_limit=2)
        exact = await search(session, "мигрант", limit=1, count_limit=None)
    assert (capped.total, capped.total_is_exact) == (2, False)
    assert (exact.total, exact.total_is_exact) == (3, True)
    assert [h.message_id for h in capped.hits] == [9]


async def test_many_hits_read_the_same_newest_first_and_relevance_ranks_by_words(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relevance ranks by the query's words, though every default query holds a NOT (ts_rank of
    a NOT is ~0 for every post). With DENSE_HITS hits or more, PostgreSQL walks the key index
    instead of collecting every hit: the pages stay the same."""
    posts = [
        rec(mid, "мигрант " * (1 + mid % 3) + "новость", date=T0 + timedelta(hours=mid))
        for mid in range(1, 9)
    ]
    await _other(sessions, *posts, rec(20, "другое", date=T0 + timedelta(days=5)))
    few = await ids(sessions, "мигрант")
    async with sessions() as session:
        few_pages = [await search(session, "мигрант", limit=3, offset=o) for o in (0, 3, 6)]
    monkeypatch.setattr(engine_module, "DENSE_HITS", 5)
    assert await ids(sessions, "мигрант") == few == list(range(8, 0, -1))
    async with sessions() as session:
        pages = [await search(session, "мигрант", limit=3, offset=o) for o in (0, 3, 6)]
        capped = await search(session, "мигрант", limit=3, count_limit=2)
        past_the_count = await search(session, "мигрант", limit=3, offset=6, count_limit=2)
        ranked = await search(session, "мигрант", sort="relevance")
    assert [[h.message_id for h in p.hits] for p in pages] == [
        [h.message_id for h in p.hits] for p in few_pages
    ]
    assert [p.total for p in pages] == [8, 8, 8]
    assert (capped.total, capped.total_is_exact, len(capped.hits)) == (2, False, 3)
    assert [h.message_id for h in past_the_count.hits] == [2, 1]  # beyond what was counted
    # more mentions first, then newest: three (8, 5, 2), two (7, 4, 1), one (6, 3)
    assert [h.message_id for h in ranked.hits] == [8, 5, 2, 7, 4, 1, 6, 3]


async def test_a_batch_larger_than_one_insert_statement_is_indexed_whole(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the index entries of a batch go in groups of rows per statement: every
    group, the short last one too, is found, with its facets."""
    monkeypatch.setattr(bulk, "GROUP_ROWS", 150)  # 400 entries: statements of 150, 150, 100
    photo = {"type": "photo", "width": 1280, "height": 853, "size": 183244}
    batch = [
        rec(
            mid,
            f"мигрант номер{mid}" if mid % 2 else f"погода номер{mid}",
            date=T0 + timedelta(minutes=mid // 3),  # three posts a minute: slots are probed
            media=photo if mid % 100 == 1 else None,
        )
        for mid in range(1, 401)
    ]
    await _other(sessions, *batch)
    async with sessions() as session:
        migrants = await search(session, "мигрант", limit=500, count_limit=None)
        entries = await session.scalar(select(func.count()).select_from(post_search))
    assert entries == 400
    assert [h.message_id for h in migrants.hits] == list(range(399, 0, -2))
    assert migrants.total == 200
    assert await ids(sessions, "has:photo") == [301, 201, 101, 1]
    assert await ids(sessions, "номер400 OR номер1") == [400, 1]


async def test_compacting_the_index_after_a_rebuild_keeps_every_hit(
    sessions: async_sessionmaker[AsyncSession], backend: str
) -> None:
    for day in range(6):  # one write each: SQLite's full-text index gets a segment per write
        await _other(sessions, rec(day + 1, f"мигрант день {day}", date=T0 + timedelta(days=day)))
    before = await ids(sessions, "мигрант")
    stored = (
        "SELECT count(*) FROM post_search_fts_data"
        if backend == "sqlite"
        else "SELECT count(*) FROM pg_stat_user_tables "
        "WHERE relname = 'post_search' AND last_analyze IS NOT NULL"
    )
    async with sessions() as session:
        shape_before = (await session.execute(text(stored))).scalar_one()
    async with sessions.begin() as session:
        await compact_search_index(session)
    async with sessions() as session:
        shape_after = (await session.execute(text(stored))).scalar_one()
    assert await ids(sessions, "мигрант") == before == [6, 5, 4, 3, 2, 1]
    if backend == "sqlite":
        assert shape_after < shape_before  # segments merged into one
    else:
        assert (shape_before, shape_after) == (0, 1)  # the planner's statistics were refreshed


async def test_a_rebuild_beside_the_archiver_never_writes_back_a_replaced_text(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dozor db reindex` while `dozor run` archives: an edit and a deletion that come while
    a batch is being rebuilt must not have their index entries overwritten with what the
    batch read before them. The batch holds them off until it is stored."""
    await _other(sessions, rec(1, "Задержан мигрант"), rec(2, "Погода в Бишкеке"))
    read_batch = reindex_module._batch_after
    writer: asyncio.Task[None] | None = None

    async def archive_changes() -> None:
        await _other(sessions, rec(1, "Задержан турист", edit_date=T0 + timedelta(hours=1)))
        async with sessions.begin() as session:
            await mark_deleted(session, OTHER, [2], source=Source.LIVE, observed_at=T0)

    async def batch_then_changes(session: AsyncSession, *args: Any) -> list[dict[str, Any]]:
        nonlocal writer
        rows = await read_batch(session, *args)
        if writer is None:
            writer = asyncio.create_task(archive_changes())
            await asyncio.wait({writer}, timeout=0.5)  # done here unless the batch holds it
        return rows

    monkeypatch.setattr(reindex_module, "_batch_after", batch_then_changes)
    assert await reindex_module.rebuild_search_index(sessions) == 2
    assert writer is not None
    await writer
    assert await ids(sessions, "турист") == [1]
    assert await ids(sessions, "мигрант") == []
    assert await ids(sessions, "Бишкек") == []
    assert await ids(sessions, "Бишкек is:deleted") == [2]


async def test_phrases_of_common_words_are_answered_by_the_index(
    sessions: async_sessionmaker[AsyncSession], backend: str, checked_one_by_one: list[str]
) -> None:
    """этот and день have 14 and 18 stems: on SQLite the phrase is an OR of 252 FTS5 phrases,
    exact, so no candidate is checked one by one. A longer phrase past MAX_PHRASE_VARIANTS
    needs each pair of neighbours side by side, and the matcher checks those candidates.
    PostgreSQL's tsquery spells any phrase exactly."""
    dated = [T0 + timedelta(hours=h) for h in range(7)]
    await _other(
        sessions,
        rec(1, "В этот день задержан мигрант", date=dated[0]),
        rec(2, "В этом дне нет ничего особого", date=dated[1]),
        rec(3, "День этот запомнят", date=dated[2]),
        rec(4, "Этот важный день настал", date=dated[3]),
        rec(5, "Этот день этого года запомнят", date=dated[4]),
        rec(6, "Этот день этого дня и этого года", date=dated[5]),
        rec(7, "Года этого не забыть, как и этот день", date=dated[6]),  # no pair but этот день
    )
    assert await ids(sessions, '"этот день"') == [7, 6, 5, 2, 1]
    assert await ids(sessions, '"в этот день"') == [2, 1]
    assert checked_one_by_one == []
    # 14 * 18 * 13 stems: too many combinations for one expression
    assert await ids(sessions, '"этот день этого года"') == [5]
    if backend == "sqlite":
        assert checked_one_by_one == [
            "Этот день этого дня и этого года",  # every pair of neighbours, not the phrase
            "Этот день этого года запомнят",
        ]
    else:
        assert checked_one_by_one == []


async def test_phrases_of_prefixes_are_answered_by_the_index(
    archive: async_sessionmaker[AsyncSession], checked_one_by_one: list[str]
) -> None:
    assert await ids(archive, '"уголовн* дел*"') == [3]
    assert await ids(archive, '"возбужд* уголовн* дел*"') == [3]
    assert await ids(archive, '"дел* уголовн*"') == []
    assert await ids(archive, '="уголовное дело"') == [3]
    assert checked_one_by_one == []


async def test_phrases_mixing_word_forms_and_prefixes_need_each_run_side_by_side(
    archive: async_sessionmaker[AsyncSession], backend: str, checked_one_by_one: list[str]
) -> None:
    """On SQLite word forms and prefixes live in two columns: each run of one column must be
    a phrase, and the matcher checks the candidates (PostgreSQL spells it exactly)."""
    await _other(archive, rec(1, "Уголовное дело возбуждено вчера"))  # every word, no run
    assert await ids(archive, '"возбуждено уголовное дел*"') == [3]
    expected = [] if backend == "postgresql" else [await _text(archive, 3)]
    assert checked_one_by_one == expected
    assert await ids(archive, '"возбуждено уголовное =дело"') == [3]  # one exact form
    assert await ids(archive, '"возбуждено уголовное =дела"') == []


async def test_a_word_form_beside_a_prefix_is_looked_for_among_the_words(
    archive: async_sessionmaker[AsyncSession], backend: str, checked_one_by_one: list[str]
) -> None:
    """No run of one column is longer than a word, so on SQLite the phrase is also looked
    for among the words, each word form by how its words begin: only posts where the two
    stand side by side are checked, not every post that has both somewhere."""
    await _other(
        archive,
        rec(1, "Дело уголовное, возбуждено вчера"),
        rec(2, "Мигранттарды Бишкекте кармады"),  # Kyrgyz, the other way round
        rec(3, "Бишкектеги мигранттар"),  # Kyrgyz, side by side (another case of Бишкек)
    )
    assert await ids(archive, '"уголовное дел*"') == [3]
    assert await ids(archive, '"бишкекте мигрант*"') == [3]  # not 4: "Бишкекте милиция ..."
    if backend == "sqlite":
        assert checked_one_by_one == [await _text(archive, 3), "Бишкектеги мигранттар"]
    else:
        assert checked_one_by_one == []


async def _text(sessions: async_sessionmaker[AsyncSession], message_id: int) -> str:
    async with sessions() as session:
        found = await session.execute(
            select(posts.c.text).where(posts.c.channel_id == MVD, posts.c.message_id == message_id)
        )
    return str(found.scalar_one())


@pytest.fixture
def checked_one_by_one(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Texts of the candidates the search checks with the matcher, one by one."""
    checked: list[str] = []

    def counted(node: Node, doc: Document) -> bool:
        checked.append(doc.text)
        return matches(node, doc)

    monkeypatch.setattr(engine_module, "matches", counted)
    return checked


async def test_queries_checked_post_by_post_count_within_a_budget(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regex is checked post by post. Once the page is found, a capped total counts hits
    among SCAN_COUNT_BUDGET candidates only (a lower bound); past MAX_SCAN candidates the
    search stops and says how many it checked."""
    await _other(
        sessions,
        *(rec(mid, f"мигрант номер {mid}", date=T0 + timedelta(hours=mid)) for mid in range(1, 9)),
        rec(20, "редкое слово", date=T0 - timedelta(days=1)),
    )
    monkeypatch.setattr(engine_module, "SCAN_PAGE", 2)
    monkeypatch.setattr(engine_module, "SCAN_COUNT_BUDGET", 4)
    async with sessions() as session:
        budget = await search(session, "/мигрант/", limit=2)
        capped = await search(session, "/мигрант/", limit=1, count_limit=3)
        later_page = await search(session, "/мигрант/", limit=2, offset=4)
        exact = await search(session, "/мигрант/", limit=2, count_limit=None)
    # statements read 2, then 4 candidates (pages grow): 6 are counted
    assert ([h.message_id for h in budget.hits], budget.total, budget.total_is_exact) == (
        [8, 7],
        6,
        False,
    )
    assert (capped.total, capped.total_is_exact) == (6, False)
    assert ([h.message_id for h in later_page.hits], later_page.total) == ([4, 3], 6)
    assert (exact.total, exact.total_is_exact, exact.checked_only) == (8, True, None)

    monkeypatch.setattr(engine_module, "MAX_SCAN", 6)
    async with sessions() as session:
        cut = await search(session, "/мигрант/", limit=2, count_limit=None)
        rare = await search(session, "/редкое/", limit=2)
    assert (cut.total, cut.total_is_exact, cut.checked_only) == (6, False, 6)
    assert (rare.hits, rare.total, rare.checked_only) == ([], 0, 6)  # the post is older


@pytest.mark.parametrize(
    ("query", "ranked"),
    [
        ("мигрант", True),
        ('"уголовное дело" has:photo', True),
        ("мигра* -is:forward", True),
        ("NOT (NOT мигрант)", True),
        ("мигрант OR /задерж/", False),  # the OR is checked post by post: no word is ranked
        ("has:photo", False),
        ("-мигрант", False),
        (r"/задерж\w+/", False),
        ("after:2024-01-01", False),
    ],
)
def test_plans_know_whether_bm25_ranks_anything(query: str, ranked: bool) -> None:
    """Without a word outside a NOT, bm25 scores every hit alike and relevance is newest
    first; dozor then skips the sort (seconds for a regex on a large archive)."""
    assert Fts5Compiler().compile(default_scope(parse(query))).ranked is ranked


async def test_relevance_without_words_is_newest_first(
    archive: async_sessionmaker[AsyncSession],
) -> None:
    for query in ("has:media", r"/задерж\w+/", "-мигрант", "мигрант OR /Бишкек/"):
        assert await ids(archive, query, sort="relevance") == await ids(archive, query)
    ranked = await ids(archive, "мигрант OR Бишкек", sort="relevance")
    assert ranked != await ids(archive, "мигрант OR Бишкек")  # ranked by the words


async def test_candidates_are_matched_on_their_index_entries(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A scan matches candidates on the index entry's words, stems and facets instead of
    analysing each text again: the same Document as the post's own, for every kind of post."""
    await import_desktop_export(sessions, DESKTOP / "current-format-later", username="mvd_test")
    await import_desktop_export(sessions, DESKTOP / "tg2md-private-channel-2021")
    async with sessions() as session:
        rows = (
            await session.execute(
                select(posts, post_search.c.words, post_search.c.stems, post_search.c.facets)
                .join_from(
                    posts,
                    post_search,
                    (posts.c.channel_id == post_search.c.channel_id)
                    & (posts.c.message_id == post_search.c.message_id),
                )
                .order_by(posts.c.channel_id, posts.c.message_id)
            )
        ).all()
    assert len(rows) > 20
    for row in rows:
        post = dict(row._mapping)
        indexed = indexed_document(post, post["words"], post["stems"], post["facets"])
        assert indexed == build_document(post), post["message_id"]


def test_a_query_spells_out_a_bounded_number_of_phrase_combinations() -> None:
    """Each phrase may take 1,024 stem combinations, the whole query 4,096: a query of many
    such phrases once took 16 s and 430 MB in FTS5. The rest need their neighbours."""
    query = " OR ".join(['"этот самый день"'] * 5)  # 14 * 4 * 18 = 1,008 combinations each
    plan = Fts5Compiler().compile(default_scope(parse(query)))
    spelled = re.findall(r'stems : "[^"]* [^"]*"', plan.expression)
    assert 4 * 1008 <= len(spelled) <= MAX_QUERY_VARIANTS
    assert plan.exact is False  # the fifth phrase: neighbours side by side, then checked
    assert Fts5Compiler().compile(default_scope(parse('"этот самый день"'))).exact
