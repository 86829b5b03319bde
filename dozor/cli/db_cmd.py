"""`dozor db ...`: schema migrations and the search index's upkeep."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from datetime import UTC, datetime

import click
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor import db as database
from dozor import dbcopy
from dozor.cli.context import config_option, json_option, run_async, state
from dozor.cli.output import print_json, print_table
from dozor.cli.progress import progress_bar
from dozor.config import Config
from dozor.errors import SessionInUse, UserError
from dozor.search.reindex import (
    archive_is_empty,
    index_analyzer,
    rebuild_search_index,
)
from dozor.storage.facts import mark_index_current
from dozor.text import ANALYZER_VERSION

log = logging.getLogger(__name__)


@click.group()
@config_option
def db() -> None:
    """Database schema and search index: upgrade, current, reindex; copy to another database."""


@db.command()
@config_option
def upgrade() -> None:
    """Apply all pending migrations (back up the database first), then rebuild the search
    index if an older dozor built it."""
    config = state().config()

    async def go() -> None:
        engine = database.create_engine(config.database)
        try:
            before = await database.checked_schema_state(engine)
            after = await database.upgrade(engine)
            if before.current == after.current:
                click.echo(f"database already at {after.current}")
            else:
                click.echo(f"database upgraded from {before.current or 'empty'} to {after.current}")
            read = await rebuild_if_stale(database.session_factory(engine))
            if read is not None:
                click.echo(_rebuilt(read))
        finally:
            await engine.dispose()

    run_async(go())


@db.command()
@config_option
def reindex() -> None:
    """Rebuild the search index from the archived posts (safe to interrupt and re-run)."""
    config = state().config()

    async def go() -> int:
        async with database.open_database(config.database, create_if_empty=False) as sessions:
            with progress_bar("rebuilding the search index") as report:
                return await rebuild_search_index(sessions, report=report)

    click.echo(_rebuilt(run_async(go())))


async def rebuild_if_stale(sessions: async_sessionmaker[AsyncSession]) -> int | None:
    """Rebuild the search index if an older analyzer built it: posts read, None if current."""
    async with sessions() as session:
        version = await index_analyzer(session)
        if version >= ANALYZER_VERSION:
            return None
        empty = await archive_is_empty(session)
    if empty:  # nothing indexed: the index is as current as this dozor
        async with sessions.begin() as session:
            await mark_index_current(session, now=datetime.now(UTC))
        return None
    log.warning(
        "the search index was built by text analysis v%d, this dozor has v%d: rebuilding it",
        version,
        ANALYZER_VERSION,
    )
    with progress_bar("rebuilding the search index") as report:
        return await rebuild_search_index(sessions, report=report)


def _rebuilt(read: int) -> str:
    return f"search index rebuilt for text analysis v{ANALYZER_VERSION}: {read:,} posts read"


def _keep_archiver_out(stack: ExitStack, config: Config) -> None:
    """No archiver writes into the archive while it is copied: what it archived after the copy
    began would be missing from the copy. One running now is named; one started during the
    copy stops at once, as for any second process on the session."""
    from archiver.client import session_lock

    try:
        stack.enter_context(session_lock(config.telegram.session, only_if_used=True))
    except SessionInUse as busy:
        raise UserError(
            f"dozor (pid {busy.pid}) is archiving into this database: stop it before moving the "
            "archive, or what it archives meanwhile would be missing from the copy "
            "(--live copies it as of now, for a backup)"
        ) from None


@db.command()
@config_option
@json_option
def current(as_json: bool) -> None:
    """Show the database's schema revision and the one this dozor needs."""
    config = state().config()
    database.require_archive_file(config.database)

    async def go() -> tuple[database.SchemaState, int | None]:
        engine = database.create_engine(config.database)
        try:
            schema = await database.checked_schema_state(engine)
            if not schema.at_head:
                return schema, None
            async with database.session_factory(engine)() as session:
                return schema, await index_analyzer(session)
        finally:
            await engine.dispose()

    result, analyzer = run_async(go())
    if as_json:
        print_json(
            {
                "current": result.current,
                "head": result.head,
                "at_head": result.at_head,
                "search_analyzer": analyzer,
                "analyzer": ANALYZER_VERSION,
                "problem": database.upgrade_blocker(result),
            }
        )
        return
    status = "up to date" if result.at_head else "needs `dozor db upgrade`"
    status = database.upgrade_blocker(result) or status
    click.echo(f"current {result.current or 'none'}, head {result.head}: {status}")
    if analyzer is not None and analyzer < ANALYZER_VERSION:
        click.echo(
            f"search index built by text analysis v{analyzer}, this dozor has "
            f"v{ANALYZER_VERSION}: needs `dozor db reindex`"
        )


@db.command()
@config_option
@json_option
@click.option(
    "--live",
    is_flag=True,
    help="Copy although an archiver is writing: a snapshot as of now (a backup), which "
    "misses what the archiver writes after it.",
)
@click.argument("target")
def copy(target: str, as_json: bool, live: bool) -> None:
    """Copy the whole archive into another, empty database: TARGET is a URL as database.url
    takes (postgresql://user:pass@host/dozor) or the path of a new SQLite file.

    Keys, versions, tombstones, the change feed, rules and alerts are copied as they are, from
    one consistent snapshot; the search index is rebuilt from its entries by the target. A
    failed copy leaves the target empty. Then point database.url at the target. An archiver
    running on this archive is named and the copy refused, unless --live."""
    config = state().config()
    database.require_archive_file(config.database)
    target_config = dbcopy.target_config(target)

    async def go() -> list[dbcopy.CopiedTable]:
        source = database.create_engine(config.database)
        destination = database.create_engine(target_config)
        try:
            with progress_bar("copying the archive") as report:
                return await dbcopy.copy_archive(source, destination, report=report)
        finally:
            await source.dispose()
            await destination.dispose()

    with ExitStack() as stack:
        if not live:
            _keep_archiver_out(stack, config)
        copied = run_async(go())
    shown = make_url(target_config.url).render_as_string(hide_password=True)
    if as_json:
        print_json({"target": shown, "tables": {t.name: t.rows for t in copied}})
        return
    print_table(None, ["table", "rows copied"], [(t.name, f"{t.rows:,}") for t in copied])
    click.echo(
        f"archive copied to {shown}; to use it, set database.url to it in {state().path} "
        "(media files stay in archiver.media_dir)"
    )
