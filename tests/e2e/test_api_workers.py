"""`gr8d api --workers N`: N processes on one port, stopped together."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import aiohttp

from gr8d.embedded import ServerUrls
from tests.e2e.conftest import free_port
from tests.processes import Gr8d, start_gr8d, wait_until

# operations.md: SIGTERM stops every part within 10 s (the supervisor gives its workers 8 s for
# their requests and 1.5 s more to close).
STOP_WITHIN_SECONDS = 10


def _worker_pids(api: Gr8d) -> set[int]:
    """The workers that logged that they listen."""
    return {int(pid) for pid in re.findall(r"api listening.*pid=(\d+)", api.output())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def _healthy(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/api/v1/health") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _two_workers(database_url: str, server_urls: ServerUrls, tmp_path: Path) -> Gr8d:
    port = free_port()
    env = {"DATABASE_URL": database_url, "REDIS_URL": server_urls.redis_url, "LOG_LEVEL": "INFO"}
    api = await start_gr8d(
        ["api", "--workers", "2", "--port", str(port)], env=env, log_path=tmp_path / "api.log"
    )

    async def both_listen() -> bool:
        return len(_worker_pids(api)) == 2

    try:
        await wait_until(both_listen, within=60, what="two workers listen", every=0.2)
        await wait_until(lambda: _healthy(port), within=10, what="the API answers", every=0.2)
    except BaseException:
        await api.kill()
        raise
    return api


async def test_two_workers_share_the_port_and_stop_together_on_sigterm(
    database_url: str, server_urls: ServerUrls, tmp_path: Path
) -> None:
    api = await _two_workers(database_url, server_urls, tmp_path)
    workers = _worker_pids(api)

    assert await api.terminate(within=STOP_WITHIN_SECONDS) == 0, api.output()[-3000:]
    assert not any(_alive(pid) for pid in workers)


async def test_a_worker_that_dies_stops_the_others_with_a_failure(
    database_url: str, server_urls: ServerUrls, tmp_path: Path
) -> None:
    api = await _two_workers(database_url, server_urls, tmp_path)
    first, second = sorted(_worker_pids(api))

    os.kill(first, signal.SIGKILL)

    code = await asyncio.wait_for(api.process.wait(), STOP_WITHIN_SECONDS)
    assert code != 0
    assert not _alive(second)
