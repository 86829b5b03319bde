"""What every command shares: the --config path, the loaded config, logging, the event loop."""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from dozor.config import Config, default_config_path, load_config

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliState:
    config_path: Path | None = None
    _config: Config | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        return self.config_path or default_config_path()

    def config(self) -> Config:
        """The config, read once per process and passed down from here."""
        if self._config is None:
            self._config = load_config(self.path)
            configure_logging(self._config)
        return self._config


def configure_logging(config: Config) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if config.logging.file is not None:
        config.logging.file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(config.logging.file, encoding="utf-8"))
    logging.basicConfig(
        level=config.logging.level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    for noisy in ("aiosqlite", "alembic.runtime.migration", "telethon.crypto.aes"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _remember_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(CliState).config_path = value


def config_option(func: F) -> F:
    """``--config PATH`` accepted before or after the subcommand name."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        callback=_remember_config,
        expose_value=False,
        is_eager=True,
        help="Config file (default: ./config.toml or $DOZOR_CONFIG).",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(
        func
    )


def query_argument(func: F) -> F:
    """QUERY, in one argument or several: `dozor search уголовное дело` needs no quotes (the
    words are joined with spaces, and words side by side mean all of them)."""
    return click.argument("query", nargs=-1, required=True, callback=_joined)(func)


def _joined(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> str:
    # An option's name among the words came after "--", where it is a word: say so rather
    # than search for it.
    names = {name for p in ctx.command.params if isinstance(p, click.Option) for name in p.opts}
    stray = next((word for word in value if word in names), None)
    if stray is not None:
        raise click.UsageError(f"{stray} after --: options go before --, the query after it", ctx)
    return " ".join(value)


_MARKED_ID = re.compile(r"-\d+")


class ChannelArgsCommand(click.Command):
    """A command whose arguments may be marked channel ids (``-1001292077344``), as
    ``dozor channels list`` prints them.

    The parser would take such an id for an option. No option of dozor's is a number, so
    unknown options pass through as arguments here, after any that is not a number has been
    refused as the unknown option it is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {
            **(kwargs.get("context_settings") or {}),
            "ignore_unknown_options": True,
        }
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = [p for p in self.get_params(ctx) if isinstance(p, click.Option)]
        known = {name for p in options for name in (*p.opts, *p.secondary_opts)}
        with_value = {name for p in options if not (p.is_flag or p.count) for name in p.opts}
        value_next = False
        for arg in args:
            if arg == "--":
                break
            name = arg.split("=", 1)[0]
            if value_next or name in known:
                value_next = not value_next and name in with_value and "=" not in arg
            elif arg[:1] == "-" and arg != "-" and not _MARKED_ID.fullmatch(arg):
                close = difflib.get_close_matches(name, sorted(known))
                raise click.NoSuchOption(name, possibilities=close, ctx=ctx)
        return super().parse_args(ctx, args)


def state() -> CliState:
    return click.get_current_context().ensure_object(CliState)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (call from inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


_WHERE_TO_GET = {
    "telegram.api_id": "https://my.telegram.org → API development tools",
    "telegram.api_hash": "https://my.telegram.org → API development tools",
    "bot.token": "@BotFather on Telegram",
    "bot.admins": "your numeric Telegram user id, e.g. from @userinfobot",
}


def credentials_message(path: Path, missing: list[str]) -> str:
    """One line naming each missing key, where to get it, and its environment variable."""
    parts = [f"{key} ({_WHERE_TO_GET.get(key, 'see config.example.toml')})" for key in missing]
    env = ", ".join("DOZOR_" + key.upper().replace(".", "__") for key in missing)
    return f"{path}: fill in {'; '.join(parts)} — or set {env}"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
