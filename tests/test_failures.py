"""Failures of the system under dozor: a database that fills up or turns read-only, a server
that goes away, an output file the system refuses to grow. Each is one line (exit status 1),
never a traceback, and the archive keeps what it had."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.handlers.errors import explain
from bot.render import esc
from dozor import db
from dozor.cli.main import main
from dozor.config import DatabaseConfig
from dozor.failures import log_failure, system_failure
from tests import pg
from tests.conftest import DESKTOP

FIRST = DESKTOP / "tg2md-private-channel-2021" / "result.json"
SECOND = DESKTOP / "current-format-early" / "result.json"
FILE_LIMIT = 64 * 1024  # room for SQLite's 32 KB shared-memory file, not for the export


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    """A config whose archive holds the FIRST export."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):  # config from the environment, not the test setup's
        if (name.startswith("DOZOR_") and "__" in name) or name == "DOZOR_CONFIG":
            monkeypatch.delenv(name)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    assert main(["import", "--tz", "UTC", str(FIRST)]) == 0
    return config


def _stats(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["stats", "--json"]) == 0
    stats: dict[str, Any] = json.loads(capsys.readouterr().out)
    return stats


def _the_one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    lines = [line for line in err if line.startswith("dozor:")]
    assert len(lines) == 1, err
    return lines[0]


def _fill_sqlite(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Every connection dozor opens from now on may not grow the file by a single page: to
    SQLite, the disk is full."""
    path = make_url(url).database
    assert path is not None
    with sqlite3.connect(path) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    create_engine = db.create_engine

    def full_disk_engine(config: DatabaseConfig) -> AsyncEngine:
        engine = create_engine(config)

        @event.listens_for(engine.sync_engine, "connect")
        def _no_room(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

        return engine

    monkeypatch.setattr(db, "create_engine", full_disk_engine)


def test_a_database_that_cannot_take_an_import_fails_in_one_line_and_keeps_the_archive(
    archive: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _stats(capsys)
    sqlite = database_url.startswith("sqlite")
    create_engine = db.create_engine
    if sqlite:
        _fill_sqlite(monkeypatch, database_url)
    else:
        asyncio.run(pg.set_read_only(database_url, True))

    assert main(["import", "--tz", "UTC", str(SECOND)]) == 1
    line = _the_one_line(capsys)
    assert line.startswith("dozor: the database failed: ")
    assert ("the disk is full" if sqlite else "read-only") in line
    assert "What was saved before it is kept" in line

    if sqlite:
        monkeypatch.setattr(db, "create_engine", create_engine)
    else:
        asyncio.run(pg.set_read_only(database_url, False))
    after = _stats(capsys)
    # The batch that failed left no post, version or event half-written (the new channel's
    # row, stored before its posts, may stay: the next import fills it).
    assert {k: v for k, v in after.items() if k != "channels"} == {
        k: v for k, v in before.items() if k != "channels"
    }
    assert main(["import", "--tz", "UTC", str(SECOND)]) == 0  # and the same command now works
    assert _stats(capsys)["posts"] > before["posts"]


def test_an_export_the_system_will_not_write_fails_in_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export runs in a process whose files may not grow past 64 KB."""
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "sqlite+aiosqlite:///dozor.db"\n', encoding="utf-8")
    monkeypatch.delenv("DOZOR_CONFIG", raising=False)
    assert (
        main(
            ["--config", str(config), "import", "--tz", "UTC", str(_export_of_300_posts(tmp_path))]
        )
        == 0
    )

    out = tmp_path / "out"
    export = ["--config", str(config), "export", "--out", str(out), "--format", "jsonl"]
    done = _dozor_with_file_limit(export, FILE_LIMIT)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("dozor:")]
    assert lines == [
        "dozor: the system failed: File too large. What was saved before it is kept; run the "
        "command again once that is fixed"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "dozor.db", "export"]

    assert main(export) == 0
    assert (out / "posts.jsonl").stat().st_size > FILE_LIMIT  # so the limit was what failed


