"""`gr8d admin promote EMAIL` from a separate process: the operator's way to the first admin."""

from __future__ import annotations

import asyncio
import os
import sys

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import User
from gr8d.embedded import ServerUrls
from tests.factories import add_user


async def gr8d(*arguments: str, database_url: str, redis_url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gr8d",
        *arguments,
        env={**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_promoting_an_existing_user_makes_them_an_admin_once(
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    server_urls: ServerUrls,
) -> None:
    async with session_factory() as session, session.begin():
        user_id = await add_user(session, email="first.admin@example.com")
    urls = {"database_url": database_url, "redis_url": server_urls.redis_url}

    code, out, err = await gr8d("admin", "promote", "First.Admin@Example.com", **urls)
    again, out_again, _ = await gr8d("admin", "promote", "first.admin@example.com", **urls)

    assert code == 0, err
    assert out.strip() == "first.admin@example.com is now an administrator"
    assert again == 0 and "already" in out_again
    async with session_factory() as session:
        assert (await session.get_one(User, user_id)).is_superuser is True


async def test_promoting_an_unknown_email_exits_2_with_one_line(
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    server_urls: ServerUrls,
) -> None:
    async with session_factory() as session, session.begin():
        bystander = await add_user(session)

    code, out, err = await gr8d(
        "admin",
        "promote",
        "nobody@example.com",
        database_url=database_url,
        redis_url=server_urls.redis_url,
    )

    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "gr8d admin promote: no user with email 'nobody@example.com'"
    ]
    async with session_factory() as session:
        assert (await session.get_one(User, bystander)).is_superuser is False
