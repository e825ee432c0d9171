"""The access log middleware: a line per request at INFO, none (and no work) below it."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from api.middlewares import ACCESS_LOGGER, access_log


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@pytest.fixture
def access_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(ACCESS_LOGGER)
    level = logger.level
    yield logger
    logger.setLevel(level)


async def _get_once() -> list[MutableMapping[str, Any]]:
    app = web.Application(middlewares=[access_log])
    app.router.add_get("/things", _ok)
    with capture_logs() as logs:
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/things")
            assert response.status == 200
    return [line for line in logs if line.get("event") == "request"]


async def test_each_request_is_logged_with_its_status_at_info(
    access_logger: logging.Logger,
) -> None:
    access_logger.setLevel(logging.INFO)

    lines = await _get_once()

    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/things", 200)
    ]


async def test_no_access_line_is_made_when_info_is_off(access_logger: logging.Logger) -> None:
    access_logger.setLevel(logging.WARNING)

    assert await _get_once() == []
