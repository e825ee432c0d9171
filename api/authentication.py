"""Who is calling, from the Authorization header (api.md "Roles")."""

from __future__ import annotations

import hmac

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import sessions
from accounts.errors import InvalidToken
from accounts.tokens import decode_access_token
from api.problems import Problem, unauthenticated
from api.registry import Access, Principal
from db.models import User
from gr8d.config import Settings


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _is_service_token(token: str, settings: Settings) -> bool:
    return hmac.compare_digest(token.encode(), settings.internal_api_token.encode())


async def authenticate(
    request: web.Request,
    *,
    access: Access,
    settings: Settings,
    redis: Redis,
    session: AsyncSession,
) -> Principal:
    if access is Access.PUBLIC:
        return Principal()
    token = bearer_token(request)
    if token is None:
        raise unauthenticated()
    if access in {Access.SERVICE, Access.SERVICE_OR_ADMIN} and _is_service_token(token, settings):
        return Principal(is_service=True)
    if access is Access.SERVICE:
        raise Problem(403, "SERVICE_ONLY", "this route is for the service token only")
    principal = await signed_in_user(token, settings=settings, redis=redis, session=session)
    if access in {Access.ADMIN, Access.SERVICE_OR_ADMIN} and not (
        principal.user is not None and principal.user.is_superuser
    ):
        raise Problem(403, "ADMIN_ONLY", "this route is for administrators")
    return principal


async def signed_in_user(
    token: str, *, settings: Settings, redis: Redis, session: AsyncSession
) -> Principal:
    """A valid access token of an active user, neither logged out nor issued before its
    user's sessions were revoked (password change, logout everywhere); 401 otherwise."""
    try:
        claims = decode_access_token(
            token, secret=settings.jwt_secret_key, issuer=settings.jwt_issuer
        )
    except InvalidToken as error:
        raise unauthenticated(str(error)) from None
    refusal = await sessions.access_token_refusal(
        redis,
        token=token,
        user_id=claims.user_id,
        token_id=claims.token_id,
        issued_at=claims.issued_at,
    )
    if refusal is not None:
        raise unauthenticated(refusal)
    user = await session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise unauthenticated("the account is not active")
    return Principal(
        user=user,
        access_token=token,
        token_id=claims.token_id,
        token_seconds_left=claims.seconds_left(),
    )
