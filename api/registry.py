"""Routes declared once, with their models: the registry validates traffic and feeds OpenAPI.

A handler is an async function whose parameters say what it needs:

    @routes.post("/strategies", status=201)
    async def create_strategy(call: Call, body: StrategyIn) -> StrategyOut: ...

`call` is the request's context, `body` a pydantic model validated from the JSON body,
`query` one validated from the query string, every other parameter a path parameter validated
by its annotation (a bad UUID is a 422, never a 500). The return annotation is the response
model (a pydantic model, None for 204, or a raw aiohttp response).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from api.ratelimit import RateLimit
from db.models import User
from gr8d.config import Settings

Handler = Callable[..., Awaitable[Any]]


class Access(StrEnum):
    PUBLIC = "public"
    USER = "user"
    ADMIN = "admin"
    SERVICE = "service"
    SERVICE_OR_ADMIN = "service_or_admin"


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """A signed-in caller as authentication reads it: what every handler needs of the caller
    (`Call.load_user()` gives the whole row; whether they may use the admin routes is settled
    before a handler runs)."""

    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a signed-in user (with the token used), the service, or nobody."""

    user: SignedInUser | None = None
    access_token: str | None = None
    token_id: str | None = None
    token_seconds_left: int = 0
    is_service: bool = False


@dataclass
class Call:
    """Everything a handler may use for one request; `session` is the request's transaction,
    committed by the registry when the handler returns and rolled back when it raises (on a
    read-only route: a session without a transaction, see Routes.route)."""

    request: web.Request
    settings: Settings
    redis: Redis
    session: AsyncSession
    client_ip: str
    principal: Principal
    response_hooks: list[Callable[[web.StreamResponse], None]] = field(default_factory=list)

    @property
    def user(self) -> SignedInUser:
        if self.principal.user is None:
            raise RuntimeError("this route is not signed-in only; it has no user")
        return self.principal.user

    async def load_user(self) -> User:
        """The caller's row, an object of this request's session (to show in full or change);
        one more query, which most handlers, needing only `user.id`, do without."""
        return await self.session.get_one(User, self.user.id)

    def on_response(self, hook: Callable[[web.StreamResponse], None]) -> None:
        """Adjust the response once it is built (cookies, extra headers)."""
        self.response_hooks.append(hook)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    access: Access
    status: int
    summary: str
    description: str | None
    tag: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    raw_response: bool
    path_params: dict[str, TypeAdapter[Any]]
    rate_limit: RateLimit | None
    rate_limited: bool
    idempotent: bool
    read_only: bool
    needs_database: bool

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class Routes:
    """The endpoints of one area of the API (one tag in the OpenAPI document)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        access: Access = Access.USER,
        status: int | None = None,
        rate_limit: RateLimit | None = None,
        rate_limited: bool = True,
        idempotent: bool = False,
        read_only: bool | None = None,
        needs_database: bool = True,
    ) -> Callable[[Handler], Handler]:
        """`rate_limit` replaces the default per-IP limit; `rate_limited=False` drops it (for
        probes like /health that must answer while Redis is down).

        `read_only` (the default for GET) runs the handler without a transaction: each
        statement commits on its own, which saves the BEGIN and COMMIT round trips and reads
        the same (under READ COMMITTED every statement has its own snapshot anyway). Such a
        handler must not write: its session refuses to flush changes.

        `needs_database=False` gives the handler a session that connects only if it is used,
        for routes that must answer while PostgreSQL is down (/health, the OpenAPI document)."""

        def register(handler: Handler) -> Handler:
            if idempotent and read_only:
                raise ValueError(f"{method} {path}: an idempotent route writes its key")
            endpoint = _endpoint(method, path, handler, self.tag, access, status)
            self.endpoints.append(
                dataclasses.replace(
                    endpoint,
                    rate_limit=rate_limit,
                    rate_limited=rate_limited,
                    idempotent=idempotent,
                    read_only=method == "GET" if read_only is None else read_only,
                    needs_database=needs_database,
                )
            )
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)


def _model(annotation: Any) -> type[BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _endpoint(
    method: str,
    path: str,
    handler: Handler,
    tag: str,
    access: Access,
    status: int | None,
) -> Endpoint:
    if path.startswith("/internal/") and access is not Access.SERVICE:
        raise ValueError(f"{method} {path}: /internal/* routes are for the service token only")
    hints = typing.get_type_hints(handler)
    parameters = list(inspect.signature(handler).parameters)
    if not parameters or parameters[0] != "call":
        raise TypeError(f"{handler.__name__}: the first parameter must be `call: Call`")
    path_params = {
        name: TypeAdapter(hints.get(name, str))
        for name in parameters[1:]
        if name not in {"body", "query"}
    }
    for name in path_params:
        if "{" + name + "}" not in path:
            raise TypeError(f"{handler.__name__}: parameter {name!r} is not in {path}")
    returned = hints.get("return", type(None))
    raw = inspect.isclass(returned) and issubclass(returned, web.StreamResponse)
    response = _model(returned)
    if response is None and not raw and returned is not type(None):
        raise TypeError(f"{handler.__name__}: return a pydantic model, None or a response")
    doc = inspect.getdoc(handler) or handler.__name__.replace("_", " ")
    summary, _, description = doc.partition("\n\n")
    return Endpoint(
        method=method,
        path=path,
        handler=handler,
        access=access,
        status=status or (204 if returned is type(None) else 200),
        summary=summary.strip(),
        description=description.strip() or None,
        tag=tag,
        body=_model(hints.get("body")),
        query=_model(hints.get("query")),
        response=response,
        raw_response=raw,
        path_params=path_params,
        rate_limit=None,
        rate_limited=True,
        idempotent=False,
        read_only=False,
        needs_database=True,
    )
