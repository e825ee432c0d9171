"""Bodies of the wallets area: Sign-In with Ethereum challenges and linked wallets."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from accounts.siwe import checksum
from accounts.wallets import Challenge
from db.models import Wallet

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
MAX_MESSAGE_LENGTH = 4096


class ChallengeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(pattern=ADDRESS_PATTERN, description="the wallet to link, 0x-hex")


class ChallengeOut(BaseModel):
    message: str = Field(description="the EIP-4361 message for the wallet to sign (EIP-191)")
    nonce: str
    address: str = Field(description="EIP-55 checksum form")
    expires_at: dt.datetime

    @classmethod
    def of(cls, challenge: Challenge) -> ChallengeOut:
        return cls(
            message=challenge.message,
            nonce=challenge.nonce,
            address=checksum(challenge.address),
            expires_at=challenge.expires_at,
        )


class WalletIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(
        min_length=1, max_length=MAX_MESSAGE_LENGTH, description="the challenge's message"
    )
    signature: str = Field(
        pattern=r"^0x[0-9a-fA-F]{130}$", description="the 65-byte personal_sign signature"
    )


class WalletOut(BaseModel):
    id: uuid.UUID
    address: str = Field(description="EIP-55 checksum form")
    is_verified: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: Wallet) -> WalletOut:
        return cls(
            id=row.id,
            address=checksum(row.address),
            is_verified=row.is_verified,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
