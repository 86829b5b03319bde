"""The single write path: versions, events, metrics, tombstones, merging partial sources."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.db import write_transaction
from dozor.errors import AmbiguousChannel, ChannelNotFound, UserError
from dozor.importer import import_desktop_export
from dozor.models import channel_changes, channels, media_files, post_metrics, post_versions, posts
from dozor.records import ChannelRecord, Forward, PostRecord, Source
from dozor.storage import list_channels, mark_deleted, resolve_channel, store_posts, upsert_channel
from dozor.storage.channels import channel_history, channel_rows
from dozor.storage.events import events_after
from dozor.storage.history import parse_post_ref
from dozor.storage.media import record_media_file
from dozor.storage.notices import changes_to_notice, notice_cursor, set_notice_cursor
from dozor.storage.post_changes import ChangeFilter, changes_after, post_changes
from tests.conftest import DESKTOP
from tests.helpers import all_rows, event_log, post, versions

CH = -1001525384822
T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)


def rec(mid: int, text: str = "", **kw: Any) -> PostRecord:
    return PostRecord(
        channel_id=CH, message_id=mid, date=T0 + timedelta(minutes=mid), text=text, **kw
    )


async def _channel(sessions: async_sessionmaker[AsyncSession], **kw: object) -> None:
    async with sessions.begin() as s:
        await upsert_channel(
            s,
            ChannelRecord(id=CH, title="МВД", **kw),  # type: ignore[arg-type]
            observed_at=T0,
            source=Source.BACKFILL,
        )


async def _store(
    sessions: async_sessionmaker[AsyncSession],
    records: list[PostRecord],
    source: Source = Source.BACKFILL,
    at: datetime = T0,
):
    async with sessions.begin() as s:
        return await store_posts(s, records, source=source, observed_at=at)


async def test_new_posts_get_version_one_and_a_new_event(sessions) -> None:
    await _channel(sessions)
    outcome = await _store(sessions, [rec(1, "первый"), rec(2, "второй")])
    assert (outcome.new, outcome.events) == (2, 2)
    assert await event_log(sessions) == [("new", 1), ("new", 2)]
    assert [v["version"] for v in await versions(sessions, CH, 2)] == [1]
    stored = await post(sessions, CH, 2)
    assert stored["text"] == "второй"
    assert stored["current_version"] == 1
    assert stored["date"] == T0 + timedelta(minutes=2)


async def test_same_content_again_changes_nothing(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(1, "текст")])
    before = await post(sessions, CH, 1)
    outcome = await _store(sessions, [rec(1, "текст")], at=T0 + timedelta(hours=1))
    assert (outcome.new, outcome.edited, outcome.unchanged, outcome.events) == (0, 0, 1, 0)
    assert await post(sessions, CH, 1) == before


async def test_edit_creates_a_version_and_an_edited_event(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(1, "задержали двух")])
    edited = rec(1, "задержали трёх", edit_date=T0 + timedelta(days=1))
    outcome = await _store(sessions, [edited], source=Source.LIVE, at=T0 + timedelta(days=1))
    assert outcome.edited == 1
    history = await versions(sessions, CH, 1)
    assert [(v["version"], v["text"]) for v in history] == [
        (1, "задержали двух"),
        (2, "задержали трёх"),
    ]
    assert history[0]["content_sha256"] != history[1]["content_sha256"]
    assert (await post(sessions, CH, 1))["current_version"] == 2
    async with sessions() as s:
        feed = await events_after(s, 1)
    assert [(e["kind"], e["version"], e["details"]) for e in feed] == [
        ("edited", 2, {"previous_version": 1})
    ]


async def test_views_and_reactions_are_metrics_not_versions(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(1, "x", views=10, reactions=[])])
    outcome = await _store(
        sessions,
        [rec(1, "x", views=25, reactions=[{"type": "emoji", "emoji": "👍", "count": 2}])],
        at=T0 + timedelta(hours=1),
    )
    assert (outcome.edited, outcome.refreshed) == (0, 1)
    assert len(await versions(sessions, CH, 1)) == 1
    samples = await all_rows(sessions, post_metrics)
    assert [(s["views"], s["reactions"]) for s in samples] == [
        (10, []),
        (25, [{"type": "emoji", "emoji": "👍", "count": 2}]),
    ]
    assert (await post(sessions, CH, 1))["views"] == 25


async def test_imports_update_counters_but_write_no_metric_samples(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(1, "x", views=10)], source=Source.IMPORT)
    assert await all_rows(sessions, post_metrics) == []
    assert (await post(sessions, CH, 1))["views"] == 10


async def test_unknown_fields_keep_what_the_archive_knows(sessions) -> None:
    await _channel(sessions)
    live = rec(
        1,
        "пересланное",
        views=500,
        forwards=3,
        grouped_id=77,
        forward=Forward(from_id=-1001399999999, from_name="Погранслужба", message_id=12),
        media={"type": "photo", "id": "5400", "size": 1000, "width": 800},
    )
    await _store(sessions, [live])
    exported = rec(
        1,
        "пересланное",
        forward=Forward(from_name="Погранслужба"),
        media={"type": "photo", "file": "photos/p.jpg", "width": 800},
    )
    outcome = await _store(sessions, [exported], source=Source.IMPORT)
    assert outcome.edited == 0
    stored = await post(sessions, CH, 1)
    assert (stored["views"], stored["forwards"], stored["grouped_id"]) == (500, 3, 77)
    assert stored["forwarded_from_id"] == -1001399999999
    assert stored["forwarded_from_message_id"] == 12
    assert stored["media"] == {
        "type": "photo",
        "id": "5400",
        "size": 1000,
        "width": 800,
        "file": "photos/p.jpg",
    }


async def test_a_file_an_export_left_out_is_no_news_about_an_archived_attachment(
    sessions,
) -> None:
    await _channel(sessions)
    archived = rec(1, "фото", media={"type": "photo"})  # from a t.me/s page, say
    await _store(sessions, [archived], source=Source.IMPORT)
    left_out = rec(1, "фото", media={"type": "photo", "file_not_exported": True})
    outcome = await _store(sessions, [left_out], source=Source.IMPORT)
    assert (outcome.unchanged, outcome.refreshed, outcome.edited) == (1, 0, 0)
    assert (await post(sessions, CH, 1))["media"] == {"type": "photo"}

    await _store(sessions, [replace(left_out, message_id=2)], source=Source.IMPORT)
    assert (await post(sessions, CH, 2))["media"] == {"type": "photo", "file_not_exported": True}
    with_file = rec(2, "фото", media={"type": "photo", "file": "photos/2.jpg"})
    outcome = await _store(sessions, [with_file], source=Source.IMPORT)
    assert (outcome.refreshed, outcome.edited) == (1, 0)
    assert (await post(sessions, CH, 2))["media"] == {"type": "photo", "file": "photos/2.jpg"}


async def test_telegram_completes_an_export_s_copy_of_a_post_it_never_saw_edited(
    sessions,
) -> None:
    """Desktop drops a link nested in bold (pages and HTML exports lose more): when Telegram
    shows the post, never edited since, its exact formatting completes the imported version
    instead of passing for an edit."""
    await _channel(sessions)
    bold = {"type": "bold", "offset": 0, "length": 17}
    link = {"type": "text_link", "offset": 13, "length": 4, "url": "https://mvd.gov.kg"}
    exported = rec(1, "Подробности: сайт", entities=[bold])
    await _store(sessions, [exported], source=Source.IMPORT)
    telegram = replace(exported, entities=[bold, link], views=900)
    outcome = await _store(sessions, [telegram], at=T0 + timedelta(days=7))
    assert (outcome.edited, outcome.refreshed, outcome.events) == (0, 1, 0)
    (version,) = await versions(sessions, CH, 1)
    assert (version["entities"], version["source"]) == ([bold, link], "import")
    stored = await post(sessions, CH, 1)
    assert (stored["entities"], stored["current_version"]) == ([bold, link], 1)
    assert stored["content_sha256"] == version["content_sha256"]
    assert await event_log(sessions) == [("new", 1)]

    # Edited on Telegram after the export: an edit, as ever.
    edited = replace(telegram, text="Подробности: сайт МВД", edit_date=T0 + timedelta(days=8))
    outcome = await _store(sessions, [edited], at=T0 + timedelta(days=9))
    assert (outcome.edited, await event_log(sessions)) == (1, [("new", 1), ("edited", 1)])


READ = [[{"type": "url", "text": "Читать", "url": "https://mvd.kg/1"}]]


async def test_buttons_telegram_shows_on_a_post_archived_before_dozor_kept_them_are_no_edit(
    sessions,
) -> None:
    """A post archived before dozor kept buttons has them NULL (not known): Telegram showing
    them now completes the version; a post known to have none that gets one is edited."""
    await _channel(sessions)
    await _store(sessions, [rec(1, "Заявление"), rec(2, "Сводка", buttons=[])])
    await _store(sessions, [rec(1, "Заявление", buttons=READ), rec(2, "Сводка", buttons=READ)])
    first, second = await versions(sessions, CH, 1), await versions(sessions, CH, 2)
    assert [v["buttons"] for v in first] == [READ]  # completed, not a second version
    assert [v["buttons"] for v in second] == [[], READ]  # the channel added a button
    assert (await post(sessions, CH, 1))["buttons"] == READ
    assert await event_log(sessions) == [("new", 1), ("new", 2), ("edited", 2)]


async def test_an_export_that_shows_no_buttons_keeps_the_archived_ones(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(1, "Заявление", buttons=READ)])
    outcome = await _store(sessions, [rec(1, "Заявление")], source=Source.IMPORT)
    assert outcome.unchanged == 1
    assert (await post(sessions, CH, 1))["buttons"] == READ
    other = [[{**READ[0][0], "url": "https://example.org/"}]]
    await _store(sessions, [rec(1, "Заявление", buttons=other, edit_date=T0 + timedelta(1))])
    assert [v["buttons"] for v in await versions(sessions, CH, 1)] == [READ, other]


async def test_an_export_s_other_words_stay_in_the_history(sessions) -> None:
    """An export that says what Telegram does not (a damaged or doctored file) is kept as a
    version, for the analyst to see, not overwritten; spacing alone is no other words."""
    await _channel(sessions)
    await _store(
        sessions, [rec(1, "Задержан  мигрант\n"), rec(2, "Задержан мигрант")], source=Source.IMPORT
    )
    telegram = [rec(1, "Задержан мигрант"), rec(2, "Задержаны трое мигрантов")]
    outcome = await _store(sessions, telegram)
    assert (outcome.edited, outcome.refreshed) == (1, 1)
    assert [v["text"] for v in await versions(sessions, CH, 1)] == ["Задержан мигрант"]
    assert [v["text"] for v in await versions(sessions, CH, 2)] == [
        "Задержан мигрант",
        "Задержаны трое мигрантов",
    ]


async def test_an_export_that_lost_nested_formatting_is_no_edit_of_telegram_s_post(
    sessions,
) -> None:
    await _channel(sessions)
    bold = {"type": "bold", "offset": 0, "length": 17}
    link = {"type": "text_link", "offset": 13, "length": 4, "url": "https://mvd.gov.kg"}
    telegram = rec(1, "Подробности: сайт", entities=[bold, link])
    await _store(sessions, [telegram])
    exported = replace(telegram, entities=[bold], author_signature="Пресс-служба")
    outcome = await _store(sessions, [exported], source=Source.IMPORT)
    assert (outcome.edited, outcome.refreshed, outcome.events) == (0, 1, 0)
    stored = await post(sessions, CH, 1)
    assert (stored["entities"], stored["author_signature"]) == ([bold, link], "Пресс-служба")
    assert len(await versions(sessions, CH, 1)) == 1
    # An export of a later edit is an edit, whatever its formatting.
    edited = replace(exported, text="Подробности: сайт МВД", edit_date=T0 + timedelta(hours=1))
    outcome = await _store(sessions, [edited], source=Source.IMPORT)
    assert (outcome.edited, await event_log(sessions)) == (1, [("new", 1), ("edited", 1)])


async def test_an_old_export_of_an_archived_version_formatted_otherwise_is_no_news(
    sessions,
) -> None:
    await _channel(sessions)
    bold = {"type": "bold", "offset": 0, "length": 5}
    link = {"type": "text_link", "offset": 0, "length": 5, "url": "https://mvd.gov.kg"}
    first = rec(1, "Дело возбуждено")
    second = replace(first, entities=[bold, link], edit_date=T0 + timedelta(hours=1))
    third = replace(second, text="Дело закрыто", edit_date=T0 + timedelta(hours=2))
    for record in (first, second, third):
        await _store(sessions, [record], source=Source.LIVE)
    exported = replace(second, entities=[bold])  # an export made between the two edits
    outcome = await _store(sessions, [exported], source=Source.IMPORT)
    assert (outcome.edited, outcome.unchanged) == (0, 1)
    assert len(await versions(sessions, CH, 1)) == 3


async def test_an_export_s_details_of_a_service_message_are_no_edit(sessions) -> None:
    await _channel(sessions)
    telegram = rec(5, kind="service", service_action={"type": "edit_group_photo"})
    await _store(sessions, [telegram])
    exported = replace(
        telegram,
        service_action={
            "type": "edit_group_photo",
            "photo": "(File not included. Change data exporting settings to download.)",
            "width": 640,
            "height": 640,
        },
    )
    outcome = await _store(sessions, [exported], source=Source.IMPORT)
    assert (outcome.edited, outcome.events) == (0, 0)
    assert (await post(sessions, CH, 5))["service_action"] == {"type": "edit_group_photo"}
    retitled = replace(telegram, service_action={"type": "edit_group_title", "title": "МВД"})
    outcome = await _store(sessions, [retitled], source=Source.IMPORT)
    assert outcome.edited == 1  # another action: not the same version


async def test_an_export_s_edited_copy_is_completed_when_telegram_shows_that_edit(
    sessions,
) -> None:
    """The export saw the post after its edit, and read its dates six hours off (a legacy
    export, a wrong --tz): the same edit, a minute after posting, is no new edit."""
    await _channel(sessions)
    posted = T0 + timedelta(hours=6)
    # rec(2) is posted at T0 + 2 min, and this copy was edited a minute later
    exported = rec(2, "Внимание! Дело", entities=[], edit_date=T0 + timedelta(minutes=3))
    await _store(sessions, [exported], source=Source.IMPORT)
    telegram = replace(
        exported,
        date=posted + timedelta(minutes=2),
        edit_date=posted + timedelta(minutes=3),
        entities=[{"type": "bold", "offset": 0, "length": 8}],
    )
    outcome = await _store(sessions, [telegram])
    assert (outcome.edited, outcome.refreshed, outcome.events) == (0, 1, 0)
    assert len(await versions(sessions, CH, 2)) == 1
    assert (await post(sessions, CH, 2))["date"] == posted + timedelta(minutes=2)


async def test_replaced_attachment_is_an_edit(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(1, "фото", media={"type": "photo", "id": "1"})])
    outcome = await _store(
        sessions,
        [rec(1, "фото", media={"type": "photo", "id": "2"}, edit_date=T0 + timedelta(hours=2))],
    )
    assert outcome.edited == 1


async def test_older_snapshot_is_kept_as_history_but_not_current(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(1, "новый текст", edit_date=T0 + timedelta(days=2))])
    older = rec(1, "старый текст", edit_date=T0 + timedelta(days=1))
    outcome = await _store(sessions, [older], source=Source.IMPORT)
    assert outcome.edited == 1
    assert (await post(sessions, CH, 1))["text"] == "новый текст"
    assert [v["text"] for v in await versions(sessions, CH, 1)] == ["новый текст", "старый текст"]
    assert await event_log(sessions) == [("new", 1)]
    again = await _store(sessions, [older], source=Source.IMPORT)
    assert (again.edited, again.unchanged) == (0, 1)


async def test_reverting_to_an_earlier_text_is_a_new_version(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(1, "A")])
    await _store(sessions, [rec(1, "B", edit_date=T0 + timedelta(hours=1))])
    await _store(sessions, [rec(1, "A", edit_date=T0 + timedelta(hours=2))])
    assert [v["text"] for v in await versions(sessions, CH, 1)] == ["A", "B", "A"]
    assert (await post(sessions, CH, 1))["current_version"] == 3


async def test_deletion_is_a_tombstone_and_a_live_sighting_restores(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(1, "удалят"), rec(2, "останется")])
    async with sessions.begin() as s:
        marked = await mark_deleted(s, CH, [1, 99], source=Source.LIVE, observed_at=T0)
    assert (marked.deleted, marked.expired) == ([1], [])
    async with sessions.begin() as s:
        assert not await mark_deleted(s, CH, [1], source=Source.LIVE, observed_at=T0)
    gone = await post(sessions, CH, 1)
    assert gone["deleted_at"] == T0
    assert gone["text"] == "удалят"
    # an old export must not resurrect it...
    await _store(sessions, [rec(1, "удалят")], source=Source.IMPORT)
    assert (await post(sessions, CH, 1))["deleted_at"] == T0
    # ...but Telegram returning it (a false deletion) does
    outcome = await _store(sessions, [rec(1, "удалят")], source=Source.RECONCILE)
    assert outcome.restored == 1
    assert (await post(sessions, CH, 1))["deleted_at"] is None
    assert await event_log(sessions) == [("new", 1), ("new", 2), ("deleted", 1), ("restored", 1)]


async def test_duplicates_in_one_batch_keep_the_last(sessions) -> None:
    await _channel(sessions)
    outcome = await _store(sessions, [rec(1, "first"), rec(1, "second")])
    assert outcome.new == 1
    assert (await post(sessions, CH, 1))["text"] == "second"


async def test_sparse_batches_load_correctly(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(mid, f"post {mid}") for mid in (1, 5000, 90000)])
    outcome = await _store(sessions, [rec(mid, f"post {mid}") for mid in (1, 5000, 90000, 90001)])
    assert (outcome.new, outcome.unchanged) == (1, 3)


async def test_event_sequence_only_grows(sessions) -> None:
    await _channel(sessions)
    for i in range(1, 6):
        await _store(sessions, [rec(i, str(i))])
    async with sessions() as s:
        seqs = [e["seq"] for e in await events_after(s, 0)]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 5
        assert [e["seq"] for e in await events_after(s, seqs[2])] == seqs[3:]


async def test_channel_changes_are_logged(sessions) -> None:
    await _channel(sessions, username="mvd_test")
    async with sessions.begin() as s:
        changed = await upsert_channel(
            s,
            ChannelRecord(id=CH, title="МВД КР", username="mvd_test", subscribers=100),
            observed_at=T0 + timedelta(days=1),
            source=Source.LIVE,
        )
    assert changed == ["title", "subscribers"]
    log = await all_rows(sessions, channel_changes)
    assert [(c["field"], c["old_value"], c["new_value"]) for c in log] == [
        ("title", "МВД", "МВД КР"),
        ("subscribers", None, "100"),
    ]


async def test_a_username_moves_to_the_channel_that_now_has_it(sessions, caplog) -> None:
    await _channel(sessions, username="mvd_test")
    other = -1001000000777
    async with sessions.begin() as s:
        await upsert_channel(
            s,
            ChannelRecord(id=other, title="Новый", username="MVD_Test"),
            observed_at=T0 + timedelta(days=2),
            source=Source.LIVE,
        )
    rows = {r["id"]: r["username"] for r in await all_rows(sessions, channels)}
    assert rows == {CH: None, other: "MVD_Test"}
    log = await all_rows(sessions, channel_changes)
    assert [(c["channel_id"], c["field"], c["old_value"], c["new_value"]) for c in log] == [
        (CH, "username", "mvd_test", None)
    ]
    assert "username @MVD_Test moved from 'МВД'" in caplog.text
    async with sessions() as s:
        assert (await resolve_channel(s, "@mvd_test"))["id"] == other


async def test_a_renamed_channel_is_found_by_its_former_names(sessions) -> None:
    """Old t.me links, rules and habits name a channel as it was; the current holder of a
    name still comes first."""
    await _channel(sessions, username="mvd_old")
    for at, title, username in [(1, "МВД КР", "mvd_mid"), (2, "МВД Кыргызстана", "mvd_new")]:
        async with sessions.begin() as s:
            await upsert_channel(
                s,
                ChannelRecord(id=CH, title=title, username=username),
                observed_at=T0 + timedelta(days=at),
                source=Source.LIVE,
            )
    async with sessions() as s:
        for ref in ("mvd_old", "https://t.me/mvd_mid/12", "мвд", "мвд кр", "МВД Кыргызстана"):
            assert (await resolve_channel(s, ref))["id"] == CH, ref
        (row,) = await channel_rows(s)
        assert (row["former_usernames"], row["former_titles"]) == (
            ["mvd_old", "mvd_mid"],
            ["МВД", "МВД КР"],
        )
        assert [c["new_value"] for c in await channel_history(s, CH, ["username"])] == [
            "mvd_mid",
            "mvd_new",
        ]
    other = -1001000000777
    async with sessions.begin() as s:  # another channel takes the old title and username
        await upsert_channel(
            s,
            ChannelRecord(id=other, title="МВД", username="mvd_old"),
            observed_at=T0 + timedelta(days=3),
            source=Source.LIVE,
        )
    async with sessions() as s:
        assert (await resolve_channel(s, "@mvd_old"))["id"] == other
        assert (await resolve_channel(s, "МВД"))["id"] == other
        assert (await resolve_channel(s, "mvd_mid"))["id"] == CH
        with pytest.raises(ChannelNotFound):
            await resolve_channel(s, "mvd_never")


async def test_channel_notices_start_now_and_pass_over_counts_and_imports(sessions) -> None:
    await _channel(sessions, username="mvd_test")

    async def change(at: int, source: Source, **fields: Any) -> None:
        async with sessions.begin() as s:
            record = ChannelRecord(id=CH, title=fields.pop("title", None), **fields)
            await upsert_channel(s, record, observed_at=T0 + timedelta(hours=at), source=source)

    await change(1, Source.LIVE, title="МВД до уведомлений")  # before anybody listened
    async with sessions.begin() as s:
        first = await notice_cursor(s, now=T0)
    await change(2, Source.LIVE, subscribers=10)
    await change(3, Source.IMPORT, title="Из экспорта")
    await change(4, Source.LIVE, title="МВД КР", about="Описание")  # a first sight of it
    await change(5, Source.LIVE, about="Новое описание")
    async with sessions() as s:
        assert await notice_cursor(s, now=T0) == first  # stored, not moved on by reading
        told, read_up_to = await changes_to_notice(s, first)
    assert [(c.field, c.old_value, c.new_value) for c in told] == [
        ("title", "Из экспорта", "МВД КР"),
        ("about", "Описание", "Новое описание"),
    ]
    assert read_up_to == told[-1].id
    async with sessions.begin() as s:
        await set_notice_cursor(s, read_up_to, now=T0)
    await change(6, Source.LIVE, subscribers=11)
    async with sessions() as s:
        told, passed_over = await changes_to_notice(s, read_up_to)
    assert (told, passed_over > read_up_to) == ([], True)  # a count: read past, never told


async def test_resolve_channel_by_every_kind_of_reference(sessions) -> None:
    await _channel(sessions, username="mvd_official_kg")
    for ref in (
        "mvd_official_kg",
        "@MVD_official_kg",
        "https://t.me/mvd_official_kg",
        "t.me/s/mvd_official_kg",
        "https://t.me/mvd_official_kg/123",
        str(CH),
        "1525384822",
        "https://t.me/c/1525384822/5",
        "мвд",
    ):
        async with sessions() as s:
            assert (await resolve_channel(s, ref))["id"] == CH, ref
    async with sessions() as s:
        with pytest.raises(ChannelNotFound, match="nobody"):
            await resolve_channel(s, "nobody")
        with pytest.raises(ChannelNotFound, match="empty"):
            await resolve_channel(s, "  ")
        for impossible in ("99999999999999999999999", "t.me/c/0", "t.me/c/99999999999999999999"):
            with pytest.raises(ChannelNotFound, match="no archived channel matches"):
                await resolve_channel(s, impossible)


async def test_post_links_in_every_form_name_the_channel_and_post(sessions) -> None:
    await _channel(sessions, username="mvd_official_kg")
    for link in (
        "https://t.me/mvd_official_kg/123",
        "http://www.telegram.me/mvd_official_kg/123/",
        "t.me/s/mvd_official_kg/123",
        "https://t.me/mvd_official_kg/123?single",
        "https://t.me/c/1525384822/123",
        "mvd_official_kg/123",
        "@mvd_official_kg/123",
        f"{CH}/123",
        " 1525384822/123\n",
    ):
        channel, message_id = parse_post_ref(link)
        async with sessions() as s:
            assert ((await resolve_channel(s, channel))["id"], message_id) == (CH, 123), link
    for bad in ("t.me/mvd_official_kg", "mvd_official_kg/0", "mvd/1/2", "a b/1", "mvd/99999999999"):
        with pytest.raises(UserError, match="is not a post link"):
            parse_post_ref(bad)


async def test_ambiguous_title(sessions) -> None:
    async with sessions.begin() as s:
        for bare in (1000000001, 1000000002):
            await upsert_channel(
                s,
                ChannelRecord(id=-(10**12 + bare), title="Новости"),
                observed_at=T0,
                source=Source.IMPORT,
            )
    async with sessions() as s:
        with pytest.raises(AmbiguousChannel, match="several"):
            await resolve_channel(s, "новости")


async def test_list_channels_counts(sessions) -> None:
    await _channel(sessions)
    await _store(sessions, [rec(1, "a"), rec(2, "b"), rec(3, "c")])
    async with sessions.begin() as s:
        await mark_deleted(s, CH, [2], source=Source.LIVE, observed_at=T0)
    async with sessions() as s:
        (summary,) = await list_channels(s)
    assert (summary.posts, summary.deleted_posts) == (3, 1)
    assert summary.first_post_at == T0 + timedelta(minutes=1)
    assert summary.last_post_at == T0 + timedelta(minutes=3)


async def test_storage_never_commits(sessions) -> None:
    await _channel(sessions)
    async with sessions() as s:
        await store_posts(s, [rec(1, "x")], source=Source.LIVE, observed_at=T0)
        await s.rollback()
    async with sessions() as s:
        assert await events_after(s, 0) == []


def test_record_defaults_are_unknown_not_zero() -> None:
    r = rec(1)
    assert r.views is None
    assert r.reactions is None
    assert r.entities == []
    assert replace(r, views=0).views == 0


async def test_a_mime_type_no_real_file_has_is_kept_unknown(sessions) -> None:
    """A document's MIME type is its uploader's word; one wider than the column is no type."""
    await _channel(sessions)
    await _store(sessions, [rec(1, "файл", media={"type": "document", "mime_type": "x" * 300})])
    async with sessions.begin() as session:
        for digest, mime in (("a" * 64, "x" * 300), ("b" * 64, "application/pdf")):
            await record_media_file(
                session, CH, 1, sha256=digest, size=3, mime_type=mime, path=digest, at=T0
            )
    rows = sorted(await all_rows(sessions, media_files), key=lambda r: r["sha256"])
    assert [r["mime_type"] for r in rows] == [None, "application/pdf"]


async def test_a_write_that_another_writer_beat_is_written_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The race of two importers: each finds the channel missing, the other stores it first,
    and the late insert breaks the unique key. The whole transaction is run again, and then
    finds the channel there."""
    record = ChannelRecord(-1001234567890, "Канал", "kanal")
    attempts: list[bool] = []

    async def late_writer(session: AsyncSession) -> int:
        missing = not await channel_rows(session)
        attempts.append(missing)
        if len(attempts) == 1:  # another writer gets in between the read and the write
            async with sessions.begin() as other:
                await upsert_channel(other, record, observed_at=T0, source=Source.IMPORT)
        if missing:
            row = {"id": record.id, "title": "Канал", "first_seen_at": T0, "updated_at": T0}
            await session.execute(insert(channels).values(row))
        return len(attempts)

    assert await write_transaction(sessions, late_writer) == 2
    assert attempts == [True, False]
    assert [row["id"] for row in await all_rows(sessions, channels)] == [record.id]


