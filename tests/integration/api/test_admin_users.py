"""/api/v1/admin/users: administrators search, read and change users."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import User
from tests.factories import add_user
from tests.integration.api.auth_flows import Client, refresh, signed_up
from tests.integration.api.conftest import SignIn

USERS = "/api/v1/admin/users"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", USERS), ("GET", f"{USERS}/{uuid.uuid4()}"), ("PATCH", f"{USERS}/{uuid.uuid4()}")],
)
async def test_admin_routes_are_403_for_users_and_401_without_a_token(
    client: Client, sign_in: SignIn, method: str, path: str
) -> None:
    user = await sign_in()
    as_user = await client.request(method, path, json={}, headers=user.headers)
    anonymous = await client.request(method, path, json={})
    assert as_user.status == 403 and (await as_user.json())["code"] == "ADMIN_ONLY"
    assert anonymous.status == 401


async def test_users_are_searched_by_part_of_the_email_in_any_case(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    admin = await sign_in(is_superuser=True, email="root@ops.example")
    async with session_factory() as session, session.begin():
        for email in ("ann@acme.example", "bob@acme.example", "carl@other.example", "d_e@x.io"):
            await add_user(session, email=email)

    acme = await client.get(USERS, params={"email": "ACME"}, headers=admin.headers)
    underscore = await client.get(USERS, params={"email": "d_"}, headers=admin.headers)
    literal = await client.get(USERS, params={"email": "%"}, headers=admin.headers)
    everyone = await client.get(USERS, params={"size": 2, "page": 2}, headers=admin.headers)

    acme_body = await acme.json()
    assert acme.status == 200 and acme_body["total"] == 2
    assert sorted(item["email"] for item in acme_body["items"]) == [
        "ann@acme.example",
        "bob@acme.example",
    ]
    assert [item["email"] for item in (await underscore.json())["items"]] == ["d_e@x.io"]
    assert (await literal.json())["total"] == 0
    paged = await everyone.json()
    assert paged["total"] == 5 and paged["pages"] == 3 and len(paged["items"]) == 2


async def test_one_user_is_read_by_id_and_an_unknown_id_is_404(
    client: Client, sign_in: SignIn
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in(manual_tier=2)

    found = await client.get(f"{USERS}/{user.user_id}", headers=admin.headers)
    missing = await client.get(f"{USERS}/{uuid.uuid4()}", headers=admin.headers)
    malformed = await client.get(f"{USERS}/not-a-uuid", headers=admin.headers)

    assert found.status == 200 and (await found.json())["manual_tier"] == 2
    assert missing.status == 404 and (await missing.json())["code"] == "USER_NOT_FOUND"
    assert malformed.status == 422


async def test_an_admin_sets_and_clears_a_manual_tier(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    path = f"{USERS}/{user.user_id}"

    set_tier = await client.patch(path, json={"manual_tier": 5}, headers=admin.headers)
    untouched = await client.patch(path, json={"is_superuser": False}, headers=admin.headers)
    async with session_factory() as session:
        stored = await session.get_one(User, user.user_id)
    cleared = await client.patch(path, json={"manual_tier": None}, headers=admin.headers)

    assert set_tier.status == 200 and (await set_tier.json())["manual_tier"] == 5
    assert (await untouched.json())["manual_tier"] == 5 and stored.manual_tier == 5
    assert cleared.status == 200 and (await cleared.json())["manual_tier"] is None


@pytest.mark.parametrize(
    "payload",
    [{"manual_tier": 6}, {"manual_tier": -1}, {"is_active": None}, {"email": "x@example.com"}],
    ids=["tier too high", "tier negative", "null activity", "unknown field"],
)
async def test_admin_changes_outside_the_rules_are_refused(
    client: Client, sign_in: SignIn, payload: dict[str, object]
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    response = await client.patch(f"{USERS}/{user.user_id}", json=payload, headers=admin.headers)
    assert response.status == 422 and (await response.json())["code"] == "VALIDATION_ERROR"


async def test_deactivating_a_user_ends_their_sessions(client: Client, sign_in: SignIn) -> None:
    admin = await sign_in(is_superuser=True)
    user = await signed_up(client)

    response = await client.patch(
        f"{USERS}/{user.user_id}", json={"is_active": False}, headers=admin.headers
    )

    assert response.status == 200 and (await response.json())["is_active"] is False
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status == 401
    assert (await refresh(client, user.refresh_token)).status == 401


async def test_a_promoted_user_can_use_the_admin_routes(client: Client, sign_in: SignIn) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    assert (await client.get(USERS, headers=user.headers)).status == 403

    promoted = await client.patch(
        f"{USERS}/{user.user_id}", json={"is_superuser": True}, headers=admin.headers
    )

    assert promoted.status == 200 and (await promoted.json())["is_superuser"] is True
    assert (await client.get(USERS, headers=user.headers)).status == 200


@pytest.mark.parametrize("payload", [{"is_superuser": False}, {"is_active": False}])
async def test_an_admin_cannot_demote_or_deactivate_themselves(
    client: Client, sign_in: SignIn, payload: dict[str, object]
) -> None:
    admin = await sign_in(is_superuser=True)
    response = await client.patch(f"{USERS}/{admin.user_id}", json=payload, headers=admin.headers)
    assert response.status == 409 and (await response.json())["code"] == "OWN_ADMIN_RIGHTS"
    assert (await client.get(USERS, headers=admin.headers)).status == 200
