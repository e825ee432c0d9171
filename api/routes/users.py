"""/api/v1/users/me (the signed-in user) and /api/v1/admin/users (administrators)."""

from __future__ import annotations

import uuid

from accounts import service, sessions
from api.pagination import Page, PageQuery, paginate
from api.registry import Access, Call, Routes
from api.routes.auth import clear_refresh_cookie
from api.schemas.users import AdminUserIn, LoginAttemptOut, ProfileIn, UserOut, UserSearch

routes = Routes("users")


@routes.get("/users/me")
async def read_me(call: Call) -> UserOut:
    """The signed-in user."""
    return UserOut.from_row(await call.load_user())


@routes.patch("/users/me")
async def update_me(call: Call, body: ProfileIn) -> UserOut:
    """Change the full name and/or the password.

    A new password needs the current one (a wrong one is 403 WRONG_PASSWORD and counts as a
    failed login). It signs out every other session: their refresh tokens are deleted and
    their access tokens refused; the token of this request goes on working."""
    password = None
    if body.password is not None and body.current_password is not None:
        password = service.PasswordChange(current=body.current_password, new=body.password)
    user = await service.update_profile(
        call.session,
        redis=call.redis,
        user=await call.load_user(),
        full_name=body.full_name if "full_name" in body.model_fields_set else service.KEEP,
        password=password,
        keep_token_id=call.principal.token_id,
    )
    return UserOut.from_row(user)


@routes.delete("/users/me")
async def deactivate_me(call: Call) -> None:
    """Deactivate the account: no more logins, and every live token stops working. Its
    records (credits, strategies, history) are kept."""
    await service.deactivate(call.session, redis=call.redis, user=await call.load_user())
    call.on_response(clear_refresh_cookie(call))


@routes.get("/users/me/login-history")
async def read_login_history(call: Call, query: PageQuery) -> Page[LoginAttemptOut]:
    """Recent login attempts (the last 100, kept 30 days), newest first."""
    attempts, total = await sessions.login_history(
        call.redis,
        user_id=call.user.id,
        offset=(query.page - 1) * query.size,
        limit=query.size,
    )
    page: Page[LoginAttemptOut] = Page.of(
        [LoginAttemptOut.from_attempt(attempt) for attempt in attempts], total=total, query=query
    )
    return page


@routes.get("/admin/users", access=Access.ADMIN)
async def list_users(call: Call, query: UserSearch) -> Page[UserOut]:
    """Every user, newest first; `email` filters on part of the address."""
    return await paginate(
        call.session, service.users_matching(query.email), query, UserOut.from_row
    )


@routes.get("/admin/users/{user_id}", access=Access.ADMIN)
async def read_user(call: Call, user_id: uuid.UUID) -> UserOut:
    """One user."""
    return UserOut.from_row(await service.user_by_id(call.session, user_id=user_id))


@routes.patch("/admin/users/{user_id}", access=Access.ADMIN)
async def update_user(call: Call, user_id: uuid.UUID, body: AdminUserIn) -> UserOut:
    """Set a user's manual tier (0..5, or null for the staked tier), activity or admin rights.

    Deactivating signs the user out everywhere. Administrators cannot demote or deactivate
    themselves (409 OWN_ADMIN_RIGHTS)."""
    user = await service.update_user_as_admin(
        call.session,
        redis=call.redis,
        admin_id=call.user.id,
        user_id=user_id,
        manual_tier=body.manual_tier if "manual_tier" in body.model_fields_set else service.KEEP,
        is_active=body.is_active,
        is_superuser=body.is_superuser,
    )
    return UserOut.from_row(user)
