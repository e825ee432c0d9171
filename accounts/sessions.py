"""Auth state on Redis: refresh tokens (rotation, reuse detection), logged-out access tokens,
revocation of every session of a user, login history and the lockout of an email.

A refresh token reads `{user_id}.{token_id}.{secret}`. Its record `refresh_token:{user_id}:
{token_id}` holds only a SHA-256 digest of the secret, so a copy of Redis signs nobody in. The
token id is the `jti` of the access token issued with it: the access token names its session.
A consumed record stays until it expires, marked `consumed_at`, so that a replay is recognised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis

from accounts import redis_keys
from accounts.tokens import ACCESS_TOKEN_SECONDS

# A consumed refresh token presented again within this many seconds is a client's concurrent
# retry (two tabs, a lost response), answered with a new pair; later it is a replay.
REUSE_GRACE_SECONDS = 10
LOGIN_HISTORY_LENGTH = 100
MAX_FAILED_LOGINS = 10


# What token ids (a jti: hex) and secrets (secrets.token_urlsafe) are made of.
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RefreshToken:
    user_id: uuid.UUID
    token_id: str
    secret: str

    def __str__(self) -> str:
        return f"{self.user_id}.{self.token_id}.{self.secret}"

    @property
    def key(self) -> str:
        return redis_keys.refresh_token(self.user_id, self.token_id)

    @property
    def digest(self) -> str:
        return _digest(self.secret)

    @classmethod
    def new(cls, user_id: uuid.UUID, token_id: str) -> RefreshToken:
        return cls(user_id=user_id, token_id=token_id, secret=secrets.token_urlsafe(32))

    @classmethod
    def parse(cls, value: str) -> RefreshToken | None:
        """The token a client presented, or None when it cannot be one of ours (its token id
        and secret are URL-safe ASCII: anything else, a cookie's non-UTF-8 bytes included,
        would not even make a Redis key)."""
        parts = value.split(".")
        if len(parts) != 3 or not all(parts) or len(value) > 200:
            return None
        user_id, token_id, secret = parts
        if not (_URL_SAFE.fullmatch(token_id) and _URL_SAFE.fullmatch(secret)):
            return None
        try:
            return cls(user_id=uuid.UUID(user_id), token_id=token_id, secret=secret)
        except ValueError:
            return None


async def store_refresh_token(redis: Redis, token: RefreshToken) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(token.key, "digest", token.digest)
        pipe.expire(token.key, redis_keys.REFRESH_TOKEN_TTL_SECONDS)
        await pipe.execute()


class Rotation(StrEnum):
    ROTATED = "rotated"
    GRACE = "grace"
    REUSED = "reused"
    UNKNOWN = "unknown"


# Check, consume and replace in one step: two concurrent refreshes cannot both consume a token.
# The server's clock decides the grace, so API replicas with skewed clocks agree.
_ROTATE = """
local stored = redis.call('HMGET', KEYS[1], 'digest', 'consumed_at')
if not stored[1] or stored[1] ~= ARGV[1] then return 'unknown' end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local outcome = 'rotated'
if stored[2] then
  if now - tonumber(stored[2]) > tonumber(ARGV[3]) then return 'reused' end
  outcome = 'grace'
else
  redis.call('HSET', KEYS[1], 'consumed_at', string.format('%.6f', now))
