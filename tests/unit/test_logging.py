from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.middlewares import REQUEST_ID_HEADER, access_log, request_ids
from gr8d.config import load_settings
from gr8d.logging import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_production_logs_one_json_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(load_settings(_env_file=None, log_format="json"))
    structlog.get_logger("gr8d.test").info("indexed", blocks=12)
    logging.getLogger("aiohttp.access").warning("from the standard library")

    lines = capsys.readouterr().err.strip().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["event"] == "indexed" and first["blocks"] == 12 and first["level"] == "info"
    assert first["logger"] == "gr8d.test" and "timestamp" in first
    assert second["event"] == "from the standard library"
    assert second["logger"] == "aiohttp.access"


def test_development_logs_readable_console_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(load_settings(_env_file=None, log_format="console"))
    structlog.get_logger("gr8d.test").info("settled", day="2026-11-22")

    line = capsys.readouterr().err.strip()
    assert "settled" in line and "day=2026-11-22" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_the_level_filters_what_is_written(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(load_settings(_env_file=None, log_format="json", log_level="warning"))
    structlog.get_logger("gr8d.test").info("quiet")
    structlog.get_logger("gr8d.test").warning("loud")
    lines = capsys.readouterr().err.strip().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["loud"]


def _fail_with_a_secret_in_a_local() -> None:
    password = "hunter2-do-not-log"
    raise ValueError(f"refused a password of {len(password)} characters")


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_logged_exception_shows_its_traceback_but_no_local_values(
    capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    configure_logging(load_settings(_env_file=None, log_format=log_format))
    try:
        _fail_with_a_secret_in_a_local()
    except ValueError:
        structlog.get_logger("gr8d.test").exception("request failed")
        logging.getLogger("aiohttp.server").exception("handler failed")

    written = capsys.readouterr().err
    assert written.count("refused a password of 18 characters") == 2
    assert "_fail_with_a_secret_in_a_local" in written
    assert "hunter2-do-not-log" not in written


async def test_every_line_logged_during_a_request_carries_its_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(load_settings(_env_file=None, log_format="json", log_level="info"))
    domain = structlog.get_logger("settlement.runs")

    async def handler(request: web.Request) -> web.Response:
        domain.info("from domain code")
        logging.getLogger("sqlalchemy.engine").warning("from a library")
        await asyncio.to_thread(domain.info, "from a worker thread")
        return web.Response(text="ok")

    app = web.Application(middlewares=[request_ids, access_log])
    app.router.add_get("/work", handler)
    async with TestClient(TestServer(app)) as client:
        await client.get("/work", headers={REQUEST_ID_HEADER: "trace-42"})

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    during = [line for line in lines if line["logger"] != "aiohttp.access"]
    assert [line["event"] for line in during] == [
        "from domain code",
        "from a library",
        "from a worker thread",
        "request",
    ]
    assert {line["request_id"] for line in during} == {"trace-42"}
