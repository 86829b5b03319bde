"""Copying a whole archive into another database.

What it is for: moving from the SQLite default to PostgreSQL when one machine is no longer
enough (or back), and a consistent copy of a live SQLite archive, which copying its file while
dozor writes to it is not.

Every table is copied row for row, keys included: post versions, tombstones, metric samples,
the change feed (and each consumer's place in it), rules, alerts and their outbox states are
the same in the copy. The source is read in one transaction, a snapshot that writes made while
the copy runs do not reach. The target is written in one transaction too, so a copy that fails
leaves it as empty as it was. The search index comes along as its entries (``post_search``),
from which each backend builds its own full-text index as they are inserted (SQLite's FTS5
triggers, PostgreSQL's generated ``tsvector``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Table, delete, func, insert, inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dozor import db
from dozor.config import DatabaseConfig
from dozor.errors import UserError
from dozor.failures import database_failure, first_line
from dozor.models import database_facts, metadata, post_search
from dozor.storage.bulk import insert_rows_grouped

log = logging.getLogger(__name__)

BATCH_ROWS = 2000
# Parents before children, so that every foreign key finds its row.
TABLES: tuple[Table, ...] = tuple(metadata.sorted_tables)

Progress = Callable[[int, int], None]


class CopyError(UserError):
    """The archive cannot be copied to that database (it is not empty, it is the source...)."""


@dataclass(frozen=True)
class CopiedTable:
    name: str
    rows: int


@dataclass
class _Tally:
    report: Progress
    total: int
    done: int = 0

    def add(self, rows: int) -> None:
        self.done += rows
        self.report(self.done, self.total)


async def copy_archive(
    source: AsyncEngine, target: AsyncEngine, *, report: Progress | None = None
) -> list[CopiedTable]:
    """Copy every row of the archive at *source* into the empty database at *target*,
    migrating the target first; returns the rows copied per table. *report(done, total)* is
    called as rows are written."""
    if same_database(source.url, target.url):
        raise CopyError(f"{_shown(target.url)} is the archive itself: name another database")
    await _check_source(source)
    await _prepare_target(target)
    async with source.connect() as reader:
        await _read_a_snapshot(reader)
        totals = {table.name: await _count(reader, table) for table in TABLES}
        try:
            async with target.begin() as writer:
                copied = await _copy_tables(reader, writer, totals, report or _ignore)
        except CopyError:
            raise  # its message says that nothing was kept
        except BaseException:  # a failing system, an interrupted copy
            log.warning("the copy did not finish; %s was left empty", _shown(target.url))
            raise
    return copied


def same_database(one: URL, other: URL) -> bool:
    """Whether two URLs name the same database (the same SQLite file, or the same server's
    database of the same name)."""
    if one.get_backend_name() != other.get_backend_name():
        return False
    if one.get_backend_name() == "sqlite":
        return _sqlite_path(one) == _sqlite_path(other)
    return _server_database(one) == _server_database(other)


def target_config(argument: str) -> DatabaseConfig:
    """The target database named on the command line: a URL as ``database.url`` takes, or
    the path of an SQLite file."""
    url = argument
    if "://" not in argument:
        url = f"sqlite+aiosqlite:///{Path(argument).expanduser().resolve()}"
    try:
        return DatabaseConfig(url=url)
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise CopyError(f"{argument}: {reason}") from None


async def _check_source(source: AsyncEngine) -> None:
    await db.ensure_at_head(source, create_if_empty=False)  # says what to do if it is not
    async with source.connect() as conn:
        if not await _filled_tables(conn):
            raise CopyError(f"the archive at {_shown(source.url)} is empty: nothing to copy")


async def _prepare_target(target: AsyncEngine) -> None:
    """Refuse a target that holds anything; migrate it to this dozor's schema."""
    state = await db.checked_schema_state(target)
    blocker = db.upgrade_blocker(state)
    if blocker is not None:
        raise CopyError(f"{_shown(target.url)}: {blocker}")
    if state.current is not None:
        async with target.connect() as conn:
            filled = await _filled_tables(conn)
        if filled:
            raise CopyError(
                f"{_shown(target.url)} already holds an archive ({', '.join(filled)} not empty): "
                "copy into a new, empty database"
            )
    await db.upgrade(target)


