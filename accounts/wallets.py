"""Wallets linked by Sign-In with Ethereum (EIP-4361), verified by their EIP-191 signature.

1. `issue_challenge`: a message for one address with a fresh nonce; the nonce, its user and
   address and its expiry (10 minutes) wait in Redis (accounts/redis_keys.siwe_challenge).
2. `link_wallet`: the signed message comes back. The nonce is taken out of Redis in the same
   step as it is read, so it serves once whatever happens next; then the message must name
   this server's domain, URI and chain id and the challenged address, be inside its validity
   window, and be signed by that address. The wallet row is then verified for the caller (an
   address another account verified is WALLET_OWNED_BY_ANOTHER_USER) and the chain events
   that waited for this wallet are projected (indexer.projections.replay_parked).

Addresses are stored lower-case; callers show them in EIP-55 form (accounts.siwe.checksum).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import Select, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import redis_keys, siwe
from accounts.errors import (
    AddressMismatch,
    ChainConfigurationUnreadable,
    ChainIdMismatch,
    ChallengeExpired,
    ChallengeInvalid,
    ChallengeNotYetValid,
    DomainMismatch,
    InvalidAddress,
    MalformedSiweMessage,
    SignatureInvalid,
    UriMismatch,
    WalletNotFound,
    WalletOwnedByAnotherUser,
)
from db.models import Wallet
from gr8d.config import Settings
from indexer import projections

DEFAULT_CHAIN_ID = 10143  # Monad testnet (chain.md), when no deployments file says otherwise
CHALLENGE_STATEMENT = "Link this wallet to your gr8d account."
ADDRESS_HEX_LENGTH = 40


@dataclass(frozen=True, slots=True)
class SiweSite:
    """What this server puts in its messages and demands back."""

    domain: str
    uri: str
    chain_id: int


async def site_of(settings: Settings) -> SiweSite:
    """Domain and URI from the settings; the chain id of DEPLOYMENTS_FILE, else Monad testnet."""
    chain_id = DEFAULT_CHAIN_ID
    if settings.deployments_file:
        chain_id = await asyncio.to_thread(_deployments_chain_id, Path(settings.deployments_file))
    return SiweSite(domain=settings.siwe_domain, uri=settings.siwe_uri, chain_id=chain_id)


def _deployments_chain_id(path: Path) -> int:
    try:
        chain_id = json.loads(path.read_text(encoding="utf-8"))["chain_id"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ChainConfigurationUnreadable(
            f"DEPLOYMENTS_FILE cannot be read: {type(error).__name__}"
        ) from None
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id < 0:
        raise ChainConfigurationUnreadable("DEPLOYMENTS_FILE has no valid chain_id")
    return chain_id


def normalized_address(address: str) -> str:
    """The lower-case 0x-hex form; InvalidAddress for anything else."""
    text = address.strip()
    digits = text[2:] if text[:2].lower() == "0x" else ""
    if len(digits) != ADDRESS_HEX_LENGTH or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise InvalidAddress()
    return "0x" + digits.lower()


@dataclass(frozen=True, slots=True)
class Challenge:
    message: str
    nonce: str
    address: str  # lower-case
    expires_at: dt.datetime


async def issue_challenge(
    session: AsyncSession,
    *,
    redis: Redis,
    user_id: uuid.UUID,
    address: str,
    site: SiweSite,
    now: dt.datetime | None = None,
) -> Challenge:
    """A message for `address` to sign, valid once and for 10 minutes."""
    lower = normalized_address(address)
    await _refuse_if_owned_by_another(session, user_id=user_id, address=lower)
    issued_at = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    expires_at = issued_at + dt.timedelta(seconds=redis_keys.SIWE_CHALLENGE_TTL_SECONDS)
    nonce = secrets.token_hex(16)
    message = siwe.SiweMessage(
        domain=site.domain,
        address=siwe.checksum(lower),
        statement=CHALLENGE_STATEMENT,
        uri=site.uri,
        chain_id=site.chain_id,
        nonce=nonce,
        issued_at=issued_at,
        expiration_time=expires_at,
    )
    waiting = {"user_id": str(user_id), "address": lower, "expires_at": expires_at.isoformat()}
    await redis.set(
        redis_keys.siwe_challenge(nonce),
        json.dumps(waiting),
        ex=redis_keys.SIWE_CHALLENGE_TTL_SECONDS,
    )
    return Challenge(message=message.text(), nonce=nonce, address=lower, expires_at=expires_at)


async def link_wallet(
    session: AsyncSession,
    *,
    redis: Redis,
    user_id: uuid.UUID,
    message: str,
    signature: str,
    site: SiweSite,
    now: dt.datetime | None = None,
) -> Wallet:
    """The caller's verified wallet for a correctly signed challenge (see the module doc)."""
    moment = now or dt.datetime.now(dt.UTC)
    try:
        parsed = siwe.parse(message)
    except siwe.SiweFormatError as error:
        raise MalformedSiweMessage(str(error)) from None
    waiting = await _take_challenge(redis, parsed.nonce)
    if waiting is None or waiting["user_id"] != str(user_id):
        raise ChallengeInvalid()
    _check_fields(parsed, site=site, address=waiting["address"])
    _check_window(parsed, moment, dt.datetime.fromisoformat(waiting["expires_at"]))
    signer = await asyncio.to_thread(siwe.signer_of, message, signature)
    if signer != waiting["address"]:
        raise SignatureInvalid()
    wallet = await _verified_wallet(
        session, user_id=user_id, address=waiting["address"], signature=signature
    )
    await projections.replay_parked(session, wallets=[wallet.address])
    return wallet


