"""The served OpenAPI document against api.md: every route of the spec is in it, with the role
the spec gives it, a summary, a tag, problem-details errors and the bearer scheme where a token
is needed; and the document is valid OpenAPI 3.1."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from api.app import API_PREFIX, all_endpoints
from api.registry import Access

PUBLIC, USER, ADMIN = Access.PUBLIC, Access.USER, Access.ADMIN
SERVICE, SERVICE_OR_ADMIN = Access.SERVICE, Access.SERVICE_OR_ADMIN
UNSTATED = None  # api.md names the route but not who may call it

# api.md transcribed: every (method, path) of its tables, under /api/v1, and the role it names
# ("Authentication", "Resources" with their "service:" and "admin:" routes, "system", and the
# document itself with its browsable page from the preamble).
API_MD_ROUTES: dict[tuple[str, str], Access | None] = {
    # authentication
    ("POST", "/auth/register"): PUBLIC,
    ("POST", "/auth/login"): PUBLIC,
    ("POST", "/auth/refresh"): PUBLIC,
    ("POST", "/auth/logout"): USER,
    ("POST", "/auth/logout-all"): USER,
    # users
    ("GET", "/users/me"): USER,
    ("PATCH", "/users/me"): USER,
    ("DELETE", "/users/me"): USER,
    ("GET", "/users/me/login-history"): USER,
    # wallets
    ("POST", "/wallets/challenge"): USER,
    ("POST", "/wallets"): USER,
    ("GET", "/wallets"): USER,
    ("DELETE", "/wallets/{wallet_id}"): USER,
    # strategies
    ("GET", "/strategies"): USER,
    ("POST", "/strategies"): USER,
    ("GET", "/strategies/{strategy_id}"): USER,
    ("PATCH", "/strategies/{strategy_id}"): USER,
    ("DELETE", "/strategies/{strategy_id}"): USER,
    ("POST", "/strategies/{strategy_id}/deploy"): USER,
    ("POST", "/strategies/{strategy_id}/pause"): USER,
    ("POST", "/strategies/{strategy_id}/registration"): USER,
    ("GET", "/strategies/{strategy_id}/registration"): USER,
    ("GET", "/strategies/{strategy_id}/followers"): USER,
    # backtests
    ("POST", "/backtests"): USER,
    ("GET", "/backtests"): USER,
    ("GET", "/backtests/{backtest_id}"): USER,
    ("DELETE", "/backtests/{backtest_id}"): USER,
    ("PATCH", "/internal/backtests/{backtest_id}"): SERVICE,
    # executions
    ("GET", "/executions"): USER,
    ("GET", "/executions/{execution_id}"): USER,
    ("POST", "/executions/{execution_id}/cancel"): USER,
    ("GET", "/executions/{execution_id}/proof"): USER,
    ("POST", "/internal/executions"): SERVICE,
    # templates
    ("GET", "/templates"): USER,
    ("GET", "/templates/{template_id}"): USER,
    ("POST", "/strategies/{strategy_id}/publish"): USER,
    ("PATCH", "/templates/{template_id}"): USER,
    ("DELETE", "/templates/{template_id}"): USER,
    ("POST", "/templates/{template_id}/clone"): USER,
    # credits
    ("GET", "/credits"): USER,
    ("GET", "/credits/transactions"): USER,
    ("POST", "/credits/charge"): SERVICE_OR_ADMIN,
    ("POST", "/admin/credits/{user_id}"): ADMIN,
    # credentials
    ("GET", "/credentials"): USER,
    ("POST", "/credentials"): USER,
    ("PATCH", "/credentials/{credential_id}"): USER,
    ("DELETE", "/credentials/{credential_id}"): USER,
    # market
    ("GET", "/market/ohlcv"): USER,
    ("GET", "/market/symbols"): USER,
    ("POST", "/internal/ohlcv"): SERVICE,
    # follows
    ("GET", "/follows"): USER,
    ("GET", "/follows/followers"): USER,
    # staking
    ("GET", "/staking"): USER,
    ("GET", "/staking/summary"): USER,
    # settlements
    ("GET", "/settlements"): USER,
    ("GET", "/settlements/unpaid"): USER,
    ("POST", "/settlements/{settlement_id}/pay"): USER,
    ("GET", "/settlements/earnings"): USER,
    ("GET", "/strategies/{strategy_id}/commits/{day_index}"): USER,
    # royalties
    ("GET", "/royalties"): USER,
    ("GET", "/admin/royalties"): ADMIN,
    ("POST", "/admin/royalties/calculate"): ADMIN,
    ("POST", "/admin/royalties/create"): ADMIN,
    ("POST", "/admin/royalties/{royalty_id}/pay"): ADMIN,
    ("POST", "/admin/royalties/batch-pay"): ADMIN,
    ("POST", "/admin/royalties/{royalty_id}/cancel"): ADMIN,
    # admin
    ("GET", "/admin/users"): ADMIN,
    ("GET", "/admin/users/{user_id}"): ADMIN,
    ("PATCH", "/admin/users/{user_id}"): ADMIN,
    ("GET", "/admin/strategies"): ADMIN,
    ("GET", "/admin/settlements"): ADMIN,
    ("POST", "/admin/settlements/run"): ADMIN,
    ("GET", "/admin/indexer"): ADMIN,
    # system
    ("GET", "/health"): PUBLIC,
    ("GET", "/metrics"): UNSTATED,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
}

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def shape(path: str) -> str:
    """A path with its parameters unnamed: the spec fixes where they are, not what they are
    called."""
    return re.sub(r"\{[^}]+\}", "{}", path)


async def served_document(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get(f"{API_PREFIX}/openapi.json")
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    return document


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path without /api/v1) → operation object."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path, item in document["paths"].items():
        assert path.startswith(API_PREFIX + "/"), path
        for method, operation in item.items():
            if method in METHODS:
                found[(method.upper(), path.removeprefix(API_PREFIX))] = operation
    return found


def described(routes: set[tuple[str, str]]) -> str:
    return "\n".join(f"  {method} {API_PREFIX}{path}" for method, path in sorted(routes))


async def test_every_route_of_api_md_is_in_the_document(client: TestClient[Any, Any]) -> None:
    documented = {
        (method, shape(path)) for method, path in operations(await served_document(client))
    }
    wanted = {(method, shape(path)): (method, path) for method, path in API_MD_ROUTES}
    missing = {route for key, route in wanted.items() if key not in documented}
    assert not missing, f"{len(missing)} routes of api.md are not in the document:\n" + described(
        missing
    )


async def test_the_document_is_valid_openapi_3_1(client: TestClient[Any, Any]) -> None:
    document = await served_document(client)
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)
    ids = Counter(operation["operationId"] for operation in operations(document).values())
    assert [name for name, count in ids.items() if count > 1] == []


async def test_every_operation_has_a_summary_a_tag_and_problem_details_for_errors(
    client: TestClient[Any, Any],
) -> None:
    document = await served_document(client)
    problem = {"$ref": "#/components/schemas/ProblemBody"}
    faults: list[str] = []
    for (method, path), operation in sorted(operations(document).items()):
        name = f"{method} {path}"
        if not str(operation.get("summary", "")).strip():
            faults.append(f"{name}: no summary")
        if not operation.get("tags"):
            faults.append(f"{name}: no tag")
        responses = operation["responses"]
        errors = {
            status: r for status, r in responses.items() if not status.startswith(("1", "2", "3"))
        }
        if "default" not in errors or not any(status.startswith("4") for status in errors):
            faults.append(f"{name}: no 4xx and default error responses")
        for status, response in errors.items():
            content = response.get("content", {})
            if content.get("application/problem+json", {}).get("schema") != problem:
                faults.append(f"{name}: {status} is not application/problem+json ProblemBody")
    assert faults == []
    assert document["components"]["schemas"]["ProblemBody"]["required"] == [
        "title",
        "status",
        "code",
    ]


async def test_operations_that_need_a_token_declare_the_bearer_scheme_and_public_ones_do_not(
    client: TestClient[Any, Any],
) -> None:
    document = await served_document(client)
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }
    access = {(e.method, e.path): e.access for e in all_endpoints()}
    faults: list[str] = []
    for route, operation in sorted(operations(document).items()):
        public = access[route] is PUBLIC
        security = operation.get("security")
        if public and security:
            faults.append(f"{route}: public but declares {security}")
        if not public and security != [{"bearer": []}]:
            faults.append(f"{route}: needs a token but declares {security}")
        if not public and "401" not in operation["responses"]:
            faults.append(f"{route}: needs a token but declares no 401")
    assert faults == []


def test_every_route_demands_the_role_api_md_gives_it() -> None:
    registered = {(e.method, shape(e.path)): e.access for e in all_endpoints()}
    wrong = {
        f"{method} {path}: api.md says {role.value}, the route demands {registered[key].value}"
        for (method, path), role in API_MD_ROUTES.items()
        if role is not UNSTATED
        and (key := (method, shape(path))) in registered
        and registered[key] is not role
    }
    assert wrong == set()
