"""`Idempotency-Key` on the POSTs that move credits (api.md "Idempotency").

A signed-in caller's key is claimed inside the request's own transaction, before the handler
runs, by inserting its `idempotency_keys` row with `ON CONFLICT DO NOTHING`; the response is
written to that row before the transaction commits. So the key and the credits it moved commit
together or not at all:

- first request: the row is inserted, the handler runs, its response is stored, one commit;
- a retry after that commit, same method, path and body: the insert finds the row and the
  stored response is replayed (`Idempotent-Replayed: true`); nothing runs, nothing moves;
- the same key with another method, path or body: 409 `IDEMPOTENCY_KEY_REUSED`;
- two identical requests at once: PostgreSQL makes the second insert wait for the first
  transaction; when it commits, the second sees the row and replays it, and when it rolls back
  (an error: errors are never stored) the second runs as if it were first;
- a key older than `KEY_TTL` is forgotten: claiming a key first deletes the caller's expired
  keys (skipping rows another transaction holds, so it never waits) and `purge_expired` clears
  everyone's for a periodic job.

Keys belong to a user (`idempotency_keys` is keyed by (user_id, key)), so two users never
collide. The service token has no user row: its credit-moving call, POST /credits/charge, is
idempotent on its own `reference` instead, and its Idempotency-Key header is not stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.problems import FieldError, Problem
from api.registry import Call

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_TTL = dt.timedelta(hours=24)

_FORGET_EXPIRED_OF_USER = text(
    """
    DELETE FROM idempotency_keys
    WHERE (user_id, key) IN (
        SELECT user_id, key FROM idempotency_keys
        WHERE user_id = :user_id AND created_at < now() - CAST(:ttl AS interval)
        FOR UPDATE SKIP LOCKED
    )
    """
)

_CLAIM = text(
    """
    INSERT INTO idempotency_keys (user_id, key, request_fingerprint)
    VALUES (:user_id, :key, :fingerprint)
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING key
    """
)

_STORED = text(
    """
    SELECT request_fingerprint, response_status, response_body
    FROM idempotency_keys WHERE user_id = :user_id AND key = :key
    """
)

_REMEMBER = text(
    """
    UPDATE idempotency_keys
    SET response_status = :status, response_body = CAST(:body AS jsonb)
    WHERE user_id = :user_id AND key = :key
    """
)

_PURGE_EXPIRED = text(
    "DELETE FROM idempotency_keys WHERE created_at < CAST(:before AS timestamptz)"
)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    fingerprint: str
    status: int | None
    body: Any


async def run_once(
    call: Call, respond: Callable[[], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """`respond()` once per (user, Idempotency-Key); a retry gets the first response back."""
    key = requested_key(call.request)
    user = call.principal.user
    if key is None or user is None:
        return await respond()
    fingerprint = await request_fingerprint(call.request)
    stored = await _claim(call.session, user_id=user.id, key=key, fingerprint=fingerprint)
    if stored is not None:
        return _replay(stored, fingerprint)
    response = await respond()
    await _remember(call.session, user_id=user.id, key=key, response=response)
    return response


def requested_key(request: web.Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise Problem(
            422,
            "INVALID_IDEMPOTENCY_KEY",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters",
            errors=[
                FieldError(
                    loc=["header", HEADER],
                    code="INVALID_IDEMPOTENCY_KEY",
                    message=f"1 to {MAX_KEY_LENGTH} printable characters",
                )
            ],
        )
    return key


async def request_fingerprint(request: web.Request) -> str:
    return fingerprint(request.method, request.path, await request.read())


def fingerprint(method: str, path: str, raw_body: bytes) -> str:
    """SHA-256 of method, path and body; JSON bodies are compared by content, not spacing."""
    try:
        body = json.dumps(json.loads(raw_body), sort_keys=True, separators=(",", ":")).encode()
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        body = raw_body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def purge_expired(session: AsyncSession, *, now: dt.datetime) -> int:
    """Delete every key older than KEY_TTL (for a periodic job); returns how many."""
    result = await session.execute(_PURGE_EXPIRED, {"before": now - KEY_TTL})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _claim(
    session: AsyncSession, *, user_id: uuid.UUID, key: str, fingerprint: str
) -> StoredResponse | None:
    """None when this request now owns the key; otherwise what the first request stored."""
    await session.execute(_FORGET_EXPIRED_OF_USER, {"user_id": user_id, "ttl": KEY_TTL})
    claimed = await session.scalar(
        _CLAIM, {"user_id": user_id, "key": key, "fingerprint": fingerprint}
    )
    if claimed is not None:
        return None
    row = (await session.execute(_STORED, {"user_id": user_id, "key": key})).first()
    if row is None:
        # Expired and purged between our insert and this read: rare; the client retries.
        raise Problem(409, "IDEMPOTENCY_KEY_IN_USE", "the key is being reused; retry")
    return StoredResponse(
        fingerprint=row.request_fingerprint, status=row.response_status, body=row.response_body
    )


def _replay(stored: StoredResponse, fingerprint: str) -> web.StreamResponse:
    if stored.fingerprint != fingerprint:
        raise Problem(
            409,
            "IDEMPOTENCY_KEY_REUSED",
            f"this {HEADER} was used for a different request",
        )
    if stored.status is None:
        raise Problem(409, "IDEMPOTENCY_KEY_IN_USE", "the first request has not finished")
    headers = {REPLAYED_HEADER: "true"}
    if stored.body is None:
        return web.Response(status=stored.status, headers=headers)
    return web.json_response(stored.body, status=stored.status, headers=headers)


async def _remember(
    session: AsyncSession, *, user_id: uuid.UUID, key: str, response: web.StreamResponse
) -> None:
    await session.execute(
        _REMEMBER,
        {"user_id": user_id, "key": key, "status": response.status, "body": _json_of(response)},
    )


def _json_of(response: web.StreamResponse) -> str | None:
    """The response's JSON body as text (None for an empty body, e.g. 204)."""
    if not isinstance(response, web.Response) or response.body is None:
        return None
    if response.content_type != "application/json":
        raise TypeError("an idempotent route must answer JSON or nothing")
    body = response.body
    if not isinstance(body, bytes | bytearray):
        raise TypeError("an idempotent route must answer with a JSON body in memory")
    return bytes(body).decode() if body else None