async def _take_challenge(redis: Redis, nonce: str) -> dict[str, Any] | None:
    """Read and delete in one transaction: two requests with one nonce cannot both get it."""
    key = redis_keys.siwe_challenge(nonce)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(key)
        pipe.delete(key)
        raw, _ = await pipe.execute()
    if raw is None:
        return None
    value: dict[str, Any] = json.loads(raw)
    return value


def _check_fields(parsed: siwe.SiweMessage, *, site: SiweSite, address: str) -> None:
    if parsed.domain != site.domain:
        raise DomainMismatch("the domain", parsed.domain, site.domain)
    if parsed.uri != site.uri:
        raise UriMismatch("the URI", parsed.uri, site.uri)
    if parsed.chain_id != site.chain_id:
        raise ChainIdMismatch("the chain id", str(parsed.chain_id), str(site.chain_id))
    if parsed.address.lower() != address:
        raise AddressMismatch("the address", parsed.address, siwe.checksum(address))


def _check_window(parsed: siwe.SiweMessage, now: dt.datetime, issued_until: dt.datetime) -> None:
    """Our own 10 minutes bound the message whatever its Expiration Time says."""
    if now >= issued_until or (
        parsed.expiration_time is not None and now >= parsed.expiration_time
    ):
        raise ChallengeExpired()
    if parsed.not_before is not None and now < parsed.not_before:
        raise ChallengeNotYetValid()


async def _refuse_if_owned_by_another(
    session: AsyncSession, *, user_id: uuid.UUID, address: str
) -> None:
    owner = await session.scalar(
        select(Wallet.user_id).where(Wallet.address == address, Wallet.is_verified.is_(True))
    )
    if owner is not None and owner != user_id:
        raise WalletOwnedByAnotherUser()


async def _verified_wallet(
    session: AsyncSession, *, user_id: uuid.UUID, address: str, signature: str
) -> Wallet:
    """Insert or verify the row in one statement. An unverified row of another user is taken
    over (nothing proved it was theirs); a verified one of another user is left alone."""
    statement = insert(Wallet).values(
        user_id=user_id, address=address, is_verified=True, verification_signature=signature
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Wallet.address],
        set_={
            "user_id": statement.excluded.user_id,
            "is_verified": True,
            "verification_signature": statement.excluded.verification_signature,
        },
        where=or_(Wallet.user_id == statement.excluded.user_id, Wallet.is_verified.is_(False)),
    )
    wallet: Wallet | None = await session.scalar(
        statement.returning(Wallet), execution_options={"populate_existing": True}
    )
    if wallet is None:
        raise WalletOwnedByAnotherUser()
    return wallet


def wallets_of(user_id: uuid.UUID) -> Select[Any]:
    """The user's wallets, newest first."""
    return (
        select(Wallet)
        .where(Wallet.user_id == user_id)
        .order_by(Wallet.created_at.desc(), Wallet.id.desc())
    )


async def remove_wallet(session: AsyncSession, *, user_id: uuid.UUID, wallet_id: uuid.UUID) -> None:
    """Unlink the caller's wallet. Records already derived from it stay; new events of the
    address wait (PARKED) until someone verifies it again."""
    wallet = await session.scalar(
        select(Wallet).where(Wallet.id == wallet_id, Wallet.user_id == user_id)
    )
    if wallet is None:
        raise WalletNotFound()
    await session.delete(wallet)
    await session.flush()
