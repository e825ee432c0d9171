"""The access log middleware: a line per request at INFO, none (and no work) below it, each
with its request's id."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from api.middlewares import REQUEST_ID_HEADER, access_log, request_ids


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@pytest.fixture
def log_level() -> Iterator[Callable[[int], None]]:
    """Sets the level gr8d's structlog loggers write from (gr8d.logging filters by it)."""

    def set_level(level: int) -> None:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))

    yield set_level
    structlog.reset_defaults()


async def _get_once() -> list[MutableMapping[str, Any]]:
    app = web.Application(middlewares=[access_log])
    app.router.add_get("/things", _ok)
    with capture_logs() as logs:
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/things")
            assert response.status == 200
    return [line for line in logs if line.get("event") == "request"]


async def test_each_request_is_logged_with_its_status_at_info(
    log_level: Callable[[int], None],
) -> None:
    log_level(logging.INFO)

    lines = await _get_once()

    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/things", 200)
    ]


async def test_no_access_line_is_made_when_info_is_off(log_level: Callable[[int], None]) -> None:
    log_level(logging.WARNING)

    assert await _get_once() == []


async def test_each_line_carries_its_requests_id(
    log_level: Callable[[int], None],
) -> None:
    log_level(logging.INFO)
    app = web.Application(middlewares=[request_ids, access_log])
    app.router.add_get("/things", _ok)

    with capture_logs(processors=[merge_contextvars]) as logs:
        async with TestClient(TestServer(app)) as client:
            offered = await client.get("/things", headers={REQUEST_ID_HEADER: "trace-7"})
            made = await client.get("/things")

    lines = [line for line in logs if line.get("event") == "request"]
    assert [line["request_id"] for line in lines] == [
        "trace-7",
        made.headers[REQUEST_ID_HEADER],
    ]
    assert offered.headers[REQUEST_ID_HEADER] == "trace-7"
