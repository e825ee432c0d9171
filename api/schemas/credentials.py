"""Bodies of the credentials area. Plaintext comes in; only a mask ever goes out."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Secret, StringConstraints, field_validator

from api.pagination import PageQuery
from api.schemas.text import StoredText
from db.enums import CredentialType

MIN_KEY_LENGTH = 8  # so the 4 characters shown are never the whole key
MAX_SECRET_LENGTH = 4096


# A key or secret: never echoed (Secret hides it from repr and dumps), NUL-free and valid
# Unicode so it can be sealed.
SecretText = Annotated[
    Secret[
        Annotated[
            str,
            StringConstraints(
                min_length=MIN_KEY_LENGTH, max_length=MAX_SECRET_LENGTH, pattern=r"^[^\x00]*$"
            ),
        ]
    ],
    Field(json_schema_extra={"writeOnly": True, "format": "password"}),
]


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: CredentialType
    provider: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9 ._\-]+$")
    api_key: SecretText = Field(
        description="stored encrypted; only its last 4 characters are ever shown"
    )
    api_secret: SecretText | None = None
    nickname: StoredText | None = Field(default=None, min_length=1, max_length=100)


class CredentialPatch(BaseModel):
    """Only the fields sent change; `nickname: null` clears it, `api_secret: null` removes
    the secret. A new `api_key` replaces the stored one (it cannot be removed)."""

    model_config = ConfigDict(extra="forbid")

    nickname: StoredText | None = Field(default=None, min_length=1, max_length=100)
    is_active: bool = True
    api_key: SecretText | None = None
    api_secret: SecretText | None = None

    @field_validator("api_key")
    @classmethod
    def _key_stays(cls, api_key: Secret[str] | None) -> Secret[str]:
        if api_key is None:
            raise ValueError("the API key cannot be removed; send a new one or delete")
        return api_key

    def changes(self) -> dict[str, Any]:
        """The fields sent, secrets as plain strings (for accounts.credentials only)."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        return {
            name: value.get_secret_value() if isinstance(value, Secret) else value
            for name, value in sent.items()
        }


class CredentialOut(BaseModel):
    id: uuid.UUID
    type: CredentialType
    provider: str
    nickname: str | None
    api_key_last4: str | None = Field(
        description="the key's last 4 characters; null when the stored key cannot be decrypted"
    )
    has_secret: bool
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CredentialQuery(PageQuery):
    type: CredentialType | None = None
