"""`gr8d demo`: everything that exists so far, on embedded defaults when nothing is configured."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import click
import structlog
from sqlalchemy import text

from db import admin, migrate
from db.engine import create_engine
from db.models import Base
from gr8d.config import Settings
from gr8d.embedded import ServerUrls, servers_for
from gr8d.redis import create_redis

DEMO_DATABASE = "gr8d"

log = structlog.get_logger("gr8d.demo")


async def run_demo(settings: Settings, data_dir: Path, *, check: bool) -> int:
    stack = contextlib.ExitStack()
    try:
        urls = await asyncio.to_thread(stack.enter_context, servers_for(settings, data_dir))
        database_url = await _demo_database(settings, urls)
        await asyncio.to_thread(migrate.upgrade, database_url)
        ready = settings.model_copy(
            update={"database_url": database_url, "redis_url": urls.redis_url}
        )
        problems = await _verify(ready)
        for problem in problems:
            log.error("demo check failed", problem=problem)
        if check or problems:
            return 1 if problems else 0
        _print_welcome(ready)
        await asyncio.Event().wait()
        return 0
    finally:
        await asyncio.to_thread(stack.close)


async def _demo_database(settings: Settings, urls: ServerUrls) -> str:
    if settings.database_url is not None:
        return settings.database_url
    if not await admin.database_exists(urls.database_url, DEMO_DATABASE):
        await admin.create_database(urls.database_url, DEMO_DATABASE)
    return admin.with_database(urls.database_url, DEMO_DATABASE)


async def _verify(settings: Settings) -> list[str]:
    problems: list[str] = []
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            found = set(
                (
                    await connection.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                ).scalars()
            )
        missing = sorted(set(Base.metadata.tables) - found)
        if missing:
            problems.append(f"tables missing after migration: {', '.join(missing)}")
    finally:
        await engine.dispose()
    redis = create_redis(settings)
    try:
        if not await redis.ping():
            problems.append("redis did not answer PING")
    finally:
        await redis.aclose()
    return problems


def _print_welcome(settings: Settings) -> None:
    click.echo(
        "\ngr8d demo is up: the schema is migrated and both servers answer.\n"
        f"  PostgreSQL: {settings.database_url}\n"
        f"  Redis:      {settings.redis_url}\n"
        "The indexer, scheduler and API join this command as they land.\n"
        "Press Ctrl-C to stop.\n"
    )
