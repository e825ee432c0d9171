"""Route options of the registry and the problem answers of the middleware, without servers."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.exc import DBAPIError

from api.middlewares import problems
from api.registry import Call, Routes


async def _nothing(call: Call) -> None:
    return None


def test_get_routes_are_read_only_unless_declared_otherwise() -> None:
    routes = Routes("test")
    routes.get("/things")(_nothing)
    routes.get("/things/refresh", read_only=False)(_nothing)
    routes.post("/things")(_nothing)

    assert [endpoint.read_only for endpoint in routes.endpoints] == [True, False, False]


def test_an_idempotent_route_cannot_be_read_only() -> None:
    with pytest.raises(ValueError, match="idempotent"):
        Routes("test").post("/things", idempotent=True, read_only=True)(_nothing)


async def test_a_database_connection_lost_under_a_request_is_a_503_to_retry() -> None:
    async def lose_connection(request: web.Request) -> web.Response:
        raise DBAPIError(
            "SELECT 1", None, ConnectionResetError("gone"), connection_invalidated=True
        )

    app = web.Application(middlewares=[problems])
    app.router.add_get("/", lose_connection)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/")
        body = await response.json()

    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert body["code"] == "DATABASE_UNAVAILABLE"
