"""Shared fixtures: real databases migrated by Alembic, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dozor import db
from dozor.config import DatabaseConfig
from tests import pg
from tests.fakes.botapi import FakeBotAPI

# Property tests draw the same examples on every run, so that a clean checkout's test run
# (CI) passes or fails for the code alone; DOZOR_HYPOTHESIS=explore draws new ones each run.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("DOZOR_HYPOTHESIS", "repeatable"))

FIXTURES = Path(__file__).parent / "fixtures"
DESKTOP = FIXTURES / "desktop"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[URL | None]:
    configured = pg.configured_url()
    if configured is not None:
        yield configured
        return
    try:
        with pg.private_server() as url:
            yield url
    except (OSError, RuntimeError) as exc:
        if os.environ.get(pg.REQUIRE_ENV):
            raise
        print(f"PostgreSQL unavailable: {exc}")
        yield None


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_server: URL | None
) -> AsyncIterator[str]:
    """A URL of an empty database, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'dozor.db'}"
        return
    server = require_pg(pg_server)
    url = await pg.create_database(server)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        assert url.database is not None
        await pg.drop_database(server, url.database)


def require_pg(pg_server: URL | None) -> URL:
    """The PostgreSQL server, or the test skipped (failed when CI requires PostgreSQL)."""
    if pg_server is None:
        if os.environ.get(pg.REQUIRE_ENV):
            pytest.fail(f"{pg.REQUIRE_ENV} is set but no PostgreSQL server is available")
        pytest.skip(f"no PostgreSQL: set {pg.URL_ENV} or install the postgresql package")
    return pg_server


@pytest.fixture
def database_config(database_url: str) -> DatabaseConfig:
    return DatabaseConfig(url=database_url)


@pytest.fixture
async def engine(database_config: DatabaseConfig) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head by Alembic."""
    engine = db.create_engine(database_config)
    await db.upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return db.session_factory(engine)


@pytest.fixture
def backend(engine: AsyncEngine) -> str:
    return engine.dialect.name


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API (tests/fakes/botapi.py), serving on a loopback port."""
    fake = FakeBotAPI()
    await fake.start()
    yield fake
    await fake.stop()
