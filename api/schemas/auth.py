"""Bodies of the auth area: registration, login and the token pair."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from accounts.passwords import MAX_LENGTH, MIN_LENGTH
from accounts.tokens import ACCESS_TOKEN_SECONDS


def _without_nul(value: str) -> str:
    """PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the database."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


NoNul = AfterValidator(_without_nul)
Password = Annotated[
    str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH, description="8 to 128 characters")
]
FullName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NoNul
]


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(description="stored lower-cased; one account per address")
    password: Password
    full_name: FullName | None = None


class LoginIn(BaseModel):
    """Only lengths are checked: a malformed address is simply not an account."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, Field(min_length=1, max_length=255), NoNul]
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class TokenOut(BaseModel):
    """The access token; the refresh token travels in the httpOnly `refresh_token` cookie."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(default=ACCESS_TOKEN_SECONDS, description="seconds")
