"""Building the Telethon client from dozor's config."""

from __future__ import annotations

from pathlib import Path

from telethon import TelegramClient
from telethon.crypto import rsa
from telethon.sessions import SQLiteSession

from dozor.config import Config, missing_telegram_keys
from dozor.errors import ConfigError


def build_client(config: Config) -> TelegramClient:
    """A client on the configured session file (created 0600) and server."""
    missing = missing_telegram_keys(config)
    if missing:
        raise ConfigError(
            f"{config.source}: fill in {' and '.join(missing)} "
            "(https://my.telegram.org → API development tools)"
        )
    telegram = config.telegram
    assert telegram.api_id is not None and telegram.api_hash is not None
    session = SQLiteSession(str(_session_base(telegram.session)))
    if telegram.server is not None:
        server = telegram.server
        session.set_dc(server.dc_id, server.host, server.port)
        if server.public_key_file is not None:
            rsa.add_key(server.public_key_file.read_text(encoding="utf-8"))
    client = TelegramClient(
        session,
        telegram.api_id,
        telegram.api_hash.get_secret_value(),
        flood_sleep_threshold=0,  # every flood wait reaches dozor, which logs and schedules it
        receive_updates=True,
    )
    protect_session_file(telegram.session)
    return client


def _session_base(path: Path) -> Path:
    """Telethon appends ".session" itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_suffix("") if path.suffix == ".session" else path


def protect_session_file(path: Path) -> None:
    """A session file is a logged-in account: readable by its owner only."""
    file = path if path.suffix == ".session" else path.with_name(path.name + ".session")
    if file.exists():
        file.chmod(0o600)
