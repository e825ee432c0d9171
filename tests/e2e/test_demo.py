"""`gr8d demo --check` from a separate process, as a user (and CI) runs it: embedded or
configured servers, the dev chain, the daemon's parts, the simulation, and the end state checked
through the API."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db import admin
from gr8d.config import load_settings
from gr8d.demo import demo_database_name
from gr8d.embedded import ServerUrls
from tests.chain import anvil_or_skip
from tests.conftest import fresh_database_name

DEMO_TIMEOUT_SECONDS = 600


@pytest.fixture
async def configured_database(server_urls: ServerUrls) -> AsyncIterator[str]:
    """The database DATABASE_URL names; the demo works beside it, in `<name>_demo`."""
    name = fresh_database_name("demo")
    url = await admin.create_database(server_urls.database_url, name)
    yield url
    demo = demo_database_name(load_settings(database_url=url))
    await admin.drop_database(server_urls.database_url, demo)
    await admin.drop_database(server_urls.database_url, name)


async def test_demo_check_runs_the_whole_product_and_verifies_it_through_the_api(
    configured_database: str, server_urls: ServerUrls, tmp_path: Path
) -> None:
    anvil_or_skip()
    environment = {
        **os.environ,
        "DATABASE_URL": configured_database,
        "REDIS_URL": server_urls.redis_url,
        "LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gr8d",
        "demo",
        "--check",
        "--data-dir",
        str(tmp_path),
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=DEMO_TIMEOUT_SECONDS)
    assert process.returncode == 0, stderr.decode()[-4000:]
    assert b"every check passed" in stdout
    assert b"Running upgrade  -> 0001" in stderr


async def test_the_demo_never_touches_the_configured_database_itself() -> None:
    settings = load_settings(database_url="postgresql+asyncpg://u@h/production")
    assert demo_database_name(settings) == "production_demo"
    assert demo_database_name(load_settings(database_url=None)) == "gr8d_demo"
