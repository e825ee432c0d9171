"""The Redis keys of auth state, exactly as api.md fixes them; nothing else names them."""

from __future__ import annotations

import uuid

REFRESH_TOKEN_TTL_SECONDS = 604_800
LOGIN_HISTORY_TTL_SECONDS = 30 * 86_400


def refresh_token(user_id: uuid.UUID, token_id: str) -> str:
    return f"refresh_token:{user_id}:{token_id}"


def refresh_tokens_of(user_id: uuid.UUID) -> str:
    """A SCAN pattern matching every refresh token of one user."""
    return f"refresh_token:{user_id}:*"


def blacklist(access_token: str) -> str:
    return f"blacklist:{access_token}"


def rate_limit(ip: str, endpoint: str) -> str:
    return f"rate_limit:{ip}:{endpoint}"


def login_history(user_id: uuid.UUID) -> str:
    return f"login_history:{user_id}"


# Beyond api.md's table (auth state still lives only in Redis): the lockout of an email and the
# moment a user's sessions were revoked.
LOGIN_FAILURE_WINDOW_SECONDS = 900
LOGIN_LOCK_SECONDS = 900


def login_failures(email_digest: str) -> str:
    """Times of recent failed logins for one email (sorted set), known account or not."""
    return f"login_failures:{email_digest}"


def login_lock(email_digest: str) -> str:
    """Present while logins to that email are locked."""
    return f"login_lock:{email_digest}"


def sessions_revoked(user_id: uuid.UUID) -> str:
    """Access tokens of this user issued before `before` are refused, except the `keep:{jti}`
    ones; it lives as long as an access token can."""
    return f"sessions_revoked:{user_id}"


SIWE_CHALLENGE_TTL_SECONDS = 600


def siwe_challenge(nonce: str) -> str:
    """A wallet-linking challenge (EIP-4361 nonce) until it is used once or lapses (10 min)."""
    return f"siwe_challenge:{nonce}"
