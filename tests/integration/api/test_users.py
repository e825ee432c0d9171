"""/api/v1/users/me: the profile, password change, deactivation and login history."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import passwords
from db.models import User
from tests.integration.api.auth_flows import (
    PASSWORD,
    Client,
    bearer,
    logged_in,
    login,
    refresh,
    signed_up,
)
from tests.integration.api.conftest import SignIn
from tests.integration.api.raw_http import raw_request

ME = "/api/v1/users/me"
NEW_PASSWORD = "a much better passphrase"


async def stored_user(
    session_factory: async_sessionmaker[AsyncSession], user_id: uuid.UUID
) -> User:
    async with session_factory() as session:
        return await session.get_one(User, user_id)


async def test_me_is_the_signed_in_user(client: Client, sign_in: SignIn) -> None:
    me = await sign_in(full_name="Grace Hopper")
    response = await client.get(ME, headers=me.headers)
    body = await response.json()
    assert response.status == 200
    assert body["id"] == str(me.user_id) and body["email"] == me.email
    assert body["full_name"] == "Grace Hopper" and body["manual_tier"] is None
    assert "hashed_password" not in body


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_me_needs_a_token(client: Client, method: str) -> None:
    response = await client.request(method, ME, json={})
    assert response.status == 401 and (await response.json())["code"] == "NOT_AUTHENTICATED"


async def test_renaming_keeps_everything_else_and_null_clears_the_name(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    me = await sign_in(full_name="Old Name")
    renamed = await client.patch(ME, json={"full_name": "  New Name "}, headers=me.headers)
    assert renamed.status == 200 and (await renamed.json())["full_name"] == "New Name"
    untouched = await client.patch(ME, json={}, headers=me.headers)
    assert (await untouched.json())["full_name"] == "New Name"

    cleared = await client.patch(ME, json={"full_name": None}, headers=me.headers)

    assert cleared.status == 200 and (await cleared.json())["full_name"] is None
    assert (await stored_user(session_factory, me.user_id)).full_name is None


@pytest.mark.parametrize(
    ("payload", "location"),
    [
        ({"email": "new@example.com"}, ["body", "email"]),
        ({"is_superuser": True}, ["body", "is_superuser"]),
        ({"password": NEW_PASSWORD}, ["body"]),
        ({"password": "short", "current_password": PASSWORD}, ["body", "password"]),
        ({"full_name": "x" * 101}, ["body", "full_name"]),
    ],
    ids=["email", "admin flag", "no current password", "short password", "long name"],
)
async def test_profile_changes_outside_the_rules_are_refused(
    client: Client, sign_in: SignIn, payload: dict[str, object], location: list[str]
) -> None:
    me = await sign_in()
    response = await client.patch(ME, json=payload, headers=me.headers)
    body = await response.json()
    assert response.status == 422 and body["code"] == "VALIDATION_ERROR"
    assert [error["loc"] for error in body["errors"]] == [location]


async def test_a_new_password_needs_the_right_current_one(
    client: Client, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    session = await signed_up(client)
    response = await client.patch(
        ME,
        json={"password": NEW_PASSWORD, "current_password": "not it", "full_name": "Changed"},
        headers=session.headers,
    )
    assert response.status == 403 and (await response.json())["code"] == "WRONG_PASSWORD"
    user = await stored_user(session_factory, session.user_id)
    assert await passwords.verify_password(user.hashed_password, PASSWORD)
    assert user.full_name is None


async def test_a_password_change_while_the_account_is_locked_is_423_with_retry_after(
    client: Client,
) -> None:
    session = await signed_up(client)
    wrong = {"password": NEW_PASSWORD, "current_password": "not it"}
    statuses = [
        (await client.patch(ME, json=wrong, headers=session.headers)).status for _ in range(10)
    ]
    locked = await client.patch(
        ME, json={"password": NEW_PASSWORD, "current_password": PASSWORD}, headers=session.headers
    )
    assert statuses == [403] * 10
    assert locked.status == 423 and (await locked.json())["code"] == "ACCOUNT_LOCKED"
    assert 0 < int(locked.headers["Retry-After"]) <= 900


async def test_changing_the_password_signs_out_every_other_session_only(
    client: Client, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    here = await signed_up(client)
    elsewhere = await logged_in(client, here.email)

    response = await client.patch(
        ME, json={"password": NEW_PASSWORD, "current_password": PASSWORD}, headers=here.headers
    )

    assert response.status == 200
    assert (await client.get(ME, headers=here.headers)).status == 200
    assert (await refresh(client, here.refresh_token)).status == 200
    assert (await client.get(ME, headers=elsewhere.headers)).status == 401
    assert (await refresh(client, elsewhere.refresh_token)).status == 401
    assert (await login(client, here.email, PASSWORD)).status == 401
    # Logged in within the same second as the change: this new session is not caught by it.
    fresh = await login(client, here.email, NEW_PASSWORD)
    token = (await fresh.json())["access_token"]
    assert (await client.get(ME, headers=bearer(token))).status == 200
    user = await stored_user(session_factory, here.user_id)
    assert await passwords.verify_password(user.hashed_password, NEW_PASSWORD)


async def test_deactivating_ends_every_session_and_further_logins(
    client: Client, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    session = await signed_up(client)

    response = await client.delete(ME, headers=session.headers)

    assert response.status == 204
    assert response.cookies["refresh_token"]["max-age"] == "0"
    assert (await client.get(ME, headers=session.headers)).status == 401
    assert (await refresh(client, session.refresh_token)).status == 401
    again = await login(client, session.email)
    assert again.status == 401 and (await again.json())["code"] == "INVALID_CREDENTIALS"
    assert (await stored_user(session_factory, session.user_id)).is_active is False


async def test_login_history_lists_each_attempt_newest_first(client: Client) -> None:
    session = await signed_up(client)
    await login(client, session.email, "wrong guess", headers={"User-Agent": "curl/8.5"})

    response = await client.get(ME + "/login-history", headers=session.headers)
    body = await response.json()

    assert response.status == 200 and body["total"] == 2 and body["pages"] == 1
    failed, succeeded = body["items"]
    assert failed["success"] is False and failed["user_agent"] == "curl/8.5"
    assert succeeded["success"] is True and succeeded["ip"] == "127.0.0.1"
    assert failed["at"] >= succeeded["at"]
    second_page = await client.get(ME + "/login-history?page=2&size=1", headers=session.headers)
    paged = await second_page.json()
    assert paged["items"] == [succeeded] and paged["pages"] == 2


async def test_a_user_agent_that_is_not_utf8_is_kept_readable_in_the_history(
    client: Client,
) -> None:
    session = await signed_up(client)
    body = json.dumps({"email": session.email, "password": "wrong password"}).encode()
    status, _ = await raw_request(
        client,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: test\r\nUser-Agent: agent \xff\xfe\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body,
    )
    history = await client.get(f"{ME}/login-history", headers=session.headers)
    assert status == 401
    assert history.status == 200
    assert (await history.json())["items"][0]["user_agent"] == "agent \ufffd\ufffd"


async def test_login_history_of_a_user_who_never_logged_in_is_empty(
    client: Client, sign_in: SignIn
) -> None:
    me = await sign_in()
    response = await client.get(ME + "/login-history?size=101", headers=me.headers)
    assert response.status == 422
    empty = await client.get(ME + "/login-history", headers=me.headers)
    assert (await empty.json())["items"] == [] and (await empty.json())["total"] == 0
