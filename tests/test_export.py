"""Export core: selecting posts (filters, query, deletions, versions), JSON Lines and CSV
writers, safe file writing, and cutting large exports into zipped parts."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import re
import sqlite3
import zipfile
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.cli.main import main
from dozor.errors import QueryError, UserError
from dozor.export import ExportFilter, iter_posts
from dozor.export import html as html_export
from dozor.export import select as export_select
from dozor.export.desktop import desktop_message, text_parts
from dozor.export.files import split_into_zips, write_export
from dozor.export.run import run_export
from dozor.export.writers import CSV_COLUMNS
from dozor.ids import bare_channel_id
from dozor.importer import import_desktop_export
from dozor.importer.desktop import convert_message
from dozor.records import (
    ChannelRecord,
    Forward,
    PostRecord,
    ShownCounters,
    Source,
    make_entity,
    reactions_line,
)
from dozor.storage import mark_deleted, store_posts, upsert_channel
from dozor.storage.media import record_media_file
from dozor.storage.metrics import add_shown_counters
from dozor.storage.sync import set_channel_status
from tests.conftest import DESKTOP, FIXTURES

CH, OTHER = -1001525384822, -1001399999999
T0 = datetime(2024, 11, 1, 8, tzinfo=UTC)
TRICKY = 'Задержан мигрант, "кавычки", запятая\nвторая строка\r\nи ё'


async def fill(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        for channel_id, title, username in ((CH, "МВД", "mvd_test"), (OTHER, "Другой", None)):
            await upsert_channel(
                session,
                ChannelRecord(channel_id, title, username),
                observed_at=T0,
                source=Source.IMPORT,
            )
        await store_posts(
            session,
            [
                PostRecord(
                    CH,
                    1,
                    T0,
                    text=TRICKY,
                    entities=[
                        {"type": "bold", "offset": 0, "length": 8},
                        {"type": "italic", "offset": 0, "length": 16},
                        {"type": "text_link", "offset": 9, "length": 7, "url": "https://mvd.kg/"},
                    ],
                    views=120,
                    reactions=[{"type": "emoji", "emoji": "👍", "count": 3}],
                ),
                PostRecord(
                    CH,
                    2,
                    T0 + timedelta(days=1),
                    text="Погода в Оше",
                    media={"type": "photo", "width": 1280, "height": 853, "size": 183244},
                ),
                PostRecord(
                    CH,
                    3,
                    T0 + timedelta(days=2),
                    text="Мигранты прибыли",
                    forward=Forward(from_id=OTHER, from_name="Другой", message_id=7),
                    grouped_id=55,
                ),
                PostRecord(OTHER, 1, T0, text="Мигрантов проверили"),
            ],
            source=Source.IMPORT,
            observed_at=T0,
        )
        await store_posts(
            session,
            [
                PostRecord(
                    CH,
                    2,
                    T0 + timedelta(days=1),
                    text="Погода в Оше, уточнено",
                    media={"type": "photo", "width": 1280, "height": 853, "size": 183244},
                    edit_date=T0 + timedelta(days=2),  # Telegram marks every edit
                )
            ],
            source=Source.RECONCILE,
            observed_at=T0 + timedelta(days=3),
        )
        await mark_deleted(
            session, CH, [3], observed_at=T0 + timedelta(days=4), source=Source.RECONCILE
        )


async def selected(
    sessions: async_sessionmaker[AsyncSession], batch: int = 1000, **wanted: Any
) -> list[tuple[int, int]]:
    async with sessions() as session:
        return [
            (row["channel_id"], row["message_id"])
            async for rows in iter_posts(session, ExportFilter(**wanted), batch=batch)
            for row in rows
        ]


async def test_filters_select_the_right_posts_in_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await fill(sessions)
    everything = [(OTHER, 1), (CH, 1), (CH, 2), (CH, 3)]
    everything.sort()
    assert await selected(sessions, include_deleted=True, batch=1) == everything
    assert await selected(sessions) == [p for p in everything if p != (CH, 3)]
    assert await selected(sessions, channels=("@mvd_test",), include_deleted=True) == [
        (CH, 1),
        (CH, 2),
        (CH, 3),
    ]
    assert await selected(
        sessions, since=T0 + timedelta(hours=1), until=T0 + timedelta(days=2)
    ) == [(CH, 2)]
    assert await selected(sessions, query="мигрант", include_deleted=True) == sorted(
        [(OTHER, 1), (CH, 1), (CH, 3)]
    )
    assert await selected(sessions, query="мигрант is:deleted") == [(CH, 3)]
    assert await selected(sessions, query="мигрант channel:mvd_test -is:forward") == [(CH, 1)]


QUERIES = [
    "мигрант",
    "мигрант is:deleted",
    '"задержан мигрант" OR погода',
    "погод* has:photo",
    r"/мигрант\w*/i -is:forward",
    "is:edited",
    "-мигрант",
    "channel:mvd_test OR Ош",
    "after:2024-11-01 before:2024-11-02T12:00",
    "has:photo OR after:2021-06-01",
]


async def test_a_query_export_reads_only_the_posts_the_index_names(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a current search index, an export of a query reads the candidates it names and
    matches them; the result equals matching every post (what a stale index falls back to)."""
    await import_desktop_export(sessions, DESKTOP / "tg2md-private-channel-2021")
    await fill(sessions)
    read: list[object] = []
    real_row = export_select._row

    def counted(row: Any) -> dict[str, Any]:
        read.append(row)
        return real_row(row)

    monkeypatch.setattr(export_select, "_row", counted)
    indexed = {q: await selected(sessions, batch=2, query=q, include_deleted=True) for q in QUERIES}
    fewer = len(read)
    monkeypatch.setattr(export_select, "index_is_stale", _always_stale)
    for query in QUERIES:
        assert indexed[query] == await selected(sessions, query=query, include_deleted=True)
    assert indexed["мигрант"] and indexed["-мигрант"]
    assert fewer < len(read) - fewer  # the full reads read more rows


async def _always_stale(session: AsyncSession) -> bool:
    return True


