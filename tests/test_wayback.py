"""`dozor wayback` against a fake Wayback Machine on loopback: the CDX capture list, captures
fetched politely (a 429 waited out, a missing one told), kept as files dated by their capture,
imported, and fetched once only."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from dozor import db
from dozor.cli.main import main
from dozor.config import DatabaseConfig
from dozor.importer import wayback
from dozor.records import ChannelRecord, Source
from dozor.storage import upsert_channel
from tests.test_webpreview import DUROV, DUROV_FEED

FIRST, SECOND, OLDER_PAGE, MISSING = (
    "20260810040506",
    "20260901120000",
    "20260902080000",
    "20260903090000",
)


def captured(timestamp: str) -> datetime:
    return datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def as_wayback_serves(content: str, timestamp: str, *, noted: bool = True) -> bytes:
    """The page with its links rewritten, and (*noted*) the capture time at its end, as the
    Wayback Machine serves it; pywb notes no time."""
    content = re.sub(
        r'href="(https://(?:t\.me|telegram\.org)[^"]*)"',
        rf'href="https://web.archive.org/web/{timestamp}/\1"',
        content,
    )
    if noted:
        when = captured(timestamp).strftime("%H:%M:%S %b %d, %Y")
        content += f"\n<!--\n     FILE ARCHIVED ON {when} AND RETRIEVED FROM THE\n-->\n"
    return content.encode()


@dataclass
class FakeWayback:
    """The CDX API and the captures of t.me/s/durov (and of another channel named alike)."""

    requests: list[str] = field(default_factory=list)
    busy_once: set[str] = field(default_factory=set)  # captures answered 429 the first time
    missing: set[str] = field(default_factory=lambda: {MISSING})  # captures answered 404
    cdx_body: bytes | None = None  # instead of the real list

    def captures(self) -> list[list[str]]:
        return [
            ["timestamp", "original"],
            [FIRST, "https://t.me/s/durov"],
            [SECOND, "http://t.me:80/s/durov"],
            [SECOND, "http://t.me:80/s/durov"],  # listed twice: fetched once
            [OLDER_PAGE, "https://t.me/s/durov?before=530"],
            [MISSING, "https://t.me/s/durov"],
            [FIRST, "https://t.me/s/durovich"],  # another channel, which a prefix also finds
        ]

    async def cdx(self, request: web.Request) -> web.Response:
        self.requests.append(f"cdx {request.query_string}")
        if self.cdx_body is not None:
            return web.Response(body=self.cdx_body)
        query = request.query
        assert (query["matchType"], query["output"]) == ("prefix", "json")
        if query["url"] != "t.me/s/durov":  # never captured
            return web.json_response([self.captures()[0]])
        rows = [
            row
            for row in self.captures()[1:]
            if query.get("from", "0") <= row[0][:8] <= query.get("to", "99999999")
        ]
        return web.json_response([self.captures()[0], *rows])

    async def capture(self, request: web.Request) -> web.Response:
        timestamp, original = request.match_info["timestamp"], request.match_info["original"]
        self.requests.append(f"web {timestamp} {original}")
        if timestamp in self.busy_once:
            self.busy_once.discard(timestamp)
            return web.Response(status=429, headers={"Retry-After": "0"})
        if timestamp in self.missing or "durovich" in original:
            return web.Response(status=404)
        feed = DUROV_FEED.read_text(encoding="utf-8")
        if timestamp == SECOND:
            body = as_wayback_serves(feed.replace("8.67M", "8.71M"), SECOND, noted=False)
        elif timestamp == OLDER_PAGE:
            body = as_wayback_serves(feed.replace("8.67M", "8.72M"), OLDER_PAGE)
        else:
            body = as_wayback_serves(feed, timestamp)
        return web.Response(body=body, content_type="text/html")


@pytest.fixture
async def archive_server() -> AsyncIterator[tuple[FakeWayback, str]]:
    fake = FakeWayback()
    app = web.Application()
    app.router.add_get("/cdx/search/cdx", fake.cdx)
    app.router.add_get("/web/{timestamp:\\d{14}}/{original:.*}", fake.capture)
    runner = web.AppRunner(app, access_log=None)  # its lines would race dozor's last line
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(wayback, "RETRY_SECONDS", 0.0)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "dozor.db"}"\n', encoding="utf-8"
    )
    return config


async def dozor(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def test_captures_are_fetched_once_kept_dated_and_imported(
    archive_server: tuple[FakeWayback, str],
    configured: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, server = archive_server
    fake.busy_once = {SECOND}
    command = ["wayback", "@durov", "--server", server, "--pause", "0", "--config", str(configured)]
    assert await dozor(*command) == 0
    out, err = capsys.readouterr()
    folder = configured.parent / "wayback-durov"
    names = {FIRST: "durov-20260810040506.html", SECOND: "durov-20260901120000.html"}
    names[OLDER_PAGE] = "durov-20260902080000-before-530.html"
    assert sorted(p.name for p in folder.iterdir()) == sorted(names.values())
    for timestamp, name in names.items():  # dated by the capture, noted in the page or not
        assert (folder / name).stat().st_mtime == captured(timestamp).timestamp()
    assert f"not fetched: {MISSING} https://t.me/s/durov: HTTP 404" in err
    assert f"t.me/s/durov: 4 captures at {server}, 3 fetched now, 0 fetched before" in out
    fetched = [r for r in fake.requests if r.startswith("web ")]
    assert fetched.count(f"web {SECOND} http://t.me:80/s/durov") == 2  # 429, then again
    assert not any("durovich" in r for r in fake.requests)
    assert "3 captures imported: 20 posts new to the archive, 0 new versions" in out

    assert await dozor("post", "durov/519", "--json", "--config", str(configured)) == 0
    samples = json.loads(capsys.readouterr().out)["metrics"]
    assert [(m["sampled_at"], m["views"], m["rounded"]) for m in samples] == [
        ("2026-08-10T04:05:06Z", 8_670_000, True),
        ("2026-09-01T12:00:00Z", 8_710_000, True),  # the file's time: the page notes none
        ("2026-09-02T08:00:00Z", 8_720_000, True),
    ]

    fake.requests.clear()  # again: only what was not fetched is asked for
    assert await dozor(*command, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["captures"] == {
        "listed": 4,
        "chosen": 4,
        "fetched": [],
        "already_fetched": 3,
        "gone": [f"{MISSING} https://t.me/s/durov: HTTP 404"],
    }
    assert [r.split()[0] for r in fake.requests] == ["cdx", "web"]  # the list, the missing one
    assert [r["new"] + r["counter_samples"] for r in result["imports"]] == [0, 0, 0]


async def test_dates_and_fetching_only(
    archive_server: tuple[FakeWayback, str],
    configured: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, server = archive_server
    out = configured.parent / "captures"
    command = ["wayback", "t.me/durov", "--server", server, "--pause", "0", "--out", str(out)]
    dates = ["--since", "2026-09-01", "--until", "2026-09-02"]
    assert await dozor(*command, *dates, "--no-import") == 0
    assert "from=20260901&to=20260902" in fake.requests[0]
    assert sorted(p.name for p in out.iterdir()) == [
        "durov-20260901120000.html",
        "durov-20260902080000-before-530.html",
    ]
    assert not (configured.parent / "dozor.db").exists()  # nothing imported
    assert "2 captures at" in capsys.readouterr().out


async def test_one_capture_per_page_and_week_or_month(
    archive_server: tuple[FakeWayback, str],
    configured: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The channel's page was captured on Tuesday 1 and Thursday 3 September (the second is
    the missing one), its page of older posts on the 2nd: one a week keeps the 1st and the
    2nd; one a month too, and August's."""
    fake, server = archive_server
    out = configured.parent / "captures"
    command = ["wayback", "durov", "--server", server, "--pause", "0", "--out", str(out)]
    assert await dozor(*command, "--since", "2026-09-01", "--one-per", "week", "--no-import") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "durov-20260901120000.html",
        "durov-20260902080000-before-530.html",
    ]
    assert not any(MISSING in r for r in fake.requests)  # not even asked for
    assert f"3 captures at {server}, 2 of them one per page and week, 2 fetched now" in (
        capsys.readouterr().out
    )
    assert await dozor(*command, "--one-per", "month", "--no-import", "--json") == 0
    report = json.loads(capsys.readouterr().out)["captures"]
    assert (report["listed"], report["chosen"], report["already_fetched"]) == (4, 3, 2)
    assert report["fetched"] == [str(out / "durov-20260810040506.html")]
    assert report["gone"] == []


