from __future__ import annotations

import uuid

from gr8d.config import Settings
from gr8d.redis import create_redis


async def test_the_client_factory_talks_to_the_configured_redis(settings: Settings) -> None:
    redis = create_redis(settings)
    key = f"test:{uuid.uuid4()}"
    try:
        await redis.set(key, "value", ex=30)
        assert await redis.get(key) == "value"
        assert 0 < await redis.ttl(key) <= 30
    finally:
        await redis.delete(key)
        await redis.aclose()
