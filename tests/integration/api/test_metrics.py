"""/metrics: Prometheus text of the app's own registry, requests by route template and status,
gauges read from the database at scrape time."""

from __future__ import annotations

import datetime as dt
import uuid

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.metrics import METRICS
from db.models import AuthorRoyalty, ChainBlock, IndexerCursor, SettlementRun
from gr8d.config import Settings
from settlement import rules, service
from tests.chain import CHAIN_ID, local_chain, mine
from tests.factories import add_follower_trade, add_user, policy
from tests.integration.api.conftest import start_client

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Client) -> Samples:
    response = await client.get("/api/v1/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_requests_are_counted_by_route_template_and_status(client: Client) -> None:
    for _ in range(2):
        await client.get(f"/api/v1/executions/{uuid.uuid4()}")
    await client.get("/api/v1/health")
    samples = await scrape(client)
    route = "/api/v1/executions/{execution_id}"
    assert value(samples, "gr8d_http_requests_total", method="GET", route=route, status="401") == 2
    assert (
        value(
            samples, "gr8d_http_requests_total", method="GET", route="/api/v1/health", status="200"
        )
        == 1
    )
    assert (
        value(samples, "gr8d_http_request_duration_seconds_count", method="GET", route=route) == 2
    )


async def test_unknown_paths_share_one_series(client: Client) -> None:
    probes = [f"/api/v1/probe-{uuid.uuid4().hex}" for _ in range(3)]
    for path in probes:
        assert (await client.get(path)).status == 404
    response = await client.get("/api/v1/metrics")
    text = await response.text()
    samples = await scrape(client)
    assert (
        value(samples, "gr8d_http_requests_total", method="GET", route="unmatched", status="404")
        == 3
    )
    assert not any(path in text for path in probes)


async def test_gauges_show_the_indexer_and_the_settlement_as_of_the_scrape(
    client: Client, session_factory: Sessions
) -> None:
    empty = await scrape(client)
    assert value(empty, "gr8d_settlements_pending") == 0
    assert value(empty, "gr8d_indexer_cursor_block", chain_id="31337") is None
    noon = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)
    async with session_factory() as session, session.begin():
        author = await add_user(session)
        await add_follower_trade(session, author=author, executed_at=noon, credits=1000)
        await add_follower_trade(session, author=author, executed_at=noon, amount="2")
        report = await service.settle_day(
            session, day_index=rules.day_index_of(noon), policy=policy()
        )
        await session.execute(
            insert(SettlementRun).values(
                kind="DAILY", period="2025-03-10", status="DONE", figures=report.figures()
            )
        )
        await session.execute(
            insert(ChainBlock).values(
                chain_id=31337,
                number=90,
                hash="0x" + "1" * 64,
                parent_hash="0x" + "0" * 64,
                timestamp=noon,
            )
        )
        await session.execute(
            insert(IndexerCursor).values(
                chain_id=31337,
                last_block_number=90,
                last_block_hash="0x" + "1" * 64,
                finalized_block_number=80,
            )
        )
    samples = await scrape(client)
    assert value(samples, "gr8d_settlements_pending") == 1
    assert value(samples, "gr8d_settlements_pending_credits") == 400
    assert value(samples, "gr8d_settlement_runs", kind="DAILY", status="DONE") == 1
    assert value(samples, "gr8d_settlement_credits_collected") == 200
    assert value(samples, "gr8d_settlement_author_credits") == 20
    assert value(samples, "gr8d_indexer_cursor_block", chain_id="31337") == 90
    assert value(samples, "gr8d_indexer_finalized_block", chain_id="31337") == 80
    assert value(samples, "gr8d_indexer_lag_blocks", chain_id="31337") == 0
    lag = value(samples, "gr8d_indexer_lag_seconds", chain_id="31337")
    assert lag is not None and lag > 0


