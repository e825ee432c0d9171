"""Back-tests over HTTP: the charge, the worker's reports, the refund, and who may do what."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.enums import StrategyStatus, TransactionType
from db.models import Backtest
from gr8d.config import Settings
from tests.factories import add_strategy
from tests.integration.api.conftest import SignedIn, SignIn, start_client
from tests.integration.api.money import balance, ledger_holds, postings

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]

COST = 10  # BACKTEST_COST_CREDITS's default, which the test settings keep
METRICS = {
    "final_capital": "1250.5",
    "total_return_bp": 2505,
    "mdd_bp": 830,
    "win_rate_bp": 6100,
    "sharpe_ratio": "1.8421",
    "trade_count": 42,
}


def request_for(strategy_id: uuid.UUID, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "strategy_id": str(strategy_id),
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "start_date": "2025-01-01T00:00:00Z",
        "end_date": "2025-03-01T00:00:00+02:00",
        "initial_capital": "1000.00000001",
    } | (changes or {})


async def strategy_of(session_factory: Sessions, owner: SignedIn, **values: Any) -> uuid.UUID:
    async with session_factory() as session, session.begin():
        return await add_strategy(session, owner.user_id, **values)


async def queue(
    client: Client, owner: SignedIn, strategy_id: uuid.UUID, key: str | None = None
) -> Any:
    headers = owner.headers if key is None else owner.headers | {"Idempotency-Key": key}
    return await client.post("/api/v1/backtests", json=request_for(strategy_id), headers=headers)


async def queued(client: Client, owner: SignedIn, session_factory: Sessions) -> dict[str, Any]:
    response = await queue(client, owner, await strategy_of(session_factory, owner))
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def report(client: Client, headers: dict[str, str], backtest_id: object, **body: Any) -> Any:
    return await client.patch(
        f"/api/v1/internal/backtests/{backtest_id}", json=body, headers=headers
    )


# --- queue -------------------------------------------------------------------------------


async def test_queuing_charges_the_cost_and_stores_a_queued_backtest(
    client: Client, sign_in: SignIn, session_factory: Sessions, api_settings: Settings
) -> None:
    assert api_settings.backtest_cost_credits == COST
    owner = await sign_in(credits=25)
    body = await queued(client, owner, session_factory)
    assert body["status"] == "QUEUED" and body["initial_capital"] == "1000.00000001"
    assert body["end_date"].startswith("2025-02-28T22:00:00")
    assert await balance(session_factory, owner.user_id) == 15
    assert await postings(session_factory, owner.user_id, TransactionType.BACKTEST) == [
        (-COST, uuid.UUID(body["id"]))
    ]
    async with session_factory() as session:
        row = await session.get_one(Backtest, uuid.UUID(body["id"]))
    assert (row.user_id, row.symbol, row.initial_capital) == (
        owner.user_id,
        "BTC/USDT",
        Decimal("1000.00000001"),
    )


async def test_queuing_without_enough_credits_is_402_and_queues_nothing(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in(credits=COST - 1)
    response = await queue(client, owner, await strategy_of(session_factory, owner))
    assert response.status == 402
    assert (await response.json(content_type=None))["code"] == "INSUFFICIENT_CREDITS"
    assert await balance(session_factory, owner.user_id) == COST - 1
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Backtest)) == 0


async def test_a_free_backtest_moves_no_credits(
    sign_in: SignIn, session_factory: Sessions, api_settings: Settings
) -> None:
    client = await start_client(api_settings.model_copy(update={"backtest_cost_credits": 0}))
    try:
        owner = await sign_in()
        body = await queued(client, owner, session_factory)
        failed = await report(
            client,
            {"Authorization": f"Bearer {api_settings.internal_api_token}"},
            body["id"],
            status="FAILED",
        )
    finally:
        await client.close()
    assert body["status"] == "QUEUED" and failed.status == 200
    assert await postings(session_factory, owner.user_id, TransactionType.BACKTEST) == []
    assert await postings(session_factory, owner.user_id, TransactionType.REFUND) == []


async def test_a_retried_request_with_its_key_pays_once(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in(credits=100)
    strategy_id = await strategy_of(session_factory, owner)
    first = await queue(client, owner, strategy_id, key="bt-1")
    retry = await queue(client, owner, strategy_id, key="bt-1")
    assert first.status == retry.status == 201
    assert await retry.json() == await first.json()
    assert await balance(session_factory, owner.user_id) == 100 - COST


async def test_two_identical_requests_at_once_with_one_key_pay_once(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in(credits=100)
    strategy_id = await strategy_of(session_factory, owner)
    responses = await asyncio.gather(
        *(queue(client, owner, strategy_id, key="k") for _ in range(2))
    )
    assert [response.status for response in responses] == [201, 201]
    assert await responses[0].json() == await responses[1].json()
    assert await balance(session_factory, owner.user_id) == 100 - COST
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Backtest)) == 1
    assert await ledger_holds(session_factory)


async def test_only_my_live_strategies_can_be_backtested(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in(credits=100)
    intruder = await sign_in(credits=100)
    strategy_id = await strategy_of(session_factory, owner)
    archived_id = await strategy_of(session_factory, owner, status=StrategyStatus.ARCHIVED.value)
    foreign = await queue(client, intruder, strategy_id)
    archived = await queue(client, owner, archived_id)
    anonymous = await client.post("/api/v1/backtests", json=request_for(strategy_id))
    assert foreign.status == 404 and archived.status == 409 and anonymous.status == 401
    assert await balance(session_factory, intruder.user_id) == 100
    assert await balance(session_factory, owner.user_id) == 100


async def test_a_backtest_request_is_validated(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in(credits=100)
    strategy_id = await strategy_of(session_factory, owner)
    cases = [
        ({"end_date": "2024-12-31T00:00:00Z"}, ["body"]),
        ({"start_date": "2025-01-01T00:00:00"}, ["body", "start_date"]),
        ({"start_date": "0001-01-01T00:00:00+01:00"}, ["body", "start_date"]),
        ({"initial_capital": "0"}, ["body", "initial_capital"]),
        ({"initial_capital": "1.123456789"}, ["body", "initial_capital"]),
        ({"initial_capital": "1" + "0" * 12}, ["body", "initial_capital"]),
        ({"timeframe": "1 hour"}, ["body", "timeframe"]),
        ({"symbol": ""}, ["body", "symbol"]),
        ({"strategy_id": "x"}, ["body", "strategy_id"]),
        ({"fee": 1}, ["body", "fee"]),
    ]
    for changes, loc in cases:
        response = await client.post(
            "/api/v1/backtests", json=request_for(strategy_id, changes), headers=owner.headers
        )
        problem = await response.json(content_type=None)
        assert response.status == 422, changes
        assert problem["errors"][0]["loc"] == loc, changes
    assert await balance(session_factory, owner.user_id) == 100


# --- read and delete ---------------------------------------------------------------------


async def test_the_list_is_mine_newest_first_and_filtered(
    client: Client, sign_in: SignIn, session_factory: Sessions, service_headers: dict[str, str]
) -> None:
    owner = await sign_in(credits=100)
    other = await sign_in(credits=100)
    first = await queued(client, owner, session_factory)
    second = await queued(client, owner, session_factory)
    await queued(client, other, session_factory)
    await report(client, service_headers, first["id"], status="RUNNING")
    everything = await client.get("/api/v1/backtests", headers=owner.headers)
    running = await client.get(
        "/api/v1/backtests", params={"status": "RUNNING"}, headers=owner.headers
    )
    of_strategy = await client.get(
        "/api/v1/backtests", params={"strategy_id": second["strategy_id"]}, headers=owner.headers
    )
    assert [item["id"] for item in (await everything.json())["items"]] == [
        second["id"],
        first["id"],
    ]
    assert [item["id"] for item in (await running.json())["items"]] == [first["id"]]
    assert [item["id"] for item in (await of_strategy.json())["items"]] == [second["id"]]
    bad = await client.get("/api/v1/backtests", params={"status": "DONE"}, headers=owner.headers)
    assert bad.status == 422


async def test_another_users_backtest_is_404(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in(credits=100)
    intruder = await sign_in()
    body = await queued(client, owner, session_factory)
    url = f"/api/v1/backtests/{body['id']}"
    read = await client.get(url, headers=intruder.headers)
    deleted = await client.delete(url, headers=intruder.headers)
    assert read.status == deleted.status == 404
    assert (await read.json(content_type=None))["code"] == "BACKTEST_NOT_FOUND"
    assert (await client.get(url)).status == 401
    assert (await client.get(url, headers=owner.headers)).status == 200
    assert await balance(session_factory, intruder.user_id) == 0


async def test_deleting_a_queued_backtest_refunds_it_once(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in(credits=100)
    body = await queued(client, owner, session_factory)
    url = f"/api/v1/backtests/{body['id']}"
    deleted = await client.delete(url, headers=owner.headers)
    again = await client.delete(url, headers=owner.headers)
    assert deleted.status == 204 and again.status == 404
    assert await balance(session_factory, owner.user_id) == 100
    assert await postings(session_factory, owner.user_id, TransactionType.REFUND) == [
        (COST, uuid.UUID(body["id"]))
    ]


async def test_a_running_backtest_cannot_be_deleted_and_a_finished_one_can(
    client: Client, sign_in: SignIn, session_factory: Sessions, service_headers: dict[str, str]
) -> None:
    owner = await sign_in(credits=100)
    body = await queued(client, owner, session_factory)
    url = f"/api/v1/backtests/{body['id']}"
    await report(client, service_headers, body["id"], status="RUNNING")
    running = await client.delete(url, headers=owner.headers)
    await report(client, service_headers, body["id"], status="COMPLETED", **METRICS)
    finished = await client.delete(url, headers=owner.headers)
    assert running.status == 409
    assert (await running.json(content_type=None))["code"] == "BACKTEST_RUNNING"
    assert finished.status == 204
    assert await balance(session_factory, owner.user_id) == 100 - COST


# --- the worker's reports ----------------------------------------------------------------


async def test_a_completed_report_stores_the_metrics_without_refund(
    client: Client, sign_in: SignIn, session_factory: Sessions, service_headers: dict[str, str]
) -> None:
    owner = await sign_in(credits=100)
    body = await queued(client, owner, session_factory)
    running = await report(client, service_headers, body["id"], status="RUNNING")
    done = await report(client, service_headers, body["id"], status="COMPLETED", **METRICS)
    result = await done.json()
    assert running.status == done.status == 200
    assert result["status"] == "COMPLETED" and result["completed_at"] is not None
    assert result["final_capital"] == "1250.50000000" and result["sharpe_ratio"] == "1.8421"
    assert (result["total_return_bp"], result["trade_count"]) == (2505, 42)
    shown = await client.get(f"/api/v1/backtests/{body['id']}", headers=owner.headers)
    assert (await shown.json())["win_rate_bp"] == 6100
    assert await balance(session_factory, owner.user_id) == 100 - COST


async def test_a_failed_backtest_is_refunded_exactly_once(
    client: Client, sign_in: SignIn, session_factory: Sessions, service_headers: dict[str, str]
) -> None:
    owner = await sign_in(credits=100)
    body = await queued(client, owner, session_factory)
    await report(client, service_headers, body["id"], status="RUNNING")
    responses = await asyncio.gather(
        *(
            report(client, service_headers, body["id"], status="FAILED", error_message="no data")
            for _ in range(3)
        )
    )
    retry = await report(client, service_headers, body["id"], status="FAILED")
    assert [response.status for response in responses] == [200, 200, 200]
    assert retry.status == 200 and (await retry.json())["error_message"] == "no data"
    assert await balance(session_factory, owner.user_id) == 100
    assert await postings(session_factory, owner.user_id, TransactionType.REFUND) == [
        (COST, uuid.UUID(body["id"]))
    ]
    assert await ledger_holds(session_factory)


async def test_the_refund_is_what_was_charged_even_if_the_price_changed(
    sign_in: SignIn, session_factory: Sessions, api_settings: Settings
) -> None:
    owner = await sign_in(credits=100)
    service = {"Authorization": f"Bearer {api_settings.internal_api_token}"}
    expensive = await start_client(api_settings.model_copy(update={"backtest_cost_credits": 30}))
    try:
        body = await queued(expensive, owner, session_factory)
    finally:
        await expensive.close()
    cheap = await start_client(api_settings.model_copy(update={"backtest_cost_credits": 1}))
    try:
        await report(cheap, service, body["id"], status="FAILED")
    finally:
        await cheap.close()
    assert await balance(session_factory, owner.user_id) == 100


async def test_reports_move_only_forward(
    client: Client, sign_in: SignIn, session_factory: Sessions, service_headers: dict[str, str]
) -> None:
    owner = await sign_in(credits=100)
    body = await queued(client, owner, session_factory)
    await report(client, service_headers, body["id"], status="COMPLETED", **METRICS)
    for status in ("RUNNING", "FAILED"):
        response = await report(client, service_headers, body["id"], status=status)
        assert response.status == 409
        assert (await response.json(content_type=None))["code"] == "INVALID_BACKTEST_TRANSITION"
    assert await balance(session_factory, owner.user_id) == 100 - COST


async def test_reports_are_validated(
    client: Client, sign_in: SignIn, session_factory: Sessions, service_headers: dict[str, str]
) -> None:
    owner = await sign_in(credits=100)
    body = await queued(client, owner, session_factory)
    partial = dict(METRICS)
    del partial["trade_count"]
    for payload in (
        {"status": "QUEUED"},
        {"status": "COMPLETED", **partial},
        {"status": "RUNNING", "trade_count": 1},
        {"status": "RUNNING", "error_message": "x"},
        {"status": "COMPLETED", **METRICS, "win_rate_bp": 10_001},
        {"status": "COMPLETED", **METRICS, "final_capital": "NaN"},
        {"status": "COMPLETED", **METRICS, "sharpe_ratio": "1234567"},
    ):
        response = await report(client, service_headers, body["id"], **payload)
        assert response.status == 422, payload
    unknown = await report(client, service_headers, uuid.uuid4(), status="RUNNING")
    assert unknown.status == 404


async def test_only_the_service_reports(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in(credits=100)
    admin = await sign_in(is_superuser=True)
    body = await queued(client, owner, session_factory)
    by_owner = await report(client, owner.headers, body["id"], status="FAILED")
    by_admin = await report(client, admin.headers, body["id"], status="FAILED")
    anonymous = await client.patch(
        f"/api/v1/internal/backtests/{body['id']}", json={"status": "FAILED"}
    )
    assert by_owner.status == by_admin.status == 403
    assert (await by_owner.json(content_type=None))["code"] == "SERVICE_ONLY"
    assert anonymous.status == 401
    assert await balance(session_factory, owner.user_id) == 100 - COST
