"""dozor configuration: one TOML file validated by pydantic; secrets may come from the environment.

Any key ``[section] key`` can be set by the environment variable ``DOZOR_SECTION__KEY`` (nested
tables add more ``__``); the environment wins over the file. Relative paths (the SQLite file, the
Telegram session) are resolved against the directory holding the config file, so a cron job
behaves the same from any working directory.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dozor.channel_refs import requestable_problem
from dozor.errors import ConfigError, QueryError
from dozor.ids import INT64, is_digits
from dozor.query.parser import parse

ENV_PREFIX = "DOZOR_"
CONFIG_ENV = "DOZOR_CONFIG"
DEFAULT_CONFIG_NAME = "config.toml"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///dozor.db"


def _list_from_env(value: object) -> object:
    """Environment values are strings: accept ``"1,2,3"`` or a JSON array for list keys."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON array: {exc.msg}") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


IntList = Annotated[list[int], BeforeValidator(_list_from_env)]
StrList = Annotated[list[str], BeforeValidator(_list_from_env)]
# A secret left as "" in the file is not set: dozor then says where to get it.
Secret = Annotated[SecretStr | None, BeforeValidator(lambda value: value or None)]
ChatId = Annotated[int, Field(ge=-INT64, le=INT64)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


class DatabaseConfig(Section):
    url: str = DEFAULT_DATABASE_URL
    busy_timeout_ms: int = Field(default=10_000, ge=0)
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "expected a SQLAlchemy URL such as sqlite+aiosqlite:///dozor.db "
                "or postgresql+asyncpg://user:password@host/dbname"
            ) from None
        if url.drivername in ASYNC_DRIVERS:  # postgresql://… as libpq writes it, sqlite:///…
            return url.set(drivername=ASYNC_DRIVERS[url.drivername]).render_as_string(
                hide_password=False
            )
        if url.drivername not in ASYNC_DRIVERS.values():
            raise ValueError(
                f"unsupported driver {url.drivername!r}: use sqlite+aiosqlite or postgresql+asyncpg"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class TelegramServerConfig(Section):
    """Where to connect instead of Telegram's production servers (test DCs, own MTProto)."""

    dc_id: int = Field(ge=1)
    host: str
    port: int = Field(default=443, ge=1, le=65535)
    public_key_file: Path | None = None


API_HASH = re.compile(r"[0-9a-fA-F]{32}")


class TelegramConfig(Section):
    api_id: int | None = Field(default=None, gt=0)
    api_hash: Secret = None
    session: Path = Path("dozor.session")
    server: TelegramServerConfig | None = None

    @field_validator("api_hash")
    @classmethod
    def _api_hash(cls, value: SecretStr | None) -> SecretStr | None:
        """my.telegram.org gives 32 hexadecimal digits; anything else would only fail later,
        after connecting."""
        if value is not None and not API_HASH.fullmatch(value.get_secret_value()):
            raise ValueError("not an api_hash: my.telegram.org gives 32 hexadecimal digits")
        return value


class ArchiverConfig(Section):
    channels: StrList = Field(default_factory=list)
    backfill_days: int = Field(default=0, ge=0)
    page_size: int = Field(default=100, ge=1, le=100)
    reconcile_minutes: int = Field(default=15, ge=1)
    reconcile_window: int = Field(default=200, ge=10)
    verify_days: int = Field(default=7, ge=0)
    channel_info_minutes: int = Field(default=60, ge=1)
    unjoined_poll_seconds: int = Field(default=120, ge=10)
    mass_deletion_threshold: int = Field(default=10, ge=2)
    max_flood_sleep_seconds: int = Field(default=60, ge=0)
    max_reconnect_delay_seconds: int = Field(default=300, ge=1)
    download_media: bool = False
    media_types: StrList = Field(default_factory=lambda: ["photo"])
    media_max_mb: float = Field(default=20, gt=0)
    media_dir: Path = Path("media")

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        """Caught here rather than after connecting to Telegram, which knows no such name."""
        for ref in value:
            if (problem := requestable_problem(ref)) is not None:
                raise ValueError(problem)
        return value


BOT_TOKEN = re.compile(r"\d+:\S+")


class BotConfig(Section):
    token: Secret = None
    admins: IntList = Field(default_factory=list)
    members: IntList = Field(default_factory=list)
    team_chat_id: ChatId | None = None
    timezone: str = "UTC"
    api_server: str | None = None
    digest_hour: int = Field(default=8, ge=0, le=23)
    channel_notices: bool = True
    work_dir: Path | None = None
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1:8080"
    webhook_secret: Secret = None

    @field_validator("token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        """The shape Bot API tokens have (aiogram refuses others with a traceback)."""
        if value is not None and not BOT_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("not a bot token; @BotFather gives one like 123456789:AAH…")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name like Asia/Bishkek"
            ) from None
        return value

    @field_validator("api_server")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// base URL of a Bot API server")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("Telegram delivers webhooks to https:// URLs only")
        return value

    @field_validator("webhook_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not is_digits(port) or not 0 < int(port) < 65536:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8080")
        return value

    @property
    def listen_address(self) -> tuple[str, int]:
        host, _, port = self.webhook_listen.rpartition(":")
        return host, int(port)


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: Path | None = None

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


EVENT_KINDS = ("new", "edited", "deleted")
RULE_MODES = ("instant", "silent", "digest_hourly", "digest_daily")


class AlertsConfig(Section):
    history_minutes: int = Field(default=10, ge=0)


class RuleConfig(Section):
    """A team rule declared in the config file (``[[rules]]``)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    query: str = Field(min_length=1)
    events: StrList = Field(default_factory=lambda: ["new", "edited"])
    chat_id: ChatId | None = None
    mode: Literal["instant", "silent", "digest_hourly", "digest_daily"] = "instant"

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse(value)
        except QueryError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EVENT_KINDS))
        if unknown or not value:
            raise ValueError(f"events are a non-empty list of {', '.join(EVENT_KINDS)}")
        return value