async def _filled_tables(conn: AsyncConnection) -> list[str]:
    present = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    return [
        table.name
        for table in TABLES
        if table.name in present
        and table is not database_facts
        and await conn.scalar(select(text("1")).select_from(table).limit(1)) is not None
    ]


async def _read_a_snapshot(reader: AsyncConnection) -> None:
    """Make every read of *reader* see the database as it was at the first one."""
    if reader.dialect.name == "postgresql":
        await reader.execution_options(isolation_level="REPEATABLE READ")
        await reader.begin()
    else:
        # The sqlite3 driver begins transactions only before writes; a read transaction in WAL
        # mode keeps one snapshot until it ends.
        await reader.begin()
        await reader.exec_driver_sql("BEGIN")


async def _count(conn: AsyncConnection, table: Table) -> int:
    return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def _copy_tables(
    reader: AsyncConnection, writer: AsyncConnection, totals: dict[str, int], report: Progress
) -> list[CopiedTable]:
    # A new database records the analysis that built its (empty) index; the copy takes the
    # source's record along with the source's index entries.
    await writer.execute(delete(database_facts))
    tally = _Tally(report, total=sum(totals.values()))
    copied = []
    for table in TABLES:
        try:
            rows = await _copy_table(reader, writer, table, tally.add)
            written = await _count(writer, table)
        except DBAPIError as exc:
            if database_failure(exc) is not None:
                raise  # the system failed (a full disk, a server gone): told as such
            raise CopyError(
                f"{table.name} cannot be copied, and nothing was kept: "
                f"{first_line(exc.orig or exc)}"
            ) from None
        if not rows == written == totals[table.name]:
            raise CopyError(
                f"{table.name}: {totals[table.name]} rows in the archive, {rows} read, "
                f"{written} written; nothing was kept"
            )
        copied.append(CopiedTable(table.name, rows))
    if writer.dialect.name == "postgresql":
        await _continue_sequences(writer)
    report(tally.done, tally.total)
    return copied


async def _copy_table(
    reader: AsyncConnection, writer: AsyncConnection, table: Table, written: Callable[[int], None]
) -> int:
    rows = 0
    result = await reader.stream(select(table).order_by(*table.primary_key.columns))
    async for batch in result.partitions(BATCH_ROWS):
        values = [dict(row._mapping) for row in batch]
        if table is post_search:  # its full-text index is built faster from few statements
            await insert_rows_grouped(writer, table, values)
        else:
            await writer.execute(insert(table), values)
        rows += len(batch)
        written(len(batch))
    return rows


async def _continue_sequences(writer: AsyncConnection) -> None:
    """Set each PostgreSQL sequence past the keys copied, so that new rows get new keys.
    (SQLite moves an AUTOINCREMENT counter past explicitly inserted keys by itself.)"""
    for table in TABLES:
        keys = list(table.primary_key.columns)
        if len(keys) != 1:
            continue
        column = keys[0].name
        sequence = await writer.scalar(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": table.name, "column": column},
        )
        if sequence is None:
            continue
        await writer.execute(
            text(
                f"SELECT setval(:sequence, coalesce(max({column}), 0) + 1, false) FROM {table.name}"
            ),
            {"sequence": sequence},
        )


def _server_database(url: URL) -> tuple[str | None, int, str | None]:
    return url.host, url.port or 5432, url.database


def _sqlite_path(url: URL) -> str | None:
    if url.database in (None, "", ":memory:"):
        return None
    return str(Path(url.database).expanduser().resolve())


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _ignore(_done: int, _total: int) -> None:
    return None
