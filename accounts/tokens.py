"""Access tokens: HS256 JWTs with the algorithm pinned on decode (api.md "Tokens")."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import jwt

from accounts.errors import InvalidToken

ALGORITHM = "HS256"
ACCESS_TOKEN_SECONDS = 1800
ACCESS = "access"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    token_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime

    def seconds_left(self, now: dt.datetime | None = None) -> int:
        moment = now or dt.datetime.now(dt.UTC)
        return max(0, int((self.expires_at - moment).total_seconds()))


def issue_access_token(
    user_id: uuid.UUID, *, secret: str, issuer: str, now: dt.datetime | None = None
) -> tuple[str, AccessClaims]:
    issued = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    claims = AccessClaims(
        user_id=user_id,
        token_id=uuid.uuid4().hex,
        issued_at=issued,
        expires_at=issued + dt.timedelta(seconds=ACCESS_TOKEN_SECONDS),
    )
    payload = {
        "sub": str(user_id),
        "jti": claims.token_id,
        "iat": issued,
        "exp": claims.expires_at,
        "type": ACCESS,
        "iss": issuer,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode_access_token(token: str, *, secret: str, issuer: str) -> AccessClaims:
    """The claims of a valid, unexpired access token of this issuer; InvalidToken otherwise."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={"require": ["sub", "jti", "iat", "exp", "type", "iss"]},
        )
        if payload["type"] != ACCESS:
            raise InvalidToken("not an access token")
        return AccessClaims(
            user_id=uuid.UUID(str(payload["sub"])),
            token_id=str(payload["jti"]),
            issued_at=dt.datetime.fromtimestamp(int(payload["iat"]), dt.UTC),
            expires_at=dt.datetime.fromtimestamp(int(payload["exp"]), dt.UTC),
        )
    # OverflowError and OSError: a well-signed time no date can hold (only a holder of the
    # key can make one, but the answer is still 401, not 500).
    except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError, OSError) as exc:
        raise InvalidToken("the access token is invalid or expired") from exc
