"""Users and their sessions: register, log in, refresh, log out, profile and admin changes.

Database work happens in the caller's transaction (nothing here commits); session state lives
on Redis (accounts/sessions.py). Revocations on Redis happen before the caller commits: if the
commit then fails, sessions were ended for nothing, which is the safe way round.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import Enum

from redis.asyncio import Redis
from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import passwords, sessions
from accounts.errors import (
    AccountLocked,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    OwnAdminRights,
    RefreshTokenReused,
    UserNotFound,
    WrongPassword,
)
from accounts.sessions import LoginAttempt, RefreshToken, Rotation
from accounts.tokens import ACCESS_TOKEN_SECONDS, issue_access_token
from db.models import User
from gr8d.config import Settings

USER_AGENT_MAX_LENGTH = 256


class Keep(Enum):
    """The value of a field a change leaves alone (None may be a real value, e.g. a cleared
    manual tier)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class Signing:
    secret: str
    issuer: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Signing:
        return cls(secret=settings.jwt_secret_key, issuer=settings.jwt_issuer)


@dataclass(frozen=True, slots=True)
class Client:
    ip: str
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def user_by_email(session: AsyncSession, *, email: str) -> User | None:
    found: User | None = await session.scalar(
        select(User).where(User.email == normalize_email(email))
    )
    return found


async def register(
    session: AsyncSession, *, email: str, password: str, full_name: str | None
) -> User:
    """A new active user (its credits row comes from a database trigger); EmailTaken when the
    address is in use, also when two registrations race."""
    hashed = await passwords.hash_password(password)
    statement = (
        insert(User)
        .values(email=normalize_email(email), hashed_password=hashed, full_name=full_name)
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(User.id)
    )
    user_id = (await session.execute(statement)).scalar_one_or_none()
    if user_id is None:
        raise EmailTaken()
    return await session.get_one(User, user_id)


async def _start_session(redis: Redis, *, user_id: uuid.UUID, signing: Signing) -> Tokens:
    access_token, claims = issue_access_token(user_id, secret=signing.secret, issuer=signing.issuer)
    refresh_token = RefreshToken.new(user_id, claims.token_id)
    await sessions.store_refresh_token(redis, refresh_token)
    await sessions.keep_new_access_token(
        redis, user_id=user_id, token_id=claims.token_id, issued_at=claims.issued_at
    )
    return Tokens(access_token, ACCESS_TOKEN_SECONDS, str(refresh_token))


async def _record(redis: Redis, user: User | None, client: Client, *, success: bool) -> None:
    if user is None:
        return
    attempt = LoginAttempt(
        at=dt.datetime.now(dt.UTC),
        ip=client.ip,
        user_agent=client.user_agent[:USER_AGENT_MAX_LENGTH] if client.user_agent else None,
        success=success,
    )
    await sessions.record_login_attempt(redis, user_id=user.id, attempt=attempt)


async def login(
    session: AsyncSession,
    *,
    redis: Redis,
    email: str,
    password: str,
    client: Client,
    signing: Signing,
) -> Tokens:
    """A new session for the right password of an active account.

    An unknown email, a wrong password and a deactivated account raise the same
    InvalidCredentials after the same argon2 work. A locked email (10 failures in 15 min,
    counted for unknown emails too so a lock tells nothing) raises AccountLocked without
    looking at the password at all."""
    email = normalize_email(email)
    user = await user_by_email(session, email=email)
    locked_for = await sessions.lock_seconds_left(redis, email=email)
    if locked_for:
        await _record(redis, user, client, success=False)
        raise AccountLocked(retry_after=locked_for)
    if user is None:
        correct = await passwords.verify_without_account(password)
    else:
        correct = await passwords.verify_password(user.hashed_password, password)
    if user is None or not correct or not user.is_active:
        await _record(redis, user, client, success=False)
        await sessions.count_failed_login(redis, email=email)
        raise InvalidCredentials()
    await sessions.clear_failed_logins(redis, email=email)
    await _record(redis, user, client, success=True)
    if passwords.needs_rehash(user.hashed_password):
        user.hashed_password = await passwords.hash_password(password)
    return await _start_session(redis, user_id=user.id, signing=signing)


async def refresh(
    session: AsyncSession, *, redis: Redis, presented: str | None, signing: Signing
) -> Tokens:
    """Consume a refresh token for a new pair. A consumed one coming back after the grace
    period ends every session of its user (RefreshTokenReused)."""
    token = RefreshToken.parse(presented) if presented else None
    if token is None:
        raise InvalidRefreshToken()
    user = await session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise InvalidRefreshToken()
    access_token, claims = issue_access_token(user.id, secret=signing.secret, issuer=signing.issuer)
    successor = RefreshToken.new(user.id, claims.token_id)
    outcome = await sessions.rotate_refresh_token(redis, presented=token, successor=successor)
    if outcome is Rotation.UNKNOWN:
        raise InvalidRefreshToken()
    if outcome is Rotation.REUSED:
        await sessions.revoke_sessions(redis, user_id=user.id)
        raise RefreshTokenReused()
    await sessions.keep_new_access_token(
        redis, user_id=user.id, token_id=claims.token_id, issued_at=claims.issued_at
    )
    return Tokens(access_token, ACCESS_TOKEN_SECONDS, str(successor))


