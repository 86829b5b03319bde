"""`dozor db ...`: schema migrations."""

from __future__ import annotations

import click

from dozor import db as database
from dozor.cli.context import config_option, json_option, run_async, state
from dozor.cli.output import print_json


@click.group()
@config_option
def db() -> None:
    """Database schema: upgrade, current revision."""


@db.command()
@config_option
def upgrade() -> None:
    """Apply all pending migrations (back up the database first)."""
    config = state().config()

    async def go() -> database.SchemaState:
        engine = database.create_engine(config.database)
        try:
            before = await database.schema_state(engine)
            after = await database.upgrade(engine)
        finally:
            await engine.dispose()
        if before.current == after.current:
            click.echo(f"database already at {after.current}")
        else:
            click.echo(f"database upgraded from {before.current or 'empty'} to {after.current}")
        return after

    run_async(go())


@db.command()
@config_option
@json_option
def current(as_json: bool) -> None:
    """Show the database's schema revision and the one this dozor needs."""
    config = state().config()

    async def go() -> database.SchemaState:
        engine = database.create_engine(config.database)
        try:
            return await database.schema_state(engine)
        finally:
            await engine.dispose()

    result = run_async(go())
    if as_json:
        print_json({"current": result.current, "head": result.head, "at_head": result.at_head})
    else:
        status = "up to date" if result.at_head else "needs `dozor db upgrade`"
        click.echo(f"current {result.current or 'none'}, head {result.head}: {status}")
