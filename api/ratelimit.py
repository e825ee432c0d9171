"""Fixed-window rate limits on `rate_limit:{ip}:{endpoint}`, incremented and expired atomically."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from accounts import redis_keys
from api.problems import Problem

# INCR and EXPIRE in one step: a counter can never be left without its expiry.
_INCREMENT_WITH_EXPIRY = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


@dataclass(frozen=True, slots=True)
class RateLimit:
    endpoint: str
    limit: int
    window_seconds: int


async def enforce(redis: Redis, rule: RateLimit, ip: str) -> None:
    """Count this request; past the limit, a 429 with Retry-After."""
    script = redis.register_script(_INCREMENT_WITH_EXPIRY)
    count, ttl = await script(
        keys=[redis_keys.rate_limit(ip, rule.endpoint)], args=[rule.window_seconds]
    )
    if int(count) > rule.limit:
        retry_after = max(1, int(ttl))
        raise Problem(
            429,
            "RATE_LIMITED",
            f"at most {rule.limit} requests per {rule.window_seconds} s; retry later",
            headers={"Retry-After": str(retry_after)},
        )
