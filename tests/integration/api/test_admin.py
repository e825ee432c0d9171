"""Admin routes over HTTP: everyone's strategies and settlements, a settlement run on demand,
the indexer's position."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.enums import RunKind, TransactionType
from db.models import (
    ChainBlock,
    ChainEvent,
    IndexerCursor,
    IndexerReorg,
    Settlement,
    SettlementRun,
)
from gr8d.config import Settings
from indexer.service import record_reorg
from settlement import rules, service
from settlement.runs import try_lock
from tests.factories import add_follower_trade, add_strategy, add_user, policy
from tests.integration.api.conftest import SignIn, start_client
from tests.integration.api.money import balance, ledger_holds, postings

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]

DAY = dt.date(2025, 3, 10)
NOON = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)
RUN = "/api/v1/admin/settlements/run"


async def code_of(response: Any) -> str:
    return str((await response.json(content_type=None))["code"])


async def test_admins_list_every_strategy_with_filters(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin, someone = await sign_in(is_superuser=True), await sign_in()
    async with session_factory() as session, session.begin():
        draft = await add_strategy(session, someone.user_id, name="Mean 100% reversion")
        public = await add_strategy(
            session, someone.user_id, name="Trend", is_public=True, status="DEPLOYED"
        )
        mine = await add_strategy(session, admin.user_id, name="Grid")

    async def ids(**params: str) -> list[str]:
        response = await client.get(
            "/api/v1/admin/strategies", params=params, headers=admin.headers
        )
        assert response.status == 200
        return [item["id"] for item in (await response.json())["items"]]

    assert set(await ids()) == {str(draft), str(public), str(mine)}
    assert set(await ids(user=str(someone.user_id))) == {str(draft), str(public)}
    assert await ids(status="DEPLOYED") == [str(public)]
    assert await ids(public="true") == [str(public)]
    assert await ids(search="100%") == [str(draft)]
    assert await ids(search="%") == [str(draft)]
    assert await ids(search="GRID") == [str(mine)]
    for params in ({"status": "LIVE"}, {"search": "a\x00b"}, {"public": "maybe"}):
        bad = await client.get("/api/v1/admin/strategies", params=params, headers=admin.headers)
        assert bad.status == 422, params


async def test_admins_list_every_settlement_with_filters(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    async with session_factory() as session, session.begin():
        author = await add_user(session)
        payer = await add_follower_trade(session, author=author, executed_at=NOON, credits=1000)
        debtor = await add_follower_trade(
            session, author=author, executed_at=NOON + dt.timedelta(days=1)
        )
        await service.settle_day(session, day_index=rules.day_index_of(NOON), policy=policy())
        await service.settle_day(session, day_index=rules.day_index_of(NOON) + 1, policy=policy())

    async def users(**params: str) -> list[str]:
        response = await client.get(
            "/api/v1/admin/settlements", params=params, headers=admin.headers
        )
        assert response.status == 200
        return [item["user_id"] for item in (await response.json())["items"]]

    assert await users() == [str(debtor), str(payer)]
    assert await users(status="PAID") == [str(payer)]
    assert await users(user=str(debtor)) == [str(debtor)]
    assert await users(author=str(author), to="2025-03-10") == [str(payer)]
    assert await users(author=str(uuid.uuid4())) == []


async def seed_trades(session_factory: Sessions) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """An author, a follower who can pay (1,000 credits) and one who cannot, trading on DAY."""
    async with session_factory() as session, session.begin():
        author = await add_user(session)
        payer = await add_follower_trade(session, author=author, executed_at=NOON, credits=1000)
        debtor = await add_follower_trade(session, author=author, executed_at=NOON)
    return author, payer, debtor


async def test_a_run_settles_the_day_once_and_closes_it_to_late_fills(
    client: Client, sign_in: SignIn, session_factory: Sessions, service_headers: dict[str, str]
) -> None:
    admin = await sign_in(is_superuser=True)
    author, payer, debtor = await seed_trades(session_factory)
    first = await client.post(RUN, json={"day": "2025-03-10"}, headers=admin.headers)
    second = await client.post(RUN, json={"day": "2025-03-10"}, headers=admin.headers)
    body = await first.json()
    assert first.status == 200
    assert body["outcome"] == "done" and body["day_index"] == rules.day_index_of(NOON)
    assert body["figures"]["settlements_written"] == 2
    assert body["figures"]["credits_collected"] == 200
    assert body["roots_relayed"] == 0
    again = await second.json()
    assert second.status == 200 and again["outcome"] == "already_done" and again["figures"] == {}
    assert await balance(session_factory, payer) == 800
    assert await balance(session_factory, author) == 20
    assert len(await postings(session_factory, payer, TransactionType.SETTLEMENT_FEE)) == 1
    assert await ledger_holds(session_factory)
    async with session_factory() as session:
        run = (await session.scalars(select(SettlementRun))).one()
        statuses = dict(
            (await session.execute(select(Settlement.user_id, Settlement.status))).all()
        )
    assert (run.kind, run.period, run.status) == ("DAILY", "2025-03-10", "DONE")
    assert statuses == {payer: "PAID", debtor: "PENDING"}
    async with session_factory() as session, session.begin():
        strategy = await add_strategy(session, debtor)
    late = await client.post(
        "/api/v1/internal/executions",
        json={
            "exchange_order_id": "late-fill",
            "user_id": str(debtor),
            "strategy_id": str(strategy),
            "symbol": "BTC/USDT",
            "side": "SELL",
            "order_type": "MARKET",
            "amount": "1",
            "status": "FILLED",
            "executed_price": "10",
            "executed_at": (NOON + dt.timedelta(hours=11)).isoformat(),
        },
        headers=service_headers,
    )
    assert late.status == 409 and await code_of(late) == "SETTLEMENT_DAY_CLOSED"


async def test_a_run_refuses_a_day_that_is_not_over_and_bad_bodies(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    today = dt.datetime.now(dt.UTC).date()
    for day in (today, today + dt.timedelta(days=3)):
        response = await client.post(RUN, json={"day": day.isoformat()}, headers=admin.headers)
        assert response.status == 409 and await code_of(response) == "DAY_NOT_FINISHED"
    for body in ({"day": "2025-02-30"}, {"day": "1969-12-31"}, {}, {"day": "2025-03-10", "x": 1}):
        response = await client.post(RUN, json=body, headers=admin.headers)
        assert response.status == 422, body
    async with session_factory() as session:
        assert list(await session.scalars(select(SettlementRun))) == []


async def test_a_run_retried_with_its_idempotency_key_replays_the_first_answer(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    _, payer, _ = await seed_trades(session_factory)
    keyed = {**admin.headers, "Idempotency-Key": "run-2025-03-10"}
    first = await client.post(RUN, json={"day": DAY.isoformat()}, headers=keyed)
    retry = await client.post(RUN, json={"day": DAY.isoformat()}, headers=keyed)
    other_day = await client.post(RUN, json={"day": "2025-03-09"}, headers=keyed)
    assert first.status == 200 and retry.status == 200
    assert await retry.json() == await first.json()
    assert (await retry.json())["outcome"] == "done"
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert other_day.status == 409 and await code_of(other_day) == "IDEMPOTENCY_KEY_REUSED"
    assert await balance(session_factory, payer) == 800


async def test_a_run_while_another_process_settles_the_day_is_busy(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    _, payer, _ = await seed_trades(session_factory)
    async with session_factory() as session, session.begin():
        assert await try_lock(session, "settlement", RunKind.DAILY.value, DAY.isoformat())
        response = await client.post(RUN, json={"day": DAY.isoformat()}, headers=admin.headers)
    assert response.status == 409 and await code_of(response) == "SETTLEMENT_RUN_BUSY"
    assert await balance(session_factory, payer) == 1000


async def test_with_the_blockchain_enabled_a_day_the_indexer_has_not_finalized_waits(
    api_settings: Settings, sign_in: SignIn, session_factory: Sessions, flushed_redis: None
) -> None:
    admin = await sign_in(is_superuser=True)
    await seed_trades(session_factory)
    client = await start_client(api_settings.model_copy(update={"blockchain_enabled": True}))
    try:
        response = await client.post(RUN, json={"day": DAY.isoformat()}, headers=admin.headers)
        code = await code_of(response)
    finally:
        await client.close()
    assert response.status == 409 and code == "PERIOD_NOT_FINAL"
    async with session_factory() as session:
        assert list(await session.scalars(select(Settlement))) == []


async def seed_indexer(session_factory: Sessions, *, chain_id: int = 31337) -> dt.datetime:
    """A cursor at block 120 (final 100), blocks stored up to 125, two events not applied."""
    last_time = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)
    async with session_factory() as session, session.begin():
        for number in (100, 120, 125):
            await session.execute(
                insert(ChainBlock).values(
                    chain_id=chain_id,
                    number=number,
                    hash=f"0x{number:064x}",
                    parent_hash=f"0x{number - 1:064x}",
                    timestamp=last_time + dt.timedelta(seconds=number - 120),
                )
            )
        await session.execute(
            insert(IndexerCursor).values(
                chain_id=chain_id,
                last_block_number=120,
                last_block_hash=f"0x{120:064x}",
                finalized_block_number=100,
            )
        )
        for log_index, status in enumerate(("APPLIED", "PARKED", "PENDING")):
            await session.execute(
                insert(ChainEvent).values(
                    chain_id=chain_id,
                    block_number=100,
                    block_hash=f"0x{100:064x}",
                    block_timestamp=last_time,
                    tx_hash=f"0x{1:064x}",
                    log_index=log_index,
                    contract_address="0x" + "ab" * 20,
                    event_name="Staked",
                    topics=[],
                    data="0x",
                    projection_status=status,
                )
            )
    return last_time


async def test_the_indexer_status_without_an_rpc_reads_the_head_from_the_database(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    empty = await client.get("/api/v1/admin/indexer", headers=admin.headers)
    assert await empty.json() == {"chains": []}
    last_time = await seed_indexer(session_factory)
    response = await client.get("/api/v1/admin/indexer", headers=admin.headers)
    (chain,) = (await response.json())["chains"]
    assert response.status == 200
    lag = chain.pop("lag_seconds")
    assert chain == {
        "chain_id": 31337,
        "cursor_block": 120,
        "cursor_block_hash": f"0x{120:064x}",
        "cursor_block_time": "2025-03-10T12:00:00Z",
        "finalized_block": 100,
        "head_block": 125,
        "head_source": "database",
        "lag_blocks": 5,
        "events_not_applied": 2,
        "last_reorg_at": None,
        "last_reorg_depth": None,
    }
    assert lag >= (dt.datetime.now(dt.UTC) - last_time).total_seconds() - 60


async def test_the_indexer_status_shows_the_latest_reorg_of_the_chain(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    await seed_indexer(session_factory)
    latest = dt.datetime(2025, 3, 10, 12, 5, tzinfo=dt.UTC)
    async with session_factory() as session, session.begin():
        for depth, detected_at in ((12, latest - dt.timedelta(hours=1)), (3, latest)):
            await record_reorg(
                session,
                chain_id=31337,
                common_ancestor=117 - depth,
                replaced_to=117,
                old_block_hash=f"0x{depth:064x}",
            )
            await session.execute(
                update(IndexerReorg)
                .where(IndexerReorg.depth == depth)
                .values(detected_at=detected_at)
            )

    response = await client.get("/api/v1/admin/indexer", headers=admin.headers)

    (chain,) = (await response.json())["chains"]
    assert (chain["last_reorg_at"], chain["last_reorg_depth"]) == ("2025-03-10T12:05:00Z", 3)


@pytest.fixture
async def fake_node() -> AsyncIterator[str]:
    """A JSON-RPC node of chain 31337 whose head is block 4242."""
    answers = {"eth_chainId": hex(31337), "eth_blockNumber": hex(4242)}

    async def answer(request: web.Request) -> web.Response:
        call = await request.json()
        return web.json_response(
            {"jsonrpc": "2.0", "id": call["id"], "result": answers[call["method"]]}
        )

    app = web.Application()
    app.router.add_post("/", answer)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/"))
    finally:
        await server.close()


async def test_the_indexer_status_asks_the_node_for_the_head_when_an_rpc_is_configured(
    api_settings: Settings,
    sign_in: SignIn,
    session_factory: Sessions,
    fake_node: str,
    flushed_redis: None,
) -> None:
    admin = await sign_in(is_superuser=True)
    await seed_indexer(session_factory)
    client = await start_client(api_settings.model_copy(update={"rpc_urls": [fake_node]}))
    try:
        response = await client.get("/api/v1/admin/indexer", headers=admin.headers)
        (chain,) = (await response.json())["chains"]
    finally:
        await client.close()
    assert (chain["head_block"], chain["head_source"], chain["lag_blocks"]) == (4242, "rpc", 4122)


async def test_an_unreachable_node_falls_back_to_the_database_head(
    api_settings: Settings, sign_in: SignIn, session_factory: Sessions, flushed_redis: None
) -> None:
    admin = await sign_in(is_superuser=True)
    await seed_indexer(session_factory)
    client = await start_client(
        api_settings.model_copy(update={"rpc_urls": ["http://127.0.0.1:1/"]})
    )
    try:
        response = await client.get("/api/v1/admin/indexer", headers=admin.headers)
        (chain,) = (await response.json())["chains"]
    finally:
        await client.close()
    assert (chain["head_block"], chain["head_source"]) == (125, "database")


async def test_admin_routes_refuse_users_and_strangers(client: Client, sign_in: SignIn) -> None:
    user = await sign_in()
    calls = [
        ("GET", "/api/v1/admin/strategies", None),
        ("GET", "/api/v1/admin/settlements", None),
        ("POST", RUN, {"day": "2025-03-10"}),
        ("GET", "/api/v1/admin/indexer", None),
    ]
    for method, url, body in calls:
        as_user = await client.request(method, url, json=body, headers=user.headers)
        anonymous = await client.request(method, url, json=body)
        assert as_user.status == 403 and await code_of(as_user) == "ADMIN_ONLY", url
        assert anonymous.status == 401, url


async def test_a_run_of_a_day_without_trades_is_done_and_writes_nothing(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    await seed_trades(session_factory)
    response = await client.post(RUN, json={"day": "2025-03-09"}, headers=admin.headers)
    body = await response.json()
    assert response.status == 200 and body["outcome"] == "done"
    assert body["figures"]["settlements_written"] == 0
    async with session_factory() as session:
        assert list(await session.scalars(select(Settlement))) == []
