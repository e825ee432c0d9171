"""Typed keys of what the application holds (built in api/app.py's cleanup context)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.ratelimit import Gate
from gr8d.config import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSION_FACTORY = web.AppKey("session_factory", async_sessionmaker[AsyncSession])
# Read-only routes: a session bound to a connection of READ_ENGINE (autocommit), see dispatch.py.
READ_ENGINE = web.AppKey("read_engine", AsyncEngine)
READ_SESSION_FACTORY = web.AppKey("read_session_factory", async_sessionmaker[AsyncSession])
REDIS = web.AppKey("redis", Redis)
GATE = web.AppKey("gate", Gate)
OPENAPI = web.AppKey("openapi", dict[str, Any])
