"""Serving the app: `gr8d api` and the API part of `gr8d run`."""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from api.app import create_app
from gr8d.config import Settings

SHUTDOWN_TIMEOUT_SECONDS = 10.0

log = structlog.get_logger("gr8d.api")


async def serve_api(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> None:
    """Serve until cancelled, then finish in-flight requests (graceful shutdown)."""
    runner = web.AppRunner(
        create_app(settings), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS
    )
    await runner.setup()
    bind_host = host or settings.api_host
    bind_port = settings.api_port if port is None else port
    site = web.TCPSite(runner, bind_host, bind_port)
    try:
        await site.start()
        log.info("api listening", url=f"http://{bind_host}:{bind_port}/api/v1")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
