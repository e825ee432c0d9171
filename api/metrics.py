"""Prometheus metrics of one API process (operations.md "Observability"), served at /metrics.

Each app gets a registry of its own (never prometheus_client's global one), so apps built in
one process (tests, several servers) never mix or double-register their series. Requests are
counted by a middleware, labelled by the route's template (`/api/v1/executions/{execution_id}`,
never the raw path, so a scanner cannot explode the series). The gauges about the indexer and
the settlement are read from the database at scrape time: every replica reports the same
shared state, and nothing has to keep them fresh between scrapes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from sqlalchemy import BigInteger, ColumnElement, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.context import SETTINGS
from db.enums import RoyaltyStatus, RunKind, RunStatus, SettlementStatus
from db.models import AuthorRoyalty, Settlement, SettlementRun
from indexer.status import ProgressMeter, chain_statuses, rpc_head

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

UNMATCHED_ROUTE = "unmatched"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ApiMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    indexer_cursor_block: Gauge
    indexer_finalized_block: Gauge
    indexer_head_block: Gauge
    indexer_lag_blocks: Gauge
    indexer_lag_seconds: Gauge
    indexer_events_not_applied: Gauge
    indexer_events_indexed: Gauge
    indexer_blocks_per_second: Gauge
    indexer_events_per_second: Gauge
    settlements_pending: Gauge
    settlements_pending_credits: Gauge
    settlement_runs: Gauge
    settlement_credits_collected: Gauge
    settlement_author_credits: Gauge
    royalty_credits_paid: Gauge
    progress: ProgressMeter

    @classmethod
    def create(cls) -> ApiMetrics:
        registry = CollectorRegistry()

        def gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, documentation, labels, registry=registry)

        chain = ("chain_id",)
        return cls(
            registry=registry,
            requests=Counter(
                "gr8d_http_requests",
                "HTTP requests answered, by method, route template and status.",
                ("method", "route", "status"),
                registry=registry,
            ),
            latency=Histogram(
                "gr8d_http_request_duration_seconds",
                "Time to answer an HTTP request, by method and route template.",
                ("method", "route"),
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            indexer_cursor_block=gauge(
                "gr8d_indexer_cursor_block", "The last block indexed.", chain
            ),
            indexer_finalized_block=gauge(
                "gr8d_indexer_finalized_block", "The last block the indexer holds final.", chain
            ),
            indexer_head_block=gauge(
                "gr8d_indexer_head_block", "The newest block the indexer has stored.", chain
            ),
            indexer_lag_blocks=gauge(
                "gr8d_indexer_lag_blocks", "Head block minus the cursor.", chain
            ),
            indexer_lag_seconds=gauge(
                "gr8d_indexer_lag_seconds", "Now minus the time of the last block indexed.", chain
            ),
            indexer_events_not_applied=gauge(
                "gr8d_indexer_events_not_applied",
                "Protocol events whose projection is not APPLIED (pending, parked, failed).",
                chain,
            ),
            indexer_events_indexed=gauge(
                "gr8d_indexer_events_indexed",
                "Protocol events the indexer has written, ever (again after a reorg).",
                chain,
            ),
            indexer_blocks_per_second=gauge(
                "gr8d_indexer_blocks_per_second",
                "Blocks indexed per second over about the last minute of scrapes.",
                chain,
            ),
            indexer_events_per_second=gauge(
                "gr8d_indexer_events_per_second",
                "Events indexed per second over about the last minute of scrapes.",
                chain,
            ),
            settlements_pending=gauge(
                "gr8d_settlements_pending", "Settlements waiting to be paid (PENDING)."
            ),
            settlements_pending_credits=gauge(
                "gr8d_settlements_pending_credits", "Fee credits of the PENDING settlements."
            ),
            settlement_runs=gauge(
                "gr8d_settlement_runs",
                "Settlement runs recorded, by kind and status.",
                ("kind", "status"),
            ),
            settlement_credits_collected=gauge(
                "gr8d_settlement_credits_collected",
                "Fee credits the finished daily runs collected, all days together.",
            ),
            settlement_author_credits=gauge(
                "gr8d_settlement_author_credits",
                "Credits the finished daily runs posted to authors, all days together.",
            ),
            royalty_credits_paid=gauge(
                "gr8d_royalty_credits_paid", "Royalty credits paid to authors, all months together."
            ),
            progress=ProgressMeter(),
        )


METRICS = web.AppKey("metrics", ApiMetrics)


def route_of(request: web.Request) -> str:
    """The route's template, bounded in number unlike the raw path."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