async def test_two_imports_of_one_export_at_once_store_it_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Run side by side in small batches, each import finds posts missing that the other is
    storing; whichever comes second writes its batch again. Every post, version and event is
    there once."""
    path = DESKTOP / "current-format-later" / "result.json"
    first, second = await asyncio.gather(
        import_desktop_export(sessions, path, batch_size=2),
        import_desktop_export(sessions, path, batch_size=2),
    )
    assert first.outcome.new + second.outcome.new == 10
    assert len(await all_rows(sessions, posts)) == 10
    assert len(await all_rows(sessions, post_versions)) == 10
    assert [kind for kind, _ in await event_log(sessions)] == ["new"] * 10


async def test_a_post_telegram_restricts_later_gets_an_event(sessions) -> None:
    """Where Telegram's apps hide a post is kept with it; a change of it, once known, is a
    `restricted` event (not a version: the words did not change). A post first seen
    restricted, or an import that cannot tell, records no change."""
    await _channel(sessions)
    hidden = "restricted (ios: porn)"
    await _store(sessions, [rec(1, "пост"), rec(2, "другой", restriction=hidden)])
    await _store(sessions, [rec(1, "пост", restriction=""), rec(2, "другой", restriction=hidden)])
    assert await event_log(sessions) == [("new", 1), ("new", 2)]
    await _store(sessions, [rec(1, "пост", restriction=hidden)], at=T0 + timedelta(hours=1))
    await _store(sessions, [rec(1, "пост")], source=Source.IMPORT)  # an export cannot tell
    assert (await post(sessions, CH, 1))["restriction"] == hidden
    await _store(sessions, [rec(1, "пост", restriction="")], at=T0 + timedelta(hours=2))
    async with sessions() as session:
        found = await events_after(session, 0)
    restricted = [(e["message_id"], e["details"]) for e in found if e["kind"] == "restricted"]
    assert restricted == [(1, {"old": "", "new": hidden}), (1, {"old": hidden, "new": ""})]
    assert [v["text"] for v in await versions(sessions, CH, 1)] == ["пост"]


async def test_post_changes_page_through_the_feed_newest_first(sessions) -> None:
    """Thirty edits, two of them made at the same moment: read back whole in one go, or a
    few at a time through a query that passes over most (pages growing as they go), each
    comes once, newest first."""
    await _channel(sessions)
    await _store(sessions, [rec(n, f"пост {n}") for n in range(1, 31)])
    edits = [
        rec(n, f"пост {n} исправлен", edit_date=T0 + timedelta(days=1, minutes=min(n, 29)))
        for n in range(1, 31)
    ]  # 29 and 30 edited at the same minute: the later event comes first
    await _store(sessions, edits, source=Source.LIVE, at=T0 + timedelta(days=2))
    newest_first = [30, 29, *range(28, 0, -1)]
    async with sessions() as s:
        every = await post_changes(s, ChangeFilter(), 100)
        odd = await post_changes(s, ChangeFilter(), 20, lambda c: c.message_id % 2 == 1)
        oldest = await post_changes(s, ChangeFilter(), 1, lambda c: c.message_id == 1)
        seven = await post_changes(s, ChangeFilter(("edited",), (CH,)), 7)
        none = await post_changes(s, ChangeFilter(("deleted",)), 10)
    assert [c.message_id for c in every] == newest_first
    assert [(c.before or {}).get("text") for c in every[:1]] == ["пост 30"]
    assert [c.message_id for c in odd] == [n for n in newest_first if n % 2 == 1]
    assert [(c.message_id, c.after and c.after["text"]) for c in oldest] == [
        (1, "пост 1 исправлен")
    ]
    assert [c.message_id for c in seven] == newest_first[:7]
    assert none == []


async def test_changes_after_a_feed_position_come_in_the_order_recorded(sessions) -> None:
    """What --follow asks every two seconds: the changes after its place in the feed, and
    the place to ask from next, past the events of other kinds (new posts) as well."""
    await _channel(sessions)
    await _store(sessions, [rec(n, f"пост {n}") for n in range(1, 6)])
    async with sessions() as s:
        assert await changes_after(s, ChangeFilter(), 0) == ([], 5)  # five new posts: none
    later = T0 + timedelta(days=1)
    await _store(sessions, [rec(4, "пост 4 исправлен", edit_date=later)], Source.LIVE, later)
    async with sessions.begin() as s:
        await mark_deleted(s, CH, [2], source=Source.LIVE, observed_at=later)
    async with sessions() as s:
        changes, place = await changes_after(s, ChangeFilter(), 5)
        assert [(c.kind, c.message_id) for c in changes] == [("edited", 4), ("deleted", 2)]
        assert place == 7
        assert await changes_after(s, ChangeFilter(), place) == ([], 7)
        only_new = await changes_after(s, ChangeFilter(("new",)), 0, lambda c: c.message_id > 3)
        assert [c.message_id for c in only_new[0]] == [4, 5]


async def test_a_purged_post_is_listed_as_it_read_when_purged(sessions) -> None:
    """A purge takes three posts; one comes back on Telegram later with another text: the
    purge lists it with the text it had when it was deleted, its return with the new one."""
    await _channel(sessions)
    await _store(sessions, [rec(n, f"пост {n}") for n in range(1, 4)])
    purged_at = T0 + timedelta(days=1)
    async with sessions.begin() as s:
        await mark_deleted(
            s, CH, [1, 2, 3], source=Source.LIVE, observed_at=purged_at, summarize_from=3
        )
    back = T0 + timedelta(days=2)
    await _store(sessions, [rec(2, "пост 2 снова", edit_date=back)], Source.LIVE, back)
    async with sessions() as s:
        changes = await post_changes(s, ChangeFilter(("deleted", "restored", "edited")), 10)
    listed = [(c.kind, c.message_id, (c.before or c.after or {}).get("text")) for c in changes]
    assert listed == [
        ("restored", 2, "пост 2 снова"),  # recorded after the edit, at the same moment
        ("edited", 2, "пост 2"),  # the text before the edit
        ("deleted", 3, "пост 3"),
        ("deleted", 2, "пост 2"),  # not the text it came back with
        ("deleted", 1, "пост 1"),
    ]
