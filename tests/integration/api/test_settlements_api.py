"""Settlements over HTTP: my settlements, what I owe, paying in credits, an author's earnings
and the day commits of a strategy."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.enums import TransactionType
from db.models import DayCommit, Settlement
from settlement import rules, service
from tests.factories import add_execution, add_strategy, add_user, policy
from tests.integration.api.conftest import SignedIn, SignIn
from tests.integration.api.money import balance, ledger_holds, postings

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]

NOON = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)
DAY_INDEX = rules.day_index_of(NOON)


async def trade_and_settle(
    session_factory: Sessions,
    *,
    trader: uuid.UUID,
    strategy: uuid.UUID,
    at: dt.datetime = NOON,
    amount: str = "1",
    price: str = "1000",
) -> Settlement:
    """`trader` trades amount × price on `strategy` at `at`, and that day is settled. With the
    default figures and tier 0: 1,000 USDT0 → fee 2 USDT0 = 200 credits, 20 to the author."""
    async with session_factory() as session, session.begin():
        await add_execution(
            session,
            user_id=trader,
            strategy_id=strategy,
            amount=amount,
            price=price,
            executed_at=at,
        )
        await service.settle_day(session, day_index=rules.day_index_of(at), policy=policy())
    async with session_factory() as session:
        found = await session.scalars(
            select(Settlement).where(
                Settlement.user_id == trader,
                Settlement.strategy_id == strategy,
                Settlement.day_index == rules.day_index_of(at),
            )
        )
        return found.one()


async def author_and_strategy(
    session_factory: Sessions, **values: Any
) -> tuple[uuid.UUID, uuid.UUID]:
    async with session_factory() as session, session.begin():
        author = await add_user(session)
        return author, await add_strategy(session, author, **values)


async def code_of(response: Any) -> str:
    return str((await response.json(content_type=None))["code"])


async def test_my_settlements_newest_day_first_with_filters(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(), await sign_in()
    _, first = await author_and_strategy(session_factory)
    _, second = await author_and_strategy(session_factory)
    older = await trade_and_settle(session_factory, trader=me.user_id, strategy=first)
    newer = await trade_and_settle(
        session_factory, trader=me.user_id, strategy=second, at=NOON + dt.timedelta(days=1)
    )
    await trade_and_settle(
        session_factory, trader=other.user_id, strategy=first, at=NOON + dt.timedelta(days=2)
    )

    async def ids(**params: str) -> list[str]:
        response = await client.get("/api/v1/settlements", params=params, headers=me.headers)
        assert response.status == 200
        return [item["id"] for item in (await response.json())["items"]]

    page = await (await client.get("/api/v1/settlements", headers=me.headers)).json()
    assert [item["id"] for item in page["items"]] == [str(newer.id), str(older.id)]
    assert page["items"][1] | {"id": None, "created_at": None} == {
        "id": None,
        "user_id": str(me.user_id),
        "strategy_id": str(first),
        "author_id": str(older.author_id),
        "day_index": DAY_INDEX,
        "day": "2025-03-10",
        "total_volume": "1000.00000000",
        "fee_amount": "2.00000000",
        "fee_credits": 200,
        "user_tier": 0,
        "author_tier": 0,
        "discount_bps": 0,
        "author_fee_credits": 20,
        "platform_fee_credits": 180,
        "status": "PENDING",
        "paid_via": None,
        "paid_at": None,
        "paid_tx_hash": None,
        "onchain_settlement_id": None,
        "created_at": None,
    }
    assert await ids(strategy=str(first)) == [str(older.id)]
    assert await ids(**{"from": "2025-03-11"}) == [str(newer.id)]
    assert await ids(to="2025-03-10") == [str(older.id)]
    assert await ids(status="PAID") == []
    for params in ({"status": "OPEN"}, {"from": "2025-03-12", "to": "2025-03-11"}):
        response = await client.get("/api/v1/settlements", params=params, headers=me.headers)
        assert response.status == 422
    assert (await client.get("/api/v1/settlements")).status == 401


async def test_unpaid_sums_my_pending_settlements(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(), await sign_in()
    _, strategy = await author_and_strategy(session_factory)
    await trade_and_settle(session_factory, trader=me.user_id, strategy=strategy)
    await trade_and_settle(
        session_factory,
        trader=me.user_id,
        strategy=strategy,
        at=NOON + dt.timedelta(days=1),
        amount="0.5",
    )
    await trade_and_settle(session_factory, trader=other.user_id, strategy=strategy)
    response = await client.get("/api/v1/settlements/unpaid", headers=me.headers)
    nothing = await sign_in()
    empty = await client.get("/api/v1/settlements/unpaid", headers=nothing.headers)
    assert response.status == 200
    assert await response.json() == {"count": 2, "fee_credits": 300, "fee_amount": "3.00000000"}
    assert await empty.json() == {"count": 0, "fee_credits": 0, "fee_amount": "0"}


async def pay(client: Client, me: SignedIn, settlement_id: uuid.UUID, **headers: str) -> Any:
    return await client.post(
        f"/api/v1/settlements/{settlement_id}/pay", headers={**me.headers, **headers}
    )


async def test_paying_in_credits_moves_the_fee_and_the_authors_share_exactly_once(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    author, strategy = await author_and_strategy(session_factory)
    settlement = await trade_and_settle(session_factory, trader=me.user_id, strategy=strategy)
    async with session_factory() as session, session.begin():
        await ledger.post(session, user_id=me.user_id, amount=500, type=TransactionType.PURCHASE)
    first = await pay(client, me, settlement.id)
    second = await pay(client, me, settlement.id)
    body = await first.json()
    assert first.status == 200
    assert body["status"] == "PAID" and body["paid_via"] == "CREDITS" and body["paid_at"]
    assert second.status == 409 and await code_of(second) == "SETTLEMENT_NOT_PENDING"
    assert await balance(session_factory, me.user_id) == 300
    assert await balance(session_factory, author) == 20
    assert await postings(session_factory, me.user_id, TransactionType.SETTLEMENT_FEE) == [
        (-200, settlement.id)
    ]
    assert await postings(session_factory, author, TransactionType.AUTHOR_FEE) == [
        (20, settlement.id)
    ]
    assert await ledger_holds(session_factory)
    unpaid = await client.get("/api/v1/settlements/unpaid", headers=me.headers)
    assert (await unpaid.json())["count"] == 0


async def test_a_retry_with_the_same_idempotency_key_replays_and_moves_nothing(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    author, strategy = await author_and_strategy(session_factory)
    settlement = await trade_and_settle(session_factory, trader=me.user_id, strategy=strategy)
    async with session_factory() as session, session.begin():
        await ledger.post(session, user_id=me.user_id, amount=250, type=TransactionType.PURCHASE)
    first = await pay(client, me, settlement.id, **{"Idempotency-Key": "pay-once"})
    retry = await pay(client, me, settlement.id, **{"Idempotency-Key": "pay-once"})
    assert first.status == 200 and retry.status == 200
    assert await retry.json() == await first.json()
    assert await balance(session_factory, me.user_id) == 50
    assert await balance(session_factory, author) == 20


async def test_paying_without_enough_credits_is_402_and_moves_nothing(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    author, strategy = await author_and_strategy(session_factory)
    settlement = await trade_and_settle(session_factory, trader=me.user_id, strategy=strategy)
    async with session_factory() as session, session.begin():
        await ledger.post(session, user_id=me.user_id, amount=199, type=TransactionType.PURCHASE)
    response = await pay(client, me, settlement.id)
    assert response.status == 402 and await code_of(response) == "INSUFFICIENT_CREDITS"
    assert await balance(session_factory, me.user_id) == 199
    assert await balance(session_factory, author) == 0
    async with session_factory() as session:
        assert (await session.get_one(Settlement, settlement.id)).status == "PENDING"


async def test_someone_elses_or_an_unknown_settlement_cannot_be_paid(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(credits=1000), await sign_in(credits=1000)
    _, strategy = await author_and_strategy(session_factory)
    async with session_factory() as session, session.begin():
        await ledger.post(
            session, user_id=other.user_id, amount=-1000, type=TransactionType.ADMIN_ADJUSTMENT
        )
    theirs = await trade_and_settle(session_factory, trader=other.user_id, strategy=strategy)
    foreign = await pay(client, me, theirs.id)
    unknown = await pay(client, me, uuid.uuid4())
    malformed = await client.post("/api/v1/settlements/x/pay", headers=me.headers)
    anonymous = await client.post(f"/api/v1/settlements/{theirs.id}/pay")
    assert foreign.status == 404 and await code_of(foreign) == "SETTLEMENT_NOT_FOUND"
    assert unknown.status == 404
    assert malformed.status == 422
    assert anonymous.status == 401
    assert await balance(session_factory, me.user_id) == 1000


async def test_earnings_are_my_share_of_other_users_fees_per_strategy_and_day(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    async with session_factory() as session, session.begin():
        strategy = await add_strategy(session, me.user_id)
        other_strategy = await add_strategy(session, me.user_id)
        payer = await add_user(session, credits=1000)
        debtor = await add_user(session)
    await trade_and_settle(session_factory, trader=payer, strategy=strategy)
    await trade_and_settle(session_factory, trader=debtor, strategy=strategy, amount="2")
    await trade_and_settle(session_factory, trader=me.user_id, strategy=strategy, amount="5")
    await trade_and_settle(
        session_factory, trader=payer, strategy=other_strategy, at=NOON + dt.timedelta(days=1)
    )
    response = await client.get("/api/v1/settlements/earnings", headers=me.headers)
    page = await response.json()
    assert response.status == 200 and page["total"] == 2
    newest, oldest = page["items"]
    assert newest["strategy_id"] == str(other_strategy) and newest["day"] == "2025-03-11"
    assert (newest["earned_credits"], newest["pending_credits"]) == (20, 0)
    assert oldest == {
        "strategy_id": str(strategy),
        "day_index": DAY_INDEX,
        "day": "2025-03-10",
        "settlements": 2,
        "total_volume": "3000.00000000",
        "fee_credits": 600,
        "earned_credits": 20,
        "pending_credits": 40,
    }
    filtered = await client.get(
        "/api/v1/settlements/earnings", params={"strategy": str(strategy)}, headers=me.headers
    )
    assert [item["day"] for item in (await filtered.json())["items"]] == ["2025-03-10"]
    paged = await client.get(
        "/api/v1/settlements/earnings", params={"size": "1", "page": "2"}, headers=me.headers
    )
    assert [item["day"] for item in (await paged.json())["items"]] == ["2025-03-10"]
    trader_view = await client.get(
        "/api/v1/settlements/earnings", headers=(await sign_in()).headers
    )
    assert (await trader_view.json())["total"] == 0


async def test_a_day_commit_is_shown_to_the_owner_and_for_public_strategies(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner, stranger = await sign_in(), await sign_in()
    async with session_factory() as session, session.begin():
        private = await add_strategy(session, owner.user_id)
        public = await add_strategy(session, owner.user_id, is_public=True)
        trader = await add_user(session)
    await trade_and_settle(session_factory, trader=trader, strategy=private)
    await trade_and_settle(session_factory, trader=trader, strategy=public, amount="3")
    async with session_factory() as session:
        commits = await session.scalars(select(DayCommit).where(DayCommit.strategy_id == private))
        commit = commits.one()

    def url(strategy: uuid.UUID, day_index: int | str = DAY_INDEX) -> str:
        return f"/api/v1/strategies/{strategy}/commits/{day_index}"

    mine = await client.get(url(private), headers=owner.headers)
    hidden = await client.get(url(private), headers=stranger.headers)
    shown = await client.get(url(public), headers=stranger.headers)
    missing = await client.get(url(private, DAY_INDEX + 1), headers=owner.headers)
    assert mine.status == 200
    assert await mine.json() == {
        "strategy_id": str(private),
        "day_index": DAY_INDEX,
        "day": "2025-03-10",
        "merkle_root": commit.merkle_root,
        "leaf_count": 1,
        "total_volume": "1000.00000000",
        "onchain_tx_hash": None,
        "committed_at": None,
    }
    assert hidden.status == 404 and await code_of(hidden) == "DAY_COMMIT_NOT_FOUND"
    assert shown.status == 200 and (await shown.json())["total_volume"] == "3000.00000000"
    assert missing.status == 404
    for bad in ("-1", "99999999999999999999", "today"):
        response = await client.get(url(private, bad), headers=owner.headers)
        assert response.status == 422, bad
    assert (await client.get(url(public))).status == 401
