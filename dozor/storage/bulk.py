"""Batched inserts: SQLAlchemy Core everywhere, a leaner path for SQLite's executemany.

SQLAlchemy builds a parameter dict and runs every type processor per row; on an import that is
as costly as SQLite's own work. For SQLite the rows are converted once here, column by column,
to what SQLAlchemy itself would have stored (same text formats), and handed to the driver.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Column, Table, insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from dozor.models import UTCDateTime

Converter = Callable[[Any], Any]
# Rows per statement of insert_rows_grouped, at most, and as many as SQLite's default limit of
# parameters per statement allows (999 before SQLite 3.32).
GROUP_ROWS = 2000
MAX_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


class _DatetimeText:
    """datetime → SQLAlchemy's SQLite text form; remembers the last value, since a batch's
    rows share their observation time."""

    def __init__(self) -> None:
        self._last: tuple[datetime | None, str | None] = (None, None)

    def __call__(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        last_value, last_text = self._last
        if value is last_value:
            return last_text
        text = _sqlite_datetime(value)
        self._last = (value, text)
        return text


def _sqlite_datetime(value: datetime) -> str:
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: dozor stores aware UTC times only")
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode("utf-8")


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _converter(column_type: Any) -> Converter | None:
    if isinstance(column_type, UTCDateTime):
        return _DatetimeText()
    if isinstance(column_type, JSON):
        return _sqlite_json
    if isinstance(column_type, Boolean):
        return _sqlite_bool
    return None


@dataclass(frozen=True)
class _Plan:
    into: str  # INSERT INTO table (columns)
    row: str  # the placeholders of one row: (?, ?, ...)
    defaults: dict[str, Any]
    values: Callable[[dict[str, Any]], tuple[Any, ...]]  # row dict -> values in column order
    converters: tuple[tuple[int, Converter], ...]  # only the columns that need converting


@cache
def _sqlite_plan(table: Table) -> _Plan:
    generated = (
        {c.name for c in table.primary_key.columns}
        if table.kwargs.get("sqlite_autoincrement")
        else set()
    )
    columns = [c for c in table.columns if c.name not in generated]
    names = [c.name for c in columns]
    converters = ((i, _converter(c.type)) for i, c in enumerate(columns))
    return _Plan(
        into=f"INSERT INTO {table.name} ({', '.join(names)})",
        row=f"({', '.join('?' for _ in names)})",
        defaults={c.name: _scalar_default(c) for c in columns},
        values=itemgetter(*names),
        converters=tuple((i, convert) for i, convert in converters if convert is not None),
    )


def _scalar_default(column: Column[Any]) -> Any:
    default = column.default
    return default.arg if isinstance(default, ScalarElementColumnDefault) else None


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert *rows* (dicts keyed by column name; missing keys are NULL) in one executemany."""
    if not rows:
        return
    if session.get_bind().dialect.name != "sqlite":
        await session.execute(insert(table), list(rows))
        return
    plan = _sqlite_plan(table)
    connection = await session.connection()
    await connection.exec_driver_sql(f"{plan.into} VALUES {plan.row}", _sqlite_values(plan, rows))


async def insert_rows_grouped(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert *rows* as :func:`insert_rows` does, but on SQLite many rows per statement.

    For a table whose triggers keep an FTS5 index (``post_search``): FTS5 writes what it has
    gathered to disk at the start of every statement, so an executemany writes one small
    index segment per row, and merges them later. Grouped, an import ran ~50 % faster
    (bench/import.py) and `dozor db copy` as fast as with rows sent as one JSON array, which
    took 20–40 MB more memory (bench/dbcopy.py)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        await conn.execute(insert(table), list(rows))
        return
    plan = _sqlite_plan(table)
    values = _sqlite_values(plan, rows)
    per_statement = rows_per_statement(len(values[0]))
    for start in range(0, len(values), per_statement):
        group = values[start : start + per_statement]
        await conn.exec_driver_sql(
            _grouped_sql(table, len(group)), tuple(chain.from_iterable(group))
        )


def rows_per_statement(columns: int) -> int:
    """How many rows of *columns* values :func:`insert_rows_grouped` puts in one statement."""
    return max(1, min(GROUP_ROWS, MAX_PARAMETERS // columns))


@cache
def _grouped_sql(table: Table, count: int) -> str:
    """The insert of *count* rows in one statement (a multi-row VALUES)."""
    plan = _sqlite_plan(table)
    return f"{plan.into} VALUES {', '.join([plan.row] * count)}"


def _sqlite_values(plan: _Plan, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    data = []
    for row in rows:
        complete = row if row.keys() >= plan.defaults.keys() else {**plan.defaults, **row}
        values = list(plan.values(complete))
        for index, convert in plan.converters:
            values[index] = convert(values[index])
        data.append(tuple(values))
    return data


async def insert_ignoring_duplicates(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert *rows*, skipping those that violate a unique constraint (idempotent writers)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = (
        postgresql_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    ).on_conflict_do_nothing()
    await session.execute(statement, list(rows))
