"""Importing Desktop exports into a real database: idempotence, versions, bad inputs."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import zipfile
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.errors import ImportFormatError
from dozor.importer import import_desktop_export
from dozor.importer.archive import unpacked
from dozor.importer.files import MediaPolicy, keep_files
from dozor.models import channel_changes, imports, media_files, posts
from dozor.storage import list_channels
from tests.conftest import DESKTOP
from tests.helpers import all_rows, event_log, post, versions

MVD = -1001525384822
TG2MD = -1001292077344


async def test_import_2021_sample(sessions: async_sessionmaker[AsyncSession]) -> None:
    progress: list[tuple[int, int]] = []
    report = await import_desktop_export(
        sessions,
        DESKTOP / "tg2md-private-channel-2021",
        progress=lambda d, t: progress.append((d, t)),
    )
    assert (report.outcome.new, report.updated, report.skipped) == (19, 0, 0)
    assert report.dates_assumed_zone == "UTC"
    assert progress[-1] == (19, 19)
    stored = await post(sessions, TG2MD, 21)
    assert stored["text"] == "тестирование utf-8."
    assert (await post(sessions, TG2MD, 1))["kind"] == "service"
    async with sessions() as s:
        (summary,) = await list_channels(s)
    assert (summary.title, summary.posts, summary.last_sync_source) == ("test", 19, "import")
    assert summary.last_sync_at is not None


async def test_importing_twice_changes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    await import_desktop_export(sessions, DESKTOP / "current-format-early")
    before = await all_rows(sessions, posts)
    events_before = await event_log(sessions)
    again = await import_desktop_export(sessions, DESKTOP / "current-format-early")
    assert (again.outcome.new, again.updated, again.outcome.unchanged) == (0, 0, 8)
    assert await all_rows(sessions, posts) == before
    assert await event_log(sessions) == events_before
    assert [r["new_posts"] for r in await all_rows(sessions, imports)] == [8, 0]


async def test_later_export_adds_posts_and_versions(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await import_desktop_export(sessions, DESKTOP / "current-format-early")
    report = await import_desktop_export(sessions, DESKTOP / "current-format-later")
    assert (report.outcome.new, report.outcome.edited, report.outcome.refreshed) == (2, 1, 1)
    history = await versions(sessions, MVD, 2)
    assert [v["text"] for v in history] == [
        "Сотрудники полиции задержали двух мигрантов в Бишкеке.",
        "Сотрудники полиции задержали трёх мигрантов в Бишкеке.",
    ]
    assert (await post(sessions, MVD, 3))["reactions"][0]["count"] == 40
    assert len(await versions(sessions, MVD, 3)) == 1
    feed = await event_log(sessions)
    assert feed[8:] == [("edited", 2), ("new", 9), ("new", 10)]
    poll = await post(sessions, MVD, 10)
    assert poll["media_type"] == "poll"


async def test_old_export_after_new_one_does_not_roll_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await import_desktop_export(sessions, DESKTOP / "current-format-later")
    report = await import_desktop_export(sessions, DESKTOP / "current-format-early")
    assert report.outcome.new == 0
    assert (await post(sessions, MVD, 2))["text"].endswith("трёх мигрантов в Бишкеке.")
    assert [v["text"].split()[3] for v in await versions(sessions, MVD, 2)] == ["трёх", "двух"]


async def test_legacy_and_2021_exports_merge_into_one_channel(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await import_desktop_export(sessions, DESKTOP / "tg2md-private-channel-2020")
    report = await import_desktop_export(sessions, DESKTOP / "tg2md-private-channel-2021")
    assert (report.outcome.new, report.outcome.unchanged, report.outcome.edited) == (6, 13, 0)
    async with sessions() as s:
        assert [c.id for c in await list_channels(s)] == [TG2MD]


async def test_username_option_is_recorded(sessions: async_sessionmaker[AsyncSession]) -> None:
    await import_desktop_export(
        sessions, DESKTOP / "current-format-early", username="mvd_test_channel"
    )
    async with sessions() as s:
        (summary,) = await list_channels(s)
    assert summary.link == "https://t.me/mvd_test_channel"


async def test_a_broken_export_never_loses_archived_posts(
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    await import_desktop_export(sessions, DESKTOP / "current-format-early")
    before = await all_rows(sessions, posts)
    truncated = tmp_path / "result.json"
    whole = (DESKTOP / "current-format-later" / "result.json").read_bytes()
    truncated.write_bytes(whole[:-500])
    with pytest.raises(ImportFormatError, match="truncated"):
        await import_desktop_export(sessions, truncated)
    assert await all_rows(sessions, posts) == before


async def test_export_with_bad_messages_imports_the_rest(
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    data = json.loads((DESKTOP / "current-format-early" / "result.json").read_text())
    data["messages"][2]["date_unixtime"] = "not a time"
    data["messages"][2]["date"] = "never"
    data["messages"][4]["file_size"] = -1
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "result.json").write_text(json.dumps(data, ensure_ascii=False))
    warnings: list[str] = []
    progress: list[tuple[int, int]] = []
    report = await import_desktop_export(
        sessions,
        tmp_path / "export",
        warn=warnings.append,
        progress=lambda done, total: progress.append((done, total)),
        batch_size=3,  # the skipped message counts toward its batch
    )
    assert (report.outcome.new, report.skipped) == (7, 1)
    assert progress == [(3, 8), (6, 8), (8, 8)]
    assert len(await all_rows(sessions, posts)) == 7
    assert warnings == [
        "message 3 skipped: missing or invalid date",
        "message 5: ignored invalid file_size -1",
    ]


async def test_interrupted_import_completes_on_rerun(
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """Each batch commits; a rerun after a crash stores the rest without duplicates."""
    calls = 0

    def crash_after_first_batch(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await import_desktop_export(
            sessions,
            DESKTOP / "current-format-later",
            progress=crash_after_first_batch,
            batch_size=4,
        )
    assert len(await all_rows(sessions, posts)) == 4
    report = await import_desktop_export(sessions, DESKTOP / "current-format-later", batch_size=4)
    assert (report.outcome.new, report.outcome.unchanged) == (6, 4)
    assert len(await event_log(sessions)) == 10


async def test_dates_of_legacy_exports_use_the_zone(
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    from zoneinfo import ZoneInfo

    folder = tmp_path / "copy"
    shutil.copytree(DESKTOP / "tg2md-private-channel-2021", folder)
    await import_desktop_export(sessions, folder, tz=ZoneInfo("Europe/Moscow"))
    stored = await post(sessions, TG2MD, 2)
    assert stored["date"].astimezone(UTC).hour == 9  # 12:54 in Moscow


async def test_a_second_zone_guess_keeps_each_post_on_the_archive_clock(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The same legacy export read with another --tz: the archive's dates stay, and edit times
    move with them, so no post ends up edited before it was posted."""
    from zoneinfo import ZoneInfo

    legacy = DESKTOP / "tg2md-private-channel-2020"
    await import_desktop_export(sessions, legacy)
    before = await all_rows(sessions, posts)
    assert any(row["edit_date"] is not None for row in before)
    again = await import_desktop_export(sessions, legacy, tz=ZoneInfo("Asia/Bishkek"))
    assert (again.outcome.new, again.updated, again.outcome.unchanged) == (0, 0, len(before))
    assert await all_rows(sessions, posts) == before


