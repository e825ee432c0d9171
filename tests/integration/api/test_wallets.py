"""Wallet linking by Sign-In with Ethereum, with real keys and real signatures."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import wallets
from accounts.errors import ChallengeExpired
from db.models import StakingRecord, Wallet
from gr8d.config import Settings
from gr8d.redis import create_redis
from tests.factories import add_user
from tests.integration.api.chain_rows import WEI_PER_G8D, add_chain_event
from tests.integration.api.conftest import SignedIn, SignIn, start_client

Client = TestClient[object, object]


def sign(account: LocalAccount, message: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=message)).signature.hex()


async def challenge(client: Client, me: SignedIn, address: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/wallets/challenge", json={"address": address}, headers=me.headers
    )
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def link(
    client: Client, me: SignedIn, message: str, signature: str
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        "/api/v1/wallets", json={"message": message, "signature": signature}, headers=me.headers
    )
    return response.status, await response.json(content_type=None)


async def link_new_wallet(client: Client, me: SignedIn) -> tuple[LocalAccount, dict[str, Any]]:
    account = Account.create()
    issued = await challenge(client, me, account.address)
    status, body = await link(client, me, issued["message"], sign(account, issued["message"]))
    assert status == 201, body
    return account, body


async def stored_wallets(
    session_factory: async_sessionmaker[AsyncSession],
) -> list[Wallet]:
    async with session_factory() as session:
        return list(await session.scalars(select(Wallet).order_by(Wallet.created_at)))


async def test_a_signed_challenge_links_a_verified_wallet(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    me = await sign_in()
    account = Account.create()
    issued = await challenge(client, me, account.address.lower())
    message = issued["message"]
    assert message.startswith("localhost wants you to sign in with your Ethereum account:\n")
    assert f"\n{account.address}\n" in message  # EIP-55 form
    assert "\nURI: http://localhost\nVersion: 1\nChain ID: 10143\n" in message
    assert f"\nNonce: {issued['nonce']}\n" in message
    signature = sign(account, message)

    status, body = await link(client, me, message, signature)

    assert status == 201, body
    assert body["address"] == account.address and body["is_verified"] is True
    [wallet] = await stored_wallets(session_factory)
    assert wallet.user_id == me.user_id
    assert wallet.address == account.address.lower()
    assert wallet.is_verified and wallet.verification_signature == signature
    assert str(wallet.id) == body["id"]


async def test_a_challenge_serves_only_once(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    account = Account.create()
    issued = await challenge(client, me, account.address)
    signature = sign(account, issued["message"])
    assert (await link(client, me, issued["message"], signature))[0] == 201

    status, body = await link(client, me, issued["message"], signature)

    assert status == 422 and body["code"] == "CHALLENGE_INVALID"


async def test_a_failed_attempt_spends_the_nonce_too(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    account = Account.create()
    issued = await challenge(client, me, account.address)
    wrong = sign(Account.create(), issued["message"])
    assert (await link(client, me, issued["message"], wrong))[1]["code"] == "SIGNATURE_INVALID"

    status, body = await link(client, me, issued["message"], sign(account, issued["message"]))

    assert status == 422 and body["code"] == "CHALLENGE_INVALID"


async def test_a_message_whose_expiration_has_passed_is_refused(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    me = await sign_in()
    account = Account.create()
    issued = await challenge(client, me, account.address)
    lapsed = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = re.sub(r"Expiration Time: \S+", f"Expiration Time: {lapsed}", issued["message"])

    status, body = await link(client, me, message, sign(account, message))

    assert status == 422 and body["code"] == "CHALLENGE_EXPIRED"
    assert await stored_wallets(session_factory) == []


async def test_the_servers_ten_minutes_bound_a_challenge_whatever_the_message_says(
    api_settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    account = Account.create()
    redis = create_redis(api_settings)
    site = wallets.SiweSite(domain="localhost", uri="http://localhost", chain_id=10143)
    issued_at = dt.datetime.now(dt.UTC)
    try:
        async with session_factory() as session, session.begin():
            user_id = await add_user(session)
            issued = await wallets.issue_challenge(
                session, redis=redis, user_id=user_id, address=account.address, site=site
            )
        message = re.sub(r"\nExpiration Time: \S+", "", issued.message)  # no end of its own
        async with session_factory() as session, session.begin():
            with pytest.raises(ChallengeExpired):
                await wallets.link_wallet(
                    session,
                    redis=redis,
                    user_id=user_id,
                    message=message,
                    signature=sign(account, message),
                    site=site,
                    now=issued_at + dt.timedelta(minutes=10, seconds=1),
                )
    finally:
        await redis.aclose()


@pytest.mark.parametrize(
    ("field", "replacement", "code"),
    [
        (r"^localhost ", "evil.example ", "DOMAIN_MISMATCH"),
        (r"URI: \S+", "URI: https://evil.example", "URI_MISMATCH"),
        (r"Chain ID: \d+", "Chain ID: 1", "CHAIN_ID_MISMATCH"),
    ],
)
async def test_a_message_for_another_site_or_chain_is_refused(
    client: Client,
    sign_in: SignIn,
    session_factory: async_sessionmaker[AsyncSession],
    field: str,
    replacement: str,
    code: str,
) -> None:
    me = await sign_in()
    account = Account.create()
    issued = await challenge(client, me, account.address)
    message = re.sub(field, replacement, issued["message"], count=1)
    assert message != issued["message"]

    status, body = await link(client, me, message, sign(account, message))

    assert status == 422 and body["code"] == code
    assert await stored_wallets(session_factory) == []


async def test_a_challenge_for_one_address_cannot_link_another(
    client: Client, sign_in: SignIn
) -> None:
    me = await sign_in()
    challenged, other = Account.create(), Account.create()
    issued = await challenge(client, me, challenged.address)
    message = issued["message"].replace(challenged.address, other.address)

    status, body = await link(client, me, message, sign(other, message))

    assert status == 422 and body["code"] == "ADDRESS_MISMATCH"


async def test_another_users_nonce_is_not_mine_to_use(client: Client, sign_in: SignIn) -> None:
    alice, mallory = await sign_in(), await sign_in()
    account = Account.create()
    issued = await challenge(client, alice, account.address)

    status, body = await link(client, mallory, issued["message"], sign(account, issued["message"]))

    assert status == 422 and body["code"] == "CHALLENGE_INVALID"


async def test_a_signature_by_another_key_is_refused(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    me = await sign_in()
    account = Account.create()
    issued = await challenge(client, me, account.address)

    status, body = await link(
        client, me, issued["message"], sign(Account.create(), issued["message"])
    )

    assert status == 422 and body["code"] == "SIGNATURE_INVALID"
    assert await stored_wallets(session_factory) == []


async def test_a_malformed_message_or_signature_is_refused(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    status, body = await link(client, me, "sign me, please", "0x" + "ab" * 65)
    assert status == 422 and body["code"] == "INVALID_SIWE_MESSAGE"
    status, body = await link(client, me, "sign me, please", "0x1234")
    assert status == 422 and body["code"] == "VALIDATION_ERROR"
    assert body["errors"][0]["loc"] == ["body", "signature"]


async def test_a_challenge_needs_an_address(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    response = await client.post(
        "/api/v1/wallets/challenge", json={"address": "0x123"}, headers=me.headers
    )
    assert response.status == 422
    assert (await response.json(content_type=None))["code"] == "VALIDATION_ERROR"


async def test_an_address_verified_by_another_user_is_a_conflict(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    alice, bob = await sign_in(), await sign_in()
    account = Account.create()
    late = await challenge(client, bob, account.address)  # asked before alice linked it
    await link(client, alice, *_signed(account, await challenge(client, alice, account.address)))

    early = await client.post(
        "/api/v1/wallets/challenge", json={"address": account.address}, headers=bob.headers
    )
    status, body = await link(client, bob, *_signed(account, late))

    assert early.status == 409
    assert (await early.json(content_type=None))["code"] == "WALLET_OWNED_BY_ANOTHER_USER"
    assert status == 409 and body["code"] == "WALLET_OWNED_BY_ANOTHER_USER"
    [wallet] = await stored_wallets(session_factory)
    assert wallet.user_id == alice.user_id


def _signed(account: LocalAccount, issued: dict[str, Any]) -> tuple[str, str]:
    return issued["message"], sign(account, issued["message"])


async def test_linking_my_wallet_again_keeps_one_row(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    me = await sign_in()
    account, first = await link_new_wallet(client, me)
    again = await challenge(client, me, account.address)

    status, body = await link(client, me, *_signed(account, again))

    assert status == 201 and body["id"] == first["id"]
    assert len(await stored_wallets(session_factory)) == 1


async def test_an_unverified_claim_of_another_user_yields_to_the_signer(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    me = await sign_in()
    account = Account.create()
    async with session_factory() as session, session.begin():
        squatter = await add_user(session)
        session.add(Wallet(user_id=squatter, address=account.address.lower(), is_verified=False))

    status, _ = await link(
        client, me, *_signed(account, await challenge(client, me, account.address))
    )

    assert status == 201
    [wallet] = await stored_wallets(session_factory)
    assert wallet.user_id == me.user_id and wallet.is_verified


async def test_the_chain_id_comes_from_the_deployments_file(
    api_settings: Settings, sign_in: SignIn, flushed_redis: None, tmp_path: Path
) -> None:
    deployments = tmp_path / "deployments.json"
    deployments.write_text(json.dumps({"chain_id": 143, "start_block": 0, "contracts": {}}))
    client = await start_client(
        api_settings.model_copy(
            update={
                "deployments_file": str(deployments),
                "siwe_domain": "app.gr8diy.example",
                "siwe_uri": "https://app.gr8diy.example",
            }
        )
    )
    try:
        me = await sign_in()
        account = Account.create()
        issued = await challenge(client, me, account.address)
        status, _ = await link(client, me, *_signed(account, issued))
    finally:
        await client.close()
    assert issued["message"].startswith("app.gr8diy.example wants you")
    assert "\nChain ID: 143\n" in issued["message"]
    assert status == 201


async def test_linking_a_wallet_applies_its_parked_stakes(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    me = await sign_in()
    account = Account.create()
    at = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    async with session_factory() as session, session.begin():
        tx_hash = await add_chain_event(
            session,
            "Staked",
            {"user": account.address.lower(), "amount": 6000 * WEI_PER_G8D, "timestamp": 1},
            block_number=7,
            at=at,
            status="PARKED",
        )

    await link(client, me, *_signed(account, await challenge(client, me, account.address)))

    async with session_factory() as session:
        [record] = await session.scalars(select(StakingRecord))
    assert record.user_id == me.user_id and record.onchain_tx_hash == tx_hash
    assert record.type == "STAKE" and record.amount == 6000 and record.tier == 1


async def test_my_wallets_are_listed_and_only_mine(client: Client, sign_in: SignIn) -> None:
    me, other = await sign_in(), await sign_in()
    _, older = await link_new_wallet(client, me)
    _, newer = await link_new_wallet(client, me)
    await link_new_wallet(client, other)

    response = await client.get("/api/v1/wallets", headers=me.headers)
    body = await response.json()

    assert response.status == 200 and body["total"] == 2
    assert [item["id"] for item in body["items"]] == [newer["id"], older["id"]]


async def test_i_can_unlink_my_wallet_but_not_anothers(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    me, other = await sign_in(), await sign_in()
    _, mine = await link_new_wallet(client, me)
    _, theirs = await link_new_wallet(client, other)

    refused = await client.delete(f"/api/v1/wallets/{theirs['id']}", headers=me.headers)
    removed = await client.delete(f"/api/v1/wallets/{mine['id']}", headers=me.headers)

    assert refused.status == 404
    assert (await refused.json(content_type=None))["code"] == "WALLET_NOT_FOUND"
    assert removed.status == 204
    assert [str(w.id) for w in await stored_wallets(session_factory)] == [theirs["id"]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/wallets/challenge"),
        ("POST", "/api/v1/wallets"),
        ("GET", "/api/v1/wallets"),
        ("DELETE", "/api/v1/wallets/00000000-0000-0000-0000-000000000001"),
    ],
)
async def test_wallet_routes_need_a_token(client: Client, method: str, path: str) -> None:
    response = await client.request(method, path, json={})
    assert response.status == 401
