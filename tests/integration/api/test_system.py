from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient

from gr8d.config import Settings
from tests.integration.api.conftest import SignIn, start_client
from tests.integration.api.raw_http import raw_request


async def test_health_reports_database_redis_and_indexer(
    client: TestClient[object, object],
) -> None:
    response = await client.get("/api/v1/health")
    body = await response.json()
    assert response.status == 200
    assert body["database"] is True and body["redis"] is True
    assert set(body["indexer"].values()) == {None}


async def test_root_health_answers_for_the_container_probe(
    client: TestClient[object, object],
) -> None:
    response = await client.get("/health")
    assert response.status == 200


async def test_health_is_503_when_redis_is_down(api_settings: Settings) -> None:
    broken = api_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    client = await start_client(broken)
    try:
        response = await client.get("/api/v1/health")
        body = await response.json()
    finally:
        await client.close()
    assert response.status == 503
    assert body["redis"] is False and body["database"] is True


async def test_unknown_route_is_a_problem_with_a_request_id(
    client: TestClient[object, object],
) -> None:
    response = await client.get("/api/v1/no-such-thing")
    body = await response.json(content_type=None)
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert body["code"] == "NOT_FOUND" and body["status"] == 404
    assert len(response.headers["X-Request-ID"]) == 32


async def test_a_clients_request_id_is_echoed(client: TestClient[object, object]) -> None:
    response = await client.get("/api/v1/health", headers={"X-Request-ID": "trace-42"})
    assert response.headers["X-Request-ID"] == "trace-42"


async def test_responses_carry_security_headers(client: TestClient[object, object]) -> None:
    response = await client.get("/api/v1/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_cors_preflight_answers_only_configured_origins(api_settings: Settings) -> None:
    configured = api_settings.model_copy(update={"cors_origins": ["https://app.gr8diy.com"]})
    client = await start_client(configured)
    preflight = {"Access-Control-Request-Method": "POST"}
    try:
        allowed = await client.options(
            "/api/v1/auth/login", headers={"Origin": "https://app.gr8diy.com", **preflight}
        )
        refused = await client.options(
            "/api/v1/auth/login", headers={"Origin": "https://evil.example", **preflight}
        )
    finally:
        await client.close()
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.gr8diy.com"
    assert "Access-Control-Allow-Origin" not in refused.headers


async def test_openapi_document_is_3_1_and_lists_its_own_routes(
    client: TestClient[object, object],
) -> None:
    response = await client.get("/api/v1/openapi.json")
    document = await response.json()
    assert document["openapi"] == "3.1.0"
    assert "get" in document["paths"]["/api/v1/health"]
    assert "ProblemBody" in document["components"]["schemas"]


async def test_docs_page_points_at_the_document(client: TestClient[object, object]) -> None:
    response = await client.get("/api/v1/docs")
    assert response.status == 200
    assert "/api/v1/openapi.json" in await response.text()


async def test_nan_in_a_body_is_malformed_json(client: TestClient[object, object]) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        data=b'{"email": "a@b.c", "password": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400
    assert (await response.json(content_type=None))["code"] == "MALFORMED_JSON"


async def test_an_integer_of_ten_thousand_digits_is_malformed_json(
    client: TestClient[object, object],
) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        data=b'{"email": "a@b.c", "password": ' + b"9" * 10_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400


async def test_a_nul_character_anywhere_in_a_body_is_refused_before_the_database(
    client: TestClient[object, object],
) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "nul@example.com", "password": "long enough", "full_name": "a\u0000b"},
    )
    body = await response.json(content_type=None)
    assert response.status == 422
    assert body["code"] == "VALIDATION_ERROR"
    assert body["errors"] == [
        {
            "loc": ["body", "full_name"],
            "code": "UNSTORABLE_TEXT",
            "message": "NUL characters and lone surrogates cannot be stored",
        }
    ]


async def test_a_lone_surrogate_in_a_body_is_refused(client: TestClient[object, object]) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        data=b'{"email": "s@example.com", "password": "long enough", "full_name": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 422


async def test_a_body_over_one_mebibyte_is_413(client: TestClient[object, object]) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        data=b'{"email": "' + b"a" * (1024 * 1024 + 10) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await response.json(content_type=None))["code"] == "BODY_TOO_LARGE"


