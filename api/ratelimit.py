"""Fixed-window rate limits on `rate_limit:{ip}:{endpoint}`, incremented and expired atomically,
and the Redis state of the caller's access token, both in one Redis round trip (one script)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

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


Reply = list[Any]
_Waiting = tuple[list[str], list[Any], "asyncio.Future[Reply]"]


class Gate:
    """Admits requests; built once per app (the script's digest is computed once).

    The scripts of the requests that reach the gate in one turn of the event loop go to Redis
    together, in one pipeline: one write and one read for all of them instead of one each
    (under load a dozen requests share them, and each write to a local socket costs ~25-45 us
    of CPU). Each is still its own atomic script, answered to its own request; a failure to
    reach Redis fails each of them (503, fail closed)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._admit = redis.register_script(_ADMIT)
        self._waiting: list[_Waiting] = []
        self._sending: set[asyncio.Task[None]] = set()

    def _run_script(self, keys: list[str], args: list[Any]) -> asyncio.Future[Reply]:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Reply] = loop.create_future()
        if not self._waiting:
            # Runs once every request already running in this turn has queued its script.
            loop.call_soon(self._send_waiting)
        self._waiting.append((keys, args, reply))
        return reply

    def _send_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        sending = asyncio.ensure_future(self._send(waiting))
        self._sending.add(sending)  # a task nothing refers to may be collected mid-way
        sending.add_done_callback(self._sending.discard)

    async def _send(self, waiting: list[_Waiting]) -> None:
        try:
            if len(waiting) == 1:
                keys, args, reply = waiting[0]
                _answer(reply, await self._admit(keys=keys, args=args))
                return
            async with self._redis.pipeline(transaction=False) as pipeline:
                for keys, args, _ in waiting:
                    pipeline.evalsha(self._admit.sha, len(keys), *keys, *args)
                replies = await pipeline.execute(raise_on_error=False)
            for (keys, args, reply), answer in zip(waiting, replies, strict=True):
                if isinstance(answer, NoScriptError):
                    # Redis lost its scripts (restarted): the script object loads it again.
                    answer = await self._admit(keys=keys, args=args)
                _answer(reply, answer)
        except BaseException as error:
            for *_, reply in waiting:
                if not reply.done():
                    reply.set_exception(_failure(error))
            if not isinstance(error, Exception):
                raise

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
        count, ttl, blacklisted, before, kept = await self._run_script(keys, args)
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


def _answer(reply: asyncio.Future[Reply], answer: Any) -> None:
    if reply.done():
        return  # its request was cancelled
    if isinstance(answer, Exception):
        reply.set_exception(answer)
    else:
        reply.set_result(answer)


def _failure(error: BaseException) -> RedisError:
    """What each waiting request raises when its batch failed: a RedisError (503, fail closed)
    whatever the batch met, each its own (one exception object raised in many tasks would
    collect all their tracebacks)."""
    failure = RedisError(f"the rate-limit and token check failed: {error!r}")
    failure.__cause__ = error
    return failure
