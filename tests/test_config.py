"""Configuration: the example validates, errors name the file and the key, env overrides."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dozor.config import (
    Config,
    RuleConfig,
    example_config_text,
    load_config,
    missing_bot_keys,
    missing_telegram_keys,
)
from dozor.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_and_documents_every_key(tmp_path: Path) -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert example_config_text() == text
    config = load_config(_write(tmp_path, text), environ={})
    assert config.database.url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'dozor.db'}"
    for section_name, section in Config.model_fields.items():
        if section_name == "source":
            continue
        model = section.annotation
        if section_name == "rules":  # an array of tables: [[rules]]
            assert "[[rules]]" in text
            model = RuleConfig
        else:
            assert f"[{section_name}]" in text, section_name
        _assert_documented(text, section_name, model)


def _assert_documented(text: str, prefix: str, model: Any) -> None:
    for key, field in model.model_fields.items():
        inner = _section_model(field.annotation)
        if inner is not None:  # a sub-table such as [telegram.server]
            assert f"[{prefix}.{key}]" in text, f"{prefix}.{key}"
            _assert_documented(text, f"{prefix}.{key}", inner)
        else:
            assert f"\n{key} =" in text or f"\n# {key} =" in text, f"{prefix}.{key}"


def _section_model(annotation: Any) -> Any:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def test_team_rules_in_config(tmp_path: Path) -> None:
    config = load_config(
        _write(
            tmp_path,
            """
[[rules]]
name = "Migrants"
query = "мигрант"
chat_id = -1001

