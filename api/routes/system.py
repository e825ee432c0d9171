"""Health, the OpenAPI document and its browsable page."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import text

from api import context
from api.metrics import METRICS, exposition
from api.registry import Access, Call, Routes
from indexer.status import chain_statuses

routes = Routes("system")

PROBE_TIMEOUT_SECONDS = 2.0

_DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>gr8d API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#ui"});</script>
</body></html>"""
_DOCS_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' https://unpkg.com; "
    "style-src https://unpkg.com; img-src data: https:; connect-src 'self'"
)


class IndexerHealth(BaseModel):
    last_block: int | None = None
    finalized_block: int | None = None
    lag_seconds: float | None = None
    events_indexed: int | None = None
    blocks_per_second: float | None = None
    events_per_second: float | None = None


class Health(BaseModel):
    status: str
    database: bool
    redis: bool
    indexer: IndexerHealth


async def _database_ok(app: web.Application) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            async with app[context.ENGINE].connect() as connection:
                await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def _redis_ok(app: web.Application) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            return bool(await app[context.REDIS].ping())
    except Exception:
        return False


async def _indexer(app: web.Application) -> IndexerHealth:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), app[context.SESSION_FACTORY]() as s:
            statuses = await chain_statuses(s, now=dt.datetime.now(dt.UTC))
    except Exception:
        return IndexerHealth()
    if not statuses:
        return IndexerHealth()
    status = statuses[0]
    rates = app[METRICS].progress.rates(status)
    return IndexerHealth(
        last_block=status.last_block,
        finalized_block=status.finalized_block,
        lag_seconds=status.lag_seconds,
        events_indexed=status.events_indexed,
        blocks_per_second=rates.blocks_per_second,
        events_per_second=rates.events_per_second,
    )


async def health_of(app: web.Application) -> web.Response:
    database, redis = await asyncio.gather(_database_ok(app), _redis_ok(app))
    indexer = await _indexer(app) if database else IndexerHealth()
    healthy = database and redis
    body = Health(
        status="ok" if healthy else "unavailable", database=database, redis=redis, indexer=indexer
    )
    return web.Response(
        status=200 if healthy else 503, text=body.model_dump_json(), content_type="application/json"
    )


@routes.get("/health", access=Access.PUBLIC, rate_limited=False, needs_database=False)
async def health(call: Call) -> web.Response:
    """Health of the database, Redis and the indexer.

    200 with a `Health` body, or 503 with the same body when the database or Redis is down.
    """
    return await health_of(call.request.app)


@routes.get("/openapi.json", access=Access.PUBLIC, rate_limited=False, needs_database=False)
async def openapi_document(call: Call) -> web.Response:
    """This API's OpenAPI 3.1 document."""
    return web.Response(
        text=json.dumps(call.request.app[context.OPENAPI]), content_type="application/json"
    )


@routes.get("/docs", access=Access.PUBLIC, rate_limited=False, needs_database=False)
async def docs(call: Call) -> web.Response:
    """A browsable page of the OpenAPI document."""
    response = web.Response(text=_DOCS_PAGE, content_type="text/html")
    response.headers["Content-Security-Policy"] = _DOCS_POLICY
    return response


@routes.get("/metrics", access=Access.PUBLIC, rate_limited=False)
async def metrics(call: Call) -> web.Response:
    """Prometheus metrics of this API process (text format, or OpenMetrics when asked).

    Requests by route and status, their latency, and, read from the database as of the
    scrape, the indexer's cursor, head and lag and the settlement's pending fees and runs."""
    return await exposition(call.request.app[METRICS], call.request, call.session)
