"""Executions over HTTP: the engine's reports, the owner's reads and cancels, Merkle proofs."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import DayCommit, Execution, Follow
from settlement import rules, service
from settlement.merkle import LEAF_TYPES, StandardMerkleTree, process_proof
from tests.factories import add_execution, add_strategy, add_user, policy
from tests.integration.api.conftest import SignIn

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]

NOON = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)
REPORTS = "/api/v1/internal/executions"


def report(user_id: uuid.UUID, strategy_id: uuid.UUID, **values: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "exchange_order_id": f"order-{uuid.uuid4().hex[:12]}",
        "user_id": str(user_id),
        "strategy_id": str(strategy_id),
        "symbol": "BTC/USDT",
        "side": "BUY",
        "order_type": "MARKET",
        "amount": "0.5",
    }
    body.update(values)
    return body


def filled(at: dt.datetime = NOON, price: str = "60000") -> dict[str, Any]:
    return {"status": "FILLED", "executed_price": price, "executed_at": at.isoformat()}


async def strategy_of(session_factory: Sessions, owner: uuid.UUID, **values: Any) -> uuid.UUID:
    async with session_factory() as session, session.begin():
        return await add_strategy(session, owner, **values)


async def stored(session_factory: Sessions, exchange_order_id: str) -> list[Execution]:
    async with session_factory() as session:
        rows = await session.scalars(
            select(Execution).where(Execution.exchange_order_id == exchange_order_id)
        )
        return list(rows)


async def problem_code(response: Any) -> str:
    body = await response.json(content_type=None)
    return str(body["code"])


# --- the engine's reports ----------------------------------------------------------------


async def test_a_report_creates_the_execution_and_its_repeat_changes_nothing(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    me = await sign_in()
    strategy = await strategy_of(session_factory, me.user_id)
    body = report(me.user_id, strategy, order_type="LIMIT", price="59000.12345678")
    first = await client.post(REPORTS, json=body, headers=service_headers)
    again = await client.post(REPORTS, json=body, headers=service_headers)
    created, repeated = await first.json(), await again.json()
    assert first.status == 200 and again.status == 200
    assert (created["created"], created["changed"]) == (True, True)
    assert (repeated["created"], repeated["changed"]) == (False, False)
    assert created["execution"]["price"] == "59000.12345678"
    assert created["execution"]["status"] == "PENDING"
    rows = await stored(session_factory, body["exchange_order_id"])
    assert len(rows) == 1 and rows[0].price == Decimal("59000.12345678")
    assert rows[0].user_id == me.user_id and rows[0].strategy_id == strategy


async def test_a_pending_order_is_filled_and_then_final(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    me = await sign_in()
    strategy = await strategy_of(session_factory, me.user_id)
    body = report(me.user_id, strategy)
    await client.post(REPORTS, json=body, headers=service_headers)
    fill = await client.post(
        REPORTS, json={**body, **filled(), "fee": "-0.01"}, headers=service_headers
    )
    cancel = await client.post(
        REPORTS, json={**body, "status": "CANCELLED"}, headers=service_headers
    )
    refill = await client.post(REPORTS, json={**body, **filled(price="1")}, headers=service_headers)
    assert fill.status == 200 and (await fill.json())["changed"] is True
    assert cancel.status == 409 and await problem_code(cancel) == "EXECUTION_FINAL"
    assert refill.status == 409 and await problem_code(refill) == "EXECUTION_FINAL"
    (row,) = await stored(session_factory, body["exchange_order_id"])
    assert row.status == "FILLED"
    assert row.executed_price == Decimal("60000") and row.executed_at == NOON
    assert row.fee == Decimal("-0.01")


async def test_a_cancelled_order_the_exchange_filled_is_kept_as_filled(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    me = await sign_in()
    strategy = await strategy_of(session_factory, me.user_id)
    body = report(me.user_id, strategy)
    created = await (await client.post(REPORTS, json=body, headers=service_headers)).json()
    execution_id = created["execution"]["id"]
    cancelled = await client.post(f"/api/v1/executions/{execution_id}/cancel", headers=me.headers)
    fill = await client.post(REPORTS, json={**body, **filled()}, headers=service_headers)
    assert cancelled.status == 200 and (await cancelled.json())["status"] == "CANCELLED"
    assert fill.status == 200
    (row,) = await stored(session_factory, body["exchange_order_id"])
    assert row.status == "FILLED"


async def test_a_follower_may_trade_a_followed_strategy_and_a_stranger_may_not(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    author, follower, stranger = await sign_in(), await sign_in(), await sign_in()
    strategy = await strategy_of(session_factory, author.user_id, is_public=True)
    async with session_factory() as session, session.begin():
        await session.execute(
            insert(Follow).values(
                follower_id=follower.user_id, following_id=author.user_id, strategy_id=strategy
            )
        )
    followed = await client.post(
        REPORTS, json=report(follower.user_id, strategy), headers=service_headers
    )
    refused = await client.post(
        REPORTS, json=report(stranger.user_id, strategy), headers=service_headers
    )
    assert followed.status == 200
    assert refused.status == 422 and await problem_code(refused) == "USER_NOT_ON_STRATEGY"


async def test_unknown_users_and_strategies_are_refused(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    me = await sign_in()
    strategy = await strategy_of(session_factory, me.user_id)
    no_strategy = await client.post(
        REPORTS, json=report(me.user_id, uuid.uuid4()), headers=service_headers
    )
    no_user = await client.post(
        REPORTS, json=report(uuid.uuid4(), strategy), headers=service_headers
    )
    assert no_strategy.status == 422
    assert await problem_code(no_strategy) == "EXECUTION_STRATEGY_UNKNOWN"
    assert no_user.status == 422 and await problem_code(no_user) == "EXECUTION_USER_UNKNOWN"


async def test_an_order_id_reused_for_another_order_is_a_conflict(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    me = await sign_in()
    strategy = await strategy_of(session_factory, me.user_id)
    body = report(me.user_id, strategy)
    await client.post(REPORTS, json=body, headers=service_headers)
    other = await client.post(
        REPORTS, json={**body, "side": "SELL", "amount": "2"}, headers=service_headers
    )
    assert other.status == 409 and await problem_code(other) == "EXECUTION_MISMATCH"
    (row,) = await stored(session_factory, body["exchange_order_id"])
    assert row.side == "BUY" and row.amount == Decimal("0.5")


async def test_reports_that_break_the_rules_are_refused_and_store_nothing(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    me = await sign_in()
    strategy = await strategy_of(session_factory, me.user_id)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    cases = {
        "INVALID_EXECUTION_REPORT": [
            report(me.user_id, strategy, status="FILLED"),
            report(me.user_id, strategy, order_type="LIMIT"),
            report(me.user_id, strategy, **filled(at=future)),
            report(me.user_id, strategy, executed_at="0001-01-01T00:00:00+14:00"),
        ],
        "VALIDATION_ERROR": [
            report(me.user_id, strategy, amount="0.123456789"),
            report(me.user_id, strategy, amount="-1"),
            report(me.user_id, strategy, amount="1e13"),
            report(me.user_id, strategy, side="HOLD"),
            report(me.user_id, strategy, executed_at="2025-03-10T12:00:00"),
            report(me.user_id, strategy, unexpected=1),
            report(me.user_id, strategy, symbol="BTC\x00"),
            report(me.user_id, strategy, error_message="broken \x00 text"),
            report(me.user_id, strategy, exchange_order_id="two words"),
        ],
    }
    for code, bodies in cases.items():
        for body in bodies:
            response = await client.post(REPORTS, json=body, headers=service_headers)
            assert response.status == 422, body
            assert await problem_code(response) == code, body
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Execution)) == 0


async def test_a_fill_dated_in_a_settled_day_is_refused(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    me = await sign_in()
    strategy = await strategy_of(session_factory, me.user_id)
    first = report(me.user_id, strategy, **filled())
    await client.post(REPORTS, json=first, headers=service_headers)
    async with session_factory() as session, session.begin():
        await service.settle_day(session, day_index=rules.day_index_of(NOON), policy=policy())
    late = report(me.user_id, strategy, **filled(at=NOON + dt.timedelta(hours=1)))
    refused = await client.post(REPORTS, json=late, headers=service_headers)
    next_day = report(me.user_id, strategy, **filled(at=NOON + dt.timedelta(days=1)))
    accepted = await client.post(REPORTS, json=next_day, headers=service_headers)
    assert refused.status == 409 and await problem_code(refused) == "SETTLEMENT_DAY_CLOSED"
    assert await stored(session_factory, late["exchange_order_id"]) == []
    assert accepted.status == 200


async def test_reports_are_for_the_service_token_only(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in(is_superuser=True)
    strategy = await strategy_of(session_factory, me.user_id)
    body = report(me.user_id, strategy)
    as_user = await client.post(REPORTS, json=body, headers=me.headers)
    anonymous = await client.post(REPORTS, json=body)
    assert as_user.status == 403 and await problem_code(as_user) == "SERVICE_ONLY"
    assert anonymous.status == 401


# --- the owner's reads and cancels -------------------------------------------------------


async def test_the_list_is_mine_newest_first_and_filters(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(), await sign_in()
    async with session_factory() as session, session.begin():
        first = await add_strategy(session, me.user_id)
        second = await add_strategy(session, me.user_id)
        theirs = await add_strategy(session, other.user_id)
        older = await add_execution(
            session,
            user_id=me.user_id,
            strategy_id=first,
            amount="1",
            price="10",
            executed_at=NOON,
        )
        await add_execution(
            session,
            user_id=other.user_id,
            strategy_id=theirs,
            amount="1",
            price="10",
            executed_at=NOON,
        )
    async with session_factory() as session, session.begin():
        newer = await add_execution(
            session,
            user_id=me.user_id,
            strategy_id=second,
            amount="2",
            price="10",
            executed_at=NOON,
            status="PENDING",
        )
    everything = await (await client.get("/api/v1/executions", headers=me.headers)).json()
    by_strategy = await client.get(
        "/api/v1/executions", params={"strategy": str(first)}, headers=me.headers
    )
    pending = await client.get(
        "/api/v1/executions", params={"status": "PENDING"}, headers=me.headers
    )
    far_future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    in_range = await client.get(
        "/api/v1/executions",
        params={"from": "2020-01-01T00:00:00Z", "to": far_future},
        headers=me.headers,
    )
    later = await client.get("/api/v1/executions", params={"from": far_future}, headers=me.headers)
    assert [item["id"] for item in everything["items"]] == [str(newer), str(older)]
    assert everything["total"] == 2
    assert [item["id"] for item in (await by_strategy.json())["items"]] == [str(older)]
    assert [item["id"] for item in (await pending.json())["items"]] == [str(newer)]
    assert (await in_range.json())["total"] == 2
    assert (await later.json())["total"] == 0


async def test_list_filters_are_validated(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    for params in (
        {"status": "DONE"},
        {"strategy": "nope"},
        {"from": "2025-03-10T00:00:00"},
        {"from": "2025-03-11T00:00:00Z", "to": "2025-03-10T00:00:00Z"},
        {"size": "101"},
        # Times Python holds but not once in UTC (year 0 and year 10000).
        {"from": "0001-01-01T00:00:00+14:00"},
        {"to": "9999-12-31T23:59:59-14:00"},
    ):
        response = await client.get("/api/v1/executions", params=params, headers=me.headers)
        assert response.status == 422, params
        assert await problem_code(response) == "VALIDATION_ERROR"
    assert (await client.get("/api/v1/executions")).status == 401


async def test_one_execution_is_mine_only(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(), await sign_in()
    async with session_factory() as session, session.begin():
        strategy = await add_strategy(session, me.user_id)
        mine = await add_execution(
            session,
            user_id=me.user_id,
            strategy_id=strategy,
            amount="1.5",
            price="20",
            executed_at=NOON,
        )
    response = await client.get(f"/api/v1/executions/{mine}", headers=me.headers)
    body = await response.json()
    foreign = await client.get(f"/api/v1/executions/{mine}", headers=other.headers)
    malformed = await client.get("/api/v1/executions/not-a-uuid", headers=me.headers)
    assert response.status == 200
    assert body["amount"] == "1.50000000" and body["executed_price"] == "20.00000000"
    assert body["executed_at"] == "2025-03-10T12:00:00Z"
    assert foreign.status == 404 and await problem_code(foreign) == "EXECUTION_NOT_FOUND"
    assert malformed.status == 422


async def test_only_my_pending_executions_can_be_cancelled(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(), await sign_in()
    async with session_factory() as session, session.begin():
        strategy = await add_strategy(session, me.user_id)
        pending = await add_execution(
            session,
            user_id=me.user_id,
            strategy_id=strategy,
            amount="1",
            price="1",
            executed_at=NOON,
            status="PENDING",
        )
        done = await add_execution(
            session,
            user_id=me.user_id,
            strategy_id=strategy,
            amount="1",
            price="1",
            executed_at=NOON,
        )
    foreign = await client.post(f"/api/v1/executions/{pending}/cancel", headers=other.headers)
    cancelled = await client.post(f"/api/v1/executions/{pending}/cancel", headers=me.headers)
    twice = await client.post(f"/api/v1/executions/{pending}/cancel", headers=me.headers)
    filled_one = await client.post(f"/api/v1/executions/{done}/cancel", headers=me.headers)
    assert foreign.status == 404
    assert cancelled.status == 200 and (await cancelled.json())["status"] == "CANCELLED"
    assert twice.status == 409 and await problem_code(twice) == "EXECUTION_NOT_PENDING"
    assert filled_one.status == 409
    async with session_factory() as session:
        statuses = dict((await session.execute(select(Execution.id, Execution.status))).all())
    assert statuses == {pending: "CANCELLED", done: "FILLED"}


# --- Merkle proofs ----------------------------------------------------------------------


async def test_the_proof_of_a_filled_execution_verifies_against_the_committed_root(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    async with session_factory() as session, session.begin():
        author = await add_user(session)
        strategy = await add_strategy(session, author)
        other_trader = await add_user(session)
        mine = [
            await add_execution(
                session,
                user_id=me.user_id,
                strategy_id=strategy,
                amount=f"{n}.25",
                price="100.5",
                executed_at=NOON + dt.timedelta(minutes=n),
                side=side,
            )
            for n, side in ((1, "BUY"), (2, "SELL"), (3, "BUY"))
        ]
        for n in range(4):
            await add_execution(
                session,
                user_id=other_trader,
                strategy_id=strategy,
                amount="0.00000001",
                price="7",
                executed_at=NOON + dt.timedelta(seconds=n),
            )
        await service.settle_day(session, day_index=rules.day_index_of(NOON), policy=policy())
    async with session_factory() as session:
        commit = await session.scalar(select(DayCommit).where(DayCommit.strategy_id == strategy))
    assert commit is not None
    for execution_id in mine:
        response = await client.get(f"/api/v1/executions/{execution_id}/proof", headers=me.headers)
        body = await response.json()
        assert response.status == 200
        assert body["root"] == commit.merkle_root and body["leaf_count"] == 7
        assert body["leaf_encoding"] == list(LEAF_TYPES)
        assert body["leaf_values"][0] == "0x" + execution_id.hex
        assert StandardMerkleTree.verify(body["root"], body["leaf_values"], body["proof"])
        assert (
            process_proof(bytes.fromhex(body["leaf"][2:]), body["proof"]).hex()
            == (body["root"][2:])
        )


async def test_no_proof_before_the_day_is_settled_nor_for_unfilled_or_foreign_executions(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(), await sign_in()
    async with session_factory() as session, session.begin():
        strategy = await add_strategy(session, me.user_id)
        unsettled = await add_execution(
            session,
            user_id=me.user_id,
            strategy_id=strategy,
            amount="1",
            price="1",
            executed_at=NOON,
        )
        pending = await add_execution(
            session,
            user_id=me.user_id,
            strategy_id=strategy,
            amount="1",
            price="1",
            executed_at=NOON,
            status="PENDING",
        )
    not_committed = await client.get(f"/api/v1/executions/{unsettled}/proof", headers=me.headers)
    not_filled = await client.get(f"/api/v1/executions/{pending}/proof", headers=me.headers)
    foreign = await client.get(f"/api/v1/executions/{unsettled}/proof", headers=other.headers)
    assert not_committed.status == 409
    assert await problem_code(not_committed) == "DAY_NOT_COMMITTED"
    assert not_filled.status == 409 and await problem_code(not_filled) == "EXECUTION_NOT_FILLED"
    assert foreign.status == 404


async def test_no_proof_is_served_when_the_day_no_longer_matches_its_committed_root(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    async with session_factory() as session, session.begin():
        strategy = await add_strategy(session, me.user_id)
        committed = await add_execution(
            session,
            user_id=me.user_id,
            strategy_id=strategy,
            amount="1",
            price="1",
            executed_at=NOON,
        )
        await service.settle_day(session, day_index=rules.day_index_of(NOON), policy=policy())
    async with session_factory() as session, session.begin():
        # Written behind the API's back (the ingestion route refuses fills of a settled day).
        await add_execution(
            session,
            user_id=me.user_id,
            strategy_id=strategy,
            amount="2",
            price="1",
            executed_at=NOON,
        )
    response = await client.get(f"/api/v1/executions/{committed}/proof", headers=me.headers)
    assert response.status == 409 and await problem_code(response) == "COMMITTED_ROOT_MISMATCH"
