"""Bodies of the users area: the profile, its login history and the admin's view of users."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from accounts.passwords import MAX_LENGTH
from accounts.sessions import LoginAttempt
from api.pagination import PageQuery
from api.schemas.auth import FullName, NoNul, Password
from db.models import User


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str | None
    manual_tier: int | None = Field(description="0..5 set by an admin; null: from staking")
    is_active: bool
    is_superuser: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: User) -> UserOut:
        return cls(
            id=row.id,
            email=row.email,
            full_name=row.full_name,
            manual_tier=row.manual_tier,
            is_active=row.is_active,
            is_superuser=row.is_superuser,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class ProfileIn(BaseModel):
    """Fields left out stay as they are; `full_name: null` clears the name. A new `password`
    needs `current_password` and signs every other session out."""

    model_config = ConfigDict(extra="forbid")

    full_name: FullName | None = None
    password: Password | None = None
    current_password: str | None = Field(default=None, min_length=1, max_length=MAX_LENGTH)

    @model_validator(mode="after")
    def _current_password_with_a_new_one(self) -> ProfileIn:
        if self.password is not None and self.current_password is None:
            raise ValueError("current_password is required to set a new password")
        return self


class LoginAttemptOut(BaseModel):
    at: dt.datetime
    ip: str
    user_agent: str | None
    success: bool

    @classmethod
    def from_attempt(cls, attempt: LoginAttempt) -> LoginAttemptOut:
        return cls(
            at=attempt.at, ip=attempt.ip, user_agent=attempt.user_agent, success=attempt.success
        )


class UserSearch(PageQuery):
    email: Annotated[str, NoNul] | None = Field(
        default=None, min_length=1, max_length=255, description="part of the email, any case"
    )


class AdminUserIn(BaseModel):
    """Fields left out stay as they are; `manual_tier: null` returns the user to the tier
    their stake gives."""

    model_config = ConfigDict(extra="forbid")

    manual_tier: int | None = Field(default=None, ge=0, le=5)
    is_active: bool | None = None
    is_superuser: bool | None = None

    @field_validator("is_active", "is_superuser", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must be true or false")
        return value
