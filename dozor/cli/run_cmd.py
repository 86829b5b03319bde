"""`dozor init` and `dozor run`, the main job."""

from __future__ import annotations

from pathlib import Path

import click

from dozor import __version__
from dozor import db as database
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
def run() -> None:
    """The main job: migrate the database, then archive channels and serve the team bot."""
    cli_state = state()
    _create_config_if_missing(cli_state.path)
    config = cli_state.config()
    run_async(_migrate(config))
    missing = missing_telegram_keys(config) + missing_bot_keys(config)
    if missing:
        raise ConfigError(credentials_message(cli_state.path, missing))
    click.echo(
        f"config {cli_state.path} and database are ready. The live archiver and the team bot "
        f"are not part of dozor {__version__} yet; meanwhile `dozor import PATH` loads "
        "Telegram Desktop exports and `dozor channels list` shows the archive."
    )


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
