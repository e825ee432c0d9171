"""RFC 9457 problem details: the one place where errors become HTTP statuses.

Domain errors carry a kind and a stable code (gr8d/errors.py); `Problem` is for refusals that
only the HTTP layer can see (a bad path parameter, a missing token). Nothing here ever shows a
stack trace or an exception's internals to a client.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from accounts.errors import AccountLocked
from gr8d.errors import DomainError, ErrorKind

PROBLEM_CONTENT_TYPE = "application/problem+json"

STATUS_OF_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.PAYMENT_REQUIRED: 402,
    ErrorKind.LOCKED: 423,
    ErrorKind.TOO_MANY: 429,
    ErrorKind.UNAVAILABLE: 503,
}


class FieldError(BaseModel):
    loc: list[str | int]
    code: str
    message: str


class ProblemBody(BaseModel):
    """What every error response carries (application/problem+json)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str
    errors: list[FieldError] | None = None


@dataclass
class Problem(Exception):
    """An HTTP-level refusal raised inside the API."""

    status: int
    code: str
    detail: str | None = None
    errors: Sequence[FieldError] = ()
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail}"


def problem_response(
    status: int,
    code: str,
    detail: str | None = None,
    *,
    errors: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = [error.model_dump() for error in errors]
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def from_problem(problem: Problem) -> web.Response:
    return problem_response(
        problem.status,
        problem.code,
        problem.detail,
        errors=problem.errors,
        headers=problem.headers or None,
    )


def from_domain_error(error: DomainError) -> web.Response:
    return problem_response(
        STATUS_OF_KIND[error.kind], error.code, str(error), headers=_headers_of(error)
    )


def _headers_of(error: DomainError) -> dict[str, str] | None:
    """What a refusal says beyond its body: how long a locked account stays locked, wherever
    the lock is met (a login, a password change)."""
    if isinstance(error, AccountLocked):
        return {"Retry-After": str(max(1, error.retry_after))}
    return None


def field_errors(error: ValidationError, *, prefix: str) -> list[FieldError]:
    return [
        FieldError(
            loc=[prefix, *item["loc"]],
            code=str(item["type"]).upper(),
            message=str(item["msg"]),
        )
        for item in error.errors(include_url=False, include_input=False)
    ]


def validation_problem(error: ValidationError, *, prefix: str) -> Problem:
    return Problem(
        422,
        "VALIDATION_ERROR",
        "the request does not match its schema",
        errors=field_errors(error, prefix=prefix),
    )


def unauthenticated(detail: str = "a valid bearer token is required") -> Problem:
    return Problem(401, "NOT_AUTHENTICATED", detail, headers={"WWW-Authenticate": "Bearer"})