async def test_routes_that_need_redis_fail_closed_when_it_is_down(api_settings: Settings) -> None:
    broken = api_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    client = await start_client(broken)
    try:
        response = await client.get("/api/v1/credits")
        body = await response.json(content_type=None)
    finally:
        await client.close()
    assert response.status == 503
    assert body["code"] == "REDIS_UNAVAILABLE"


def _without_database(settings: Settings) -> Settings:
    """The same app, its database on a port nothing listens on."""
    return settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/gr8d_nowhere"}
    )


async def test_health_is_503_when_the_database_is_down(api_settings: Settings) -> None:
    client = await start_client(_without_database(api_settings))
    try:
        response = await client.get("/api/v1/health")
        body = await response.json()
    finally:
        await client.close()
    assert response.status == 503
    assert body["database"] is False and body["redis"] is True


async def test_the_openapi_document_is_served_while_the_database_is_down(
    api_settings: Settings,
) -> None:
    client = await start_client(_without_database(api_settings))
    try:
        document = await client.get("/api/v1/openapi.json")
        docs_page = await client.get("/api/v1/docs")
    finally:
        await client.close()
    assert document.status == 200 and docs_page.status == 200


async def test_routes_that_need_the_database_answer_503_when_it_is_unreachable(
    api_settings: Settings,
) -> None:
    client = await start_client(_without_database(api_settings))
    try:
        login = await client.post(
            "/api/v1/auth/login", json={"email": "someone@example.com", "password": "password-1"}
        )
        login_body = await login.json(content_type=None)
    finally:
        await client.close()
    assert login.status == 503
    assert login.headers["Content-Type"].startswith("application/problem+json")
    assert login_body["code"] == "DATABASE_UNAVAILABLE"
    assert login.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    "amount", [True, "5", 5.0, " 7 ", "1_000"], ids=["bool", "string", "float", "spaces", "digits"]
)
async def test_a_body_value_of_the_wrong_json_type_is_refused_not_coerced(
    client: TestClient[object, object], sign_in: SignIn, amount: object
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in(credits=10)
    response = await client.post(
        f"/api/v1/admin/credits/{user.user_id}",
        json={"amount": amount, "description": "typed"},
        headers=admin.headers,
    )
    body = await response.json(content_type=None)
    balance = await client.get("/api/v1/credits", headers=user.headers)
    assert response.status == 422
    assert body["errors"][0]["loc"] == ["body", "amount"]
    assert await balance.json() == {"balance": 10}


@pytest.mark.parametrize("flag", ["false", 0, "no"])
async def test_a_boolean_must_be_a_json_boolean(
    client: TestClient[object, object], sign_in: SignIn, flag: object
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    response = await client.patch(
        f"/api/v1/admin/users/{user.user_id}", json={"is_active": flag}, headers=admin.headers
    )
    me = await client.get("/api/v1/users/me", headers=user.headers)
    assert response.status == 422
    assert me.status == 200


async def test_strings_still_carry_ids_times_and_exact_amounts(
    client: TestClient[object, object], sign_in: SignIn, service_headers: dict[str, str]
) -> None:
    user = await sign_in()
    charged = await client.post(
        "/api/v1/credits/charge",
        json={"user_id": str(user.user_id), "amount": 25, "reference": "pay-typed-1"},
        headers=service_headers,
    )
    assert charged.status == 201
    assert (await charged.json())["amount"] == 25


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_does_not_decode_as_its_content_encoding_is_400(
    client: TestClient[object, object], sign_in: SignIn, encoding: str
) -> None:
    me = await sign_in()
    response = await client.post(
        "/api/v1/strategies",
        data=b"this is not compressed",
        headers={**me.headers, "Content-Type": "application/json", "Content-Encoding": encoding},
    )
    body = await response.json(content_type=None)
    assert response.status == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert body["code"] == "MALFORMED_BODY"


@pytest.mark.parametrize(
    "path", ["/api/v1/internal/ohlcv", "/api/v1/credits/charge", "/api/v1/strategies"]
)
async def test_a_bearer_token_that_is_not_utf8_is_refused_like_any_wrong_token(
    client: TestClient[object, object], path: str
) -> None:
    def request(token: bytes) -> bytes:
        return (
            b"POST "
            + path.encode()
            + b" HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer "
            + token
            + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        )

    status, body = await raw_request(client, request(b"\xff\xfe\xfd"))
    ascii_status, ascii_body = await raw_request(client, request(b"not-a-token"))
    assert status in (401, 403)
    assert (status, json.loads(body)["code"]) == (ascii_status, json.loads(ascii_body)["code"])
