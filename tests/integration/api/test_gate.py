"""The gate (api/ratelimit.py) sends the scripts of requests that arrive together in one Redis
pipeline: each request is still counted once, answered with its own token's state, and refused
(fail closed) when Redis cannot be reached."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from accounts import redis_keys
from accounts.sessions import AccessTokenState
from accounts.tokens import issue_access_token
from api.problems import Problem
from api.ratelimit import Gate, PresentedToken, RateLimit
from gr8d.config import Settings
from gr8d.redis import create_redis

RULE = RateLimit(endpoint="gate-test", limit=7, window_seconds=60)


@pytest.fixture
async def redis(api_settings: Settings, flushed_redis: None) -> AsyncIterator[Redis]:
    client = create_redis(api_settings)
    try:
        yield client
    finally:
        await client.aclose()


def _presented(api_settings: Settings) -> PresentedToken:
    token, claims = issue_access_token(
        uuid.uuid4(), secret=api_settings.jwt_secret_key, issuer=api_settings.jwt_issuer
    )
    return PresentedToken(token=token, claims=claims)


async def _admit(gate: Gate, presented: PresentedToken | None) -> AccessTokenState | int | None:
    """The token's state (None without a token), or the status the request was refused with."""
    try:
        return await gate.admit(rule=RULE, ip="192.0.2.7", presented=presented)
    except Problem as refused:
        return refused.status


async def test_requests_arriving_together_share_one_pipeline_and_are_each_counted_once(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(redis)
    pipelines: list[object] = []
    opened = redis.pipeline
    monkeypatch.setattr(
        redis, "pipeline", lambda **options: pipelines.append(options) or opened(**options)
    )

    answers = await asyncio.gather(*(_admit(gate, None) for _ in range(10)))

    assert len(pipelines) == 1
    assert answers.count(429) == 3
    assert await redis.get(redis_keys.rate_limit("192.0.2.7", RULE.endpoint)) == "10"
    assert await redis.ttl(redis_keys.rate_limit("192.0.2.7", RULE.endpoint)) > 0


async def test_each_request_of_a_batch_gets_its_own_tokens_state(
    redis: Redis, api_settings: Settings
) -> None:
    gate = Gate(redis)
    logged_out, live = _presented(api_settings), _presented(api_settings)
    await redis.set(redis_keys.blacklist(logged_out.token), "1", ex=60)

    states = await asyncio.gather(
        _admit(gate, logged_out), _admit(gate, live), _admit(gate, logged_out)
    )

    assert [state.blacklisted for state in states if isinstance(state, AccessTokenState)] == [
        True,
        False,
        True,
    ]


async def test_a_batch_works_after_redis_lost_its_scripts(redis: Redis) -> None:
    gate = Gate(redis)
    await _admit(gate, None)
    await redis.script_flush()

    answers = await asyncio.gather(*(_admit(gate, None) for _ in range(3)))

    assert answers == [None, None, None]
    assert await redis.get(redis_keys.rate_limit("192.0.2.7", RULE.endpoint)) == "4"


async def test_every_request_of_a_batch_fails_closed_when_redis_is_down(
    api_settings: Settings,
) -> None:
    broken = create_redis(api_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    gate = Gate(broken)
    try:
        outcomes = await asyncio.gather(
            *(_admit(gate, None) for _ in range(4)), return_exceptions=True
        )
    finally:
        await broken.aclose()

    assert all(isinstance(outcome, RedisError) for outcome in outcomes)
