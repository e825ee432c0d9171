"""The API over real HTTP (aiohttp's test server) on this session's database and a Redis
database of its own, flushed before every test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis import Redis as SyncRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.tokens import issue_access_token
from api.app import create_app
from db.models import User
from gr8d.config import Settings
from tests.factories import add_user

CLAIM_KEY = "gr8d:test-session-claim"
# Tests send far more than 100 requests a minute from one address; the limit has its own tests.
GENEROUS_RATE_LIMIT = 1_000_000


def _with_database(url: str, number: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query)) | {"db": str(number)}
        return urlunsplit(parts._replace(query=urlencode(query)))
    return urlunsplit(parts._replace(path=f"/{number}"))


@pytest.fixture(scope="session")
def api_redis_url(settings: Settings) -> Iterator[str]:
    """A Redis database no other test session uses at the same time (1..15, claimed)."""
    claim = uuid.uuid4().hex
    base = settings.require_redis_url()
    for number in range(1, 16):
        url = _with_database(base, number)
        client = SyncRedis.from_url(url)
        if client.set(CLAIM_KEY, claim, nx=True, ex=3 * 3600):
            try:
                yield url
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    pytest.fail("every Redis database 1..15 is claimed by another test session")


@pytest.fixture(scope="session")
def api_settings(settings: Settings, api_redis_url: str) -> Settings:
    return settings.model_copy(
        update={"redis_url": api_redis_url, "api_rate_limit_per_minute": GENEROUS_RATE_LIMIT}
    )


@pytest.fixture
def flushed_redis(api_redis_url: str) -> None:
    client = SyncRedis.from_url(api_redis_url)
    claim = client.get(CLAIM_KEY)
    client.flushdb()
    client.set(CLAIM_KEY, claim or b"", ex=3 * 3600)
    client.close()


async def start_client(settings: Settings) -> TestClient[object, object]:
    client: TestClient[object, object] = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    return client


@pytest.fixture
async def client(
    api_settings: Settings, flushed_redis: None
) -> AsyncIterator[TestClient[object, object]]:
    client = await start_client(api_settings)
    try:
        yield client
    finally:
        await client.close()


@dataclass(frozen=True)
class SignedIn:
    user_id: uuid.UUID
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class SignIn(Protocol):
    async def __call__(self, **values: Any) -> SignedIn: ...


@pytest.fixture
def sign_in(session_factory: async_sessionmaker[AsyncSession], api_settings: Settings) -> SignIn:
    """`await sign_in(credits=..., is_superuser=True, ...)`: a new user and a live access token
    (the user row is made directly; the auth routes have their own tests)."""

    async def make(**values: Any) -> SignedIn:
        async with session_factory() as session, session.begin():
            user_id = await add_user(session, **values)
            email = (await session.get_one(User, user_id)).email
        token, _ = issue_access_token(
            user_id, secret=api_settings.jwt_secret_key, issuer=api_settings.jwt_issuer
        )
        return SignedIn(user_id=user_id, email=email, token=token)

    return make


@pytest.fixture
def service_headers(api_settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_settings.internal_api_token}"}
