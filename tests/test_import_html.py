"""Telegram Desktop HTML exports: reading the writer's layout, naming the channel, the dates'
zone, and importing them exactly as their JSON exports import."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.errors import ChannelNotFound, ImportFormatError
from dozor.importer import import_desktop_export
from dozor.importer.desktophtml import (
    dates_zone,
    is_html_export,
    parse_stamp,
    read_html_export,
)
from dozor.importer.files import MediaPolicy
from dozor.importer.htmlimport import import_html_export
from dozor.models import posts
from dozor.records import ChannelRecord, Source
from dozor.storage import upsert_channel
from tests.conftest import DESKTOP, FIXTURES
from tests.fakes.desktophtml import write_html_export
from tests.helpers import post, versions

FIXTURE = FIXTURES / "desktop-html" / "ChatExport_2024-11-20"
CHANNEL = -1001234567890
BISHKEK = timedelta(hours=6)


def _entries() -> dict[int, dict[str, Any]]:
    return {entry["id"]: entry for entry in read_html_export(FIXTURE).entries()}


def test_the_check_learns_files_title_counts_and_offsets() -> None:
    export = read_html_export(FIXTURE / "messages2.html")  # any page names the export
    assert [f.name for f in export.files] == ["messages.html", "messages2.html"]
    assert export.title == "Дозор тест"  # Desktop writes name + " " + last name
    assert (export.message_count, export.services, export.newest_message_id) == (8, 1, 9)
    assert export.offsets == {BISHKEK}
    assert is_html_export(FIXTURE) and not is_html_export(DESKTOP / "current-format-early")


def test_text_comes_back_as_the_parts_desktop_wrote() -> None:
    entries = _entries()
    assert entries[2]["date"] == "2024-11-05T10:15:00"  # a wall time: the zone is decided later
    assert entries[2]["text_entities"] == [
        {"type": "plain", "text": "Задержаны трое "},
        {"type": "bold", "text": "мигрантов"},
        {"type": "plain", "text": " в Бишкеке."},
        {"type": "plain", "text": "\n"},
        {"type": "plain", "text": "Подробности: "},
        {"type": "link", "text": "https://mvd.kg/news/1"},
        {"type": "plain", "text": " & "},
        {"type": "mention", "text": "@mvd_official_kg"},
        {"type": "plain", "text": " "},
        {"type": "hashtag", "text": "#МВД"},
    ]
    third = entries[3]  # joined to the one before: no name, its own date
    assert third["text_entities"][3] == {
        "type": "text_link",
        "text": "отчёт",
        "href": "https://example.org/report",
    }
    assert third["text_entities"][-1] == {"type": "spoiler", "text": "секрет"}
    assert (third["photo"], third["author"]) == (
        "photos/photo_1@05-11-2024_10-16-40.jpg",
        "Пресс-служба",
    )


def test_forwards_replies_and_attachments() -> None:
    entries = _entries()
    assert (entries[4]["forwarded_from"], entries[4]["forwarded_date"]) == (
        "МВД России",
        "2024-11-04T18:30:00",
    )
    assert entries[5]["forwarded_from"] == "МВД России"  # joined: the name is not repeated
    assert entries[6]["reply_to_message_id"] == 2
    assert entries[6]["poll"] == {
        "question": "Кармалды деп ойлойсузбу?",
        "closed": False,
        "total_voters": 4,
        "answers": [
            {"text": "Ооба", "voters": 3, "chosen": False},
            {"text": "Жок", "voters": 1, "chosen": False},
        ],
    }
    assert entries[7]["reply_to_message_id"] == 3  # a link into the previous file
    assert (entries[7]["file"], entries[7]["duration_seconds"]) == ("video_files/video.mp4", 65)
    assert entries[8]["file"].startswith("(File not included.")
    assert entries[8]["file_name"] == "отчет.pdf"
    assert entries[9]["media_type"] == "voice_message"
    assert 1 not in entries  # "Channel created": a service message has no date here


@pytest.mark.parametrize(
    ("title", "wall", "offset"),
    [
        ("31.12.2024 23:59:58 UTC+06:00", "2024-12-31T23:59:58", timedelta(hours=6)),
        ("01.07.2023 08:00:00 UTC-03:30", "2023-07-01T08:00:00", -timedelta(hours=3, minutes=30)),
        ("01.07.2023 08:00:00 UTC", "2023-07-01T08:00:00", timedelta()),
        ("12.07.2020 12:48:16", "2020-07-12T12:48:16", None),  # before 2023: no label
        ("31.02.2020 12:48:16", None, None),
        ("31.12.9999 23:59:59 UTC-05:00", None, None),  # in UTC, a year no datetime holds
        ("01.01.0001 00:00:00 UTC+06:00", None, None),
        ("2020-07-12 12:48:16", None, None),
    ],
)
def test_date_labels(title: str, wall: str | None, offset: timedelta | None) -> None:
    stamp = parse_stamp(title)
    if wall is None:
        assert stamp is None
    else:
        assert stamp == (datetime.fromisoformat(wall), offset)


def test_the_zone_of_the_dates() -> None:
    export = read_html_export(FIXTURE)
    assert str(dates_zone(export, None)) == "UTC+06:00"
    assert dates_zone(export, ZoneInfo("Asia/Bishkek")) == ZoneInfo("Asia/Bishkek")
    with pytest.raises(ImportFormatError, match="standard offset is UTC\\+03:00"):
        dates_zone(export, ZoneInfo("Europe/Moscow"))
    # Posts of 2012, when Moscow's standard time was +04:00: Desktop still labels them with
    # the zone's offset of today.
    moscow_2012 = replace(
        export, offsets=frozenset({timedelta(hours=3)}), sample=[(1, datetime(2012, 6, 1))]
    )
    assert dates_zone(moscow_2012, ZoneInfo("Europe/Moscow")) == ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(
    "name", ["current-format-early", "current-format-later", "tg2md-private-channel-2021"]
)
async def test_an_html_export_imports_as_its_json_export(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, name: str
) -> None:
    data = json.loads((DESKTOP / name / "result.json").read_text(encoding="utf-8"))
    legacy = "date_unixtime" not in data["messages"][0]
    offset = None if legacy else BISHKEK
    folder = write_html_export(data, tmp_path / name, offset=offset, per_file=3)
    json_report = await import_desktop_export(sessions, DESKTOP / name)
    zone = ZoneInfo("UTC") if legacy else None  # as the JSON export was read
    export = read_html_export(folder)
    report = await import_html_export(sessions, export, channel=str(CHANNEL), zone=zone)
    services = sum(1 for m in data["messages"] if m.get("type") == "service")
    assert (report.outcome.new, report.skipped) == (len(data["messages"]) - services, services)
    from_json = await _comparable(sessions, json_report.channel_id)
    from_html = await _comparable(sessions, CHANNEL)
    assert from_html == {k: v for k, v in from_json.items() if k in from_html}
    assert len(from_html) == len(data["messages"]) - services


async def test_an_html_export_of_attachments_of_every_kind(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    data = json.loads((DESKTOP / "media-kinds" / "result.json").read_text(encoding="utf-8"))
    folder = write_html_export(data, tmp_path / "kinds", offset=BISHKEK)
    json_report = await import_desktop_export(sessions, DESKTOP / "media-kinds")
    await import_html_export(sessions, read_html_export(folder), channel=str(CHANNEL))
    for message in data["messages"]:
        from_json = await post(sessions, json_report.channel_id, message["id"])
        from_html = await post(sessions, CHANNEL, message["id"])
        assert from_html["media"]["type"] == from_json["media"]["type"]
        for kept in ("location", "place_name", "address", "title", "poll"):
            assert from_html["media"].get(kept) == from_json["media"].get(kept)


async def _comparable(
    sessions: async_sessionmaker[AsyncSession], channel_id: int
) -> dict[int, tuple[Any, ...]]:
    """What an HTML export can tell of each post, as the archive holds it."""
    async with sessions() as session:
        rows = await session.execute(
            select(posts).where(posts.c.channel_id == channel_id, posts.c.kind == "message")
        )
        return {
            row.message_id: (
                row.date,
                row.text,
                row.entities,
                row.reply_to_message_id,
                row.forwarded_from_name,
                row.author_signature,
                (row.media or {}).get("type"),
                (row.media or {}).get("file"),
            )
            for row in rows
        }


async def test_the_channel_must_be_named(sessions: async_sessionmaker[AsyncSession]) -> None:
    export = read_html_export(FIXTURE)
    with pytest.raises(ImportFormatError, match="does not say which channel it is") as missing:
        await import_html_export(sessions, export, channel=None)
    assert "archived channels titled" not in str(missing.value)
    async with sessions.begin() as session:
        record = ChannelRecord(id=CHANNEL, title="Дозор тест", username="dozor_test")
        await upsert_channel(session, record, observed_at=_now(), source=Source.BACKFILL)
    with pytest.raises(ImportFormatError) as suggested:
        await import_html_export(sessions, export, channel=None)
    assert str(suggested.value).endswith("archived channels titled 'Дозор тест': @dozor_test")
    with pytest.raises(ChannelNotFound, match="no archived channel has that username"):
        await import_html_export(sessions, export, channel="@nobody_here")
    report = await import_html_export(sessions, export, channel="@dozor_test")
    assert (report.channel_id, report.outcome.new) == (CHANNEL, 8)
    assert report.dates_assumed_zone == "UTC+06:00"
    assert any("standard offset of today" in w for w in report.warnings)
    assert any(
        w.startswith("service messages (pins, title changes…) not imported: 1;")
        for w in report.warnings
    )
    assert (report.messages, report.skipped) == (9, 1)
    stored = await post(sessions, CHANNEL, 2)
    assert stored["date"].isoformat() == "2024-11-05T04:15:00+00:00"


async def test_numbers_telegram_cannot_have_are_skipped(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    shutil.copytree(FIXTURE, folder)
    page = folder / "messages.html"
    page.write_text(
        page.read_text("utf-8")
        .replace('id="message2"', 'id="message99999999999999999999"')
        .replace("#go_to_message2", "#go_to_message2147483648"),
        "utf-8",
    )
    async with sessions.begin() as session:  # archived: its posts' dates are compared
        record = ChannelRecord(id=CHANNEL, title="Дозор тест")
        await upsert_channel(session, record, observed_at=_now(), source=Source.BACKFILL)
    report = await import_html_export(sessions, read_html_export(folder), channel=str(CHANNEL))
    assert (report.outcome.new, report.skipped) == (7, 2)  # the service message, and this
    assert "message 99999999999999999999 skipped: invalid id" in report.warnings[0]
    assert (await post(sessions, CHANNEL, 6))["reply_to_message_id"] is None


async def test_the_archive_tells_the_channel_when_its_posts_bear_the_title_out(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """An older HTML export of a followed channel needs no --channel: the title is the
    channel's, and the posts with the export's numbers were published when it says."""
    data = json.loads((DESKTOP / "current-format-later" / "result.json").read_text("utf-8"))
    await import_desktop_export(sessions, DESKTOP / "current-format-later")
    async with sessions.begin() as session:  # a namesake, without those posts
        namesake = ChannelRecord(id=CHANNEL, title=data["name"], username="namesake_kg")
        await upsert_channel(session, namesake, observed_at=_now(), source=Source.BACKFILL)
    folder = write_html_export(data, tmp_path / "later", offset=BISHKEK)
    report = await import_html_export(sessions, read_html_export(folder), channel=None)
    assert (report.channel_id, report.outcome.unchanged) == (-1001525384822, 8)
    taken = "channel taken to be -1001525384822: the export's title is its, and 8 of 8 posts"
    assert any(w.startswith(taken) for w in report.warnings)
    short = write_html_export(
        {**data, "messages": data["messages"][:4]}, tmp_path / "short", offset=BISHKEK
    )
    with pytest.raises(ImportFormatError, match="the archive does not show it") as few:
        await import_html_export(sessions, read_html_export(short), channel=None)
    assert str(few.value).endswith(f"titled {data['name']!r}: -1001525384822, @namesake_kg")


async def test_the_evidence_comes_from_both_ends_of_a_long_export(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """An archive started after the channel did holds only the newer part of an export."""
    data = json.loads((DESKTOP / "current-format-later" / "result.json").read_text("utf-8"))
    text = data["messages"][8]  # a plain text post
    start = int(text["date_unixtime"])
    data["messages"] = [
        {**text, "id": n, "date_unixtime": str(start + 3600 * n)} for n in range(1, 501)
    ]
    (tmp_path / "newest").mkdir()
    newest = {**data, "messages": data["messages"][-10:]}
    (tmp_path / "newest" / "result.json").write_text(json.dumps(newest), "utf-8")
    await import_desktop_export(sessions, tmp_path / "newest")
    folder = write_html_export(data, tmp_path / "html", offset=BISHKEK)
    report = await import_html_export(sessions, read_html_export(folder), channel=None)
    assert (report.channel_id, report.outcome.new, report.outcome.unchanged) == (
        -1001525384822,
        490,
        10,
    )


async def test_an_export_of_another_channel_is_refused(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await import_desktop_export(sessions, DESKTOP / "current-format-later")
    with pytest.raises(
        ImportFormatError,
        match="'Тестовый канал МВД' \\(-1001525384822\\): of 8 posts the archive has",
    ):
        await import_html_export(sessions, read_html_export(FIXTURE), channel="-1001525384822")
    async with sessions() as session:
        count = len((await session.execute(select(posts.c.message_id))).all())
    assert count == 10  # nothing was written


async def test_an_html_export_never_overrides_the_archive(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """A rendering adds what the archive lacks; another text for a post Telegram never
    marked edited is how it renders the post, not a new version."""
    data = json.loads((DESKTOP / "current-format-later" / "result.json").read_text("utf-8"))
    await import_desktop_export(sessions, DESKTOP / "current-format-later")
    data["messages"][3]["text_entities"] = [{"type": "plain", "text": "Иначе."}]  # post 4
    data["messages"].append({**data["messages"][8], "id": 11, "date_unixtime": "1709800000"})
    folder = write_html_export(data, tmp_path / "later", offset=BISHKEK)
    channel = "-1001525384822"
    report = await import_html_export(sessions, read_html_export(folder), channel=channel)
    assert (report.outcome.new, report.outcome.edited, report.outcome.unchanged) == (1, 0, 8)
    assert [v["text"] for v in await versions(sessions, -1001525384822, 4)] == [
        "Бишкекте милиция кызматкерлери мигранттарды кармады."
    ]
    assert any(w.startswith("post 4: the HTML export renders its text") for w in report.warnings)
    again = await import_html_export(sessions, read_html_export(folder), channel=channel)
    assert (again.outcome.new, again.outcome.unchanged) == (0, 9)


async def test_attachment_files_of_an_html_export_are_kept(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    shutil.copytree(FIXTURE, folder)
    policy = MediaPolicy(tmp_path / "media")
    report = await import_html_export(
        sessions, read_html_export(folder), channel=str(CHANNEL), media=policy
    )
    assert (report.files_kept, report.files_missing) == (2, 1)  # the voice message is absent


def _now() -> datetime:
    return datetime.now(UTC)
