"""`dozor db copy`: a whole archive into another database, SQLite and PostgreSQL both ways."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from archiver.client import session_lock
from dozor import db, dbcopy
from dozor.alerts.generator import RuleCache, generate_alerts
from dozor.cli.main import main
from dozor.config import DatabaseConfig
from dozor.dbcopy import TABLES, CopyError, copy_archive, same_database, target_config
from dozor.errors import DatabaseNotReady, SessionInUse
from dozor.models import (
    channels,
    database_facts,
    events,
    imports,
    metadata,
    post_versions,
    rules,
)
from dozor.records import ChannelRecord, PostRecord, Source
from dozor.rules.store import add_rule
from dozor.search import search
from dozor.storage import store_posts, upsert_channel
from dozor.storage.channels import remember_invite
from dozor.storage.media import record_media_file
from dozor.storage.requests import request_channel
from dozor.storage.sync import save_sync_state
from dozor.storage.unreadable import note_unreadable
from tests import pg
from tests.conftest import require_pg
from tests.test_export import CH, T0, fill

ALL_TABLES = {table.name for table in metadata.sorted_tables}


@asynccontextmanager
async def new_database(
    backend: str, folder: Path, pg_server: URL | None, name: str
) -> AsyncIterator[AsyncEngine]:
    """An engine on a new, empty database of *backend* (not migrated)."""
    if backend == "sqlite":
        engine = db.create_engine(DatabaseConfig(url=f"sqlite+aiosqlite:///{folder / name}"))
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    server = require_pg(pg_server)
    url = await pg.create_database(server)
    engine = db.create_engine(DatabaseConfig(url=url.render_as_string(hide_password=False)))
    try:
        yield engine
    finally:
        await engine.dispose()
        assert url.database is not None
        await pg.drop_database(server, url.database)


async def fill_everything(engine: AsyncEngine) -> None:
    """An archive with a row in every table: edits, a tombstone, metric samples, a renamed
    channel, rules and their alerts, a channel request, a stored file, the feed's cursor, a
    post filed as unreadable."""
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    await fill(sessions)  # two channels, versions, a deletion, formatting, forwards, albums
    later = T0 + timedelta(days=5)
    async with sessions.begin() as session:
        await upsert_channel(
            session, ChannelRecord(CH, "МВД КР", "mvd_test"), observed_at=later, source=Source.LIVE
        )
        await add_rule(
            session, name="мигранты", query="мигрант", chat_id=-100777, now=T0, history=timedelta()
        )
        await remember_invite(session, "AbC-private", CH, now=later)
        await store_posts(
            session,
            [PostRecord(CH, 9, later, text="Мигрант задержан в Оше", views=10)],
            source=Source.LIVE,
            observed_at=later,
        )
        await store_posts(
            session,
            [PostRecord(CH, 9, later, text="Мигрант задержан в Оше", views=250)],
            source=Source.RECONCILE,
            observed_at=later + timedelta(hours=1),
        )
        await record_media_file(
            session, CH, 2, sha256="ab" * 32, size=183244, mime_type="image/jpeg",
            path="ab/abab.jpg", at=later,
        )  # fmt: skip
        await request_channel(session, "@mediamvd", now=later, requested_by=42, chat_id=42)
        await save_sync_state(session, CH, newest_message_id=9, last_sync_at=later)
        reason = "Telethon 1.45.0 (layer 229) does not know its type 1badf00d: upgrade dozor"
        await note_unreadable(session, CH, {10: reason}, read_by="dozor 0.1.0", now=later)
        await session.execute(
            insert(imports).values(
                channel_id=CH, path="/exports/result.json", file_sha256="cd" * 32,
                file_format="desktop", started_at=T0, finished_at=T0, new_posts=4,
                updated_posts=0, unchanged_posts=0, skipped_messages=0,
            )
        )  # fmt: skip
    async with sessions.begin() as session:
        report = await generate_alerts(session, RuleCache(), now=later)
    assert report.alerts > 0


async def every_row(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    async with engine.connect() as conn:
        return {
            table.name: [
                dict(row._mapping)
                for row in await conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in TABLES
        }


async def hits(engine: AsyncEngine, query: str) -> list[tuple[int, int]]:
    async with db.session_factory(engine)() as session:
        result = await search(session, query, limit=100)
    return [(hit.channel_id, hit.message_id) for hit in result.hits]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("source_backend", "target_backend"),
    [("sqlite", "postgresql"), ("postgresql", "sqlite"), ("sqlite", "sqlite")],
)
async def test_a_copy_holds_every_row_and_finds_what_the_archive_finds(
    source_backend: str, target_backend: str, tmp_path: Path, pg_server: URL | None
) -> None:
    async with (
        new_database(source_backend, tmp_path, pg_server, "source.db") as source,
        new_database(target_backend, tmp_path, pg_server, "target.db") as target,
    ):
        await fill_everything(source)
        before = await every_row(source)
        assert {name for name, rows in before.items() if rows} == ALL_TABLES

        reported: list[tuple[int, int]] = []
        copied = await copy_archive(source, target, report=lambda *a: reported.append(a))

        assert await every_row(target) == before
        assert {t.name: t.rows for t in copied} == {n: len(r) for n, r in before.items()}
        total = sum(len(rows) for rows in before.values())
        assert reported[-1] == (total, total)
        for query in ("мигрант", "погода", "is:deleted", "is:edited", '"в оше"', "мигра*"):
            assert await hits(target, query) == await hits(source, query), query
        assert await hits(target, "мигрант") != []
        assert (await db.schema_state(target)).at_head


@pytest.mark.postgres
@pytest.mark.parametrize("target_backend", ["sqlite", "postgresql"])
async def test_new_rows_in_the_copy_get_keys_after_the_copied_ones(
    target_backend: str, tmp_path: Path, pg_server: URL | None
) -> None:
    async with (
        new_database("sqlite", tmp_path, pg_server, "source.db") as source,
        new_database(target_backend, tmp_path, pg_server, "target.db") as target,
    ):
        await fill_everything(source)
        await copy_archive(source, target)
        async with target.connect() as conn:
            last_seq = await conn.scalar(select(func.max(events.c.seq)))
            last_version = await conn.scalar(select(func.max(post_versions.c.id)))
            last_rule = await conn.scalar(select(func.max(rules.c.id)))
        sessions = db.session_factory(target)
        later = T0 + timedelta(days=9)
        async with sessions.begin() as session:
            await store_posts(
                session,
                [PostRecord(CH, 10, later, text="Новый пост после переезда")],
                source=Source.LIVE,
                observed_at=later,
            )
            rule = await add_rule(
                session, name="новый", query="пост", chat_id=-100777, now=later, history=timedelta()
            )
        async with target.connect() as conn:
            seqs = (await conn.scalars(select(events.c.seq).where(events.c.message_id == 10))).all()
            version_ids = (
                await conn.scalars(
                    select(post_versions.c.id).where(post_versions.c.message_id == 10)
                )
            ).all()
        assert seqs == [last_seq + 1]
        assert version_ids == [last_version + 1]
        assert rule.id == last_rule + 1


@pytest.mark.postgres
async def test_a_target_that_holds_an_archive_is_refused_and_left_as_it_was(
    backend: str, engine: AsyncEngine, tmp_path: Path, pg_server: URL | None
) -> None:
    async with new_database("sqlite", tmp_path, pg_server, "source.db") as source:
        await fill_everything(source)
        async with db.session_factory(engine).begin() as session:
            await upsert_channel(
                session, ChannelRecord(-1009, "Чужой"), observed_at=T0, source=Source.IMPORT
            )
        before = await every_row(engine)
        with pytest.raises(CopyError, match="already holds an archive \\(channels not empty\\)"):
            await copy_archive(source, engine)
        assert await every_row(engine) == before


@pytest.mark.postgres
async def test_a_copy_that_fails_keeps_nothing_in_the_target(
    tmp_path: Path, pg_server: URL | None, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        new_database("sqlite", tmp_path, pg_server, "source.db") as source,
        new_database("postgresql", tmp_path, pg_server, "target") as target,
    ):
        await fill_everything(source)
        # SQLite does not enforce a column's length; PostgreSQL does. A hand-edited archive
        # fails in its last table, after every other table has been written.
        assert TABLES[-1] is post_versions
        async with source.begin() as conn:
            await conn.execute(update(post_versions).values(source="edited by hand, at length"))
        with pytest.raises(
            CopyError, match=r"^post_versions cannot be copied, and nothing was kept"
        ):
            await copy_archive(source, target)
        assert "did not finish" not in caplog.text  # the one-line error says it all
        assert (await db.schema_state(target)).at_head
        async with target.connect() as conn:
            for table in TABLES:
                if table is not database_facts:
                    assert await conn.scalar(select(func.count()).select_from(table)) == 0


async def test_the_archive_itself_an_empty_one_or_a_foreign_database_is_refused(
    tmp_path: Path,
) -> None:
    async with (
        new_database("sqlite", tmp_path, None, "source.db") as source,
        new_database("sqlite", tmp_path, None, "target.db") as target,
    ):
        with pytest.raises(DatabaseNotReady, match="holds no dozor archive yet"):
            await copy_archive(source, target)
        await db.upgrade(source)
        with pytest.raises(CopyError, match="is empty: nothing to copy"):
            await copy_archive(source, target)
        assert not (await db.schema_state(target)).has_tables  # refused before any change
        same = db.create_engine(DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path}/./source.db"))
        with pytest.raises(CopyError, match="is the archive itself"):
            await copy_archive(source, same)
        await same.dispose()
        await fill_everything(source)
        async with target.begin() as conn:
            await conn.execute(text("CREATE TABLE notes (body TEXT)"))
        with pytest.raises(CopyError, match="another program's database"):
            await copy_archive(source, target)


def test_the_target_may_be_a_url_or_a_file_and_bad_ones_are_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert target_config("backup.db").url == f"sqlite+aiosqlite:///{tmp_path / 'backup.db'}"
    assert target_config("postgresql://u:p@db.example/dozor").url.startswith("postgresql+asyncpg")
    with pytest.raises(CopyError, match=r"^mysql://h/d: unsupported driver 'mysql'"):
        target_config("mysql://h/d")
    local = URL.create("postgresql+asyncpg", host="h", database="d")
    assert same_database(local, local.set(port=5432, password="other"))
    assert not same_database(local, local.set(database="e"))


async def test_db_copy_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "dozor.db"}"\n', encoding="utf-8"
    )
    config = str(tmp_path / "config.toml")
    assert await asyncio.to_thread(main, ["db", "copy", "--config", config, "x.db"]) == 2
    assert "no archive at" in capsys.readouterr().err
    async with new_database("sqlite", tmp_path, None, "dozor.db") as source:
        await fill_everything(source)
    target = tmp_path / "copy.db"
    args = ["db", "copy", str(target), "--config", config]
    assert await asyncio.to_thread(main, [*args, "--json"]) == 0
    out = capsys.readouterr().out
    assert '"posts": 5' in out
    assert not (tmp_path / "dozor.session.lock").exists()  # no dozor used a session here
    assert await asyncio.to_thread(main, args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dozor: sqlite+aiosqlite:///") and "already holds an archive" in err
    assert len(err.splitlines()) == 1
    async with new_database("sqlite", tmp_path, None, "copy.db") as copy, copy.connect() as conn:
        titles = (await conn.scalars(select(channels.c.title).order_by(channels.c.id))).all()
    assert titles == ["МВД КР", "Другой"]


async def test_no_archiver_writes_into_the_archive_while_it_is_copied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "dozor.db"}"\n', encoding="utf-8"
    )
    async with new_database("sqlite", tmp_path, None, "dozor.db") as source:
        await fill_everything(source)
    session = tmp_path / "dozor.session"  # the config's default, beside it
    args = ["db", "copy", str(tmp_path / "copy.db"), "--config", str(tmp_path / "config.toml")]
    with session_lock(session):  # as `dozor run` holds it while it archives
        assert await asyncio.to_thread(main, args) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"dozor: dozor (pid {os.getpid()}) is archiving into this database: stop it before "
        "moving the archive, or what it archives meanwhile would be missing from the copy "
        "(--live copies it as of now, for a backup)"
    )
    assert not (tmp_path / "copy.db").exists()
    with session_lock(session):  # a backup of the live archive, asked for
        assert await asyncio.to_thread(main, [*args[:2], "--live", "--json", *args[2:]]) == 0
    assert '"posts": 5' in capsys.readouterr().out
    (tmp_path / "copy.db").unlink()
    copy_archive = dbcopy.copy_archive

    async def copy_while_an_archiver_starts(*args: Any, **kw: Any) -> Any:
        with pytest.raises(SessionInUse), session_lock(session):
            pass  # `dozor run` started now stops at once
        return await copy_archive(*args, **kw)

    monkeypatch.setattr(dbcopy, "copy_archive", copy_while_an_archiver_starts)
    assert await asyncio.to_thread(main, args) == 0
    with session_lock(session):  # and the copy let go of it
        pass
    # A logged-in session with no lock file yet (copied from another machine): held too.
    (tmp_path / "dozor.session.lock").unlink()
    session.write_bytes(b"")
    assert await asyncio.to_thread(main, [*args[:2], str(tmp_path / "again.db"), *args[3:]]) == 0


async def test_the_copy_is_one_snapshot_of_an_archive_written_meanwhile(tmp_path: Path) -> None:
    async with (
        new_database("sqlite", tmp_path, None, "source.db") as source,
        new_database("sqlite", tmp_path, None, "target.db") as target,
    ):
        await fill_everything(source)
        before = await every_row(source)

        def archiver_writes(done: int, total: int) -> None:
            """Another process stores a channel while the copy runs (first batch written)."""
            if done == 1:
                with sqlite3.connect(tmp_path / "source.db") as other:
                    other.execute(
                        "INSERT INTO channels (id, title, tracked, status, first_seen_at, "
                        "updated_at) VALUES (-1005, 'Новый', 1, 'ok', '2025-01-01 00:00:00', "
                        "'2025-01-01 00:00:00')"
                    )

        await copy_archive(source, target, report=archiver_writes)
        assert await every_row(target) == before
        assert len((await every_row(source))["channels"]) == len(before["channels"]) + 1
