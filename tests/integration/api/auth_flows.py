"""Register, log in and refresh through the real routes (for the auth and users tests)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

PASSWORD = "correct horse battery"
Client = TestClient[object, object]


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def with_refresh_cookie(refresh_token: str) -> dict[str, str]:
    """The cookie as a client sends it back (aiohttp's jar keeps Secure cookies off http)."""
    return {"Cookie": f"refresh_token={refresh_token}"}


def refresh_cookie_of(response: ClientResponse) -> str:
    return response.cookies["refresh_token"].value


async def register(client: Client, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, **extra}
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def login(
    client: Client,
    email: str,
    password: str = PASSWORD,
    *,
    headers: Mapping[str, str] | None = None,
) -> ClientResponse:
    return await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def refresh(client: Client, refresh_token: str) -> ClientResponse:
    return await client.post("/api/v1/auth/refresh", headers=with_refresh_cookie(refresh_token))


@dataclass(frozen=True)
class Session:
    user_id: uuid.UUID
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


async def session_from(response: ClientResponse, *, user_id: uuid.UUID, email: str) -> Session:
    assert response.status == 200, await response.text()
    body = await response.json()
    return Session(user_id, email, body["access_token"], refresh_cookie_of(response))


async def logged_in(client: Client, email: str, password: str = PASSWORD) -> Session:
    """A session of the existing account `email`."""
    response = await login(client, email, password)
    me = await client.get(
        "/api/v1/users/me", headers=bearer((await response.json())["access_token"])
    )
    return await session_from(response, user_id=uuid.UUID((await me.json())["id"]), email=email)


async def signed_up(client: Client, email: str | None = None) -> Session:
    """A new account through POST /auth/register and its first session through /auth/login."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    user = await register(client, email)
    response = await login(client, email)
    return await session_from(response, user_id=uuid.UUID(user["id"]), email=email)