async def test_one_capture_per_period_is_the_first_the_archive_gives(
    archive_server: tuple[FakeWayback, str],
    configured: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The week's first capture of the channel's page cannot be had: its next one is fetched.
    A later run finds the week's page on disk and asks for nothing of it."""
    fake, server = archive_server
    fake.missing = {SECOND}
    out = configured.parent / "captures"
    command = ["wayback", "durov", "--server", server, "--pause", "0", "--out", str(out)]
    week = ["--since", "2026-09-01", "--one-per", "week", "--no-import"]
    assert await dozor(*command, *week) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "durov-20260902080000-before-530.html",
        "durov-20260903090000.html",
    ]
    output = capsys.readouterr()
    assert f"not fetched: {SECOND} http://t.me:80/s/durov: HTTP 404" in output.err
    assert "2 of them one per page and week, 2 fetched now, 0 fetched before" in output.out
    fake.requests.clear()
    assert await dozor(*command, *week) == 0
    assert [r.split()[0] for r in fake.requests] == ["cdx"]
    assert "2 fetched before" in capsys.readouterr().out


def test_captures_are_grouped_by_page_and_period_oldest_first() -> None:
    captures = [
        wayback.Capture("20240101000000", "https://t.me/s/x"),
        wayback.Capture("20240101000000", "https://t.me/s/x?before=10"),
        wayback.Capture("20240101235959", "https://t.me/s/x"),
        wayback.Capture("20240102000000", "https://t.me/s/x"),
    ]
    first, older_page, same_day, next_day = captures
    assert wayback.by_page_and_period(captures, "day") == [
        [first, same_day],
        [older_page],
        [next_day],
    ]
    assert wayback.by_page_and_period(captures, "month") == [
        [first, same_day, next_day],
        [older_page],
    ]
    assert wayback.by_page_and_period(captures, None) == [[capture] for capture in captures]


