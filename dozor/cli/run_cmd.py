"""`dozor init` and `dozor run`, the main job."""

from __future__ import annotations

from pathlib import Path

import click

from dozor import db as database
from dozor.cli import archive_cmd
from dozor.cli.context import config_option, run_async, state
from dozor.config import Config, missing_bot_keys, missing_telegram_keys, write_example_config
from dozor.errors import ConfigError, UserError

_WHERE_TO_GET = {
    "telegram.api_id": "https://my.telegram.org → API development tools",
    "telegram.api_hash": "https://my.telegram.org → API development tools",
    "bot.token": "@BotFather on Telegram",
    "bot.admins": "your numeric Telegram user id, e.g. from @userinfobot",
}


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
def run(once: bool) -> None:
    """The main job: migrate the database, then archive channels (and serve the team bot)."""
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
    archive_cmd.report(run_async(archive_cmd.run_archiver(config, once=once)))


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


def credentials_message(path: Path, missing: list[str]) -> str:
    """One line naming each missing key, where to get it, and its environment variable."""
    parts = [f"{key} ({_WHERE_TO_GET.get(key, 'see config.example.toml')})" for key in missing]
    env = ", ".join("DOZOR_" + key.upper().replace(".", "__") for key in missing)
    return f"{path}: fill in {'; '.join(parts)} — or set {env}"
