"""Building the Telethon client from dozor's config."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from telethon import TelegramClient, errors, functions
from telethon.crypto import rsa
from telethon.errors.rpcerrorlist import rpc_errors_dict
from telethon.sessions import SQLiteSession

from archiver.updates import ArchiverClient
from dozor.config import Config, missing_telegram_keys
from dozor.errors import ConfigError, SessionInUse, UserError

log = logging.getLogger(__name__)


def require_telegram_keys(config: Config) -> None:
    missing = missing_telegram_keys(config)
    if missing:
        raise ConfigError(
            f"{config.source}: fill in {' and '.join(missing)} "
            "(https://my.telegram.org → API development tools)"
        )


def build_client(config: Config) -> TelegramClient:
    """A client on the configured session file (created 0600) and server."""
    require_telegram_keys(config)
    telegram = config.telegram
    assert telegram.api_id is not None and telegram.api_hash is not None
    session = _open_session(config)
    if telegram.server is not None:
        server = telegram.server
        session.set_dc(server.dc_id, server.host, server.port)
        if server.public_key_file is not None:
            _add_server_key(config, server.public_key_file)
    client = ArchiverClient(
        session,
        telegram.api_id,
        telegram.api_hash.get_secret_value(),
        flood_sleep_threshold=0,  # every flood wait reaches dozor, which logs and schedules it
        receive_updates=True,
    )
    protect_session_file(telegram.session)
    return client


def error_name(exc: errors.RPCError) -> str:
    """Telegram's name of an error (``SESSION_REVOKED``): Telethon's error classes keep only
    their group's (``UNAUTHORIZED``) in ``message``."""
    found = (name for name, kind in rpc_errors_dict.items() if kind is type(exc))
    return str(next(found, exc.message))


async def why_logged_out(client: TelegramClient) -> str:
    """Telegram's reason for refusing a session that is not logged in (``SESSION_REVOKED``,
    ``AUTH_KEY_UNREGISTERED``...), which Telethon's ``is_user_authorized`` does not keep."""
    try:
        await client(functions.updates.GetStateRequest())
    except errors.RPCError as exc:
        return error_name(exc)
    return "UNAUTHORIZED"  # authorized by now after all: the next request will tell


def _open_session(config: Config) -> SQLiteSession:
    path = config.telegram.session
    try:
        return SQLiteSession(str(_session_base(path)))
    except sqlite3.DatabaseError as exc:
        raise ConfigError(
            f"{config.source}: telegram.session: {path} is not a Telethon session ({exc}); "
            "move it away and run `dozor login`"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{config.source}: telegram.session: cannot use {path}: {exc.strerror}"
        ) from None


def _add_server_key(config: Config, path: Path) -> None:
    """Trust the server's RSA key (a test DC's or a private MTProto server's)."""
    try:
        pem = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{config.source}: telegram.server.public_key_file: cannot read {path} ({exc})"
        ) from None
    try:
        rsa.add_key(pem, old=False)
    except Exception as exc:  # the rsa package raises ValueError or pyasn1's errors
        raise ConfigError(
            f"{config.source}: telegram.server.public_key_file: {path} is not an RSA public "
            f"key in PEM (PKCS#1) format ({type(exc).__name__})"
        ) from None


def _session_base(path: Path) -> Path:
    """Telethon appends ".session" itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_suffix("") if path.suffix == ".session" else path


def protect_session_file(path: Path) -> None:
    """A session file is a logged-in account: readable by its owner only."""
    file = _session_file(path)
    if file.exists():
        file.chmod(0o600)


@contextmanager
def session_lock(path: Path, *, only_if_used: bool = False) -> Iterator[None]:
    """Hold the Telegram session for this process: two processes on one session (a cron
    `archive --once` while `dozor run` works, or one still running from the last cron) would
    fight over its update state and its file. The lock file next to the session names the
    holder's pid; the lock ends with the process, however it ends.

    *only_if_used*, for a command that needs no Telegram but must not run beside an archiver:
    where there is neither a session (no archiver can run without one) nor a lock file, no
    lock is taken and none is made."""
    lock = _session_file(path).with_suffix(".session.lock")
    if only_if_used and not (lock.exists() or _session_file(path).exists()):
        yield
        return
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UserError(f"cannot use the Telegram session {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise SessionInUse(
            f"another dozor process (pid {holder}) is using the Telegram session {path}; "
            "wait for it to finish, or stop it",
            holder,
        ) from None
    except OSError as exc:  # a file system without locks (some network mounts)
        log.warning("cannot lock %s (%s): a second dozor process would not be stopped", lock, exc)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _session_file(path: Path) -> Path:
    return path if path.suffix == ".session" else path.with_name(path.name + ".session")