async def test_an_archived_channel_is_asked_for_under_every_username_it_had(
    archive_server: tuple[FakeWayback, str],
    configured: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Durov's channel, archived as @durov, is now @durov_new: named by its title, its
    captures are asked for under both names, and those of the old one are imported."""
    fake, server = archive_server
    assert await dozor("import", str(DUROV_FEED)) == 0
    engine = db.create_engine(
        DatabaseConfig(url=f"sqlite+aiosqlite:///{configured.parent}/dozor.db")
    )
    async with db.session_factory(engine).begin() as session:
        renamed = ChannelRecord(DUROV, "Pavel Durov", username="durov_new")
        await upsert_channel(session, renamed, observed_at=datetime.now(UTC), source=Source.LIVE)
    await engine.dispose()
    capsys.readouterr()
    command = ["wayback", "Pavel Durov", "--server", server, "--pause", "0", "--json"]
    assert await dozor(*command) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["usernames"] == ["durov_new", "durov"]
    cdx = [r for r in fake.requests if r.startswith("cdx ")]
    assert [name for r in cdx for name in re.findall(r"url=t\.me/s/(\w+)", r)] == [
        "durov_new",
        "durov",
    ]
    folder = configured.parent / "wayback-durov_new"
    assert sorted(p.name for p in folder.iterdir())[0] == "durov-20260810040506.html"
    assert (result["captures"]["listed"], len(result["imports"])) == (4, 3)
    assert await dozor("wayback", "--server", server, "--pause", "0", "--", str(DUROV)) == 0
    out = capsys.readouterr().out
    assert f"t.me/s/durov_new: {server} has no captures of it" in out
    assert "t.me/s/durov: 4 captures at" in out and "3 fetched before" in out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["not a name!"], "'not a name!' is neither a public channel's username nor an archived"),
        (["durov", "--since", "2026-02-01", "--until", "2026-01-01"], "is after --until"),
        (["durov", "--since", "1 Feb"], "--since '1 Feb': use YYYY-MM-DD"),
        (["durov", "--server", "web.archive.org"], "give the archive's address, http(s)://"),
    ],
)
async def test_what_cannot_be_asked_is_told_in_one_line(
    configured: Path, capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    assert await dozor("wayback", *args) == 2
    err = capsys.readouterr().err
    assert error in err and len(err.strip().splitlines()) == 1


async def test_an_archive_that_cannot_be_reached_or_answers_nonsense_is_told(
    archive_server: tuple[FakeWayback, str],
    configured: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, server = archive_server
    with socket.socket() as closed:  # bound, never listening: every connection is refused
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
        assert await dozor("wayback", "durov", "--server", nobody, "--pause", "0") == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"dozor: cannot reach {nobody}: ")
    assert sum(f"{nobody}: " in line and "asking again" in line for line in err) == 2  # retried
    fake.cdx_body = b"<html>Service Unavailable</html>"
    assert await dozor("wayback", "durov", "--server", server, "--pause", "0") == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"dozor: {server}: the capture list is not a CDX server's JSON"
    )
    assert not (configured.parent / "wayback-durov").exists()


async def test_a_channel_never_captured_is_said_so(
    archive_server: tuple[FakeWayback, str],
    configured: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, server = archive_server
    fake.cdx_body = b'[["timestamp", "original"]]'
    assert await dozor("wayback", "durov", "--server", server, "--since", "2030-01-01") == 0
    assert capsys.readouterr().out == (
        f"t.me/s/durov: {server} has no captures of it from 2030-01-01 on\n"
    )
    assert not (configured.parent / "wayback-durov").exists()
    assert not (configured.parent / "dozor.db").exists()


def test_a_capture_is_named_by_its_time_and_page() -> None:
    older = wayback.Capture("20240101000000", "https://t.me/s/mvd_official_kg?before=1200")
    assert older.file_name("mvd_official_kg") == "mvd_official_kg-20240101000000-before-1200.html"
    assert wayback.Capture("20240101000000", "t.me/s/x/").file_name("x") == "x-20240101000000.html"
    search = wayback.Capture("20240101000000", "https://t.me/s/x?q=%D0%BC%D0%B8%D0%B3")
    assert re.fullmatch(r"x-20240101000000-[0-9a-f]{12}\.html", search.file_name("x"))