async def test_a_query_export_from_a_stale_index_still_finds_every_post(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """An index an older analyzer built may lack a word's new stems: the export then matches
    every post itself rather than trust it."""
    await fill(sessions)
    everything = await selected(sessions, query="мигрант", include_deleted=True)
    async with sessions.begin() as session:
        await session.execute(text("UPDATE post_search SET stems = replace(stems, 'мигрант', 'x')"))
        await session.execute(text("UPDATE database_facts SET value = '1'"))
    assert await selected(sessions, query="мигрант", include_deleted=True) == everything
    assert len(everything) == 3


async def test_bad_filters_are_user_errors(sessions: async_sessionmaker[AsyncSession]) -> None:
    await fill(sessions)
    with pytest.raises(QueryError):
        await selected(sessions, query='"незакрыто')
    with pytest.raises(UserError, match="nosuch"):
        await selected(sessions, channels=("nosuch",))
    with pytest.raises(UserError, match="nosuch"):
        await selected(sessions, query="channel:nosuch")


async def test_json_lines_hold_every_field_and_the_versions(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await fill(sessions)
    path = tmp_path / "out.jsonl"
    wanted = ExportFilter(channels=("mvd_test",), include_deleted=True, with_versions=True)
    async with sessions() as session:
        assert await write_export(session, wanted, "jsonl", path) == 3
    first, second, third = (json.loads(line) for line in path.read_text("utf-8").splitlines())
    assert first["text"] == TRICKY
    assert first["channel"] == {"id": CH, "username": "mvd_test", "title": "МВД"}
    assert (first["date"], first["views"], first["link"]) == (
        "2024-11-01T08:00:00Z",
        120,
        "https://t.me/mvd_test/1",
    )
    assert first["reactions"] == [{"type": "emoji", "emoji": "👍", "count": 3}]
    assert [v["text"] for v in second["versions"]] == ["Погода в Оше", "Погода в Оше, уточнено"]
    assert second["version"] == 2
    assert third["forwarded_from"] == {
        "id": OTHER,
        "name": "Другой",
        "message_id": 7,
        "date": None,
    }
    assert (third["grouped_id"], third["deleted_at"]) == (55, "2024-11-05T08:00:00Z")
    assert first["deleted_at"] is None


async def test_csv_is_spreadsheet_friendly(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await fill(sessions)
    path = tmp_path / "out.csv"
    async with sessions() as session:
        await write_export(session, ExportFilter(include_deleted=True), "csv", path, bom=True)
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == list(CSV_COLUMNS)
    by_id = {(int(r["channel_id"]), int(r["message_id"])): r for r in rows}
    assert by_id[(CH, 1)]["text"] == TRICKY
    assert by_id[(CH, 1)]["reactions"] == "👍 3"
    assert by_id[(CH, 2)]["versions"] == "2"
    assert by_id[(CH, 3)]["deleted_at"] == "2024-11-05T08:00:00Z"
    assert by_id[(OTHER, 1)]["link"] == "https://t.me/c/1399999999/1"


def test_reactions_are_labelled_alike_for_people_in_csv_and_html() -> None:
    reactions = [
        {"type": "emoji", "emoji": "👍", "count": 3},
        {"type": "paid", "count": 1200},
        {"type": "custom_emoji", "count": 5, "document_id": "5265077361648368841"},
        {"type": "custom_emoji", "count": 2, "document_id": "5465587407350942612"},
        {"type": "custom_emoji", "count": 1},  # an old export names no emoji
    ]
    labels = ["👍", "⭐", "custom emoji …8841", "custom emoji …2612", "custom emoji"]
    assert reactions_line(reactions) == "👍 3 · ⭐ 1200 · custom emoji …8841 5 · " + (
        "custom emoji …2612 2 · custom emoji 1"
    )
    spans = re.findall(r"<span>(.*?) ([\d,]+)</span>", html_export._reactions(reactions))
    assert spans == list(zip(labels, ["3", "1,200", "5", "2", "1"], strict=True))


async def test_counters_over_time_export_as_a_list_in_json_lines_and_a_csv_of_samples(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """--with-metrics: every sample of a post's counters, from Telegram and from a page."""
    await fill(sessions)
    shown = ShownCounters(views=23_400, reactions=[{"type": "paid", "count": 1_200}], rounded=True)
    async with sessions.begin() as session:
        for day, views in ((5, 150), (6, 400)):
            read = PostRecord(CH, 1, T0, text=TRICKY, views=views, forwards=day)
            observed = T0 + timedelta(days=day)
            await store_posts(session, [read], source=Source.LIVE, observed_at=observed)
        await add_shown_counters(session, CH, {1: shown}, T0 + timedelta(days=4))
    wanted = ExportFilter(channels=("mvd_test",), with_metrics=True)
    async with sessions() as session:
        await run_export(session, wanted, "jsonl", tmp_path / "jsonl")
    async with sessions() as session:
        await run_export(session, wanted, "csv", tmp_path / "csv", bom=True)
    records = [json.loads(line) for line in (tmp_path / "jsonl" / "posts.jsonl").open()]
    first = records[0]["metrics"]
    assert [(m["sampled_at"], m["views"], m["forwards"], m["rounded"]) for m in first] == [
        ("2024-11-05T08:00:00Z", 23_400, None, True),  # the page, captured on day 4
        ("2024-11-06T08:00:00Z", 150, 5, False),
        ("2024-11-07T08:00:00Z", 400, 6, False),
    ]
    assert first[0]["reactions"] == [{"count": 1200, "type": "paid"}]
    assert all("metrics" in r for r in records)
    raw = (tmp_path / "csv" / "metrics.csv").read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    samples = sum(len(r["metrics"]) for r in records)
    assert len(rows) == samples
    assert [
        (r["message_id"], r["sampled_at"], r["views"], r["reactions"], r["rounded"])
        for r in rows[:3]
    ] == [
        ("1", "2024-11-05T08:00:00Z", "23400", "⭐ 1200", "true"),
        ("1", "2024-11-06T08:00:00Z", "150", "👍 3", "false"),  # reactions as last known
        ("1", "2024-11-07T08:00:00Z", "400", "👍 3", "false"),
    ]
    assert rows[0]["link"] == "https://t.me/mvd_test/1"
    manifest = json.loads((tmp_path / "csv" / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(f["path"] for f in manifest["files"]) == ["metrics.csv", "posts.csv"]
    assert manifest["filters"]["with_metrics"] is True
    async with sessions() as session:
        with pytest.raises(UserError, match="--with-metrics: the desktop format has no place"):
            await run_export(session, wanted, "desktop", tmp_path / "desktop")
    assert not (tmp_path / "desktop").exists()
    async with sessions() as session:  # the site shows how the views grew, unasked
        await run_export(session, ExportFilter(channels=("mvd_test",)), "html", tmp_path / "html")
    (page,) = (tmp_path / "html").glob("*/2024-11.html")
    site = page.read_text(encoding="utf-8")
    (counters,) = re.findall(r'<div class="counters">(.*?) <svg', site)
    assert counters == ("👁 ≈23,400 (2024-11-05 08:00 UTC) → 400 (2024-11-07 08:00 UTC), 3 samples")
    (points,) = re.findall(r'<polyline [^>]*points="([^"]*)"', site)
    assert points == "0.0,0.0 60.0,24.0 120.0,23.7"  # 23,400 on top, 150 at the bottom


def test_a_sparkline_draws_at_most_sixty_samples_from_first_to_last() -> None:
    start = datetime(2024, 11, 1, tzinfo=UTC)
    samples = [
        SimpleNamespace(sampled_at=start + timedelta(minutes=15 * i), views=100 + 7 * i)
        for i in range(1_000)
    ]
    (points,) = re.findall(r'points="([^"]*)"', html_export._sparkline(samples))
    drawn = [tuple(map(float, point.split(","))) for point in points.split()]
    assert len(drawn) == html_export.SPARK_POINTS
    assert (drawn[0], drawn[-1]) == ((0.0, 24.0), (120.0, 0.0))
    assert [x for x, _ in drawn] == sorted(x for x, _ in drawn)


async def test_posts_come_in_parts_of_a_bounded_number_of_samples(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post may have a thousand counter samples: posts go out in parts of about
    SAMPLES_PER_PART samples, and a part alone holds them."""
    await fill(sessions)
    async with sessions.begin() as session:
        for day in (5, 6):
            read = PostRecord(CH, 1, T0, text=TRICKY, views=10 * day)
            observed = T0 + timedelta(days=day)
            await store_posts(session, [read], source=Source.LIVE, observed_at=observed)
    monkeypatch.setattr(export_select, "SAMPLES_PER_PART", 1)
    wanted = ExportFilter(include_deleted=True, with_metrics=True)
    async with sessions() as session:
        parts = [
            [(row["message_id"], len(row["metrics"])) for row in rows]
            async for rows in iter_posts(session, wanted)
        ]
        plain = [
            len(rows) async for rows in iter_posts(session, ExportFilter(include_deleted=True))
        ]
    assert parts == [[(1, 2)], [(2, 0), (3, 0), (1, 0)]]  # CH 1 alone; CH 2, 3, OTHER 1
    assert plain == [4]


async def test_csv_cells_a_spreadsheet_would_run_are_plain_text(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    texts = ['=HYPERLINK("http://evil.example","x")', "+7 700 000", "-10°C в Оше", "@admin", "Ош"]
    async with sessions.begin() as session:
        await upsert_channel(
            session, ChannelRecord(CH, "=1+1", None), observed_at=T0, source=Source.IMPORT
        )
        records = [PostRecord(CH, n, T0, text=t) for n, t in enumerate(texts, start=1)]
        await store_posts(session, records, source=Source.IMPORT, observed_at=T0)
    async with sessions() as session:
        await write_export(session, ExportFilter(), "csv", tmp_path / "out.csv")
        await write_export(session, ExportFilter(), "jsonl", tmp_path / "out.jsonl")
    written = (tmp_path / "out.csv").read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(written, newline="")))
    assert [r["text"] for r in rows] == ["'" + t for t in texts[:4]] + ["Ош"]
    assert {r["channel_title"] for r in rows} == {"'=1+1"}
    lines = (tmp_path / "out.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == texts  # JSON Lines stay exact


async def test_a_failed_export_leaves_no_file_behind(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await fill(sessions)
    path = tmp_path / "exports" / "out.jsonl"
    path.parent.mkdir()
    async with sessions() as session:
        with pytest.raises(UserError):
            await write_export(session, ExportFilter(channels=("nosuch",)), "jsonl", path)
    assert _files(path.parent) == []


def _files(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def test_large_exports_are_cut_into_valid_zipped_parts(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = [["id", "text"]] + [[str(i), f'строка {i}\nс переводом, "{i}"'] for i in range(3000)]
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows(rows)
    assert split_into_zips(path, "csv", path.stat().st_size) == [path]  # fits: sent as it is
    parts = split_into_zips(path, "csv", 20_000, margin=0)
    assert len(parts) > 1
    seen: list[list[str]] = []
    for part in parts:
        assert part.stat().st_size < 20_000 + 16_384  # plus what zlib held when measured
        with zipfile.ZipFile(part) as archive:
            (name,) = archive.namelist()
            content = archive.read(name).decode("utf-8")
        part_rows = list(csv.reader(io.StringIO(content, newline="")))
        assert part_rows[0] == ["id", "text"]
        seen += part_rows[1:]
    assert seen == rows[1:]


def test_json_lines_parts_hold_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    records = [{"id": i, "text": f"пост {sha256(bytes(i)).hexdigest()}\n"} for i in range(3000)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    parts = split_into_zips(path, "jsonl", 20_000, margin=0)
    assert len(parts) > 1
    seen = []
    for part in parts:
        with zipfile.ZipFile(part) as archive:
            seen += [json.loads(line) for line in archive.read(archive.namelist()[0]).splitlines()]
    assert seen == records


# --- dozor export: every format, the manifest, goldens, round trip, bad arguments ------------

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
DUROV_PAGE = FIXTURES / "tme-s" / "sherlock-tme-s-durov" / "channel_feed.html"
FORMAT_FILES = {
    "jsonl": ["posts.jsonl"],
    "csv": ["posts.csv"],
    "desktop": ["mvd_test/result.json", "1399999999/result.json"],
    "html": [
        "index.html",
        "mvd_test/index.html",
        "mvd_test/2024-11.html",
        "mvd_test/changed.html",
        "search/shard-1.js",
    ],
}


def config_file(folder: Path, database_url: str) -> Path:
    path = folder / "config.toml"
    path.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    return path


async def dozor(*args: str) -> int:
    """The real command line, in a thread (it runs its own event loop)."""
    return await asyncio.to_thread(main, list(args))


@pytest.mark.parametrize("fmt", sorted(FORMAT_FILES))
async def test_each_format_matches_its_golden_files_and_its_manifest(
    fmt: str,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await fill(sessions)
    config = config_file(tmp_path, database_url)
    out = tmp_path / "export"
    code = await dozor("export", "--config", str(config), "--format", fmt, "--out", str(out),
                       "--include-deleted", "--with-versions", "--json")  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["posts"] == 4
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["counts"] == {"posts": 4, "channels": 2, "files": len(manifest["files"])}
    for entry in manifest["files"]:
        content = (out / entry["path"]).read_bytes()
        assert sha256(content).hexdigest() == entry["sha256"], entry["path"]
    for name in FORMAT_FILES[fmt]:
        _compare_with_golden(out / name, GOLDEN / fmt / name)


def _compare_with_golden(produced: Path, golden: Path) -> None:
    """Byte-for-byte, except the time of export; DOZOR_UPDATE_GOLDEN=1 rewrites the goldens."""
    content = produced.read_text("utf-8")
    if os.environ.get("DOZOR_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(content, "utf-8")
    assert content == golden.read_text("utf-8"), f"{produced.name} differs from {golden}"


@pytest.mark.parametrize("sample", sorted(p.name for p in DESKTOP.iterdir()))
async def test_desktop_export_round_trips_through_import(
    sample: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = config_file(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/first.db")
    (tmp_path / "second").mkdir()
    second = config_file(tmp_path / "second", f"sqlite+aiosqlite:///{tmp_path}/second.db")
    assert await dozor("import", "--tz", "UTC", "--config", str(first), str(DESKTOP / sample)) == 0
    out = tmp_path / "export"
    assert await dozor("export", "--config", str(first), "--format", "desktop",
                       "--include-deleted", "--out", str(out)) == 0  # fmt: skip
    assert await dozor("import", "--config", str(second), str(out)) == 0, capsys.readouterr().err
    assert _post_rows(tmp_path / "first.db") == _post_rows(tmp_path / "second.db")


async def test_desktop_export_keeps_nested_formatting_and_the_username(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Durov's saved page has links inside italics, which Desktop's parts cannot nest: the parts
    keep the links, ``full_entities`` keeps everything, and the username survives the trip, as
    do the page's four "edited" marks, which carry no time."""
    first = config_file(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/first.db")
    (tmp_path / "second").mkdir()
    second = config_file(tmp_path / "second", f"sqlite+aiosqlite:///{tmp_path}/second.db")
    assert await dozor("import", "--config", str(first), str(DUROV_PAGE)) == 0
    out = tmp_path / "export"
    assert await dozor("export", "--config", str(first), "--format", "desktop",
                       "--out", str(out)) == 0  # fmt: skip
    exported = json.loads((out / "result.json").read_text("utf-8"))
    assert exported["username"] == "durov"
    nested = [m for m in exported["messages"] if "full_entities" in m]
    assert nested, "the sample has nested formatting"
    links = {p.get("href") for m in nested for p in m["text_entities"] if p["type"] == "text_link"}
    assert "https://www.youtube.com/watch?v=1Yq_5aDdJ24" in links  # inside italics
    marked = [m["id"] for m in exported["messages"] if m.get("edit_time_unknown")]
    assert marked == [521, 527, 535, 538] and not any("edited" in m for m in exported["messages"])
    assert await dozor("import", "--config", str(second), str(out)) == 0, capsys.readouterr().err
    without_file_notes = [_without_file_notes(row) for row in _post_rows(tmp_path / "second.db")]
    assert _post_rows(tmp_path / "first.db") == without_file_notes
    with contextlib.closing(sqlite3.connect(tmp_path / "second.db")) as db:
        assert db.execute("SELECT username FROM channels").fetchall() == [("durov",)]
        assert db.execute("SELECT count(*) FROM posts WHERE edit_time_unknown").fetchone() == (4,)
    html = tmp_path / "html"
    assert await dozor("export", "--config", str(first), "--format", "html",
                       "--out", str(html)) == 0  # fmt: skip
    pages = "".join(p.read_text("utf-8") for p in (html / "durov").glob("*.html"))
    assert pages.count('<div class="edited">✏ edited (when is not known)</div>') == 4


async def test_a_desktop_export_of_several_channels_imports_from_its_folder(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One subfolder per channel: importing the export's folder finds them all, and a post
    deleted on Telegram comes back a tombstone, deleted when the archive saw it."""
    await fill(sessions)
    out = tmp_path / "export"
    first = config_file(tmp_path, database_url)
    assert await dozor("export", "--config", str(first), "--format", "desktop",
                       "--include-deleted", "--out", str(out)) == 0  # fmt: skip
    (tmp_path / "second").mkdir()
    second = config_file(tmp_path / "second", f"sqlite+aiosqlite:///{tmp_path}/second.db")
    assert await dozor("import", "--config", str(second), str(out)) == 0, capsys.readouterr().err
    with contextlib.closing(sqlite3.connect(tmp_path / "second.db")) as db:
        rows = db.execute(
            "SELECT channel_id, message_id, text, deleted_at FROM posts"
            " ORDER BY channel_id, message_id"
        ).fetchall()
        names = db.execute("SELECT id, username FROM channels ORDER BY id").fetchall()
    deleted = (T0 + timedelta(days=4)).strftime("%Y-%m-%d %H:%M:%S")
    assert [row[:3] for row in rows] == [
        (CH, 1, TRICKY),
        (CH, 2, "Погода в Оше, уточнено"),
        (CH, 3, "Мигранты прибыли"),
        (OTHER, 1, "Мигрантов проверили"),
    ]
    assert [row[3] and row[3][:19] for row in rows] == [None, None, deleted, None]
    assert names == [(CH, "mvd_test"), (OTHER, None)]
    assert "1 marked deleted as the export records" in capsys.readouterr().out
    assert await dozor("import", "--config", str(second), str(out)) == 0  # again: nothing new
    assert "marked deleted" not in capsys.readouterr().out


def _without_file_notes(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The re-import learns that the export left files out (true, and not in the page)."""
    media = row[19]
    if isinstance(media, dict):
        media = {k: v for k, v in media.items() if not k.endswith("_not_exported")}
    return (*row[:19], media, *row[20:])


def test_desktop_parts_give_each_stretch_its_innermost_formatting() -> None:
    HREF = {"href": "https://example.org/"}
    text = "read this speech now"
    italic = {"type": "italic", "offset": 0, "length": 20}
    link = {"type": "text_link", "offset": 5, "length": 11, "url": "https://example.org/"}
    bold = {"type": "bold", "offset": 17, "length": 3}
    assert text_parts(text, [italic, link, bold]) == [
        {"type": "italic", "text": "read "},
        {"type": "text_link", "text": "this speech", **HREF},
        {"type": "italic", "text": " "},
        {"type": "bold", "text": "now"},
    ]
    flat = [{"type": "bold", "offset": 0, "length": 4}, {"type": "code", "offset": 10, "length": 6}]
    assert text_parts(text, flat) == [
        {"type": "bold", "text": "read"},
        " this ",
        {"type": "code", "text": "speech"},
        " now",
    ]
    same_text = [{"type": "italic", "offset": 5, "length": 4}, {**link, "length": 4}]
    assert text_parts(text, same_text)[1] == {"type": "text_link", "text": "this", **HREF}
    assert text_parts(text, [{"type": "bold", "offset": 15, "length": 9}]) == [text]  # past the end


_KINDS = ("bold", "italic", "text_link", "custom_emoji", "mention_name")


@st.composite
def formatted_texts(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    text = draw(st.text(alphabet="аб 🎉\n", min_size=1, max_size=20))
    entities = []
    for _ in range(draw(st.integers(0, 5))):
        start = draw(st.integers(0, len(text) - 1))
        length = draw(st.integers(1, len(text) - start))
        kind = draw(st.sampled_from(_KINDS))
        extras = {"text_link": {"url": "https://mvd.kg/"}, "custom_emoji": {"document_id": "5"}}
        entities.append(make_entity(kind, start, length, **extras.get(kind, {}), user_id=None))
    return text, entities


@given(formatted_texts())
@settings(max_examples=300, deadline=None)
def test_any_formatting_survives_a_desktop_export_and_import(
    formatted: tuple[str, list[dict[str, Any]]],
) -> None:
    """Nested or overlapping, every entity comes back: through the parts when they can hold
    it, through ``full_entities`` when not."""
    text, entities = formatted
    row = {**DESKTOP_ROW, "text": text, "entities": entities}
    message = json.loads(json.dumps(desktop_message(row)))
    back = convert_message(message, channel_id=row["channel_id"], legacy=False, tz=UTC)
    assert back.record.text == text
    assert _as_set(back.record.entities) == _as_set(entities)
    assert "full_entities" not in message or len(entities) > 1


def _as_set(entities: list[dict[str, Any]]) -> set[str]:
    return {json.dumps(e, sort_keys=True) for e in entities}


DESKTOP_ROW: dict[str, Any] = {
    "kind": "message",
    "message_id": 1,
    "channel_id": -1001525384822,
    "channel_title": "МВД",
    "date": datetime(2024, 11, 1, tzinfo=UTC),
    "edit_date": None,
    "edit_time_unknown": False,
    "service_action": None,
    "author_signature": None,
    "forwarded_from_name": None,
    "forwarded_from_id": None,
    "forwarded_from_message_id": None,
    "forwarded_from_date": None,
    "reply_to_message_id": None,
    "media": None,
    "reactions": None,
    "views": None,
    "forwards": None,
    "replies": None,
    "grouped_id": None,
    "deleted_at": None,
    "buttons": None,
    "text": "Заявление",
    "entities": None,
}


def test_buttons_survive_a_desktop_export_and_import() -> None:
    """inline_bot_buttons as Desktop writes them: a URL button's address is its data."""
    buttons = [
        [{"type": "url", "text": "Читать", "url": "https://mvd.kg/1"}],
        [{"type": "callback", "text": "Голосовать"}, {"type": "url", "text": "Сайт", "url": "x:/"}],
    ]
    message = json.loads(json.dumps(desktop_message({**DESKTOP_ROW, "buttons": buttons})))
    assert message["inline_bot_buttons"][0] == [
        {"type": "url", "text": "Читать", "data": "https://mvd.kg/1"}
    ]
    back = convert_message(message, channel_id=DESKTOP_ROW["channel_id"], legacy=False, tz=UTC)
    assert back.record.buttons == buttons
    assert "inline_bot_buttons" not in desktop_message(DESKTOP_ROW)
    plain = convert_message(
        desktop_message(DESKTOP_ROW), channel_id=-1001525384822, legacy=False, tz=UTC
    )
    assert plain.record.buttons is None  # absent says nothing: never "buttons removed"


async def _exported(tmp_path: Path, fmt: str, *fixtures: str) -> tuple[Path, Path]:
    """A config whose archive holds *fixtures*, and a dozor export of it in *fmt*."""
    config = config_file(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/archive.db")
    paths = [str(DESKTOP / name) for name in fixtures]
    assert await dozor("import", "--tz", "UTC", "--config", str(config), *paths) == 0
    out = tmp_path / "export"
    assert await dozor("export", "--config", str(config), "--format", fmt,
                       "--out", str(out)) == 0  # fmt: skip
    return config, out


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "html"])
async def test_importing_another_dozor_export_says_which_one_imports(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused with one line, whatever part of the export is named: its folder, its manifest
    or one of its files (an HTML export's pages are no saved t.me/s pages either)."""
    config, out = await _exported(tmp_path, fmt, "current-format-early")
    inner = next(p for p in sorted(out.rglob(f"*.{fmt}")) if p.name != "index.html")
    capsys.readouterr()
    for named, part in ((out, ""), (out / "manifest.json", "part of "), (inner, "part of ")):
        assert await dozor("import", "--config", str(config), str(named)) == 2
        error = capsys.readouterr().err
        assert error.startswith(
            f"dozor: {named}: {part}a dozor {fmt} export: dozor re-imports only those made with"
        ), error
    zipped = tmp_path / "export.zip"  # the export's folder inside, as a zip tool makes it
    with zipfile.ZipFile(zipped, "w") as archive:
        for file in out.rglob("*"):
            archive.write(file, file.relative_to(tmp_path).as_posix())
    assert await dozor("import", "--config", str(config), str(zipped)) == 2
    assert capsys.readouterr().err.startswith(f"dozor: {zipped / 'export'}: a dozor {fmt} export")


async def test_a_dozor_desktop_export_named_with_its_manifest_imports_each_channel_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dozor import export/*` names each channel's folder and the manifest: the manifest
    stands for the whole export, and no channel is imported twice."""
    _, out = await _exported(
        tmp_path, "desktop", "current-format-early", "tg2md-private-channel-2020"
    )
    (tmp_path / "second").mkdir()
    second = config_file(tmp_path / "second", f"sqlite+aiosqlite:///{tmp_path}/second.db")
    capsys.readouterr()
    everything = sorted(str(p) for p in out.iterdir())
    assert [Path(p).name for p in everything][-1] == "manifest.json"
    assert await dozor("import", "--config", str(second), *everything) == 0
    reports = capsys.readouterr().out.splitlines()
    assert sorted(line.split(": channel")[0] for line in reports) == sorted(
        str(p) for p in out.rglob("result.json")
    )
    assert all(" new, 0 updated" in line for line in reports), reports
    assert await dozor("import", "--config", str(second), str(out / "manifest.json")) == 0
    again = capsys.readouterr().out.splitlines()
    assert len(again) == 2 and all("messages: 0 new," in line for line in again), again


def _post_rows(path: Path) -> list[tuple[Any, ...]]:
    columns = (
        "channel_id, message_id, kind, date, edit_date, text, entities, author_signature, views, "
        "forwards, replies, reactions, reply_to_message_id, forwarded_from_id, "
        "forwarded_from_message_id, forwarded_from_name, forwarded_from_date, grouped_id, "
        "media_type, media, service_action, content_sha256, edit_time_unknown"
    )
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(f"SELECT {columns} FROM posts ORDER BY channel_id, message_id")
        found = [tuple(_parsed(value) for value in row) for row in rows.fetchall()]
    assert found
    return found


def _parsed(value: Any) -> Any:
    """JSON columns compared as values (key order is not meaningful)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        return json.loads(value)
    return value


async def test_csv_reads_the_same_in_a_second_reader(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await fill(sessions)
    async with sessions() as session:
        await write_export(session, ExportFilter(include_deleted=True), "csv", tmp_path / "p.csv")
    with (tmp_path / "p.csv").open(encoding="utf-8", newline="") as source:
        by_python = [tuple(row) for row in csv.reader(source)][1:]
    relation = duckdb.read_csv(
        str(tmp_path / "p.csv"), header=True, all_varchar=True, quotechar='"', escapechar='"'
    )
    by_duckdb = [tuple("" if v is None else v for v in row) for row in relation.fetchall()]
    assert by_duckdb == by_python
    assert any(TRICKY in row for row in by_duckdb)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "Invalid value for '--format'"),
        (["--format", "csv", "--since", "01.11.2024"], "--since '01.11.2024': use YYYY-MM-DD"),
        (
            ["--format", "csv", "--until", "9999-12-31T23:00-05:00"],
            "--until '9999-12-31T23:00-05:00': out of range in UTC",
        ),
        (
            ["--format", "csv", "--since", "2024-11-02", "--until", "2024-11-01"],
            "--since 2024-11-02 is not before --until 2024-11-01",
        ),
        (["--format", "csv", "--query", '"unclosed'], "query error at position 1"),
        (["--format", "csv", "--channel", "nosuch"], "nosuch"),
        (["--format", "csv", "--query", "космонавт"], "no posts match these filters"),
        (
            ["--format", "desktop", "--with-metrics"],
            "--with-metrics: the desktop format has no place",
        ),
    ],
)
async def test_bad_arguments_get_one_line_and_leave_nothing(
    args: list[str],
    message: str,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await fill(sessions)
    config = config_file(tmp_path, database_url)
    out = tmp_path / "exports" / "today"
    out.parent.mkdir()
    assert await dozor("export", "--config", str(config), *args, "--out", str(out)) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "INFO" not in line]
    assert len(lines) == 1 and message in lines[0], lines
    assert _files(out.parent) == []


async def test_unusable_destinations_are_refused(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await fill(sessions)
    config = config_file(tmp_path, database_url)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    assert (
        await dozor("export", "--config", str(config), "--format", "csv", "--out", str(taken)) == 2
    )
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert _files(taken) == [taken / "keep.txt"]
    nowhere = tmp_path / "no" / "such" / "dir"
    assert (
        await dozor("export", "--config", str(config), "--format", "csv", "--out", str(nowhere))
        == 2
    )
    assert "no such folder" in capsys.readouterr().err


async def test_html_shows_a_place_with_a_link_to_the_map(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await fill(sessions)
    venue = {
        "type": "venue",
        "location": {"latitude": 42.8746, "longitude": 74.5698},
        "place_name": "ИИМ <главк>",
        "address": "Фрунзе көч., 469",
    }
    async with sessions.begin() as session:
        place = PostRecord(CH, 4, T0 + timedelta(days=5), text="", media=venue)
        await store_posts(session, [place], source=Source.IMPORT, observed_at=T0)
    out = tmp_path / "site"
    async with sessions() as session:
        await run_export(session, ExportFilter(channels=("mvd_test",)), "html", out)
    page = (out / "mvd_test" / "2024-11.html").read_text("utf-8")
    assert (
        '<div class="media">📍 <a href="https://www.openstreetmap.org/?mlat=42.87460&amp;'
        'mlon=74.56980#map=16/42.87460/74.56980" rel="noopener noreferrer">'
        "place: ИИМ &lt;главк&gt;, Фрунзе көч., 469 · 42.87460, 74.56980</a></div>"
    ) in page


async def test_html_shows_how_a_channel_changed(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Renames, a new description, pins (of a post in the export and of one that is not),
    Telegram's labels, the channel lost to the account and back, and a purge."""
    await fill(sessions)
    seen = T0 + timedelta(days=9)
    async with sessions.begin() as session:
        first = ChannelRecord(CH, "МВД", "mvd_test", labels="", pinned="")
        await upsert_channel(session, first, observed_at=seen, source=Source.LIVE)
        renamed = ChannelRecord(
            CH, "МВД <КР>", "mvd_test", about="Пресс-служба", labels="scam", pinned="2"
        )
        await upsert_channel(session, renamed, observed_at=seen, source=Source.LIVE)
        repinned = ChannelRecord(CH, "МВД <КР>", "mvd_test", pinned="77")
        await upsert_channel(session, repinned, observed_at=seen, source=Source.LIVE)
        for status in ("banned", "ok"):
            await set_channel_status(session, CH, status, None, at=seen)
        await mark_deleted(
            session, CH, [1, 2], source=Source.LIVE, observed_at=seen, summarize_from=2
        )
    out = tmp_path / "site"
    async with sessions() as session:
        await run_export(session, ExportFilter(include_deleted=True), "html", out)
    page = (out / "mvd_test" / "index.html").read_text("utf-8")
    assert (
        '<h2>Changes seen</h2><ul class="changes">'
        f"<li>{seen:%Y-%m-%d %H:%M} UTC · title: "
        "<del>МВД</del> → <ins>МВД &lt;КР&gt;</ins></li>"
    ) in page
    assert "description: <del>—</del> → <ins>Пресс-служба</ins>" in page
    assert "Telegram's labels: <del>—</del> → <ins>scam</ins>" in page
    assert 'pinned post: <del>—</del> → <ins><a href="2024-11.html#m2">#2</a></ins>' in page
    assert (
        'pinned post: <del><a href="2024-11.html#m2">#2</a></del> → '
        '<ins><a href="https://t.me/mvd_test/77">#77</a></ins>'  # not in the export
    ) in page
    assert "readable by the archiving account: <del>yes</del> → <ins>no (banned)</ins>" in page
    assert "readable by the archiving account: <del>no (banned)</del> → <ins>yes</ins>" in page
    assert "deleted 2 posts, #1 to #2 at once" in page
    async with sessions.begin() as session:  # Telegram hides a post: its page says so
        hidden = PostRecord(CH, 1, T0, text=TRICKY, restriction="restricted (all: <terms>)")
        await store_posts(session, [hidden], source=Source.LIVE, observed_at=seen)
    async with sessions() as session:
        await run_export(session, ExportFilter(), "html", tmp_path / "again")
    month = (tmp_path / "again" / "mvd_test" / "2024-11.html").read_text("utf-8")
    assert (
        '<div class="banner">🚫 Hidden by Telegram\'s apps: restricted (all: &lt;terms&gt;)</div>'
    ) in month
    assert month.count("Hidden by Telegram") == 1
    other = (out / f"c{bare_channel_id(OTHER)}" / "index.html").read_text("utf-8")
    assert "Changes seen" not in other


async def _stored_photo(
    sessions: async_sessionmaker[AsyncSession], media_dir: Path, photo: bytes
) -> str:
    """Store *photo* as post 2's attachment, as the archiver does; its SHA-256."""
    digest = sha256(photo).hexdigest()
    (media_dir / digest[:2]).mkdir(parents=True)
    (media_dir / digest[:2] / f"{digest}.jpg").write_bytes(photo)
    async with sessions.begin() as session:
        await record_media_file(
            session,
            CH,
            2,
            sha256=digest,
            size=len(photo),
            mime_type="image/jpeg",
            path=f"{digest[:2]}/{digest}.jpg",
            at=T0,
        )
    return digest


async def test_html_shows_photos_the_archiver_downloaded(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await fill(sessions)
    photo = b"\xff\xd8\xff\xe0 not really a jpeg"
    media_dir = tmp_path / "media"
    digest = await _stored_photo(sessions, media_dir, photo)
    out = tmp_path / "site"
    async with sessions() as session:
        wanted = ExportFilter(channels=("mvd_test",), with_versions=True)
        await run_export(session, wanted, "html", out, media_dir=media_dir)
    page = (out / "mvd_test" / "2024-11.html").read_text("utf-8")
    assert f'<img class="photo" src="../media/{digest}.jpg"' in page
    assert (out / "media" / f"{digest}.jpg").read_bytes() == photo
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert f"media/{digest}.jpg" in {f["path"] for f in manifest["files"]}


async def test_html_pages_hold_a_thousand_posts_and_replies_link_across_them(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A month of more posts than a page holds goes on over several pages, each linking to the
    one before and after. A reply links to its post on whichever page holds it (it linked
    to an anchor of its own page, which was missing when the post came a month earlier), and
    to Telegram when the export does not hold the post."""
    monkeypatch.setattr(html_export, "PAGE_POSTS", 2)
    replies = {4: 99, 5: 1, 6: 5, 7: 6}  # post -> the post it answers (99 is not exported)
    october = T0 - timedelta(days=3)
    async with sessions.begin() as session:
        await upsert_channel(
            session, ChannelRecord(CH, "МВД", "mvd_test"), observed_at=T0, source=Source.IMPORT
        )
        records = [
            PostRecord(
                CH,
                mid,
                october if mid == 1 else T0 + timedelta(hours=mid),
                text=f"Сообщение {mid}",
                reply_to_message_id=replies.get(mid),
            )
            for mid in range(1, 8)
        ]
        await store_posts(session, records, source=Source.IMPORT, observed_at=T0)
    out = tmp_path / "site"
    async with sessions() as session:
        await run_export(session, ExportFilter(), "html", out)
    folder = out / "mvd_test"
    pages = {p.stem: p.read_text("utf-8") for p in folder.glob("20*.html")}
    articles = {name: re.findall(r'<article id="m(\d+)"', page) for name, page in pages.items()}
    assert articles == {
        "2024-10": ["1"],
        "2024-11": ["2", "3"],
        "2024-11-2": ["4", "5"],
        "2024-11-3": ["6", "7"],
    }
    assert '↩ In reply to <a href="2024-10.html#m1">#1</a>' in pages["2024-11-2"]
    assert '↩ In reply to <a href="2024-11-2.html#m5">#5</a>' in pages["2024-11-3"]
    assert '↩ In reply to <a href="#m6">#6</a>' in pages["2024-11-3"]
    assert (
        '↩ In reply to <a href="https://t.me/mvd_test/99">#99</a> (on Telegram; not in this export)'
    ) in pages["2024-11-2"]
    for name, page in pages.items():  # every link inside the site leads to its post
        for target, anchor in re.findall(r'href="([\w-]*?)(?:\.html)?#m(\d+)"', page):
            assert anchor in articles[target or name], (name, target, anchor)
    pagers = {
        name: re.findall(r'<a rel="(prev|next)" href="([\w-]+)\.html"', page)
        for name, page in pages.items()
    }
    assert pagers["2024-10"] == [("next", "2024-11")] * 2  # above and below the posts
    assert pagers["2024-11-2"] == [("prev", "2024-11"), ("next", "2024-11-3")] * 2
    assert pagers["2024-11-3"] == [("prev", "2024-11-2")] * 2
    assert "<h1>МВД · 2024-11, page 2</h1>" in pages["2024-11-2"]
    assert (
        '<a rel="prev" href="2024-11.html">‹ 2024-11</a> · '
        '<a rel="next" href="2024-11-3.html">2024-11, page 3 ›</a>'
    ) in pages["2024-11-2"]
    listing = (folder / "index.html").read_text("utf-8")
    assert (
        '<li><a href="2024-11.html">2024-11</a> · 6 posts · pages <a href="2024-11.html">1</a> '
        '<a href="2024-11-2.html">2</a> <a href="2024-11-3.html">3</a></li>'
    ) in listing
    assert '<li><a href="2024-10.html">2024-10</a> · 1 posts</li>' in listing
    shard = (out / "search" / "shard-1.js").read_text("utf-8")
    found = json.loads(shard.removeprefix("dozorIndex.push(").removesuffix(");\n"))
    assert len(found) == 7
    for url, *_ in found:  # the offline search leads to each post's page
        page, anchor = url.removeprefix("mvd_test/").split(".html#m")
        assert anchor in articles[page]


def test_html_formatting_keeps_to_the_text_whatever_the_entities() -> None:
    from dozor.export.html import formatted

    broken = [
        {"type": "italic", "offset": -3, "length": 2},  # before the text
        {"type": "bold", "offset": 4, "length": 100},  # past its end
        {"type": "code", "offset": 2, "length": 0},
        {"type": "text_link", "offset": 0, "length": 2, "url": "javascript:alert(1)"},
    ]
    assert formatted("Ош <b>", broken) == "Ош &lt;<b>b&gt;</b>"


async def test_desktop_export_carries_stored_files_even_for_a_channel_named_photos(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """A lone channel's folder moves to the top with its files, whatever its username."""
    await fill(sessions)
    photo = b"\xff\xd8\xff\xe0 weather in Osh"
    media_dir = tmp_path / "media"
    digest = await _stored_photo(sessions, media_dir, photo)
    async with sessions.begin() as session:
        await upsert_channel(
            session, ChannelRecord(CH, "МВД", "photos"), observed_at=T0, source=Source.IMPORT
        )
    out = tmp_path / "desktop"
    async with sessions() as session:
        wanted = ExportFilter(channels=("photos",))
        await run_export(session, wanted, "desktop", out, media_dir=media_dir)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "photos", "result.json"]
    assert (out / "photos" / f"{digest}.jpg").read_bytes() == photo
    messages = {m["id"]: m for m in json.loads((out / "result.json").read_text())["messages"]}
    assert messages[2]["photo"] == f"photos/{digest}.jpg"
    assert messages[1].get("photo") is None


async def test_html_names_what_an_edit_changed_besides_the_words(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """changed.html: an edit that swapped the photo and retargeted a link, words unchanged."""
    await fill(sessions)
    photo = {"type": "photo", "id": "1", "width": 1280, "height": 720}
    text = "Сводка МВД: подробнее"
    links = [make_entity("text_link", 12, 9, url=f"https://mvd.kg/{n}") for n in (1, 2)]
    async with sessions.begin() as session:
        versions = [(photo, links[0]), ({**photo, "id": "2"}, links[1])]
        for hours, (media, link) in enumerate(versions):
            edited = T0 + timedelta(hours=hours)
            record = PostRecord(
                CH, 9, T0, text=text, entities=[link], media=media, edit_date=edited
            )
            await store_posts(session, [record], source=Source.LIVE, observed_at=T0)
    out = tmp_path / "site"
    async with sessions() as session:
        await run_export(session, ExportFilter(channels=("mvd_test",)), "html", out)
    changed = (out / "mvd_test" / "changed.html").read_text("utf-8")
    assert (
        ': text unchanged</div><ul class="also">'
        "<li>attachment replaced by another photo 1280×720</li>"
        "<li>link «подробнее» now leads to https://mvd.kg/2 (was https://mvd.kg/1)</li></ul>"
    ) in changed
    month = (out / "mvd_test" / "2024-11.html").read_text("utf-8")  # the post's own history
    post = month[month.index('<article id="m9"') :]
    history = post[post.index('<details class="history">') : post.index("</article>")]
    assert history.count('<div class="media">📎 photo 1280×720</div>') == 2
    assert '<ul class="also"><li>attachment replaced by another photo 1280×720</li>' in history


async def test_html_lists_what_changed_newest_first_on_pages_of_their_own(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """changed.html: the channel's edited, deleted and hidden posts, newest first, each edit
    as its words removed and added, a deleted post with what it said, each linked to its
    page; more than a page holds go on in changed-2.html; a channel where nothing changed
    has no such page."""
    monkeypatch.setattr(html_export, "PAGE_POSTS", 2)
    await fill(sessions)  # #2 edited, #3 deleted
    later = T0 + timedelta(days=9)
    async with sessions.begin() as session:
        edited_again = PostRecord(
            CH, 2, T0 + timedelta(days=1), text="Погода в Оше <уточнено>", edit_date=later
        )
        hidden = PostRecord(CH, 1, T0, text=TRICKY, restriction="restricted (all: terms)")
        await store_posts(session, [edited_again, hidden], source=Source.LIVE, observed_at=later)
    out = tmp_path / "site"
    async with sessions() as session:
        await run_export(session, ExportFilter(include_deleted=True), "html", out)
    folder = out / "mvd_test"
    first, second = (
        (folder / name).read_text("utf-8") for name in ("changed.html", "changed-2.html")
    )
    listed = [re.findall(r'<a href="([^"]+)">#\d+</a> · ', page) for page in (first, second)]
    assert listed == [["2024-11-2.html#m3", "2024-11.html#m2"], ["2024-11.html#m1"]]
    assert '<div class="banner">🗑 Deleted on Telegram; seen deleted ' in first
    assert '<div class="text">Мигранты прибыли</div>' in first  # what the deleted post said
    edits = re.findall(r'<div class="diff">(.*?)</div>', first)
    assert edits == [
        "Погода в <del>Оше</del><ins>Оше, уточнено</ins>",
        "Погода в <del>Оше,</del><ins>Оше</ins> <del>уточнено</del><ins>&lt;уточнено&gt;</ins>",
    ]
    assert f"· edited {later:%Y-%m-%d %H:%M} UTC</div>" in first
    assert "🚫 Hidden by Telegram's apps: restricted (all: terms)" in second
    assert '<p class="pager">pages <b>1</b> <a href="changed-2.html">2</a></p>' in first
    assert '<p class="pager">pages <a href="changed.html">1</a> <b>2</b></p>' in second
    index = (folder / "index.html").read_text("utf-8")
    assert '<a href="changed.html">3 posts edited, deleted or hidden</a>' in index
    assert not list(out.rglob("*.part"))  # entries set aside while writing are gone
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert {"mvd_test/changed.html", "mvd_test/changed-2.html"} <= {
        entry["path"] for entry in manifest["files"]
    }
    assert not list((out / "c1399999999").glob("changed*.html"))  # nothing changed there
    assert "changed.html" not in (out / "c1399999999" / "index.html").read_text("utf-8")
