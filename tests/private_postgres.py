"""A PostgreSQL of the test's own, to stop, kill and pause under a running indexer.

Never the machine's shared server: other sessions and CI use it. The binaries are the ones
the `pgserver` package ships (a dependency of the test suite), run directly so the test holds
the postmaster: `stop()` is a fast shutdown, `kill()` SIGKILLs the postmaster and every
backend, `pause()` / `resume()` SIGSTOP / SIGCONT them all (backends are found as the
postmaster's children: each runs in a process group of its own). As root the
server runs as the unprivileged user pgserver creates for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pgserver
import psutil

BINARIES = Path(pgserver.__file__).parent / "pginstall" / "bin"
SERVER_USER = "pgserver"
READY_WITHIN_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivatePostgres:
    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.port = _free_port()
        self.log_path = root / "postgres.log"
        self._process: asyncio.subprocess.Process | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(SERVER_USER)
            ensure_prefix_permissions(root)
            root.chmod(0o777)
            self._user = SERVER_USER

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    async def initdb(self) -> None:
        await self._run(
            BINARIES / "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=utf8",
        )

    async def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self._process = await asyncio.create_subprocess_exec(
                str(BINARIES / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.data),
                "-c",
                "fsync=off",  # a killed server loses nothing the OS already has
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the test run is the test's to handle
                user=self._user,
            )
        await self._wait_ready()

    async def stop(self) -> None:
        """A fast shutdown (SIGINT): sessions are ended, the server exits cleanly."""
        process = self._running()
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), READY_WITHIN_SECONDS)

    async def kill(self) -> None:
        """SIGKILL to the postmaster and all backends: the next start recovers from the WAL."""
        process = self._running()
        self._signal_all(signal.SIGKILL)
        await process.wait()

    def pause(self) -> None:
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, signum: signal.Signals) -> None:
        """The postmaster first (it forks no backend after that), then its children."""
        postmaster = psutil.Process(self._running().pid)
        children = postmaster.children(recursive=True)
        for process in (postmaster, *children):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signum)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _running(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            raise RuntimeError("the private PostgreSQL is not running")
        return self._process

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_WITHIN_SECONDS
        while True:
            exited = self._process is None or self._process.returncode is not None
            if exited or loop.time() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {self.log()[-2000:]}")
            try:
                connection = await asyncpg.connect(
                    host="127.0.0.1", port=self.port, user="postgres", timeout=2
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                await asyncio.sleep(0.1)
                continue
            await connection.close()
            return

    async def _run(self, binary: Path, *arguments: str) -> None:
        self.data.parent.mkdir(parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            str(binary),
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            user=self._user,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{binary.name} failed: {output.decode(errors='replace')}")

    async def cleanup(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._signal_all(signal.SIGCONT)
            self._signal_all(signal.SIGKILL)
            await self._process.wait()


@contextlib.asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """A fresh, running private PostgreSQL; SIGKILLed and removed on exit."""
    root = Path(tempfile.mkdtemp(prefix="gr8d-private-pg-"))
    server = PrivatePostgres(root)
    try:
        await server.initdb()
        await server.start()
        yield server
    finally:
        await server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
