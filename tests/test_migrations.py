"""Alembic migrations: they build the schema the models describe, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dozor import db
from dozor.config import DatabaseConfig
from dozor.errors import DatabaseNotReady
from dozor.models import include_object, metadata
from dozor.text import ANALYZER_VERSION


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "include_object": include_object},
    )
    return list(compare_metadata(context, metadata))


async def test_models_and_migrations_have_not_drifted(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        differences = await conn.run_sync(_diff)
    assert differences == []


async def test_migrated_database_is_at_head(engine: AsyncEngine) -> None:
    state = await db.schema_state(engine)
    assert state.at_head
    assert state.current == db.head_revision()


async def test_downgrade_to_base_and_back(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade_base)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables <= {"alembic_version"}
    state = await db.upgrade(engine)
    assert state.at_head


def _downgrade_base(connection: Connection) -> None:
    from alembic import command

    cfg = db.alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, "base")


async def test_empty_database_is_created_on_first_use(database_config: DatabaseConfig) -> None:
    async with db.open_database(database_config) as sessions, sessions() as session:
        count = (await session.execute(text("SELECT count(*) FROM posts"))).scalar_one()
    assert count == 0


async def test_database_from_a_newer_dozor_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    with pytest.raises(DatabaseNotReady, match="newer"):
        await db.ensure_at_head(engine)
    with pytest.raises(DatabaseNotReady, match="newer"):  # `dozor db upgrade` too
        await db.upgrade(engine)


async def test_foreign_database_is_refused(database_config: DatabaseConfig) -> None:
    engine = db.create_engine(database_config)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE somebody_elses (id INTEGER)"))
        with pytest.raises(DatabaseNotReady, match="another program"):
            await db.ensure_at_head(engine)
        with pytest.raises(DatabaseNotReady, match="another program"):
            await db.upgrade(engine)
    finally:
        await engine.dispose()


async def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Any) -> None:
    config = DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", busy_timeout_ms=4321)
    engine = db.create_engine(config)
    try:
        async with engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
            timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
    finally:
        await engine.dispose()
    assert (mode, keys, timeout) == ("wal", 1, 4321)


async def test_database_behind_head_needs_an_explicit_upgrade(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade_to, "0003")
    with pytest.raises(DatabaseNotReady, match="back it up, then run `dozor db upgrade`"):
        await db.ensure_at_head(engine)
    await db.ensure_at_head(engine, upgrade_if_behind=True)  # what `dozor run` does
    assert (await db.schema_state(engine)).at_head


def _downgrade_to(connection: Connection, revision: str) -> None:
    from alembic import command

    cfg = db.alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def test_indexes_of_databases_made_before_0007_count_as_built_by_analyzer_1(
    database_config: DatabaseConfig,
) -> None:
    """So upgrading an older archive rebuilds its index, while a new one starts current."""
    facts = text("SELECT value FROM database_facts WHERE name = 'search_analyzer'")
    async with db.open_database(database_config) as sessions, sessions() as session:
        assert (await session.execute(facts)).scalar_one() == str(ANALYZER_VERSION)
    engine = db.create_engine(database_config)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to, "0006")
        await db.ensure_at_head(engine, upgrade_if_behind=True)
        async with engine.connect() as conn:
            assert (await conn.execute(facts)).scalar_one() == "1"
    finally:
        await engine.dispose()


async def test_a_database_created_by_upgrade_starts_current_one_built_in_steps_does_not(
    database_config: DatabaseConfig,
) -> None:
    """`dozor db upgrade` on a new database (no posts yet) must not ask for a reindex; a
    database that stopped at 0006 on the way was made by an older dozor and may hold posts."""
    facts = text("SELECT value FROM database_facts WHERE name = 'search_analyzer'")
    engine = db.create_engine(database_config)
    try:
        await db.upgrade(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(facts)).scalar_one() == str(ANALYZER_VERSION)
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to, "base")
        await db.upgrade(engine, "0006")
        await db.upgrade(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(facts)).scalar_one() == "1"
    finally:
        await engine.dispose()
