"""The application factory: one aiohttp app with its engine and Redis opened and closed by its
own lifecycle (cleanup_ctx), every route of api/routes/, and the generated OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web

from accounts.passwords import prepare_unknown_account_check
from api import context
from api.dispatch import aiohttp_handler
from api.housekeeping import PURGE_EVERY_SECONDS, purging_expired_keys
from api.metrics import METRICS, ApiMetrics, count_requests
from api.middlewares import middlewares
from api.openapi import build_document
from api.ratelimit import Gate
from api.registry import Endpoint, Routes
from db.engine import create_engine, create_read_session_factory, create_session_factory
from gr8d.config import Settings
from gr8d.redis import create_redis

API_PREFIX = "/api/v1"
API_VERSION = "1.0.0"
BODY_LIMIT_BYTES = 1024 * 1024


def route_groups() -> list[Routes]:
    """Every area of the API; a new routes module is added here."""
    from api.routes import (
        admin,
        auth,
        backtests,
        credentials,
        credits,
        executions,
        follows,
        market,
        royalties,
        settlements,
        staking,
        strategies,
        system,
        templates,
        users,
        wallets,
    )

    modules = (
        system,
        auth,
        users,
        wallets,
        strategies,
        backtests,
        executions,
        templates,
        credits,
        credentials,
        market,
        follows,
        staking,
        settlements,
        royalties,
        admin,
    )
    return [module.routes for module in modules]


def all_endpoints(groups: Sequence[Routes] | None = None) -> list[Endpoint]:
    return [endpoint for group in groups or route_groups() for endpoint in group.endpoints]


def _resources(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def open_and_close(app: web.Application) -> AsyncIterator[None]:
        # No ping per checkout, no overflow connections: see db/engine.py.
        engine = create_engine(settings, pre_ping=False, overflow=False)
        redis = create_redis(settings)
        app[context.ENGINE] = engine
        app[context.SESSION_FACTORY] = create_session_factory(engine)
        app[context.READ_ENGINE] = engine.execution_options(isolation_level="AUTOCOMMIT")
        app[context.READ_SESSION_FACTORY] = create_read_session_factory(engine)
        app[context.REDIS] = redis
        app[context.GATE] = Gate(redis)
        await prepare_unknown_account_check()
        try:
            yield
        finally:
            await redis.aclose()
            await engine.dispose()

    return open_and_close


def create_app(
    settings: Settings, *, purge_every_seconds: float = PURGE_EVERY_SECONDS
) -> web.Application:
    metrics = ApiMetrics.create()
    app = web.Application(
        client_max_size=BODY_LIMIT_BYTES,
        middlewares=[count_requests(metrics), *middlewares(settings)],
    )
    app[context.SETTINGS] = settings
    app[METRICS] = metrics
    app.cleanup_ctx.append(_resources(settings))
    app.cleanup_ctx.append(purging_expired_keys(purge_every_seconds))
    endpoints = all_endpoints()
    for endpoint in endpoints:
        app.router.add_route(endpoint.method, API_PREFIX + endpoint.path, aiohttp_handler(endpoint))
    app[context.OPENAPI] = build_document(endpoints, prefix=API_PREFIX, version=API_VERSION)
    app.router.add_get("/health", _root_health)
    # Where Prometheus looks by default (operations.md names /metrics), beside /api/v1/metrics.
    (scrape,) = (e for e in endpoints if e.method == "GET" and e.path == "/metrics")
    app.router.add_get("/metrics", aiohttp_handler(scrape))
    return app


async def _root_health(request: web.Request) -> web.Response:
    """The container health check's probe (the same as /api/v1/health)."""
    from api.routes.system import health_of

    return await health_of(request.app)
