"""A PostgreSQL server for the tests.

``DOZOR_TEST_PG_URL`` (set by .ci/run) points at a running server; otherwise, when PostgreSQL's
binaries are installed, a private throwaway server is started on a Unix socket. Each test gets a
database of its own. Without either, PostgreSQL tests are skipped, unless ``DOZOR_REQUIRE_PG=1``
makes that an error (CI sets it, so the PostgreSQL leg can never silently vanish).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

URL_ENV = "DOZOR_TEST_PG_URL"
REQUIRE_ENV = "DOZOR_REQUIRE_PG"


def _bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    found = shutil.which("pg_ctl")
    if candidates:
        return Path(candidates[-1]).parent
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_server() -> Iterator[URL | None]:
    """Start a throwaway server owned by the current user (or ``postgres`` when run as root)."""
    bindir = _bindir()
    if bindir is None:
        yield None
        return
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    workdir = Path(tempfile.mkdtemp(prefix="dozor-pg-"))
    datadir = workdir / "data"
    if as_root:
        shutil.chown(workdir, "postgres")
    port = _free_port()
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            *prefix,
            str(bindir / "postgres"),
            "-D",
            str(datadir),
            "-k",
            str(workdir),
            "-p",
            str(port),
            "-c",
            "listen_addresses=",
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(workdir / f".s.PGSQL.{port}", server)
        yield URL.create(
            "postgresql+asyncpg",
            username="postgres",
            database="postgres",
            query={"host": str(workdir), "port": str(port)},
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for(socket_path: Path, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the private PostgreSQL server did not start")
        time.sleep(0.05)
    time.sleep(0.2)


def configured_url() -> URL | None:
    value = os.environ.get(URL_ENV)
    return make_url(value) if value else None


def _connect_args(url: URL) -> dict[str, object]:
    args: dict[str, object] = {"user": url.username, "database": url.database}
    if url.password:
        args["password"] = url.password
    host = url.query.get("host") or url.host
    args["host"] = host
    port = url.query.get("port") or url.port
    if port:
        args["port"] = int(str(port))
    return args


async def create_database(server: URL) -> URL:
    name = f"dozor_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(**_connect_args(server))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server.set(database=name)


async def drop_database(server: URL, database: str) -> None:
    conn = await asyncpg.connect(**_connect_args(server))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


async def set_read_only(url: str, read_only: bool) -> None:
    """Sessions opened on the database at *url* from now on may (not) write: what a standby
    or an administrator's setting does (``default_transaction_read_only``)."""
    database = make_url(url).database
    conn = await asyncpg.connect(**_connect_args(make_url(url)))
    try:
        await conn.execute("SET default_transaction_read_only = off")  # this session writes
        setting = "on" if read_only else "off"
        await conn.execute(
            f'ALTER DATABASE "{database}" SET default_transaction_read_only = {setting}'
        )
    finally:
        await conn.close()
