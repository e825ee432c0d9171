"""Turning an Endpoint into an aiohttp handler: limit, authenticate, validate, run, respond."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from api import caller, context, idempotency
from api.authentication import Credentials, authenticate, read_credentials
from api.client_ip import client_ip, trusted_networks
from api.problems import FieldError, Problem, validation_problem
from api.ratelimit import PresentedToken, RateLimit
from api.registry import Call, Endpoint, Principal
from gr8d.config import Settings

JSON = "application/json"
# No request of this API nests deeper; json.loads recurses once per level, and the process's
# recursion limit is not a guard (py_ecc, imported with eth-account, raises it to 100,000: a
# 180 KB body of brackets then overflows the C stack and kills the server).
MAX_JSON_DEPTH = 64
# A string token (possessive, and an unterminated one runs to the end, so the scan stays linear)
# or a bracket: brackets inside strings are not nesting.
_JSON_NESTING_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|\Z)|[\[\]{}]', re.DOTALL)
_OPENING = frozenset(b"[{")


def default_rate_limit(settings: Settings) -> RateLimit:
    return RateLimit("api", settings.api_rate_limit_per_minute, 60)


def _rate_limit_of(
    endpoint: Endpoint, credentials: Credentials, settings: Settings
) -> RateLimit | None:
    """The limit a request counts against: the route's own, else the default per-IP limit,
    which the verified service token does not count against: api.md's 100 a minute would
    throttle the trading engine's execution reports (10M a month is ~230 a minute on average)
    from its one address, and a refused report is a fill no fee is ever settled for."""
    if not endpoint.rate_limited:
        return None
    if endpoint.rate_limit is not None:
        return endpoint.rate_limit
    if isinstance(credentials, Principal) and credentials.is_service:
        return None
    return default_rate_limit(settings)


def caller_ip(request: web.Request, settings: Settings) -> str:
    peer = request.remote or "unknown"
    # Every X-Forwarded-For line, in order, as one list (RFC 9110 5.3): a proxy may add a line
    # of its own after the client's instead of appending to it.
    lines = request.headers.getall("X-Forwarded-For", ())
    forwarded = ", ".join(lines) if lines else None
    return client_ip(peer, forwarded, trusted_networks(settings.trusted_proxies))


def _path_arguments(endpoint: Endpoint, request: web.Request) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    for name, adapter in endpoint.path_params.items():
        try:
            arguments[name] = adapter.validate_python(request.match_info[name])
        except ValidationError as error:
            raise validation_problem(error, prefix="path") from None
    return arguments


def _query_argument(model: type[BaseModel], request: web.Request) -> BaseModel:
    paths: list[Location] = [
        (name,) for name, value in request.query.items() if _unstorable_text(value)
    ]
    if paths:
        raise _unstorable_problem("query", paths)
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as error:
        raise validation_problem(error, prefix="query") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unstorable_text(text: str) -> bool:
    """A string PostgreSQL text cannot hold: a NUL character or a lone UTF-16 surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


Location = tuple[str | int, ...]


