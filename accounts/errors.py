"""What the accounts domain refuses."""

from __future__ import annotations

from gr8d.errors import DomainError, ErrorKind


class InvalidToken(DomainError):
    kind = ErrorKind.UNAUTHENTICATED
    code = "INVALID_TOKEN"