def test_an_attachment_the_disk_cannot_take_leaves_no_partial_file(tmp_path: Path) -> None:
    """The import copies a photo into the media store in a process whose files may not grow
    past 4 MB: the copy fails halfway, and the half-written copy goes too."""
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "sqlite+aiosqlite:///dozor.db"\n', encoding="utf-8")
    export = tmp_path / "ChatExport"
    shutil.copytree(DESKTOP / "current-format-early", export)
    (export / "photos").mkdir()
    photo = os.urandom(8 * 1024 * 1024)
    (export / "photos" / "photo_1@03-03-2024_16-30-00.jpg").write_bytes(photo)
    command = ["--config", str(config), "import", "--media", str(export)]

    done = _dozor_with_file_limit(command, 4 * 1024 * 1024)
    assert done.returncode == 1, done.stderr
    digest = hashlib.sha256(photo).hexdigest()
    target = tmp_path / "media" / digest[:2] / digest[2:4] / f"{digest}.jpg"
    assert [line for line in done.stderr.splitlines() if line.startswith("dozor:")] == [
        f"dozor: the system failed: File too large ({target}). What was saved before it is "
        "kept; run the command again once that is fixed"
    ]
    assert [p.name for p in (tmp_path / "media").rglob("*") if p.is_file()] == []

    assert main(command) == 0
    (stored,) = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert stored.read_bytes() == photo


def _dozor_with_file_limit(args: list[str], limit: int) -> subprocess.CompletedProcess[str]:
    """`dozor ARGS` in a process whose files may not grow past *limit* bytes (RLIMIT_FSIZE):
    the kernel refuses a write beyond it as it refuses one on a full disk."""

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "dozor", *args],
        capture_output=True,
        text=True,
        preexec_fn=small_files,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )


def _export_of_300_posts(folder: Path) -> Path:
    """FIRST's text posts over and over: an export larger than FILE_LIMIT."""
    data = json.loads(FIRST.read_text(encoding="utf-8"))
    posts = [m for m in data["messages"] if m["type"] == "message" and m.get("text")]
    data["messages"] = [{**posts[i % len(posts)], "id": i + 1} for i in range(300)]
    path = folder / "export" / "result.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


async def test_failures_of_each_backend_are_told_apart_from_bugs(
    engine: AsyncEngine, backend: str
) -> None:
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError) as bug:
            await conn.execute(text("SELECT no_such_column FROM posts"))
    assert system_failure(bug.value) is None  # a bug keeps its traceback

    async with engine.connect() as conn:
        if backend == "sqlite":
            await conn.execute(text("PRAGMA max_page_count = 1"))
            statement = "CREATE TABLE grows (x TEXT)"
        else:  # the server ends this very connection, as a restart or an admin would
            statement = "SELECT pg_terminate_backend(pg_backend_pid())"
        with pytest.raises(DBAPIError) as failed:
            await conn.execute(text(statement))
    failure = system_failure(failed.value)
    assert failure is not None
    expected = (
        "the database failed: the disk is full (database or disk is full)"
        if backend == "sqlite"
        else "the database failed: the connection to PostgreSQL failed ("
    )
    assert failure.startswith(expected), failure
    # The bot tells the team what failed, as it tells a query error; a bug stays "on our side"
    assert (
        explain(failed.value)
        == f"⚠️ dozor cannot do that now: {esc(failure)}. Please try again later."
    )
    assert "on our side" in explain(bug.value)


def test_a_system_failure_is_logged_on_one_line_and_a_bug_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("tests.failures")
    with caplog.at_level(logging.ERROR, logger="tests.failures"):
        log_failure(log, OSError(28, "No space left on device", "/srv/dozor.db"), "job %s", "x")
        log_failure(log, KeyError("oops"), "job %s", "y")
    failure, bug = caplog.records
    assert failure.getMessage() == (
        "job x: the system failed: No space left on device (/srv/dozor.db)"
    )
    assert failure.exc_info is None
    assert bug.getMessage() == "job y"
    assert bug.exc_info is not None and bug.exc_info[0] is KeyError


def test_a_damaged_sqlite_file_is_named_with_a_way_to_rescue_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "sqlite+aiosqlite:///dozor.db"\n', encoding="utf-8")
    monkeypatch.delenv("DOZOR_CONFIG", raising=False)
    assert main(["--config", str(config), "import", "--tz", "UTC", str(FIRST)]) == 0
    database = tmp_path / "dozor.db"
    size = database.stat().st_size
    with database.open("r+b") as file:  # every page but the first (the schema) overwritten
        file.seek(4096)
        file.write(b"\xff" * (size - 4096))
    capsys.readouterr()

    assert main(["--config", str(config), "stats"]) == 2
    assert _the_one_line(capsys) == (
        f"dozor: cannot open database sqlite+aiosqlite:///{database}: the database file is "
        "damaged (database disk image is malformed); restore a backup, or rescue what the "
        "file holds with `sqlite3 FILE .recover | sqlite3 NEW`"
    )
