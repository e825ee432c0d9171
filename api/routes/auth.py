"""/api/v1/auth: register, log in, refresh, log out (api.md "Authentication").

The refresh token lives only in the httpOnly cookie `refresh_token` (SameSite=Strict, Path
/api/v1/auth, Secure unless APP_ENV=development — test included, as production). Clients that
are not browsers send it back the same way, as a Cookie header.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from accounts import service
from accounts.redis_keys import REFRESH_TOKEN_TTL_SECONDS
from api.ratelimit import RateLimit
from api.registry import Access, Call, Routes
from api.schemas.auth import LoginIn, RegisterIn, TokenOut
from api.schemas.users import UserOut
from gr8d.config import AppEnv

routes = Routes("auth")

REFRESH_COOKIE = "refresh_token"
REFRESH_COOKIE_PATH = "/api/v1/auth"


def _secure_cookies(call: Call) -> bool:
    return call.settings.app_env is not AppEnv.DEVELOPMENT


def _set_refresh_cookie(call: Call, token: str) -> Callable[[web.StreamResponse], None]:
    secure = _secure_cookies(call)

    def set_cookie(response: web.StreamResponse) -> None:
        response.set_cookie(
            REFRESH_COOKIE,
            token,
            max_age=REFRESH_TOKEN_TTL_SECONDS,
            path=REFRESH_COOKIE_PATH,
            secure=secure,
            httponly=True,
            samesite="Strict",
        )

    return set_cookie


def clear_refresh_cookie(call: Call) -> Callable[[web.StreamResponse], None]:
    secure = _secure_cookies(call)

    def clear(response: web.StreamResponse) -> None:
        response.del_cookie(
            REFRESH_COOKIE,
            path=REFRESH_COOKIE_PATH,
            secure=secure,
            httponly=True,
            samesite="Strict",
        )

    return clear


def _token_out(call: Call, tokens: service.Tokens) -> TokenOut:
    call.on_response(_set_refresh_cookie(call, tokens.refresh_token))
    return TokenOut(access_token=tokens.access_token, expires_in=tokens.expires_in)


@routes.post(
    "/auth/register",
    access=Access.PUBLIC,
    status=201,
    rate_limit=RateLimit("register", 3, 300),
)
async def register(call: Call, body: RegisterIn) -> UserOut:
    """Create an account.

    The email is stored lower-cased; an address already in use is 409 EMAIL_TAKEN. The new
    user starts with a zero credit balance. At most 3 registrations per 5 minutes per IP."""
    user = await service.register(
        call.session, email=body.email, password=body.password, full_name=body.full_name
    )
    return UserOut.from_row(user)


@routes.post("/auth/login", access=Access.PUBLIC, rate_limit=RateLimit("login", 5, 60))
async def login(call: Call, body: LoginIn) -> TokenOut:
    """Log in: an access token, and the refresh token in the `refresh_token` cookie.

    An unknown email, a wrong password and a deactivated account are the same 401
    INVALID_CREDENTIALS. 10 failures for one email within 15 minutes lock it for 15 minutes:
    423 ACCOUNT_LOCKED with Retry-After, whatever the password (unknown emails lock the same
    way, so a lock reveals nothing). At most 5 attempts per minute per IP."""
    tokens = await service.login(
        call.session,
        redis=call.redis,
        email=body.email,
        password=body.password,
        client=service.Client(call.client_ip, call.request.headers.get("User-Agent")),
        signing=service.Signing.from_settings(call.settings),
    )
    return _token_out(call, tokens)


@routes.post("/auth/refresh", access=Access.PUBLIC, rate_limit=RateLimit("refresh", 10, 60))
async def refresh(call: Call) -> TokenOut:
    """Trade the `refresh_token` cookie for a new access token and a new refresh cookie.

    Each refresh token works once. Presented again within 10 seconds (a concurrent retry) it
    yields another pair; later, it is taken as stolen: every session of the user ends and
    the answer is 401 REFRESH_TOKEN_REUSED. At most 10 per minute per IP."""
    tokens = await service.refresh(
        call.session,
        redis=call.redis,
        presented=call.request.cookies.get(REFRESH_COOKIE),
        signing=service.Signing.from_settings(call.settings),
    )
    return _token_out(call, tokens)


@routes.post("/auth/logout")
async def logout(call: Call) -> None:
    """End this session: the access token is refused from now on, its refresh token is
    deleted and the cookie cleared."""
    principal = call.principal
    if principal.access_token is None or principal.token_id is None:
        raise RuntimeError("a signed-in route without the caller's access token")
    await service.logout(
        redis=call.redis,
        user_id=call.user.id,
        access_token=principal.access_token,
        token_id=principal.token_id,
        seconds_left=principal.token_seconds_left,
        presented_refresh_token=call.request.cookies.get(REFRESH_COOKIE),
    )
    call.on_response(clear_refresh_cookie(call))


@routes.post("/auth/logout-all")
async def logout_all(call: Call) -> None:
    """End every session of the user, this one included: every refresh token is deleted and
    every access token issued so far is refused."""
    await service.logout_everywhere(redis=call.redis, user_id=call.user.id)
    call.on_response(clear_refresh_cookie(call))