async def test_an_older_export_does_not_roll_the_channel_name_back(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Desktop exports name the channel as it was when exported. The 2021 export, renamed,
    is the newer one: importing the 2020 one after it must not bring the old title back."""
    newer = json.loads((DESKTOP / "tg2md-private-channel-2021" / "result.json").read_text("utf-8"))
    (tmp_path / "result.json").write_text(
        json.dumps({**newer, "name": "test, renamed"}), encoding="utf-8"
    )
    await import_desktop_export(sessions, tmp_path)
    older = await import_desktop_export(sessions, DESKTOP / "tg2md-private-channel-2020")
    assert older.channel_title == "test, renamed"
    assert await all_rows(sessions, channel_changes) == []
    # An export as recent as the archive still names the channel.
    await import_desktop_export(sessions, DESKTOP / "tg2md-private-channel-2021")
    async with sessions() as s:
        (summary,) = await list_channels(s)
    assert summary.title == "test"
    changes = await all_rows(sessions, channel_changes)
    assert [(c["old_value"], c["new_value"]) for c in changes] == [("test, renamed", "test")]


async def test_an_export_without_a_name_keeps_the_archived_title(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    nameless = json.loads((DESKTOP / "current-format-early" / "result.json").read_text("utf-8"))
    del nameless["name"]
    (tmp_path / "result.json").write_text(json.dumps(nameless), encoding="utf-8")
    first = await import_desktop_export(sessions, tmp_path)
    assert first.channel_title == "channel 1525384822"  # until a source names it
    await import_desktop_export(sessions, DESKTOP / "current-format-early")
    again = await import_desktop_export(sessions, tmp_path)
    assert again.channel_title == "Тестовый канал МВД"
    async with sessions() as s:
        (summary,) = await list_channels(s)
    assert summary.title == "Тестовый канал МВД"


def _export_with_files(tmp_path: Path) -> tuple[Path, bytes]:
    """current-format-early with its photo on disk, its video missing, and posts whose file
    points out of the export's folder, by name and by a symbolic link."""
    folder = tmp_path / "ChatExport"
    shutil.copytree(DESKTOP / "current-format-early", folder)
    data = json.loads((folder / "result.json").read_text())
    for message_id, name in ((9, "../secret.txt"), (10, "files/link.txt")):
        data["messages"].append(
            {
                "id": message_id,
                "type": "message",
                "date_unixtime": "1709600000",
                "file": name,
                "media_type": "document",
                "text": "",
            }
        )
    (folder / "result.json").write_text(json.dumps(data, ensure_ascii=False))
    (tmp_path / "secret.txt").write_text("not for the archive")
    (folder / "files").mkdir()
    (folder / "files" / "link.txt").symlink_to(tmp_path / "secret.txt")
    photo = b"\xff\xd8\xff\xe0 a photo of the raid"
    (folder / "photos").mkdir()
    (folder / "photos" / "photo_1@03-03-2024_16-30-00.jpg").write_bytes(photo)
    return folder, photo


async def test_attachment_files_the_export_includes_are_kept(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    folder, photo = _export_with_files(tmp_path)
    store = tmp_path / "media"
    warnings: list[str] = []
    report = await import_desktop_export(
        sessions, folder, media=MediaPolicy(store), warn=warnings.append
    )
    assert report.files_kept == 1
    assert warnings == [
        "message 9: attachment '../secret.txt' lies outside the export's folder; not kept",
        "message 10: attachment 'files/link.txt' lies outside the export's folder; not kept",
        "attachment files the export names but does not include, not kept: 1",  # the video
    ]
    digest = hashlib.sha256(photo).hexdigest()
    media = (await post(sessions, MVD, 4))["media"]
    assert (media["sha256"], media["stored"]) == (
        digest,
        f"{digest[:2]}/{digest[2:4]}/{digest}.jpg",
    )
    assert [p.read_bytes() for p in store.rglob("*") if p.is_file()] == [photo]
    assert [(r["sha256"], r["size"]) for r in await all_rows(sessions, media_files)] == [
        (digest, len(photo))
    ]

    again = await import_desktop_export(sessions, folder, media=MediaPolicy(store))
    assert (again.files_kept, again.outcome.unchanged, again.updated) == (0, 10, 0)
    assert (await post(sessions, MVD, 4))["media"]["sha256"] == digest


async def test_attachment_files_follow_the_kinds_and_size_asked_for(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    folder, _ = _export_with_files(tmp_path)
    store = tmp_path / "media"
    videos_only = MediaPolicy(store, kinds=frozenset({"video_file"}))
    warnings: list[str] = []
    report = await import_desktop_export(sessions, folder, media=videos_only, warn=warnings.append)
    assert report.files_kept == 0
    assert warnings == ["attachment files the export names but does not include, not kept: 1"]
    tiny = MediaPolicy(store, max_bytes=10)
    report = await import_desktop_export(sessions, folder, media=tiny, warn=warnings.append)
    assert report.files_kept == 0
    assert warnings[1:] == [
        "message 4: attachment 'photos/photo_1@03-03-2024_16-30-00.jpg' is larger than "
        "9.53674e-06 MB (archiver.media_max_mb); not kept",
        "message 9: attachment '../secret.txt' lies outside the export's folder; not kept",
        "message 10: attachment 'files/link.txt' lies outside the export's folder; not kept",
        "attachment files the export names but does not include, not kept: 1",
    ]
    assert not store.exists()


def test_an_unpacked_archive_keeps_its_files_times(tmp_path: Path) -> None:
    """A saved page's time says when it was captured: unpacking must not make it today."""
    archive = tmp_path / "captures.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(zipfile.ZipInfo("mediamvd/page.html", (2021, 5, 4, 3, 2, 0)), "<html>")
    with unpacked(archive) as folder:
        page = folder / "mediamvd" / "page.html"
        assert page.read_text() == "<html>"
        assert page.stat().st_mtime == time.mktime((2021, 5, 4, 3, 2, 0, 0, 0, -1))
    assert not folder.exists()


async def test_a_nul_character_is_stored_as_a_replacement_character(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """PostgreSQL's text and jsonb refuse U+0000; a pasted text can carry one (Desktop writes
    it as \\x00). Both backends store U+FFFD in its place, offsets unchanged."""
    data = json.loads((DESKTOP / "current-format-early" / "result.json").read_text("utf-8"))
    data["name"] = "Канал\u0000"
    message = data["messages"][1]
    message["text_entities"] = [
        {"type": "plain", "text": "a\u0000b "},
        {"type": "text_link", "text": "мигранты", "href": "https://x.kg/\u0000"},
    ]
    message["text"] = message["text_entities"]
    message["author"] = "Пресс\u0000служба"
    (tmp_path / "result.json").write_text(json.dumps(data), "utf-8")
    report = await import_desktop_export(sessions, tmp_path)
    assert report.outcome.new == 8
    stored = await post(sessions, MVD, message["id"])
    assert (stored["text"], stored["author_signature"]) == (
        "a\ufffdb мигранты",
        "Пресс\ufffdслужба",
    )
    assert stored["entities"][0]["offset"] == 4 and stored["entities"][0]["url"].endswith("\ufffd")
    assert [v["text"] for v in await versions(sessions, MVD, message["id"])] == [stored["text"]]
    async with sessions() as s:
        (summary,) = await list_channels(s)
    assert summary.title == "Канал\ufffd"


def test_a_declared_mime_type_too_long_to_be_one_is_guessed_from_the_name(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "report.pdf").write_bytes(b"%PDF-1.4")
    wanted = [
        (1, {"type": "document", "file": "files/report.pdf", "mime_type": "x" * 200}),
        (2, {"type": "document", "file": "files/report.pdf", "mime_type": "application/x-a"}),
    ]
    kept = keep_files(tmp_path, wanted, MediaPolicy(tmp_path / "media"))
    assert [(mid, mime) for mid, _, mime in kept.stored] == [
        (1, "application/pdf"),
        (2, "application/x-a"),
    ]
