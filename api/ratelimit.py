"""Fixed-window rate limits on `rate_limit:{ip}:{endpoint}`, incremented and expired atomically,
and the Redis state of the caller's access token, both in one Redis round trip (one script)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from accounts import redis_keys
from accounts.sessions import REVOKED_BEFORE, AccessTokenState, kept_field
from accounts.tokens import AccessClaims
from api.problems import Problem

# KEYS: the rate-limit counter when ARGV[1] (the window) is set, then the token's blacklist key
# and its user's sessions_revoked hash when ARGV[2] (the hash fields to read) is set.
# INCR and EXPIRE in one step: a counter can never be left without its expiry.
_ADMIT = """
local reply = {false, false, false, false, false}
local key = 1
if ARGV[1] ~= '' then
  local count = redis.call('INCR', KEYS[1])
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  reply[1] = count
  reply[2] = ttl
  key = 2
end
if ARGV[2] ~= '' then
  reply[3] = redis.call('EXISTS', KEYS[key])
  local revoked = redis.call('HMGET', KEYS[key + 1], ARGV[2], ARGV[3])
  reply[4] = revoked[1]
  reply[5] = revoked[2]
end
return reply
"""


@dataclass(frozen=True, slots=True)
class RateLimit:
    endpoint: str
    limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """A well-signed, unexpired access token whose Redis state is still to be read."""

    token: str
    claims: AccessClaims


class Gate:
    """Admits requests; built once per app (the script's digest is computed once)."""

    def __init__(self, redis: Redis) -> None:
        self._admit = redis.register_script(_ADMIT)

    async def admit(
        self, *, rule: RateLimit | None, ip: str, presented: PresentedToken | None
    ) -> AccessTokenState | None:
        """Count this request against `rule` (past the limit: a 429 with Retry-After) and read
        the state of the `presented` token; None without one."""
        if rule is None and presented is None:
            return None
        keys: list[str] = []
        args: list[Any] = ["", "", ""]
        if rule is not None:
            keys.append(redis_keys.rate_limit(ip, rule.endpoint))
            args[0] = rule.window_seconds
        if presented is not None:
            claims = presented.claims
            keys += [
                redis_keys.blacklist(presented.token),
                redis_keys.sessions_revoked(claims.user_id),
            ]
            args[1:] = [REVOKED_BEFORE, kept_field(claims.token_id)]
        count, ttl, blacklisted, before, kept = await self._admit(keys=keys, args=args)
        if rule is not None and int(count) > rule.limit:
            raise Problem(
                429,
                "RATE_LIMITED",
                f"at most {rule.limit} requests per {rule.window_seconds} s; retry later",
                headers={"Retry-After": str(max(1, int(ttl)))},
            )
        if presented is None:
            return None
        return AccessTokenState(
            blacklisted=bool(blacklisted),
            revoked_before=None if before is None else int(before),
            kept=kept is not None,
        )
