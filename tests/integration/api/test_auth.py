"""/api/v1/auth end to end: registration, login, refresh rotation and reuse, logout, rate limits,
lockout, and refusal of bad tokens (api.md "Authentication")."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from multidict import CIMultiDict
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import passwords, redis_keys
from accounts.tokens import issue_access_token
from db.models import Credit, User
from gr8d.config import AppEnv, Settings
from tests.factories import add_user
from tests.integration.api.auth_flows import (
    PASSWORD,
    Client,
    bearer,
    logged_in,
    login,
    refresh,
    refresh_cookie_of,
    register,
    session_from,
    signed_up,
)
from tests.integration.api.conftest import SignIn, start_client
from tests.integration.api.raw_http import raw_request

ME = "/api/v1/users/me"


@pytest.fixture
async def redis(api_settings: Settings, flushed_redis: None) -> AsyncIterator[Redis]:
    client = Redis.from_url(api_settings.require_redis_url(), decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def behind_proxy(api_settings: Settings, flushed_redis: None) -> AsyncIterator[Client]:
    """The API behind a trusted reverse proxy at 127.0.0.1: X-Forwarded-For names the client."""
    client = await start_client(api_settings.model_copy(update={"trusted_proxies": ["127.0.0.1"]}))
    yield client
    await client.close()


def forwarded_for(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def test_registering_creates_an_active_user_with_a_zero_credit_balance(
    client: Client, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "Ada@Example.COM", "password": PASSWORD, "full_name": " Ada Lovelace "},
    )
    body = await response.json()

    assert response.status == 201
    assert body["email"] == "ada@example.com" and body["full_name"] == "Ada Lovelace"
    assert body["is_active"] is True and body["is_superuser"] is False
    async with session_factory() as session:
        user = await session.get_one(User, uuid.UUID(body["id"]))
        credit = await session.scalar(select(Credit).where(Credit.user_id == user.id))
    assert user.hashed_password.startswith("$argon2id$") and PASSWORD not in user.hashed_password
    assert credit is not None and credit.balance == 0


async def test_registering_an_email_twice_in_any_case_is_a_conflict(client: Client) -> None:
    await register(client, "twice@example.com")
    response = await client.post(
        "/api/v1/auth/register", json={"email": "TWICE@example.com", "password": "another-pass"}
    )
    body = await response.json()
    assert response.status == 409 and body["code"] == "EMAIL_TAKEN"


@pytest.mark.parametrize(
    ("payload", "location"),
    [
        ({"email": "short@example.com", "password": "seven77"}, ["body", "password"]),
        ({"email": "long@example.com", "password": "x" * 129}, ["body", "password"]),
        ({"email": "not-an-email", "password": PASSWORD}, ["body", "email"]),
        (
            {"email": "extra@example.com", "password": PASSWORD, "is_superuser": True},
            ["body", "is_superuser"],
        ),
        ({"password": PASSWORD}, ["body", "email"]),
        (
            {"email": "nul@example.com", "password": PASSWORD, "full_name": "a\x00b"},
            ["body", "full_name"],
        ),
    ],
    ids=["short password", "long password", "bad email", "extra field", "missing email", "NUL"],
)
async def test_registration_refuses_invalid_bodies_and_stores_nothing(
    client: Client,
    session_factory: async_sessionmaker[AsyncSession],
    payload: dict[str, object],
    location: list[str],
) -> None:
    response = await client.post("/api/v1/auth/register", json=payload)
    body = await response.json()
    assert response.status == 422 and body["code"] == "VALIDATION_ERROR"
    assert [error["loc"] for error in body["errors"]] == [location]
    async with session_factory() as session:
        assert await session.scalar(select(User.id)) is None


@pytest.mark.parametrize(
    ("payload", "location"),
    [
        ({"email": "a@example.com"}, ["body", "password"]),
        ({"email": "a@example.com", "password": PASSWORD, "remember": True}, ["body", "remember"]),
        ({"email": "a\x00@example.com", "password": PASSWORD}, ["body", "email"]),
        ({"email": "a@example.com", "password": "x" * 129}, ["body", "password"]),
    ],
    ids=["missing password", "extra field", "NUL in email", "long password"],
)
async def test_login_refuses_invalid_bodies(
    client: Client, payload: dict[str, object], location: list[str]
) -> None:
    response = await client.post("/api/v1/auth/login", json=payload)
    body = await response.json()
    assert response.status == 422 and body["code"] == "VALIDATION_ERROR"
    assert [error["loc"] for error in body["errors"]] == [location]


async def test_login_gives_a_bearer_token_and_a_strict_http_only_refresh_cookie(
    client: Client,
) -> None:
    user = await register(client, "cookie@example.com")
    response = await login(client, "Cookie@Example.com")
    body = await response.json()
    cookie = response.cookies["refresh_token"]

    assert response.status == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 1800
    assert cookie["httponly"] and cookie["secure"]
    assert cookie["samesite"] == "Strict" and cookie["path"] == "/api/v1/auth"
    assert cookie["max-age"] == "604800"
    me = await client.get(ME, headers=bearer(body["access_token"]))
    assert me.status == 200 and (await me.json())["id"] == user["id"]


async def test_the_refresh_cookie_is_not_secure_in_development(
    api_settings: Settings, flushed_redis: None
) -> None:
    client = await start_client(api_settings.model_copy(update={"app_env": AppEnv.DEVELOPMENT}))
    try:
        await register(client, "dev@example.com")
        response = await login(client, "dev@example.com")
    finally:
        await client.close()
    assert response.status == 200
    assert not response.cookies["refresh_token"]["secure"]


async def test_unknown_email_and_wrong_password_get_the_same_answer_in_the_same_time(
    client: Client,
) -> None:
    await register(client, "known@example.com")
    answers, durations = [], []
    for email in ("known@example.com", "nobody@example.com", "known@example.com", "nobody@x.io"):
        started = time.perf_counter()
        response = await login(client, email, "wrong password")
        durations.append(time.perf_counter() - started)
        answers.append((response.status, await response.json(), "Set-Cookie" in response.headers))

    assert answers[0][0] == 401 and answers[0][1]["code"] == "INVALID_CREDENTIALS"
    assert all(answer == answers[0] for answer in answers)
    wrong_password, unknown_email = min(durations[0::2]), min(durations[1::2])
    # Without the dummy argon2 verification an unknown email answers ~20x faster.
    assert unknown_email > wrong_password / 2


async def test_the_stand_in_hash_for_unknown_emails_is_made_when_the_api_starts(
    api_settings: Settings, flushed_redis: None
) -> None:
    # Made on the first unknown email instead, it doubled that login's time.
    passwords._dummy_hash.cache_clear()
    client = await start_client(api_settings)
    try:
        made = passwords._dummy_hash.cache_info().currsize
    finally:
        await client.close()
    assert made == 1


async def test_a_deactivated_account_cannot_log_in_even_with_its_password(
    client: Client, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user = await register(client, "gone@example.com")
    async with session_factory() as session, session.begin():
        (await session.get_one(User, uuid.UUID(user["id"]))).is_active = False
    response = await login(client, "gone@example.com")
    assert response.status == 401 and (await response.json())["code"] == "INVALID_CREDENTIALS"


async def test_refresh_rotates_the_pair_and_the_old_cookie_works_only_once(
    client: Client, redis: Redis
) -> None:
    first = await signed_up(client)

    rotated = await refresh(client, first.refresh_token)
    second = await session_from(rotated, user_id=first.user_id, email=first.email)

    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token
    assert (await client.get(ME, headers=second.headers)).status == 200
    old_id = first.refresh_token.split(".")[1]
    record = await redis.hgetall(redis_keys.refresh_token(first.user_id, old_id))
    assert "consumed_at" in record
    assert 0 < await redis.ttl(redis_keys.refresh_token(first.user_id, old_id)) <= 604800
    new_key = redis_keys.refresh_token(first.user_id, second.refresh_token.split(".")[1])
    assert 604790 < await redis.ttl(new_key) <= 604800
    # The record holds a digest, never the token itself.
    assert second.refresh_token.split(".")[2] not in str(await redis.hgetall(new_key))


async def test_a_concurrent_retry_within_the_grace_gets_a_pair_of_its_own(
    client: Client,
) -> None:
    first = await signed_up(client)
    winner = await refresh(client, first.refresh_token)
    retry = await refresh(client, first.refresh_token)

    assert winner.status == 200 and retry.status == 200
    assert (await refresh(client, refresh_cookie_of(winner))).status == 200
    assert (await refresh(client, refresh_cookie_of(retry))).status == 200


async def test_a_consumed_refresh_token_replayed_after_the_grace_ends_every_session(
    client: Client, redis: Redis
) -> None:
    first = await signed_up(client)
    second = await session_from(
        await refresh(client, first.refresh_token), user_id=first.user_id, email=first.email
    )
    # Age the consumption past the 10 s grace instead of sleeping through it.
    consumed = redis_keys.refresh_token(first.user_id, first.refresh_token.split(".")[1])
    await redis.hset(consumed, "consumed_at", f"{time.time() - 11:.6f}")

    replay = await refresh(client, first.refresh_token)

    assert replay.status == 401 and (await replay.json())["code"] == "REFRESH_TOKEN_REUSED"
    assert (await refresh(client, second.refresh_token)).status == 401
    assert (await client.get(ME, headers=second.headers)).status == 401
    assert [key async for key in redis.scan_iter(f"refresh_token:{first.user_id}:*")] == []


@pytest.mark.parametrize(
    "cookie",
    ["", "garbage", f"{uuid.uuid4()}.{uuid.uuid4().hex}.made-up-secret"],
    ids=["empty", "garbage", "well-formed but unknown"],
)
async def test_refresh_without_a_valid_cookie_is_refused(client: Client, cookie: str) -> None:
    response = await refresh(client, cookie)
    body = await response.json()
    assert response.status == 401 and body["code"] == "INVALID_REFRESH_TOKEN"


async def test_a_stolen_token_id_with_a_forged_secret_does_not_consume_the_real_token(
    client: Client,
) -> None:
    session = await signed_up(client)
    user_id, token_id, _ = session.refresh_token.split(".")
    forged = await refresh(client, f"{user_id}.{token_id}.forged-secret")
    assert forged.status == 401 and (await forged.json())["code"] == "INVALID_REFRESH_TOKEN"
    assert (await refresh(client, session.refresh_token)).status == 200


@pytest.mark.parametrize("part", ["token_id", "secret"])
async def test_a_refresh_cookie_that_is_not_utf8_is_refused(client: Client, part: str) -> None:
    session = await signed_up(client)
    user_id, token_id, secret = (piece.encode() for piece in session.refresh_token.split("."))
    hostile = b"\xff\xfe"
    cookie = b".".join(
        [
            user_id,
            hostile if part == "token_id" else token_id,
            hostile if part == "secret" else secret,
        ]
    )
    status, body = await raw_request(
        client,
        b"POST /api/v1/auth/refresh HTTP/1.1\r\nHost: test\r\nCookie: refresh_token="
        + cookie
        + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    assert status == 401 and json.loads(body)["code"] == "INVALID_REFRESH_TOKEN"
    assert (await refresh(client, session.refresh_token)).status == 200


async def test_logout_blacklists_the_access_token_and_deletes_the_refresh_token(
    client: Client, redis: Redis
) -> None:
    session = await signed_up(client)

    response = await client.post(
        "/api/v1/auth/logout",
        headers={**session.headers, "Cookie": f"refresh_token={session.refresh_token}"},
    )

    assert response.status == 204
    cleared = response.cookies["refresh_token"]
    assert cleared.value == "" and cleared["max-age"] == "0" and cleared["path"] == "/api/v1/auth"
    assert 1700 < await redis.ttl(redis_keys.blacklist(session.access_token)) <= 1800
    me = await client.get(ME, headers=session.headers)
    assert me.status == 401 and (await me.json())["code"] == "NOT_AUTHENTICATED"
    assert (await refresh(client, session.refresh_token)).status == 401


async def test_logout_all_ends_every_session_of_the_user_only(client: Client, redis: Redis) -> None:
    laptop = await signed_up(client)
    phone = await logged_in(client, laptop.email)
    bystander = await signed_up(client)

    response = await client.post("/api/v1/auth/logout-all", headers=phone.headers)

    assert response.status == 204
    for session in (laptop, phone):
        assert (await client.get(ME, headers=session.headers)).status == 401
        assert (await refresh(client, session.refresh_token)).status == 401
    assert [key async for key in redis.scan_iter(f"refresh_token:{laptop.user_id}:*")] == []
    assert (await client.get(ME, headers=bystander.headers)).status == 200
    again = await login(client, laptop.email)
    assert (
        await client.get(ME, headers=bearer((await again.json())["access_token"]))
    ).status == 200


async def test_logout_needs_an_access_token(client: Client) -> None:
    response = await client.post("/api/v1/auth/logout")
    assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"


async def test_login_is_limited_to_five_a_minute_and_a_spoofed_forwarded_for_does_not_reset_it(
    client: Client,
) -> None:
    statuses = [(await login(client, "x@example.com", "wrong")).status for _ in range(5)]
    limited = await login(client, "x@example.com", "wrong")
    spoofed = await login(client, "x@example.com", "wrong", headers=forwarded_for("203.0.113.9"))

    assert statuses == [401] * 5
    assert limited.status == 429 and (await limited.json())["code"] == "RATE_LIMITED"
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert spoofed.status == 429


async def test_behind_a_trusted_proxy_each_client_has_its_own_login_limit(
    behind_proxy: Client,
) -> None:
    alice, bob = forwarded_for("203.0.113.1"), forwarded_for("203.0.113.2")
    for _ in range(5):
        await login(behind_proxy, "x@example.com", "wrong", headers=alice)

    assert (await login(behind_proxy, "x@example.com", "wrong", headers=alice)).status == 429
    # Entries left of the proxy's are whatever the client wrote: they do not make a new client.
    forged = forwarded_for("198.51.100.7, 203.0.113.1")
    assert (await login(behind_proxy, "x@example.com", "wrong", headers=forged)).status == 429
    assert (await login(behind_proxy, "x@example.com", "wrong", headers=bob)).status == 401


async def test_a_proxy_that_adds_its_own_forwarded_for_line_is_read_after_the_clients_line(
    behind_proxy: Client,
) -> None:
    # Some proxies (HAProxy's `option forwardfor`) add a header line of their own rather than
    # appending to the client's: the lines together are one list (RFC 9110), and the client's
    # own line, first, must not make it a new client.
    def through_proxy(forged: str) -> CIMultiDict[str]:
        return CIMultiDict([("X-Forwarded-For", forged), ("X-Forwarded-For", "203.0.113.1")])

    for _ in range(5):
        await login(behind_proxy, "x@example.com", "wrong", headers=forwarded_for("203.0.113.1"))
    statuses = [
        (await login(behind_proxy, "x@example.com", "wrong", headers=through_proxy(forged))).status
        for forged in ("198.51.100.7", "198.51.100.8")
    ]

    assert statuses == [429, 429]


async def test_registration_is_limited_to_three_per_five_minutes(client: Client) -> None:
    for number in range(3):
        await register(client, f"r{number}@example.com")
    response = await client.post(
        "/api/v1/auth/register", json={"email": "r3@example.com", "password": PASSWORD}
    )
    assert response.status == 429 and 60 < int(response.headers["Retry-After"]) <= 300


async def test_refresh_is_limited_to_ten_a_minute(client: Client) -> None:
    statuses = [(await refresh(client, "garbage")).status for _ in range(11)]
    assert statuses == [401] * 10 + [429]


async def test_ten_failures_in_fifteen_minutes_lock_the_account_whatever_the_password(
    behind_proxy: Client, redis: Redis
) -> None:
    user = await register(behind_proxy, "target@example.com")
    # From ten different addresses: the lock is per account, not per client.
    failures = [
        (
            await login(
                behind_proxy, "target@example.com", "guess", headers=forwarded_for(f"203.0.113.{n}")
            )
        ).status
        for n in range(10)
    ]
    right_password = await login(
        behind_proxy, "target@example.com", headers=forwarded_for("198.51.100.1")
    )
    wrong_password = await login(
        behind_proxy, "target@example.com", "guess", headers=forwarded_for("198.51.100.2")
    )

    assert failures == [401] * 10
    assert right_password.status == 423
    locked = await right_password.json()
    assert locked["code"] == "ACCOUNT_LOCKED" and "refresh_token" not in right_password.cookies
    assert 890 < int(right_password.headers["Retry-After"]) <= 900
    assert (wrong_password.status, await wrong_password.json()) == (423, locked)
    history = await redis.lrange(redis_keys.login_history(uuid.UUID(user["id"])), 0, -1)
    assert len(history) == 12 and all('"success": false' in entry for entry in history)


async def test_an_unknown_email_locks_the_same_way_so_a_lock_reveals_nothing(
    behind_proxy: Client,
) -> None:
    for n in range(10):
        await login(
            behind_proxy, "nobody@example.com", "guess", headers=forwarded_for(f"203.0.113.{n}")
        )
    response = await login(
        behind_proxy, "nobody@example.com", headers=forwarded_for("198.51.100.1")
    )
    assert response.status == 423 and (await response.json())["code"] == "ACCOUNT_LOCKED"


async def test_a_successful_login_forgets_earlier_failures(behind_proxy: Client) -> None:
    await register(behind_proxy, "forgetful@example.com")
    addresses = iter(f"203.0.113.{n}" for n in range(20))
    for _ in range(9):
        await login(
            behind_proxy, "forgetful@example.com", "guess", headers=forwarded_for(next(addresses))
        )
    assert (
        await login(behind_proxy, "forgetful@example.com", headers=forwarded_for(next(addresses)))
    ).status == 200
    await login(
        behind_proxy, "forgetful@example.com", "guess", headers=forwarded_for(next(addresses))
    )
    assert (
        await login(behind_proxy, "forgetful@example.com", headers=forwarded_for(next(addresses)))
    ).status == 200


async def test_an_expired_access_token_is_refused(
    client: Client, api_settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with session_factory() as session, session.begin():
        user_id = await add_user(session)
    token, _ = issue_access_token(
        user_id,
        secret=api_settings.jwt_secret_key,
        issuer=api_settings.jwt_issuer,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31),
    )
    response = await client.get(ME, headers=bearer(token))
    assert response.status == 401 and (await response.json())["code"] == "NOT_AUTHENTICATED"


async def test_a_token_signed_with_another_key_is_refused(
    client: Client, api_settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with session_factory() as session, session.begin():
        user_id = await add_user(session)
    token, _ = issue_access_token(user_id, secret="x" * 48, issuer=api_settings.jwt_issuer)
    assert (await client.get(ME, headers=bearer(token))).status == 401


async def test_login_and_the_profile_answer_503_when_redis_is_down(
    api_settings: Settings, sign_in: SignIn
) -> None:
    me = await sign_in()
    broken = api_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    client = await start_client(broken)
    try:
        login_response = await login(client, "anyone@example.com")
        me_response = await client.get(ME, headers=me.headers)
        bodies = [await login_response.json(), await me_response.json()]
    finally:
        await client.close()
    assert [login_response.status, me_response.status] == [503, 503]
    assert [body["code"] for body in bodies] == ["REDIS_UNAVAILABLE"] * 2
