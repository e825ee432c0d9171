"""Idempotency-Key (api.md "Conventions"), exercised on the admin adjustment, a credit-moving
POST with a body; the clone and back-test files check it on their own routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.idempotency import KEY_TTL, fingerprint, purge_expired
from db.enums import TransactionType
from db.models import IdempotencyKey
from gr8d.config import Settings
from tests.integration.api.conftest import SignedIn, SignIn
from tests.integration.api.money import balance, ledger_holds, postings

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]


def with_key(signed_in: SignedIn, key: str) -> dict[str, str]:
    return signed_in.headers | {"Idempotency-Key": key}


async def adjust(
    client: Client, admin: SignedIn, user_id: uuid.UUID, body: object, key: str | None = None
) -> tuple[int, object, dict[str, str]]:
    headers = admin.headers if key is None else with_key(admin, key)
    response = await client.post(f"/api/v1/admin/credits/{user_id}", json=body, headers=headers)
    return response.status, await response.json(content_type=None), dict(response.headers)


async def stored_keys(session_factory: Sessions) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(IdempotencyKey)) or 0)


async def test_a_retry_with_the_same_key_and_body_replays_the_first_response(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    body = {"amount": 30, "description": "welcome"}
    first = await adjust(client, admin, user.user_id, body, key="k-1")
    retry = await adjust(client, admin, user.user_id, body, key="k-1")
    assert first[0] == retry[0] == 201
    assert retry[1] == first[1]
    assert retry[2]["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first[2]
    assert await balance(session_factory, user.user_id) == 30
    assert len(await postings(session_factory, user.user_id, TransactionType.ADMIN_ADJUSTMENT)) == 1


async def test_without_a_key_every_request_moves_credits(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    body = {"amount": 30, "description": "welcome"}
    await adjust(client, admin, user.user_id, body)
    await adjust(client, admin, user.user_id, body)
    assert await balance(session_factory, user.user_id) == 60
    assert await stored_keys(session_factory) == 0


async def test_the_same_json_written_differently_is_the_same_request(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    url = f"/api/v1/admin/credits/{user.user_id}"
    headers = with_key(admin, "spacing") | {"Content-Type": "application/json"}
    compact = '{"amount":5,"description":"x"}'
    spaced = '{ "description": "x",  "amount": 5 }'
    first = await client.post(url, data=compact, headers=headers)
    second = await client.post(url, data=spaced, headers=headers)
    assert first.status == second.status == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await balance(session_factory, user.user_id) == 5


async def test_the_same_key_with_another_body_is_409_and_moves_nothing(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    await adjust(client, admin, user.user_id, {"amount": 30, "description": "a"}, key="k")
    status, problem, _ = await adjust(
        client, admin, user.user_id, {"amount": 31, "description": "a"}, key="k"
    )
    assert status == 409
    assert isinstance(problem, dict) and problem["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await balance(session_factory, user.user_id) == 30


async def test_the_same_key_on_another_path_is_409(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    first_user = await sign_in()
    second_user = await sign_in()
    body = {"amount": 30, "description": "a"}
    await adjust(client, admin, first_user.user_id, body, key="k")
    status, _, _ = await adjust(client, admin, second_user.user_id, body, key="k")
    assert status == 409
    assert await balance(session_factory, second_user.user_id) == 0


async def test_keys_belong_to_their_user(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    first_admin = await sign_in(is_superuser=True)
    second_admin = await sign_in(is_superuser=True)
    user = await sign_in()
    body = {"amount": 30, "description": "a"}
    await adjust(client, first_admin, user.user_id, body, key="shared")
    status, _, headers = await adjust(client, second_admin, user.user_id, body, key="shared")
    assert status == 201 and "Idempotent-Replayed" not in headers
    assert await balance(session_factory, user.user_id) == 60


async def test_two_identical_requests_at_once_move_credits_once(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    body = {"amount": 30, "description": "race"}
    results = await asyncio.gather(
        *(adjust(client, admin, user.user_id, body, key="race") for _ in range(2))
    )
    assert [status for status, _, _ in results] == [201, 201]
    assert results[0][1] == results[1][1]
    assert sum("Idempotent-Replayed" in headers for _, _, headers in results) == 1
    assert await balance(session_factory, user.user_id) == 30
    assert await ledger_holds(session_factory)


async def claim_without_committing(
    session: AsyncSession, admin: SignedIn, user_id: uuid.UUID, body: dict[str, object], key: str
) -> None:
    """What a first request does before its handler returns: the key row, not yet committed."""
    raw = json.dumps(body).encode()
    await session.execute(
        insert(IdempotencyKey).values(
            user_id=admin.user_id,
            key=key,
            request_fingerprint=fingerprint("POST", f"/api/v1/admin/credits/{user_id}", raw),
            response_status=201,
            response_body={"from": "the first request"},
        )
    )


async def test_a_retry_waits_for_the_unfinished_first_request_and_replays_it(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    body = {"amount": 30, "description": "slow"}
    async with session_factory() as first, first.begin():
        await claim_without_committing(first, admin, user.user_id, body, "slow")
        retry = asyncio.create_task(adjust(client, admin, user.user_id, body, key="slow"))
        await asyncio.sleep(0.5)
        assert not retry.done()  # blocked on the first request's uncommitted key row
    status, replayed, headers = await retry
    assert (status, replayed, headers["Idempotent-Replayed"]) == (
        201,
        {"from": "the first request"},
        "true",
    )
    assert await balance(session_factory, user.user_id) == 0


async def test_a_retry_runs_itself_when_the_unfinished_first_request_fails(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    body = {"amount": 30, "description": "slow"}
    async with session_factory() as first:
        await first.begin()
        await claim_without_committing(first, admin, user.user_id, body, "slow")
        retry = asyncio.create_task(adjust(client, admin, user.user_id, body, key="slow"))
        await asyncio.sleep(0.5)
        assert not retry.done()
        await first.rollback()
    status, _, headers = await retry
    assert status == 201 and "Idempotent-Replayed" not in headers
    assert await balance(session_factory, user.user_id) == 30


async def test_a_refused_request_is_not_remembered(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in(credits=10)
    body = {"amount": -20, "description": "fee"}
    refused = await adjust(client, admin, user.user_id, body, key="later")
    await adjust(client, admin, user.user_id, {"amount": 10, "description": "top up"})
    accepted = await adjust(client, admin, user.user_id, body, key="later")
    assert refused[0] == 402 and accepted[0] == 201
    assert await balance(session_factory, user.user_id) == 0


async def test_a_key_must_be_1_to_255_printable_characters(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    body = {"amount": 30, "description": "a"}
    for key in ("x" * 256, "", "tab\there"):
        status, problem, _ = await adjust(client, admin, user.user_id, body, key=key)
        assert status == 422, key
        assert isinstance(problem, dict) and problem["code"] == "INVALID_IDEMPOTENCY_KEY"
    status, _, _ = await adjust(client, admin, user.user_id, body, key="x" * 255)
    assert status == 201
    assert await balance(session_factory, user.user_id) == 30


async def test_an_expired_key_is_forgotten_and_the_request_runs_again(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    body = {"amount": 30, "description": "a"}
    await adjust(client, admin, user.user_id, body, key="old")
    async with session_factory() as session, session.begin():
        await session.execute(
            update(IdempotencyKey).values(created_at=func.now() - KEY_TTL - dt.timedelta(seconds=1))
        )
    status, _, headers = await adjust(client, admin, user.user_id, body, key="old")
    assert status == 201 and "Idempotent-Replayed" not in headers
    assert await balance(session_factory, user.user_id) == 60


async def test_purge_deletes_only_expired_keys(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    for key in ("a", "b"):
        await adjust(client, admin, user.user_id, {"amount": 1, "description": key}, key=key)
    async with session_factory() as session, session.begin():
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "a")
            .values(created_at=func.now() - KEY_TTL - dt.timedelta(minutes=1))
        )
    async with session_factory() as session, session.begin():
        purged = await purge_expired(session, now=dt.datetime.now(dt.UTC))
    assert purged == 1
    assert await stored_keys(session_factory) == 1


async def test_a_running_api_purges_expired_keys_by_itself(
    api_settings: Settings, client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    for key in ("old", "new"):
        await adjust(client, admin, user.user_id, {"amount": 1, "description": key}, key=key)
    async with session_factory() as session, session.begin():
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "old")
            .values(created_at=func.now() - KEY_TTL - dt.timedelta(minutes=1))
        )

    purging = TestClient(TestServer(create_app(api_settings, purge_every_seconds=0.05)))
    await purging.start_server()
    try:
        for _ in range(200):  # up to 10 s
            if await stored_keys(session_factory) == 1:
                break
            await asyncio.sleep(0.05)
    finally:
        await purging.close()

    assert await stored_keys(session_factory) == 1
    async with session_factory() as session:
        assert await session.get(IdempotencyKey, (admin.user_id, "new")) is not None


async def test_the_stored_response_is_the_one_sent(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    _, body, _ = await adjust(client, admin, user.user_id, {"amount": 2, "description": "a"}, "s")
    async with session_factory() as session:
        row = await session.get_one(IdempotencyKey, (admin.user_id, "s"))
    assert row.response_status == 201
    assert row.response_body == body
    assert len(row.request_fingerprint) == 64
    assert json.dumps(row.response_body)


async def test_the_service_is_idempotent_on_its_reference_not_on_the_key(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    buyer = await sign_in()
    charge = {"user_id": str(buyer.user_id), "amount": 9, "reference": "p-1"}
    headers = service_headers | {"Idempotency-Key": "svc"}
    first = await client.post("/api/v1/credits/charge", json=charge, headers=headers)
    second = await client.post("/api/v1/credits/charge", json=charge, headers=headers)
    assert first.status == second.status == 201
    assert await balance(session_factory, buyer.user_id) == 9
    assert await stored_keys(session_factory) == 0