end
redis.call('HSET', KEYS[2], 'digest', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return outcome
"""


async def rotate_refresh_token(
    redis: Redis, *, presented: RefreshToken, successor: RefreshToken
) -> Rotation:
    """Consume `presented` and store `successor` unless `presented` is unknown or replayed."""
    script = redis.register_script(_ROTATE)
    outcome = await script(
        keys=[presented.key, successor.key],
        args=[
            presented.digest,
            successor.digest,
            REUSE_GRACE_SECONDS,
            redis_keys.REFRESH_TOKEN_TTL_SECONDS,
        ],
    )
    return Rotation(outcome)


async def delete_refresh_token(redis: Redis, *, user_id: uuid.UUID, token_id: str) -> None:
    await redis.unlink(redis_keys.refresh_token(user_id, token_id))


async def delete_refresh_tokens(
    redis: Redis, *, user_id: uuid.UUID, keep_token_id: str | None = None
) -> int:
    """Every refresh token of the user except `keep_token_id`'s; how many were deleted."""
    kept = redis_keys.refresh_token(user_id, keep_token_id) if keep_token_id else None
    doomed = [
        key
        async for key in redis.scan_iter(match=redis_keys.refresh_tokens_of(user_id), count=1000)
        if key != kept
    ]
    if doomed:
        await redis.unlink(*doomed)
    return len(doomed)


# The fields of `sessions_revoked:{user_id}` (one hash per user).
REVOKED_BEFORE = "before"


def kept_field(token_id: str) -> str:
    """The field that exempts one access token (issued after the revocation) from it."""
    return f"keep:{token_id}"


async def revoke_sessions(
    redis: Redis, *, user_id: uuid.UUID, keep_token_id: str | None = None
) -> None:
    """Sign the user out everywhere (but for the session of `keep_token_id`): every refresh
    token goes, and every access token issued up to now stops working."""
    key = redis_keys.sessions_revoked(user_id)
    # Whole seconds, like a token's `iat`: every token issued up to this second is refused,
    # and the ones issued later in the same second are let through by keep_new_access_token.
    before = int(time.time()) + 1
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.hset(key, REVOKED_BEFORE, before)
        if keep_token_id:
            pipe.hset(key, kept_field(keep_token_id), 1)
        pipe.expire(key, ACCESS_TOKEN_SECONDS + 60)
        await pipe.execute()
    await delete_refresh_tokens(redis, user_id=user_id, keep_token_id=keep_token_id)


_KEEP_IF_REVOKED = """
local before = redis.call('HGET', KEYS[1], 'before')
if before and tonumber(before) > tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'keep:' .. ARGV[1], 1)
end
return 0
"""


async def keep_new_access_token(
    redis: Redis, *, user_id: uuid.UUID, token_id: str, issued_at: dt.datetime
) -> None:
    """A token issued after a revocation within the same second must not be caught by it."""
    script = redis.register_script(_KEEP_IF_REVOKED)
    await script(
        keys=[redis_keys.sessions_revoked(user_id)],
        args=[token_id, int(issued_at.timestamp())],
    )


async def blacklist_access_token(redis: Redis, token: str, *, seconds_left: int) -> None:
    if seconds_left > 0:
        await redis.set(redis_keys.blacklist(token), 1, ex=seconds_left)


@dataclass(frozen=True, slots=True)
class AccessTokenState:
    """What Redis holds about one well-signed, unexpired access token: `blacklist:{token}`
    and its user's `sessions_revoked:{user_id}` (fields REVOKED_BEFORE and kept_field(jti)).
    The API reads them in the round trip that counts the request against its rate limit."""

    blacklisted: bool
    revoked_before: int | None  # a Unix second: tokens of the user issued before it are refused
    kept: bool  # this token was issued after a revocation within its second

    def refusal(self, issued_at: dt.datetime) -> str | None:
        """Why the token is no longer good, or None."""
        if self.blacklisted:
            return "the access token was logged out"
        revoked = (
            self.revoked_before is not None and int(issued_at.timestamp()) < self.revoked_before
        )
        if revoked and not self.kept:
            return "the session was revoked"
        return None


def _readable(text: str | None) -> str | None:
    """`text` as UTF-8 can carry it: header bytes that were not UTF-8 arrive as surrogate
    escapes, which no JSON answer can hold; they become U+FFFD."""
    if text is None:
        return None
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    at: dt.datetime
    ip: str
    user_agent: str | None
    success: bool

    def to_json(self) -> str:
        return json.dumps(
            {
                "at": self.at.isoformat(),
                "ip": self.ip,
                "user_agent": _readable(self.user_agent),
                "success": self.success,
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> LoginAttempt:
        entry = json.loads(raw)
        return cls(
            at=dt.datetime.fromisoformat(entry["at"]),
            ip=str(entry["ip"]),
            # _readable again: entries written before it was applied on the way in.
            user_agent=_readable(entry.get("user_agent")),
            success=bool(entry["success"]),
        )


async def record_login_attempt(redis: Redis, *, user_id: uuid.UUID, attempt: LoginAttempt) -> None:
    """Newest first, the last LOGIN_HISTORY_LENGTH attempts, for 30 days after the latest."""
    key = redis_keys.login_history(user_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lpush(key, attempt.to_json())
        pipe.ltrim(key, 0, LOGIN_HISTORY_LENGTH - 1)
        pipe.expire(key, redis_keys.LOGIN_HISTORY_TTL_SECONDS)
        await pipe.execute()


async def login_history(
    redis: Redis, *, user_id: uuid.UUID, offset: int, limit: int
) -> tuple[list[LoginAttempt], int]:
    """One slice of the history, newest first, and its whole length."""
    key = redis_keys.login_history(user_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lrange(key, offset, offset + limit - 1)
        pipe.llen(key)
        entries, total = await pipe.execute()
    return [LoginAttempt.from_json(entry) for entry in entries], int(total)


def _email_digest(email: str) -> str:
    """Lockout keys name a digest: they exist for unknown emails too and should not list
    addresses."""
    return _digest(email.lower())


async def lock_seconds_left(redis: Redis, *, email: str) -> int:
    """How long logins to this email stay locked; 0 when they are not."""
    ttl = int(await redis.ttl(redis_keys.login_lock(_email_digest(email))))
    return max(ttl, 0)


# A sliding window of failure times: the oldest fall out, this one is added, and the tenth
# within the window replaces the counter by a lock.
_COUNT_FAILURE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, clock[1] .. '.' .. clock[2] .. ':' .. ARGV[4])
redis.call('EXPIRE', KEYS[1], window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], 1, 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


async def count_failed_login(redis: Redis, *, email: str) -> bool:
    """Count one failed login; True when it was the one that locked the email."""
    digest = _email_digest(email)
    script = redis.register_script(_COUNT_FAILURE)
    locked = await script(
        keys=[redis_keys.login_failures(digest), redis_keys.login_lock(digest)],
        args=[
            redis_keys.LOGIN_FAILURE_WINDOW_SECONDS,
            MAX_FAILED_LOGINS,
            redis_keys.LOGIN_LOCK_SECONDS,
            secrets.token_hex(4),
        ],
    )
    return bool(locked)


async def clear_failed_logins(redis: Redis, *, email: str) -> None:
    await redis.unlink(redis_keys.login_failures(_email_digest(email)))