class Config(Section):
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    archiver: ArchiverConfig = Field(default_factory=ArchiverConfig)
    bot: BotConfig = Field(default_factory=BotConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    rules: list[RuleConfig] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _distinct_rule_names(cls, value: list[RuleConfig]) -> list[RuleConfig]:
        names = [rule.name for rule in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rule names must differ; repeated: {', '.join(repeated)}")
        return value

    # Where the file was read from; not a TOML key.
    source: Path | None = Field(default=None, exclude=True)


def moved_chat_notes(config: Config, moved: Mapping[int, int]) -> list[str]:
    """A line for each place the config names a group Telegram has since upgraded to a
    supergroup (a new id)."""
    named = [("bot.team_chat_id", config.bot.team_chat_id)]
    named += [(f"rules {rule.name!r}: chat_id", rule.chat_id) for rule in config.rules]
    return [
        f"{key}: chat {chat} became the supergroup {moved[chat]}; dozor uses the new id: "
        f"put it in {config.source}"
        for key, chat in named
        if chat is not None and chat in moved
    ]


def with_moved_chats(config: Config, moved: Mapping[int, int]) -> Config:
    """*config* with every chat Telegram has moved replaced by its new id."""

    def follow(chat: int | None) -> int | None:
        return chat if chat is None else moved.get(chat, chat)

    bot = config.bot.model_copy(update={"team_chat_id": follow(config.bot.team_chat_id)})
    rules = [rule.model_copy(update={"chat_id": follow(rule.chat_id)}) for rule in config.rules]
    return config.model_copy(update={"bot": bot, "rules": rules})


def default_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME)


def load_config(path: Path, environ: Mapping[str, str] = os.environ) -> Config:
    """Read, overlay the environment on, validate and resolve the config file at *path*."""
    data = _read_toml(path)
    env_keys = _overlay_environment(data, environ)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, env_keys)) from None
    return _resolve_paths(config.model_copy(update={"source": path}), path.parent)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found; create it with `dozor init` "
            f"(or pass --config PATH / set {CONFIG_ENV})"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML config file") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _overlay_environment(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Apply ``DOZOR_SECTION__KEY`` variables onto *data*; return dotted key → variable name."""
    applied: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [part.lower() for part in name.removeprefix(ENV_PREFIX).split("__")]
        if not all(keys):
            raise ConfigError(f"environment variable {name}: malformed name")
        table = data
        for key in keys[:-1]:
            child = table.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name}: {key} is not a table")
            table = child
        table[keys[-1]] = value
        applied[".".join(keys)] = name
    return applied