def count_requests(metrics: ApiMetrics) -> Middleware:
    """The outermost middleware: sees every answer, problems included."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = route_of(request)
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)

    return count


async def read_gauges(
    metrics: ApiMetrics, session: AsyncSession, *, rpc_urls: Sequence[str] = ()
) -> None:
    """Set the gauges from the database, as of now (the chain's head from the node when
    RPC_URLS is set: the stored blocks end at the cursor, so they would always show no lag)."""
    await _read_indexer(metrics, session, rpc_urls)
    await _read_settlements(metrics, session)


async def _read_indexer(
    metrics: ApiMetrics, session: AsyncSession, rpc_urls: Sequence[str]
) -> None:
    head = await rpc_head(rpc_urls)
    statuses = await chain_statuses(session, now=dt.datetime.now(dt.UTC), head=head)
    gauges = (
        metrics.indexer_cursor_block,
        metrics.indexer_finalized_block,
        metrics.indexer_head_block,
        metrics.indexer_lag_blocks,
        metrics.indexer_lag_seconds,
        metrics.indexer_events_not_applied,
        metrics.indexer_events_indexed,
        metrics.indexer_blocks_per_second,
        metrics.indexer_events_per_second,
    )
    for gauge in gauges:
        gauge.clear()  # a chain no longer indexed leaves no stale series
    for status in statuses:
        chain = str(status.chain_id)
        metrics.indexer_cursor_block.labels(chain).set(status.last_block)
        metrics.indexer_finalized_block.labels(chain).set(status.finalized_block)
        metrics.indexer_head_block.labels(chain).set(status.head_block)
        metrics.indexer_lag_blocks.labels(chain).set(status.lag_blocks)
        if status.lag_seconds is not None:
            metrics.indexer_lag_seconds.labels(chain).set(status.lag_seconds)
        metrics.indexer_events_not_applied.labels(chain).set(status.events_not_applied)
        metrics.indexer_events_indexed.labels(chain).set(status.events_indexed)
        rates = metrics.progress.rates(status)
        if rates.blocks_per_second is not None:
            metrics.indexer_blocks_per_second.labels(chain).set(rates.blocks_per_second)
        if rates.events_per_second is not None:
            metrics.indexer_events_per_second.labels(chain).set(rates.events_per_second)


def _figure(name: str) -> ColumnElement[int]:
    return func.coalesce(func.sum(cast(SettlementRun.figures[name].astext, BigInteger)), 0)


async def _read_settlements(metrics: ApiMetrics, session: AsyncSession) -> None:
    pending, pending_credits = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Settlement.fee_credits), 0)).where(
                Settlement.status == SettlementStatus.PENDING.value
            )
        )
    ).one()
    metrics.settlements_pending.set(pending)
    metrics.settlements_pending_credits.set(int(pending_credits))
    runs = await session.execute(
        select(SettlementRun.kind, SettlementRun.status, func.count()).group_by(
            SettlementRun.kind, SettlementRun.status
        )
    )
    metrics.settlement_runs.clear()
    for kind, status, count in runs:
        metrics.settlement_runs.labels(kind, status).set(count)
    collected, to_authors = (
        await session.execute(
            select(_figure("credits_collected"), _figure("author_credits")).where(
                SettlementRun.kind == RunKind.DAILY.value,
                SettlementRun.status == RunStatus.DONE.value,
            )
        )
    ).one()
    metrics.settlement_credits_collected.set(int(collected))
    metrics.settlement_author_credits.set(int(to_authors))
    royalties_paid = await session.scalar(
        select(func.coalesce(func.sum(AuthorRoyalty.royalty_amount_credits), 0)).where(
            AuthorRoyalty.status == RoyaltyStatus.PAID.value
        )
    )
    metrics.royalty_credits_paid.set(int(royalties_paid or 0))


async def exposition(
    metrics: ApiMetrics, request: web.Request, session: AsyncSession
) -> web.Response:
    """The registry in the format the scraper asks for (Prometheus text or OpenMetrics)."""
    await read_gauges(metrics, session, rpc_urls=request.app[SETTINGS].rpc_urls)
    response = await make_aiohttp_handler(metrics.registry, disable_compression=True)(request)
    assert isinstance(response, web.Response)
    return response
