"""`gr8d` as a separate process, the way an operator (or a supervisor) runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import IndexerCursor

STOP_WITHIN_SECONDS = 10


@dataclass
class Gr8d:
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.returncode is None

    async def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a crash or an OOM kill."""
        if self.running():
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self, within: float = STOP_WITHIN_SECONDS) -> int:
        """SIGTERM; the exit code, which must come within `within` seconds."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), within)


async def start_gr8d(arguments: Sequence[str], *, env: dict[str, str], log_path: Path) -> Gr8d:
    """`python -m gr8d ARGUMENTS`, its stdout and stderr into `log_path`."""
    with log_path.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gr8d",
            *arguments,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Gr8d(process, log_path)


async def cursor_block(session_factory: async_sessionmaker[AsyncSession]) -> int | None:
    async with session_factory() as session:
        found: int | None = await session.scalar(select(IndexerCursor.last_block_number))
        return found


async def wait_until(
    condition: Callable[[], Awaitable[bool]], *, within: float, what: str, every: float = 0.05
) -> float:
    """Poll `condition` until true; returns the seconds it took (AssertionError on timeout)."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(every)
    return time.monotonic() - started
