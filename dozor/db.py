"""Engines, sessions and migrations.

Commands open the database through :func:`open_database`, which refuses a schema that is not at
the newest migration (a brand-new empty database is migrated on the spot). Transactions are the
caller's: ``async with sessions.begin() as session`` per batch; storage functions never commit.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import orjson
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from alembic import command
from dozor.config import DatabaseConfig
from dozor.errors import DatabaseNotReady
from dozor.failures import database_failure, first_line
from dozor.storage.facts import mark_index_current

log = logging.getLogger(__name__)


def _json_dumps(value: Any) -> str:
    # orjson keeps Cyrillic and emoji readable in the JSON columns, and is fast.
    return orjson.dumps(value).decode("utf-8")


def create_engine(config: DatabaseConfig) -> AsyncEngine:
    """An async engine; SQLite connections get WAL, a busy timeout and foreign keys."""
    url = make_url(config.url)
    if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        echo=config.echo,
        json_serializer=_json_dumps,
        pool_pre_ping=not config.is_sqlite,
        # An error names its statement without the posts it carried (ten of them, in full).
        hide_parameters=True,
    )
    if config.is_sqlite:
        timeout = config.busy_timeout_ms

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(timeout)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def migrations_dir() -> Path:
    """The Alembic script directory: bundled in a wheel, or ``alembic/`` of a source checkout."""
    bundled = Path(str(resources.files("dozor"))) / "_bundled" / "alembic"
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parent.parent / "alembic"


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations directory has no revisions"
    return head


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str
    has_tables: bool

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def _schema_state(connection: Connection) -> SchemaState:
    current = MigrationContext.configure(connection).get_current_revision()
    tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
    return SchemaState(current=current, head=head_revision(), has_tables=bool(tables))


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def schema_state(engine: AsyncEngine) -> SchemaState:
    async with engine.connect() as conn:
        return await conn.run_sync(_schema_state)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> SchemaState:
    """Apply migrations up to *revision*; returns the state afterwards.

    A database created here to the head revision has nothing indexed yet, so its search index
    is recorded as built by this dozor's analyzer (older databases are marked by migration)."""
    before = await checked_schema_state(engine)
    _refuse_foreign_or_newer(before)
    fresh = before.current is None
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)
    after = await schema_state(engine)
    if fresh and after.at_head:
        async with session_factory(engine).begin() as session:
            await mark_index_current(session, now=datetime.now(UTC))
    return after


async def ensure_at_head(
    engine: AsyncEngine, *, create_if_empty: bool = True, upgrade_if_behind: bool = False
) -> None:
    """Raise DatabaseNotReady unless the schema is current.

    A brand-new empty database is migrated on the spot (*create_if_empty*); one at an older
    revision only with *upgrade_if_behind* (the main job does; other commands ask the user to
    back up and run `dozor db upgrade`).
    """
    state = await checked_schema_state(engine)
    if state.at_head:
        return
    _refuse_foreign_or_newer(state)
    empty = state.current is None
    if (empty and create_if_empty) or (not empty and upgrade_if_behind):
        log.info("migrating database from %s to %s", state.current or "empty", state.head)
        await upgrade(engine)
        return
    if empty:
        raise DatabaseNotReady(
            f"database {_safe_url(engine)} holds no dozor archive yet: check database.url in "
            f"the config, or fill it with `dozor import` or `dozor run`"
        )
    raise DatabaseNotReady(
        f"database schema is at revision {state.current or 'none'}, this dozor needs "
        f"{state.head}: back it up, then run `dozor db upgrade`"
    )


def upgrade_blocker(state: SchemaState) -> str | None:
    """Why migrations must not touch this database (another program's, or one a newer dozor
    made); None if they may."""
    if state.current is None and state.has_tables:
        return (
            "the database has tables but no dozor schema version; is it another program's database?"
        )
    if state.current is not None and not _is_known_revision(state.current):
        return (
            f"database schema revision {state.current} is unknown to this dozor (made by a newer "
            "version?); upgrade dozor"
        )
    return None


def _refuse_foreign_or_newer(state: SchemaState) -> None:
    blocker = upgrade_blocker(state)
    if blocker is not None:
        raise DatabaseNotReady(blocker)


async def checked_schema_state(engine: AsyncEngine) -> SchemaState:
    """The schema state; a database that cannot be opened is a DatabaseNotReady error."""
    try:
        return await schema_state(engine)
    except (OperationalError, DBAPIError, OSError) as exc:
        failure = database_failure(exc) if isinstance(exc, DBAPIError) else None
        raise DatabaseNotReady(
            f"cannot open database {_safe_url(engine)}: {failure or _first_line(exc)}"
        ) from None


def _is_known_revision(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    return any(rev.revision == revision for rev in script.walk_revisions())


def _safe_url(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    return first_line(getattr(exc, "orig", None) or exc)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


T = TypeVar("T")
WRITE_ATTEMPTS = 5


async def write_transaction(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
) -> T:
    """Run *work* in a transaction of its own, again when another writer got in between its
    reads and its writes.

    A batch reads what the archive holds, then writes what is new. Two writers of the same
    posts (an import run twice at once, an import beside the archiver's backfill) can both
    find a post missing; the second one's insert then breaks a unique key (or, on
    PostgreSQL, the two deadlock), and its whole transaction is rolled back. Run again, it
    finds what the other stored, and writes only what is still new."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            async with sessions.begin() as session:
                return await work(session)
        except DBAPIError as exc:
            if attempt == WRITE_ATTEMPTS or not _another_writer(exc):
                raise
            log.info("another writer got in first (%s); writing again", _first_line(exc))
    raise AssertionError("unreachable")


async def hold_other_writers(session: AsyncSession) -> None:
    """Make *session*'s transaction, from here to its end, the archive's only writer, so that
    what it reads cannot be changed by another writer before it writes.

    Must come first in the transaction. SQLite takes its write lock now (``BEGIN IMMEDIATE``;
    readers go on undisturbed, writers wait up to ``busy_timeout_ms``). PostgreSQL has no lock
    of the whole database: there the reads lock their rows (``FOR SHARE``)."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("BEGIN IMMEDIATE"))


def _another_writer(exc: DBAPIError) -> bool:
    state = getattr(exc.orig, "sqlstate", None)
    return isinstance(exc, IntegrityError) or (isinstance(state, str) and state[:2] == "40")


def missing_sqlite_file(config: DatabaseConfig) -> Path | None:
    """The SQLite file *config* names, when it does not exist (None: it does, or the database
    is not a SQLite file)."""
    url = make_url(config.url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database)
    return None if path.exists() else path


def require_archive_file(config: DatabaseConfig) -> None:
    """Refuse to go on when the configured SQLite file does not exist.

    Commands that only read the archive must not create an empty one at a mistyped path: an
    empty archive answers every search with "no posts match"."""
    missing = missing_sqlite_file(config)
    if missing is not None:
        raise DatabaseNotReady(
            f"no archive at {missing}: check database.url in the config, or fill it with "
            "`dozor import` or `dozor run`"
        )


@asynccontextmanager
async def open_database(
    config: DatabaseConfig, *, create_if_empty: bool = True
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Engine + schema check + session factory, disposed on exit.

    Without *create_if_empty* (commands that only read), a missing or empty database is a
    DatabaseNotReady error and nothing is created."""
    if not create_if_empty:
        require_archive_file(config)
    engine = create_engine(config)
    try:
        await ensure_at_head(engine, create_if_empty=create_if_empty)
        yield session_factory(engine)
    finally:
        await engine.dispose()
