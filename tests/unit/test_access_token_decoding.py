"""Access tokens as accounts.tokens reads them: only a well-formed access token of this issuer
and key gives claims; anything else is InvalidToken (a 401), never another error."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from accounts.errors import InvalidToken
from accounts.tokens import ALGORITHM, decode_access_token, issue_access_token

SECRET = "a-test-secret-of-at-least-thirty-two-bytes"
ISSUER = "gr8d"


def signed(**overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
        "type": "access",
        "iss": ISSUER,
    }
    return jwt.encode({**claims, **overrides}, SECRET, algorithm=ALGORITHM)


def test_an_issued_token_decodes_to_its_claims() -> None:
    user_id = uuid.uuid4()
    token, claims = issue_access_token(user_id, secret=SECRET, issuer=ISSUER)
    assert decode_access_token(token, secret=SECRET, issuer=ISSUER) == claims


@pytest.mark.parametrize(
    "overrides",
    [{"exp": 10**20}, {"iat": -(10**20)}, {"exp": 2**63}],
    ids=["expiry-beyond-any-date", "issued-before-any-date", "expiry-of-64-bits"],
)
def test_times_no_date_can_hold_make_the_token_invalid(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(signed(**overrides), secret=SECRET, issuer=ISSUER)