[[rules]]
name = "Deletions"
query = "is:deleted"
events = ["deleted"]
mode = "digest_daily"
""",
        ),
        environ={},
    )
    assert [(r.name, r.events, r.mode) for r in config.rules] == [
        ("Migrants", ["new", "edited"], "instant"),
        ("Deletions", ["deleted"], "digest_daily"),
    ]
    with pytest.raises(ConfigError, match=r"rules.0.events: events are a non-empty list"):
        load_config(
            _write(tmp_path, '[[rules]]\nname="x"\nquery="y"\nevents=["posted"]\n'), environ={}
        )
    bad_query = "[[rules]]\nname='x'\nquery='y'\n[[rules]]\nname='z'\nquery='мигрант OR'\n"
    with pytest.raises(ConfigError, match=r"config.toml: rules.1.query: query error at position 9"):
        load_config(_write(tmp_path, bad_query), environ={})


def test_database_only_config_is_enough(tmp_path: Path) -> None:
    config = load_config(
        _write(tmp_path, '[database]\nurl = "sqlite+aiosqlite:///x.db"\n'), environ={}
    )
    assert missing_telegram_keys(config) == ["telegram.api_id", "telegram.api_hash"]
    assert missing_bot_keys(config) == ["bot.token", "bot.admins"]


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    config = load_config(_write(sub, '[telegram]\nsession = "s/me.session"\n'), environ={})
    assert config.telegram.session == (sub / "s" / "me.session").resolve()
    assert config.database.url.endswith(str(sub.resolve() / "dozor.db"))


def test_environment_overrides_and_secrets(tmp_path: Path) -> None:
    path = _write(tmp_path, "[telegram]\napi_id = 1\n")
    env = {
        "DOZOR_TELEGRAM__API_HASH": "abc" * 10 + "de",
        "DOZOR_TELEGRAM__API_ID": "777",
        "DOZOR_BOT__TOKEN": "1:x",
        "DOZOR_BOT__ADMINS": "1, 2",
        "DOZOR_BOT__MEMBERS": "[3]",
        "DOZOR_CONFIG": "ignored",
        "UNRELATED": "x",
    }
    config = load_config(path, environ=env)
    assert config.telegram.api_id == 777
    assert config.telegram.api_hash is not None
    assert config.telegram.api_hash.get_secret_value() == "abc" * 10 + "de"
    assert "abc" not in repr(config)
    assert (config.bot.admins, config.bot.members) == ([1, 2], [3])
    assert missing_telegram_keys(config) == []
    assert missing_bot_keys(config) == []


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[databse]\nurl = 'x'\n", {}, r"config.toml: databse: unknown key"),
        ("[database]\nurll = 'x'\n", {}, r"database.urll: unknown key"),
        ("[telegram]\napi_id = 'abc'\n", {}, r"telegram.api_id: Input should be a valid integer"),
        ("[database]\nurl = 'mysql://x'\n", {}, r"database.url: unsupported driver 'mysql'"),
        ("[database]\nurl = 'nonsense'\n", {}, r"database.url: expected a SQLAlchemy URL"),
        ("[bot]\ntimezone = 'Mars/Olympus'\n", {}, r"bot.timezone: unknown time zone"),
        ("[logging]\nlevel = 'LOUD'\n", {}, r"logging.level: Input should be"),
        ("[bot]\nwebhook_url = 'http://x/y'\n", {}, r"bot.webhook_url: .*https:// URLs only"),
        ("[bot]\nwebhook_listen = '8080'\n", {}, r"bot.webhook_listen: .*expected HOST:PORT"),
        ("[bot]\ndigest_hour = 24\n", {}, r"bot.digest_hour: Input should be less than"),
        ("", {"DOZOR_BOT__ADMINS": "1,x"}, r"environment variable DOZOR_BOT__ADMINS"),
        ("", {"DOZOR_NOPE__KEY": "1"}, r"environment variable DOZOR_NOPE__KEY: unknown key"),
        ("[database\n", {}, r"config.toml: invalid TOML"),
        (
            "[archiver]\nchannels = ['mvd_official_kg', '@@@']\n",
            {},
            r"archiver.channels: '@@@' is not a channel username, t.me link or id",
        ),
        ("[archiver]\nchannels = ['мвд']\n", {}, r"'мвд' is not a channel username"),
        ("[archiver]\nchannels = [' ']\n", {}, r"archiver.channels: empty channel reference"),
        ("[archiver]\nchannels = ['t.me/+']\n", {}, r"'t.me/\+' is not a channel username"),
        ("[archiver]\nchannels = ['t.me/+996555123456']\n", {}, r"a link to a phone number"),
        ("", {"DOZOR_ARCHIVER__CHANNELS": "@x"}, r"DOZOR_ARCHIVER__CHANNELS: '@x' is not a"),
    ],
)
def test_errors_name_the_file_and_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, text), environ=env)


def test_every_form_of_channel_reference_telegram_knows_is_accepted(tmp_path: Path) -> None:
    refs = [
        "mvd_official_kg",
        "@mediamvd",
        "t.me/s/mediamvd",
        "https://t.me/mvd_official_kg/1234",
        "https://t.me/c/1292077344/5",
        "-1001292077344",
        "1292077344",
        "https://t.me/+AbC_1-x",
        "t.me/joinchat/AAAAAEk",
    ]
    config = load_config(_write(tmp_path, f"[archiver]\nchannels = {refs!r}\n"), environ={})
    assert config.archiver.channels == refs


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found; create it with `dozor init`"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, environ={})


def test_malformed_secrets_are_refused_without_repeating_them(tmp_path: Path) -> None:
    path = _write(tmp_path, '[bot]\ntoken = "123456:AAH-s3cr3t value"\n[telegram]\napi_hash = 5\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={})
    message = str(refused.value)
    assert "bot.token: not a bot token" in message
    assert "telegram.api_hash: Input should be a valid string" in message
    assert "s3cr3t" not in message and "(got 5)" not in message
    bad_hash = '[telegram]\napi_hash = "my-secret-hash"\n'
    with pytest.raises(ConfigError, match=r"api_hash: not an api_hash: my\.telegram\.org gives 32"):
        load_config(_write(tmp_path, bad_hash), environ={})
    with pytest.raises(ConfigError, match="DOZOR_BOT__TOKEN: not a bot token") as from_env:
        load_config(_write(tmp_path, ""), environ={"DOZOR_BOT__TOKEN": "AAH-s3cr3t"})
    assert "s3cr3t" not in str(from_env.value)
    good = load_config(_write(tmp_path, ""), environ={"DOZOR_BOT__TOKEN": "123456:AAH-x_y"})
    assert good.bot.token is not None


def test_an_empty_secret_is_one_still_to_fill_in(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[telegram]\napi_id = 5\napi_hash = ""\n'), environ={})
    assert missing_telegram_keys(config) == ["telegram.api_hash"]


def test_database_urls_as_other_tools_write_them(tmp_path: Path) -> None:
    def url(value: str) -> str:
        text = f'[database]\nurl = "{value}"\n'
        return load_config(_write(tmp_path, text), environ={}).database.url

    assert url("postgresql://analyst:p%40ss@db:5432/osint") == (
        "postgresql+asyncpg://analyst:p%40ss@db:5432/osint"
    )
    assert url("postgres://analyst@db/osint") == "postgresql+asyncpg://analyst@db/osint"
    assert url("sqlite:///archive.db") == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'archive.db'}"
    with pytest.raises(ConfigError) as refused:
        url("mysql://root:hunter2@db/x")
    assert "(got 'mysql://root:***@db/x')" in str(refused.value)


def test_chat_ids_fit_a_database_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bot\.team_chat_id: Input should be less than"):
        load_config(_write(tmp_path, f"[bot]\nteam_chat_id = {2**63}\n"), environ={})
    rule = f"[[rules]]\nname = 'x'\nquery = 'y'\nchat_id = {-(2**63)}\n"
    with pytest.raises(ConfigError, match=r"rules\.0\.chat_id: Input should be greater than"):
        load_config(_write(tmp_path, rule), environ={})