def _unstorable_paths(value: Any) -> list[Location]:
    """Where a JSON document holds unstorable strings (keys included). Walked with a stack of
    its own, not by recursion: a document nested a few hundred levels deep parses, and
    recursing into it would end in a RecursionError (a 500)."""
    found: list[Location] = []
    pending: list[tuple[Location, Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if _unstorable_text(item):
                found.append(path)
        elif isinstance(item, dict):
            for key, child in item.items():
                if _unstorable_text(key):
                    found.append((*path, key))
                pending.append(((*path, key), child))
        elif isinstance(item, list):
            pending.extend(((*path, index), child) for index, child in enumerate(item))
    return sorted(found, key=str)


def _unstorable_problem(location: str, paths: list[Location]) -> Problem:
    return Problem(
        422,
        "VALIDATION_ERROR",
        "text may not contain NUL characters or lone surrogates",
        errors=[
            FieldError(
                loc=[location, *path],
                code="UNSTORABLE_TEXT",
                message="NUL characters and lone surrogates cannot be stored",
            )
            for path in paths
        ],
    )


def _nested_deeper_than(raw: bytes, limit: int) -> bool:
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for token in _JSON_NESTING_TOKEN.finditer(raw):
        first = token[0][0]
        if first in _OPENING:
            depth += 1
            if depth > limit:
                return True
        elif first != ord('"'):
            depth -= 1
    return False


async def read_json(request: web.Request) -> Any:
    """The body as JSON; NaN/Infinity, integers beyond Python's digit limit and strings the
    database cannot store are refused here, once, for every route."""
    raw = await request.read()
    if not raw:
        raise Problem(400, "EMPTY_BODY", "a JSON body is required")
    if _nested_deeper_than(raw, MAX_JSON_DEPTH):
        raise Problem(400, "JSON_TOO_DEEP", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        document = json.loads(raw, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Problem(400, "MALFORMED_JSON", "the body is not valid JSON") from None
    # Only escapes (\u....) can smuggle NUL or surrogates past the strict parser.
    if b"\\u" in raw and (paths := _unstorable_paths(document)):
        raise _unstorable_problem("body", paths)
    return document


async def _body_argument(model: type[BaseModel], request: web.Request) -> BaseModel:
    await read_json(request)
    try:
        # Strict JSON validation: a value of the wrong JSON type is refused, not coerced (true
        # or "5" is no number of credits, "false" no boolean); ids, times and exact amounts
        # still come as strings. The body is parsed again (pydantic's parser, cheap next to
        # the request): lax validation of the document parsed above would coerce.
        return model.model_validate_json(await request.read(), strict=True)
    except ValidationError as error:
        raise validation_problem(error, prefix="body") from None


def render(endpoint: Endpoint, result: Any) -> web.StreamResponse:
    if isinstance(result, web.StreamResponse):
        return result
    if result is None:
        return web.Response(status=endpoint.status)
    if isinstance(result, BaseModel):
        return web.Response(
            status=endpoint.status, text=result.model_dump_json(), content_type=JSON
        )
    raise TypeError(f"{endpoint.operation_id} returned {type(result).__name__}")


async def respond(endpoint: Endpoint, call: Call, arguments: dict[str, Any]) -> web.StreamResponse:
    return render(endpoint, await endpoint.handler(call, **arguments))


@contextlib.asynccontextmanager
async def _request_session(app: web.Application, endpoint: Endpoint) -> AsyncIterator[AsyncSession]:
    """The request's transaction (committed when the block ends, rolled back when it raises);
    for a read-only route a session without one, bound to an autocommit connection: its
    statements of plain columns run straight on that connection (db/statements.py), without
    the session's own transaction bookkeeping (~50 us a request).

    The read-only connection is closed directly, not by `async with`, which closes it in a
    task of its own behind asyncio.shield so that a cancellation cannot abandon the close
    halfway: an autocommit connection goes back to the pool without waiting on the server,
    so there is nothing to interrupt. A session that never began a transaction nor loaded an
    object (the handler's statements ran on the driver) has nothing to close. Both: ~35 us of
    CPU a request.

    A route that does not need the database gets a session that connects only when used, so
    that it answers while PostgreSQL is unreachable."""
    if not endpoint.needs_database:
        async with app[context.SESSION_FACTORY]() as session:
            yield session
    elif endpoint.read_only:
        connection = await app[context.READ_ENGINE].connect()
        try:
            session = app[context.READ_SESSION_FACTORY](bind=connection)
            try:
                yield session
            finally:
                if session.in_transaction() or len(session.identity_map):
                    await session.close()
        finally:
            await connection.close()
    else:
        async with app[context.SESSION_FACTORY]() as session, session.begin():
            yield session


def aiohttp_handler(endpoint: Endpoint) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        app = request.app
        settings = app[context.SETTINGS]
        redis = app[context.REDIS]
        ip = caller_ip(request, settings)
        credentials = read_credentials(request, access=endpoint.access, settings=settings)
        token_state = await app[context.GATE].admit(
            rule=_rate_limit_of(endpoint, credentials, settings),
            ip=ip,
            presented=credentials if isinstance(credentials, PresentedToken) else None,
        )
        async with _request_session(app, endpoint) as session:
            principal = await authenticate(
                credentials,
                access=endpoint.access,
                token_state=token_state,
                session=session,
                defer_row_check=endpoint.read_only,
            )
            try:
                call, response = await _run(endpoint, request, session, redis, ip, principal)
            except Exception:
                # An inactive caller is told so, not what the handler found wrong.
                await caller.confirm(session)
                raise
            await caller.confirm(session)
        for hook in call.response_hooks:
            hook(response)
        return response

    handle.__name__ = endpoint.operation_id
    return handle


async def _run(
    endpoint: Endpoint,
    request: web.Request,
    session: AsyncSession,
    redis: Redis,
    ip: str,
    principal: Principal,
) -> tuple[Call, web.StreamResponse]:
    """Validate the request's arguments and run the handler in the request's session."""
    arguments = _path_arguments(endpoint, request)
    if endpoint.query is not None:
        arguments["query"] = _query_argument(endpoint.query, request)
    if endpoint.body is not None:
        arguments["body"] = await _body_argument(endpoint.body, request)
    call = Call(
        request=request,
        settings=request.app[context.SETTINGS],
        redis=redis,
        session=session,
        client_ip=ip,
        principal=principal,
    )
    if endpoint.idempotent:
        # The key row and the handler's effect commit in this one transaction.
        return call, await idempotency.run_once(call, lambda: respond(endpoint, call, arguments))
    return call, await respond(endpoint, call, arguments)
