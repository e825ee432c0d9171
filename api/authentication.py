"""Who is calling, from the Authorization header (api.md "Roles")."""

from __future__ import annotations

import datetime as dt
import functools
import hmac

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import InvalidToken
from accounts.sessions import AccessTokenState
from accounts.tokens import AccessClaims, decode_access_token
from api import caller
from api.problems import Problem, unauthenticated
from api.ratelimit import PresentedToken
from api.registry import Access, Principal, SignedInUser
from gr8d.config import Settings


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _is_service_token(token: str, settings: Settings) -> bool:
    # Header bytes that are not UTF-8 arrive as surrogate escapes: compare the bytes as sent.
    sent = token.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(sent, settings.internal_api_token.encode())


Credentials = Principal | PresentedToken | Problem


def read_credentials(request: web.Request, *, access: Access, settings: Settings) -> Credentials:
    """What the Authorization header offers for a route of `access`, judged without I/O: a
    settled principal (public route, service token), a user's token whose Redis state and user
    are still to be checked, or the refusal to raise once the request has been counted."""
    if access is Access.PUBLIC:
        return Principal()
    token = bearer_token(request)
    if token is None:
        return unauthenticated()
    if access in {Access.SERVICE, Access.SERVICE_OR_ADMIN} and _is_service_token(token, settings):
        return Principal(is_service=True)
    if access is Access.SERVICE:
        return Problem(403, "SERVICE_ONLY", "this route is for the service token only")
    try:
        claims = _claims_of(token, settings)
    except InvalidToken as error:
        return unauthenticated(str(error))
    return PresentedToken(token=token, claims=claims)


# Checking the signature is most of decoding a token, and a client sends the same token with
# every request until it expires: the claims of recently verified tokens are kept (by the
# token's exact text, so nothing but that token finds them) and only their expiry is checked.
@functools.lru_cache(maxsize=4096)
def _verified_claims(token: str, secret: str, issuer: str) -> AccessClaims:
    return decode_access_token(token, secret=secret, issuer=issuer)


def _claims_of(token: str, settings: Settings) -> AccessClaims:
    claims = _verified_claims(token, settings.jwt_secret_key, settings.jwt_issuer)
    if claims.expires_at <= dt.datetime.now(dt.UTC):
        raise InvalidToken("the access token is invalid or expired")
    return claims


async def authenticate(
    credentials: Credentials,
    *,
    access: Access,
    token_state: AccessTokenState | None,
    session: AsyncSession,
    defer_row_check: bool = False,
) -> Principal:
    """The caller, from its credentials and (for a user's token) the token's Redis state.

    With `defer_row_check` (a read-only route for users) the caller's row is checked later in
    the request, before it is answered (api/caller.py); otherwise here."""
    if isinstance(credentials, Problem):
        raise credentials
    if isinstance(credentials, Principal):
        return credentials
    if token_state is None:
        raise RuntimeError("a user's token is admitted only with its Redis state")
    claims = credentials.claims
    refusal = token_state.refusal(claims.issued_at)
    if refusal is not None:
        raise unauthenticated(refusal)
    if defer_row_check and access is Access.USER:
        caller.defer(session, claims.user_id)
    else:
        row = await caller.active_caller(session, claims.user_id)
        if access in {Access.ADMIN, Access.SERVICE_OR_ADMIN} and not row.is_superuser:
            raise Problem(403, "ADMIN_ONLY", "this route is for administrators")
    return Principal(
        user=SignedInUser(id=claims.user_id),
        access_token=credentials.token,
        token_id=claims.token_id,
        token_seconds_left=claims.seconds_left(),
    )
