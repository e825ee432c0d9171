"""Serving the app: `gr8d api` (one process, or several workers on one port) and the API part of
`gr8d run` (always one process)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys

import structlog
from aiohttp import web

from api.app import create_app
from gr8d.config import Settings

# What an in-flight request gets after SIGTERM to finish before it is cancelled. With the pool
# and Redis closed after it, the process ends within operations.md's 10 s.
DRAIN_SECONDS = 8.0
# aiohttp waits its shutdown_timeout twice for a request still running: for it to finish, and
# then again, the handler still not cancelled, before it cancels it.
SHUTDOWN_TIMEOUT_SECONDS = DRAIN_SECONDS / 2
# What a worker may take beyond its in-flight requests to stop (closing the pool and Redis)
# before the supervisor kills it.
WORKER_STOP_MARGIN_SECONDS = 1.5

# Measured with bench/api_load.py: no collection at all ran while serving reads.
GC_THRESHOLD = 10_000

log = structlog.get_logger("gr8d.api")


async def serve_api(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    reuse_port: bool = False,
) -> None:
    """Serve until cancelled, then finish in-flight requests (graceful shutdown).

    `reuse_port` lets several processes listen on the same port (SO_REUSEPORT): the kernel
    spreads new connections over them."""
    runner = web.AppRunner(
        create_app(settings), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS
    )
    await runner.setup()
    bind_host = host or settings.api_host
    bind_port = settings.api_port if port is None else port
    site = web.TCPSite(runner, bind_host, bind_port, reuse_port=reuse_port or None)
    try:
        await site.start()
        _tune_garbage_collector()
        log.info("api listening", url=f"http://{bind_host}:{bind_port}/api/v1", pid=os.getpid())
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _tune_garbage_collector() -> None:
    """What the process built to start (modules, the app, its models and statements) lives as
    long as it: frozen out of the collector's sight, full collections stop walking it (under
    load they paused the API ~65 ms every two seconds). A request allocates thousands of objects
    that reference counting frees; the youngest generation is collected after GC_THRESHOLD net
    allocations instead of 700 (about once every ten requests, for nothing)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


async def serve_api_workers(
    settings: Settings, *, workers: int, host: str | None = None, port: int | None = None
) -> int:
    """`workers` processes (`gr8d api --worker`) serving one port, each with its own app,
    database pool (DATABASE_POOL_SIZE each) and Redis client: Python runs one request at a time
    per process, so this is how the API uses more than one core.

    Runs until cancelled (then every worker gets SIGTERM and finishes its in-flight requests)
    or until a worker stops on its own (then the others are stopped too and its exit code is
    returned, so that a supervisor restarts the whole)."""
    bind_host = host or settings.api_host
    bind_port = settings.api_port if port is None else port
    if bind_port == 0:
        raise ValueError("workers need a fixed port: each would get its own with port 0")
    command = [
        *(sys.executable, "-m", "gr8d", "api", "--worker"),
        *("--host", bind_host, "--port", str(bind_port)),
    ]
    processes: list[asyncio.subprocess.Process] = []
    try:
        for _ in range(workers):
            processes.append(
                await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL)
            )
        exits = [asyncio.ensure_future(process.wait()) for process in processes]
        done, _ = await asyncio.wait(exits, return_when=asyncio.FIRST_COMPLETED)
        code = next(iter(done)).result()
        log.error("api worker stopped; stopping the others", exit_code=code)
        return code or 1
    finally:
        await _stop_workers(processes)


async def _stop_workers(processes: list[asyncio.subprocess.Process]) -> None:
    """SIGTERM to each worker still running; SIGKILL to any that has not ended in time (or to
    all when the supervisor is cancelled again while waiting)."""
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    ended = asyncio.gather(*(process.wait() for process in processes))
    try:
        await asyncio.wait_for(ended, DRAIN_SECONDS + WORKER_STOP_MARGIN_SECONDS)
    except TimeoutError:
        log.warning("api workers did not stop in time; killing them")
        await _kill(processes)
    except asyncio.CancelledError:
        await _kill(processes)
        raise


async def _kill(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    await asyncio.gather(*(process.wait() for process in processes))