def _describe(exc: ValidationError, path: Path, env_keys: Mapping[str, str]) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        variable = _variable_for(key, env_keys)
        where = f"environment variable {variable}" if variable else key
        if error["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key")
        else:
            message = error["msg"].removeprefix("Value error, ")
            given = _without_password(repr(error["input"]))
            shown = "" if key in _secret_keys(Config) else f" (got {given})"
            problems.append(f"{where}: {message}{shown}")
    return f"{path}: " + "; ".join(problems)


def _without_password(text: str) -> str:
    """user:password@host in a URL becomes user:***@host."""
    return _URL_PASSWORD.sub(r"\1***@", text)


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")


def _secret_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted keys of SecretStr fields: their values are never repeated in an error."""
    keys = set()
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys |= _secret_keys(kind, f"{prefix}{name}.")
        elif kind is SecretStr or SecretStr in get_args(kind):
            keys.add(prefix + name)
    return keys


def _variable_for(key: str, env_keys: Mapping[str, str]) -> str | None:
    """The environment variable that set *key* (or a table holding it, or a key inside it)."""
    for dotted, variable in env_keys.items():
        if key == dotted or key.startswith(dotted + ".") or dotted.startswith(key + "."):
            return variable
    return None


def _resolve_paths(config: Config, base: Path) -> Config:
    database = config.database
    if database.is_sqlite:
        url = make_url(database.url)
        if url.database and url.database != ":memory:" and not Path(url.database).is_absolute():
            resolved = url.set(database=str((base / url.database).resolve()))
            database = database.model_copy(
                update={"url": resolved.render_as_string(hide_password=False)}
            )
    server = config.telegram.server
    if server is not None and server.public_key_file is not None:
        server = server.model_copy(update={"public_key_file": _under(base, server.public_key_file)})
    telegram = config.telegram.model_copy(
        update={"session": _under(base, config.telegram.session), "server": server}
    )
    bot = config.bot.model_copy(
        update={"work_dir": _under(base, config.bot.work_dir) if config.bot.work_dir else None}
    )
    archiver = config.archiver.model_copy(
        update={"media_dir": _under(base, config.archiver.media_dir)}
    )
    log_file = config.logging.file
    logging = config.logging.model_copy(
        update={"file": _under(base, log_file) if log_file else None}
    )
    return config.model_copy(
        update={
            "database": database,
            "telegram": telegram,
            "logging": logging,
            "archiver": archiver,
            "bot": bot,
        }
    )


def _under(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def missing_telegram_keys(config: Config) -> list[str]:
    """Keys that must be filled in before dozor can talk to Telegram as a user."""
    missing = []
    if config.telegram.api_id is None:
        missing.append("telegram.api_id")
    if config.telegram.api_hash is None or not config.telegram.api_hash.get_secret_value():
        missing.append("telegram.api_hash")
    return missing


def missing_bot_keys(config: Config) -> list[str]:
    """Keys that must be filled in before the team bot can start."""
    missing = []
    if config.bot.token is None or not config.bot.token.get_secret_value():
        missing.append("bot.token")
    if not config.bot.admins:
        missing.append("bot.admins")
    return missing


def example_config_text() -> str:
    """The annotated example config shipped with dozor (bundled in wheels, or the checkout's)."""
    from importlib import resources

    bundled = resources.files("dozor") / "_bundled" / "config.example.toml"
    if bundled.is_file():
        return bundled.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "config.example.toml").read_text("utf-8")


def write_example_config(path: Path) -> None:
    """Create *path* from the example config; never overwrites."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as fh:
        fh.write(example_config_text())
