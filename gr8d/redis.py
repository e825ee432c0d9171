"""The one Redis client factory (redis.asyncio)."""

from __future__ import annotations

from redis.asyncio import Redis

from gr8d.config import Settings


def create_redis(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.require_redis_url(),
        decode_responses=True,
        socket_connect_timeout=5,
        socket_timeout=5,
        health_check_interval=30,
    )
