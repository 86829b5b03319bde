"""Exports without Unix times: their zone is never guessed, and the archive's Telegram dates
check it (dozor.importer.clock)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.cli.main import main
from dozor.importer.clock import Evidence, evidence
from dozor.models import posts
from dozor.records import ChannelRecord, PostRecord, Source
from dozor.storage import store_posts, upsert_channel
from tests.conftest import DESKTOP, FIXTURES
from tests.fakes.desktophtml import write_html_export
from tests.helpers import all_rows

LEGACY = DESKTOP / "tg2md-private-channel-2021"
CHANNEL = -1001292077344
BISHKEK = timedelta(hours=6)  # the fixture's computer, as this test has it
NEEDS_TZ = "this export gives its times on the exporting computer's clock, without a time zone"


def _telegram_dates() -> dict[int, datetime]:
    """The legacy fixture's dates as Telegram has them: its wall times, 6 hours earlier."""
    data = json.loads((LEGACY / "result.json").read_text(encoding="utf-8"))
    return {
        m["id"]: (datetime.fromisoformat(m["date"]) - BISHKEK).replace(tzinfo=UTC)
        for m in data["messages"]
    }


async def _dozor(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The real command line, in a thread (it runs its own event loop): status and the last
    line on stderr (after the progress lines)."""
    capsys.readouterr()
    status = await asyncio.to_thread(main, ["--config", str(config), *args])
    return status, (capsys.readouterr().err.strip().splitlines() or [""])[-1]


@pytest.fixture
def config(tmp_path: Path, database_url: str, engine: object) -> Path:
    """A config naming the migrated test database (``engine`` migrates it)."""
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    return path


async def _read_from_telegram(
    sessions: async_sessionmaker[AsyncSession], message_ids: list[int]
) -> None:
    """Posts the archiver read: dated by Telegram, 6 hours before the export's wall times."""
    dates = _telegram_dates()
    records = [PostRecord(CHANNEL, i, dates[i], text=f"post {i}") for i in message_ids]
    seen = datetime(2021, 8, 1, tzinfo=UTC)
    async with sessions.begin() as session:
        await upsert_channel(
            session, ChannelRecord(CHANNEL, "test"), observed_at=seen, source=Source.BACKFILL
        )
        await store_posts(session, records, source=Source.BACKFILL, observed_at=seen)


async def test_an_export_without_unix_times_needs_its_zone_and_nothing_is_written_without(
    sessions: async_sessionmaker[AsyncSession], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = await _dozor(config, capsys, "import", str(LEGACY))
    assert status == 2
    assert err == (
        f"dozor: {LEGACY / 'result.json'}: {NEEDS_TZ}; say which zone that computer was in "
        "with --tz (an IANA name such as Asia/Bishkek, or --tz UTC if it is not known)"
    )
    assert await all_rows(sessions, posts) == []
    status, _ = await _dozor(config, capsys, "import", "--tz", "Asia/Bishkek", str(LEGACY))
    assert status == 0
    stored = {row["message_id"]: row["date"] for row in await all_rows(sessions, posts)}
    assert stored[9] == _telegram_dates()[9]
    assert len(stored) == 19


async def test_exports_are_all_checked_before_any_is_imported(
    sessions: async_sessionmaker[AsyncSession],
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A refused export or page among several: the ones before it are not imported either, so
    the command can be run again as it is, with --tz."""
    # Unix times: it needs no --tz. Saved again by a tool that escapes emoji as surrogate
    # pairs (json.dumps does), it is parsed whole, and read again when imported.
    data = json.loads((DESKTOP / "current-format-early" / "result.json").read_text("utf-8"))
    first = next(m for m in data["messages"] if m["type"] == "message")
    first["text"], first["text_entities"] = (
        "Задержан 😀",
        [{"type": "plain", "text": "Задержан 😀"}],
    )
    dated = tmp_path / "resaved" / "result.json"
    dated.parent.mkdir()
    dated.write_text(json.dumps(data), encoding="ascii")
    assert "\\ud83d" in dated.read_text("ascii")
    status, err = await _dozor(config, capsys, "import", str(dated), str(LEGACY))
    assert (status, NEEDS_TZ in err) == (2, True)
    assert await all_rows(sessions, posts) == []
    bogus = tmp_path / "notes.html"  # named, so it must be a saved t.me/s page
    bogus.write_text("<html><body><p>заметки</p></body></html>", encoding="utf-8")
    page = FIXTURES / "tme-s" / "sherlock-tme-s-durov" / "channel_feed.html"  # a good one
    status, err = await _dozor(config, capsys, "import", str(dated), str(page), str(bogus))
    assert (status, err.startswith(f"dozor: {bogus}: no channel posts in this page")) == (2, True)
    assert await all_rows(sessions, posts) == []
    status, _ = await _dozor(config, capsys, "import", str(dated), str(LEGACY), "--tz", "UTC")
    assert status == 0
    rows = await all_rows(sessions, posts)
    channels = Counter(row["channel_id"] for row in rows)
    assert len(channels) == 2 and channels[CHANNEL] == 19
    assert "Задержан 😀" in {row["text"] for row in rows}


async def test_the_archives_telegram_dates_tell_the_zone_and_refuse_another(
    sessions: async_sessionmaker[AsyncSession], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _read_from_telegram(sessions, [2, 3, 4, 5, 7])
    status, err = await _dozor(config, capsys, "import", str(LEGACY))
    assert status == 2 and NEEDS_TZ in err
    assert err.endswith(
        "; Telegram's dates of the 5 of its posts the archiver read put that computer at UTC+06:00"
    )
    status, err = await _dozor(config, capsys, "import", "--tz", "Europe/Moscow", str(LEGACY))
    assert status == 2
    assert err == (
        f"dozor: {LEGACY / 'result.json'}: --tz Europe/Moscow does not fit this export: "
        "Telegram dated 5 of the 5 of its posts the archiver read otherwise, and puts that "
        "computer at UTC+06:00; give the zone of the computer that made the export"
    )
    assert len(await all_rows(sessions, posts)) == 5  # the refused imports wrote nothing
    status, _ = await _dozor(config, capsys, "import", "--tz", "Asia/Bishkek", str(LEGACY))
    assert status == 0
    stored = {row["message_id"]: row["date"] for row in await all_rows(sessions, posts)}
    dates = _telegram_dates()
    assert all(stored[i] == dates[i] for i in stored)
    assert len(stored) == 19


async def test_an_html_export_with_unlabelled_dates_needs_its_zone(
    sessions: async_sessionmaker[AsyncSession],
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = json.loads((LEGACY / "result.json").read_text(encoding="utf-8"))
    folder = write_html_export(data, tmp_path / "html", offset=None, per_file=5)
    args = ["import", str(folder), "--channel", str(CHANNEL)]
    status, err = await _dozor(config, capsys, *args)
    assert status == 2
    assert err == (
        f"dozor: {folder}: {NEEDS_TZ}; say which zone that computer was in with --tz (an IANA "
        "name such as Asia/Bishkek, or --tz UTC if it is not known)"
    )
    assert await all_rows(sessions, posts) == []
    assert (await _dozor(config, capsys, *args, "--tz", "UTC"))[0] == 0
    assert len(await all_rows(sessions, posts)) == 18  # its service message left out


def test_a_zone_with_summer_time_shows_two_offsets_and_fits_all() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    walls = [datetime(2020, 1, 10, 12), datetime(2020, 7, 10, 12), datetime(2020, 7, 11, 9)]
    dated = {i: wall.replace(tzinfo=berlin).astimezone(UTC) for i, wall in enumerate(walls)}
    raw: list[object] = [{"id": i, "date": wall.isoformat()} for i, wall in enumerate(walls)]
    raw += [{"id": 7, "date": "2020-01-01T00:00:00"}, {"id": 0, "date": "not a date"}, "junk"]
    # a clock 20 seconds off still shows its zone's offset, and fits it
    dated[9] = datetime(2020, 7, 12, 8, tzinfo=UTC)
    raw.append({"id": 9, "date": "2020-07-12T10:00:20"})
    found = evidence(raw, dated)
    assert len(found.pairs) == 4
    assert found.offsets() == {timedelta(hours=2): 3, timedelta(hours=1): 1}
    assert (
        found.misfits(berlin),
        found.misfits(UTC),
        found.misfits(ZoneInfo("Europe/London")),
    ) == (
        0,
        4,
        4,
    )
    assert evidence(raw, {}) == Evidence([])