async def test_each_app_has_a_registry_of_its_own_and_metrics_are_never_rate_limited(
    api_settings: Settings, flushed_redis: None
) -> None:
    strict = api_settings.model_copy(update={"api_rate_limit_per_minute": 1})
    first, second = await start_client(strict), await start_client(strict)
    try:
        for _ in range(3):
            await first.get("/api/v1/metrics")
        first_samples, second_samples = await scrape(first), await scrape(second)
    finally:
        await first.close()
        await second.close()
    series = ("gr8d_http_requests_total", "GET", "/api/v1/metrics", "200")
    name, method, route, status = series
    assert value(first_samples, name, method=method, route=route, status=status) == 3
    assert value(second_samples, name, method=method, route=route, status=status) is None


async def test_the_indexer_head_and_lag_come_from_the_node_when_rpc_urls_is_set(
    api_settings: Settings, flushed_redis: None, session_factory: Sessions
) -> None:
    async with local_chain() as chain:
        await mine(chain.w3, 100)
        head = await chain.w3.eth.block_number
        async with session_factory() as session, session.begin():
            await session.execute(
                insert(IndexerCursor).values(
                    chain_id=CHAIN_ID,
                    last_block_number=head - 10,
                    last_block_hash="0x" + "1" * 64,
                    finalized_block_number=head - 20,
                )
            )
        client = await start_client(api_settings.model_copy(update={"rpc_urls": [chain.url]}))
        try:
            samples = await scrape(client)
        finally:
            await client.close()

    assert value(samples, "gr8d_indexer_cursor_block", chain_id=str(CHAIN_ID)) == head - 10
    assert value(samples, "gr8d_indexer_head_block", chain_id=str(CHAIN_ID)) == head
    assert value(samples, "gr8d_indexer_lag_blocks", chain_id=str(CHAIN_ID)) == 10


async def test_metrics_are_also_served_at_the_root_where_prometheus_looks(
    client: Client,
) -> None:
    await client.get("/api/v1/health")

    response = await client.get("/metrics")

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'gr8d_http_requests_total{method="GET",route="/api/v1/health",status="200"}' in (
        await response.text()
    )


async def test_metrics_and_health_show_blocks_and_events_per_second_of_the_indexer(
    client: Client, session_factory: Sessions
) -> None:
    seconds = [1_000.0]
    client.app[METRICS].progress.clock = lambda: seconds[0]

    async def indexed(block: int, events: int) -> None:
        async with session_factory() as session, session.begin():
            cursor = upsert(IndexerCursor).values(
                chain_id=31337,
                last_block_number=block,
                last_block_hash="0x" + "1" * 64,
                events_indexed=events,
            )
            await session.execute(
                cursor.on_conflict_do_update(
                    index_elements=["chain_id"],
                    set_={"last_block_number": block, "events_indexed": events},
                )
            )

    await indexed(block=100, events=4_000)
    first = await scrape(client)
    await indexed(block=150, events=9_000)
    seconds[0] += 10
    later = await scrape(client)
    seconds[0] += 10
    health = await (await client.get("/api/v1/health")).json()

    assert value(first, "gr8d_indexer_events_indexed", chain_id="31337") == 4_000
    assert value(first, "gr8d_indexer_blocks_per_second", chain_id="31337") is None
    assert value(later, "gr8d_indexer_events_indexed", chain_id="31337") == 9_000
    assert value(later, "gr8d_indexer_blocks_per_second", chain_id="31337") == 5
    assert value(later, "gr8d_indexer_events_per_second", chain_id="31337") == 500
    assert health["indexer"]["last_block"] == 150
    assert health["indexer"]["events_indexed"] == 9_000
    assert health["indexer"]["blocks_per_second"] == 2.5
    assert health["indexer"]["events_per_second"] == 250


async def test_royalty_credits_paid_count_only_the_paid_months(
    client: Client, session_factory: Sessions
) -> None:
    paid_at = dt.datetime(2025, 4, 1, 2, tzinfo=dt.UTC)
    async with session_factory() as session, session.begin():
        author = await add_user(session)
        for month, amount, status in ((1, 300, "PAID"), (2, 45, "PAID"), (3, 999, "PENDING")):
            await session.execute(
                insert(AuthorRoyalty).values(
                    author_id=author,
                    year=2025,
                    month=month,
                    royalty_amount_credits=amount,
                    status=status,
                    paid_at=paid_at if status == "PAID" else None,
                )
            )

    samples = await scrape(client)

    assert value(samples, "gr8d_royalty_credits_paid") == 345
