"""Cross-cutting HTTP behaviour: request ids, errors as problem details, security headers,
CORS and access logs. Order (outermost first) is the order of `middlewares(settings)`."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestPayloadError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.problems import Problem, from_domain_error, from_problem, problem_response
from gr8d.config import AppEnv, Settings
from gr8d.errors import DomainError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ACCESS_LOGGER = "gr8d.api"
log = structlog.get_logger(ACCESS_LOGGER)

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
REQUEST_ID_HEADER = "X-Request-ID"
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
_CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
_CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"


def _request_id(request: web.Request) -> str:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    return offered if _CLIENT_REQUEST_ID.match(offered) else uuid.uuid4().hex


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = _request_id(request)
    # Tokens reset afterwards, not structlog's bound_contextvars: that one copies the whole
    # context first, to save keys this never has.
    bound = structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        structlog.contextvars.reset_contextvars(**bound)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _from_http_exception(exc: web.HTTPException) -> web.StreamResponse:
    if exc.status < 400:
        return exc
    codes = {
        404: ("NOT_FOUND", "no such route"),
        405: ("METHOD_NOT_ALLOWED", "this route does not take that method"),
        413: ("BODY_TOO_LARGE", "the body is larger than 1 MiB"),
    }
    code, detail = codes.get(exc.status, ("HTTP_ERROR", exc.reason))
    headers = {name: value for name, value in exc.headers.items() if name in {"Allow"}}
    return problem_response(exc.status, code, detail, headers=headers or None)


# SQLSTATE classes of a database that is away rather than of a request that is wrong:
# 08 connection exception, 53 insufficient resources (too many connections), 57 operator
# intervention (shutting down, starting up).
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})


def database_unavailable(error: Exception) -> bool:
    """The database could not be reached or served the request's connection: a retry may
    succeed. The driver raises a refused or timed-out connect as a bare OSError; a pool with no
    free connection raises SQLAlchemy's TimeoutError; a connection that died under the request
    is an invalidated DBAPIError."""
    if isinstance(error, OSError | PoolTimeout):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        state = str(getattr(error.orig, "sqlstate", "") or getattr(error.orig, "pgcode", ""))
        return state[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
    return False


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return from_problem(problem)
    except DomainError as error:
        return from_domain_error(error)
    except web.HTTPException as exc:
        return _from_http_exception(exc)
    except (RequestPayloadError, HttpProcessingError):
        # Raised while the body is read: it does not decode as its Content-Encoding says, or
        # its chunked framing is broken.
        return problem_response(400, "MALFORMED_BODY", "the body cannot be read as sent")
    except RedisError:
        log.warning("redis unavailable", path=request.path)
        return problem_response(503, "REDIS_UNAVAILABLE", "a backing service is unavailable")
    except Exception as error:
        if database_unavailable(error):
            # A connection that died under the request is replaced by the pool (with every
            # pooled connection older than it), so a retry finds a fresh one; a database that
            # is away is the same 503 as Redis being away (fail closed, never a 500).
            log.warning("database unavailable", path=request.path, error=repr(error))
            return problem_response(
                503,
                "DATABASE_UNAVAILABLE",
                "a backing service is unavailable",
                headers={"Retry-After": "1"},
            )
        log.exception("unhandled error", method=request.method, path=request.path)
        return problem_response(500, "INTERNAL_ERROR", "an unexpected error occurred")


def security_headers(settings: Settings) -> Middleware:
    production = settings.app_env is AppEnv.PRODUCTION

    @web.middleware
    async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if production:
            response.headers.setdefault("Strict-Transport-Security", "max-age=63072000")
        return response

    return add_headers


def cors(settings: Settings) -> Middleware:
    allowed = frozenset(settings.cors_origins)

    @web.middleware
    async def add_cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None or origin not in allowed:
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
            response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After"
        response.headers.add("Vary", "Origin")
        return response

    return add_cors


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not log.is_enabled_for(logging.INFO):
        return await handler(request)
    started = time.perf_counter()
    response = await handler(request)
    log.info(
        "request",
        method=request.method,
        path=request.path,
        status=response.status,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return response


def middlewares(settings: Settings) -> list[Middleware]:
    return [request_ids, access_log, security_headers(settings), cors(settings), problems]
