"""`gr8d demo --check` from a separate process, as a user would run it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db import admin
from gr8d.embedded import ServerUrls
from tests.conftest import fresh_database_name


@pytest.fixture
async def demo_database(server_urls: ServerUrls) -> AsyncIterator[str]:
    name = fresh_database_name("demo")
    url = await admin.create_database(server_urls.database_url, name)
    yield url
    await admin.drop_database(server_urls.database_url, name)


async def test_demo_check_migrates_and_verifies_both_servers(
    demo_database: str, server_urls: ServerUrls, tmp_path: Path
) -> None:
    environment = {
        **os.environ,
        "DATABASE_URL": demo_database,
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
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    assert b"Running upgrade  -> 0001" in stderr