async def logout(
    *,
    redis: Redis,
    user_id: uuid.UUID,
    access_token: str,
    token_id: str,
    seconds_left: int,
    presented_refresh_token: str | None,
) -> None:
    """End this session: the access token is refused for the rest of its life, and its refresh
    token (the one named by the access token, and the one the client sent, if it is the same
    user's) is deleted."""
    await sessions.blacklist_access_token(redis, access_token, seconds_left=seconds_left)
    await sessions.delete_refresh_token(redis, user_id=user_id, token_id=token_id)
    presented = RefreshToken.parse(presented_refresh_token) if presented_refresh_token else None
    if presented is not None and presented.user_id == user_id:
        await sessions.delete_refresh_token(redis, user_id=user_id, token_id=presented.token_id)


async def logout_everywhere(*, redis: Redis, user_id: uuid.UUID) -> None:
    await sessions.revoke_sessions(redis, user_id=user_id)


async def _check_password(redis: Redis, user: User, password: str) -> None:
    """The password of a signed-in user, guarded by the same lockout as logins."""
    locked_for = await sessions.lock_seconds_left(redis, email=user.email)
    if locked_for:
        raise AccountLocked(retry_after=locked_for)
    if not await passwords.verify_password(user.hashed_password, password):
        await sessions.count_failed_login(redis, email=user.email)
        raise WrongPassword()


@dataclass(frozen=True, slots=True)
class PasswordChange:
    current: str
    new: str


async def _saved(session: AsyncSession, user: User) -> User:
    """Write the changes and read back what the database set (updated_at)."""
    await session.flush()
    await session.refresh(user)
    return user


async def update_profile(
    session: AsyncSession,
    *,
    redis: Redis,
    user: User,
    full_name: str | Keep | None = KEEP,
    password: PasswordChange | None = None,
    keep_token_id: str | None = None,
) -> User:
    """Rename, and/or set a new password after checking the current one. A new password ends
    every other session: their refresh tokens are deleted and their access tokens refused;
    the session of `keep_token_id` (the caller's) goes on."""
    if password is not None:
        await _check_password(redis, user, password.current)
        user.hashed_password = await passwords.hash_password(password.new)
    if full_name is not KEEP:
        user.full_name = full_name
    await _saved(session, user)
    if password is not None:
        await sessions.revoke_sessions(redis, user_id=user.id, keep_token_id=keep_token_id)
    return user


async def deactivate(session: AsyncSession, *, redis: Redis, user: User) -> None:
    """The account stays (its history and money are kept) but can no longer sign in."""
    user.is_active = False
    await session.flush()
    await sessions.revoke_sessions(redis, user_id=user.id)


def users_matching(email: str | None) -> Select[User]:
    """Users whose email contains `email` (any case), newest first."""
    statement = select(User).order_by(User.created_at.desc(), User.id.desc())
    if email:
        pattern = normalize_email(email).replace("\\", "\\\\").replace("%", r"\%")
        pattern = pattern.replace("_", r"\_")
        statement = statement.where(User.email.like(f"%{pattern}%", escape="\\"))
    return statement


async def user_by_id(session: AsyncSession, *, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


async def update_user_as_admin(
    session: AsyncSession,
    *,
    redis: Redis,
    admin_id: uuid.UUID,
    user_id: uuid.UUID,
    manual_tier: int | Keep | None = KEEP,
    is_active: bool | None = None,
    is_superuser: bool | None = None,
) -> User:
    """Change a user's manual tier, activity or admin rights (None/KEEP leaves a field).
    Deactivating ends every session of the user."""
    user = await user_by_id(session, user_id=user_id)
    if user.id == admin_id and (is_active is False or is_superuser is False):
        raise OwnAdminRights()
    if manual_tier is not KEEP:
        user.manual_tier = manual_tier
    if is_active is not None:
        user.is_active = is_active
    if is_superuser is not None:
        user.is_superuser = is_superuser
    await _saved(session, user)
    if is_active is False:
        await sessions.revoke_sessions(redis, user_id=user.id)
    return user


async def promote(session: AsyncSession, *, email: str) -> bool:
    """Make an existing user an administrator; False when they already were one."""
    user = await user_by_email(session, email=email)
    if user is None:
        raise UserNotFound(normalize_email(email))
    if user.is_superuser:
        return False
    user.is_superuser = True
    await session.flush()
    return True
