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


SIWE_CHALLENGE_TTL_SECONDS = 600


def siwe_challenge(nonce: str) -> str:
    """A wallet-linking challenge (EIP-4361 nonce) until it is used once or lapses (10 min)."""
    return f"siwe_challenge:{nonce}"
