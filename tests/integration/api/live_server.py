"""The app on a real port, served by an event loop in a thread of its own.

For callers that block (schemathesis sends its requests with `requests`): a server on the test's
own loop would never get to answer them. Rows are seeded through `run()`, on the server's loop
with the app's own session factory.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import context
from api.app import create_app
from gr8d.config import Settings

T = TypeVar("T")
START_TIMEOUT_SECONDS = 30
# Clients keep idle connections open; waiting for them only slows the end of the module.
SHUTDOWN_SECONDS = 0.5


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def start(self) -> None:
        self._thread.start()
        self.base_url = self.run(self._serve())

    def stop(self) -> None:
        try:
            if self._runner is not None:
                self.run(self._runner.cleanup())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT_SECONDS)
            self._loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(START_TIMEOUT_SECONDS)

    @property
    def app(self) -> web.Application:
        if self._runner is None:
            raise RuntimeError("the server is not started")
        return self._runner.app

    async def _serve(self) -> str:
        self._runner = web.AppRunner(
            create_app(self._settings), access_log=None, shutdown_timeout=SHUTDOWN_SECONDS
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        return self.app[context.SESSION_FACTORY]
