"""db/admin.py connects the way DATABASE_SSL says (the demo creates its database with it)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from db import admin
from gr8d.embedded import ServerUrls
from tests.conftest import fresh_database_name


async def _server_has_tls(url: str) -> bool:
    engine = create_async_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return str(await connection.scalar(text("SHOW ssl"))) == "on"
    finally:
        await engine.dispose()


async def test_creating_a_database_uses_the_ssl_mode_it_is_given(server_urls: ServerUrls) -> None:
    url = server_urls.database_url
    if "host=/" in url or await _server_has_tls(url):
        pytest.skip("needs a TCP server without TLS, where sslmode=require must fail")
    name = fresh_database_name("admin")

    with pytest.raises(ConnectionError):
        await admin.create_database(url, name, ssl="require")
    assert not await admin.database_exists(url, name, ssl="disable")

    created = await admin.create_database(url, name, ssl="disable")
    try:
        assert created.endswith(f"/{name}")
        assert await admin.database_exists(url, name, ssl="disable")
    finally:
        await admin.drop_database(url, name, ssl="disable")
