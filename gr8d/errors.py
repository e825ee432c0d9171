"""The base of every domain error: what went wrong, in words the API can map to a status.

Domains raise subclasses with a stable `code` and a `kind`; only api/problems.py turns a kind
into an HTTP status, so no domain package knows HTTP.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorKind(StrEnum):
    INVALID = "INVALID"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    PAYMENT_REQUIRED = "PAYMENT_REQUIRED"
    LOCKED = "LOCKED"
    TOO_MANY = "TOO_MANY"
    UNAVAILABLE = "UNAVAILABLE"


class DomainError(Exception):
    """A refusal the caller can act on; `str(error)` is safe to show to the user."""

    kind: ClassVar[ErrorKind] = ErrorKind.INVALID
    code: ClassVar[str] = "INVALID_REQUEST"
