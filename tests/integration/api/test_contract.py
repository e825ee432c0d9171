"""Contract tests: schemathesis generates requests for every operation of the served OpenAPI
document (valid ones and ones that break it) and checks each answer: no server error, a
declared status, the declared content type and headers, a body of the declared schema.

The app runs on a real port in a thread of its own (live_server.py): schemathesis sends
blocking requests, which a server on pytest-asyncio's session loop could not answer. Each
operation gets a fresh world of rows (contract_world.py); a third of its cases name the world's
objects in their path, so successful answers are checked as well as refusals. Users call user
routes, an admin the admin routes, the service token /internal/*. Routes with limits of their
own (register, login, refresh) have their counters reset before each case so they stay
reachable.

One test per operation, parametrized from the registry (schemathesis' own pytest integration
needs the schema at collection time, or, with a fixture, pytest < 9).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import strategies as st
from redis.asyncio import Redis
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from accounts.tokens import issue_access_token
from api import context
from api.app import API_PREFIX, all_endpoints
from api.registry import Access, Endpoint
from gr8d.config import Settings
from tests.integration.api.conftest import SignIn
from tests.integration.api.contract_world import World, seed_world
from tests.integration.api.live_server import LiveServer

# Bounded so the whole run stays within a couple of minutes on 2 cores; a fixed seed and
# derandomized generation, so a failure shows up again on the next run.
EXAMPLES_PER_OPERATION = 20
SEED = 20261120
Operation = APIOperation[Any, Any, Any, Any]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


def label(endpoint: Endpoint) -> str:
    """How schemathesis names an operation: "GET /api/v1/strategies/{strategy_id}"."""
    return f"{endpoint.method} {API_PREFIX}{endpoint.path}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "operation_label" in metafunc.fixturenames:
        metafunc.parametrize("operation_label", [label(e) for e in all_endpoints()])


class Callers:
    """The Authorization header each route wants, and the per-route limits to reset."""

    def __init__(self, live: LiveServer, settings: Settings, world: World) -> None:
        self._live = live
        self._endpoints = {label(endpoint): endpoint for endpoint in all_endpoints()}
        self._headers = {
            Access.PUBLIC: {},
            Access.USER: _bearer(_token(world.owner, settings)),
            Access.ADMIN: _bearer(_token(world.admin, settings)),
            Access.SERVICE_OR_ADMIN: _bearer(_token(world.admin, settings)),
            Access.SERVICE: _bearer(settings.internal_api_token),
        }

    def headers_for(self, case: Case[Operation]) -> dict[str, str]:
        return self._headers[self._endpoints[case.operation.label].access]

    def before(self, case: Case[Operation]) -> None:
        if self._endpoints[case.operation.label].rate_limit is not None:
            self._live.run(_delete_rate_limit_counters(self._live.app[context.REDIS]))


def _token(user_id: object, settings: Settings) -> str:
    token, _ = issue_access_token(
        user_id,  # type: ignore[arg-type]
        secret=settings.jwt_secret_key,
        issuer=settings.jwt_issuer,
    )
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _delete_rate_limit_counters(redis: Redis) -> None:
    keys = [key async for key in redis.scan_iter("rate_limit:*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture(scope="module")
def live_api(api_settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(api_settings)
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def api_schema(live_api: LiveServer) -> OpenApiSchema:
    return schemathesis.openapi.from_url(
        f"{live_api.base_url}{API_PREFIX}/openapi.json",
        config=schemathesis.Config.from_dict({"seed": SEED}),
    )


@pytest.fixture
def world(live_api: LiveServer, api_settings: Settings, flushed_redis: None) -> World:
    async def seed() -> World:
        async with live_api.session_factory() as session, session.begin():
            return await seed_world(session, api_settings)

    return live_api.run(seed())


def cases_of(operation: Operation, world: World) -> st.SearchStrategy[Case[Operation]]:
    variants = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    names = {parameter.name for parameter in operation.path_parameters}
    if names:
        variants += [
            operation.as_strategy(
                GenerationMode.POSITIVE,
                path_parameters={name: str(values[name]) for name in names if name in values},
            )
            for values in world.path_values
        ]
    return st.one_of(variants)


def test_operation_answers_as_its_document_declares(
    operation_label: str,
    api_schema: OpenApiSchema,
    live_api: LiveServer,
    api_settings: Settings,
    world: World,
) -> None:
    operation = api_schema.find_operation_by_label(operation_label)
    assert operation is not None, f"{operation_label} is not in the served document"
    callers = Callers(live_api, api_settings, world)

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=cases_of(operation, world))
    def answers_as_declared(case: Case[Operation]) -> None:
        callers.before(case)
        case.call_and_validate(headers=callers.headers_for(case), checks=CHECKS)

    answers_as_declared()


def filled(path: str) -> str:
    """A path with its parameters given values: a new UUID for an id, 1 for anything else."""
    return re.sub(
        r"\{(\w+)\}", lambda name: str(uuid.uuid4()) if name[1].endswith("_id") else "1", path
    )


async def test_every_operation_with_a_body_refuses_json_nested_too_deep_for_the_parser(
    client: TestClient[Any, Any], sign_in: SignIn, service_headers: dict[str, str]
) -> None:
    """Generated bodies stay shallow. 90,000 levels of brackets (180 KB) overflowed the C stack
    in json.loads and killed the server; 65 levels are already more than any request needs."""
    admin = await sign_in(is_superuser=True)
    answers: dict[str, set[tuple[int, str]]] = {}
    for endpoint in all_endpoints():
        if endpoint.body is None:
            continue
        headers = service_headers if endpoint.access is Access.SERVICE else admin.headers
        for depth in (65, 90_000):
            response = await client.request(
                endpoint.method,
                API_PREFIX + filled(endpoint.path),
                data="[" * depth + '"\\u0041"' + "]" * depth,
                headers=headers | {"Content-Type": "application/json"},
            )
            problem = await response.json()
            answers.setdefault(label(endpoint), set()).add((response.status, problem["code"]))
    assert {name for name, seen in answers.items() if seen != {(400, "JSON_TOO_DEEP")}} == set()


async def test_a_body_nested_64_levels_deep_is_parsed(client: TestClient[Any, Any]) -> None:
    nested = "[" * 63 + "]" * 63
    response = await client.post(
        f"{API_PREFIX}/auth/register",
        data=f'{{"email": "deep@example.com", "password": {nested}}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 422
    assert (await response.json())["code"] == "VALIDATION_ERROR"
