"""`dozor init` and `dozor run`, the main job."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dozor import db as database
from dozor.cli import archive_cmd, bot_cmd
from dozor.cli.context import (
    config_option,
    credentials_message,
    run_async,
    state,
    stop_on_signals,
)
from dozor.config import Config, missing_bot_keys, missing_telegram_keys, write_example_config
from dozor.errors import BotTokenRejected, ConfigError, SessionLoggedOut, UserError

if TYPE_CHECKING:
    from archiver.service import ChannelReport


@click.command()
@config_option
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(force: bool) -> None:
    """Create a config file from config.example.toml."""
    path = state().path
    if path.exists():
        if not force:
            raise UserError(f"{path} already exists (use --force to overwrite)")
        path.unlink()
    write_example_config(path)
    click.echo(f"created {path}: fill in the keys marked REQUIRED, then run `dozor run`")


@click.command()
@config_option
@click.option("--once", is_flag=True, help="One pass over everything, then exit (cron).")
def run(once: bool) -> int:
    """The main job: migrate the database, archive channels and serve the team bot."""
    cli_state = state()
    _create_config_if_missing(cli_state.path)
    config = cli_state.config()
    run_async(_migrate(config))
    missing_bot = missing_bot_keys(config)
    missing = missing_telegram_keys(config)
    if missing:
        raise ConfigError(credentials_message(cli_state.path, missing + missing_bot))
    if missing_bot:
        click.echo(
            f"warning: the team bot is off until {', '.join(missing_bot)} are set "
            f"in {cli_state.path}",
            err=True,
        )
    reports = run_async(_main_job(config, once=once, with_bot=not missing_bot))
    return archive_cmd.report(reports)


async def _main_job(config: Config, *, once: bool, with_bot: bool) -> list[ChannelReport]:
    """The archiver and, when configured, the team service, in one process."""
    if once:
        logged_out = None
        try:
            reports = await archive_cmd.run_archiver(config, once=True)
        except SessionLoggedOut as exc:
            logged_out, reports = exc, []
        if with_bot:
            await bot_cmd.alerts_once(config)  # a logout included: the team hears of it
        if logged_out is not None:
            raise logged_out
        return reports
    stop = stop_on_signals()
    if not with_bot:
        return await archive_cmd.run_archiver(config, once=False, stop=stop)
    team = asyncio.create_task(bot_cmd.serve_team(config, stop), name="team")
    team.add_done_callback(partial(_bot_ended, stop))
    try:
        return await archive_cmd.run_archiver(config, once=False, stop=stop)
    except SessionLoggedOut as exc:
        # The team still searches the archive, and the bot tells it what happened.
        click.echo(f"dozor: {exc}; the team bot goes on until dozor is stopped", err=True)
        await stop.wait()
        raise
    finally:
        stop.set()
        await team


def _bot_ended(stop: asyncio.Event, team: asyncio.Task[None]) -> None:
    """A failing bot stops the whole job, but for a token Telegram stopped accepting: the
    archive must not miss posts while someone makes a new one."""
    failure = None if team.cancelled() else team.exception()
    if isinstance(failure, BotTokenRejected):
        click.echo(f"dozor: {failure}; archiving goes on until dozor is stopped", err=True)
    else:
        stop.set()


def _create_config_if_missing(path: Path) -> None:
    if not path.exists():
        write_example_config(path)
        click.echo(f"created {path} from config.example.toml", err=True)


async def _migrate(config: Config) -> None:
    engine = database.create_engine(config.database)
    try:
        await database.ensure_at_head(engine, upgrade_if_behind=True)
    finally:
        await engine.dispose()
