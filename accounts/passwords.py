"""Passwords as argon2id hashes (argon2-cffi's RFC 9106 defaults), computed off the event loop.

Hashing takes ~0.1 s of CPU by design, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 128


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, with the live parameters: verifying a password against
    it costs what verifying against a real user's hash costs."""
    return _hasher().hash("no account has this password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher().hash, password)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher().verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(hashed: str, password: str) -> bool:
    return await asyncio.to_thread(_verify, hashed, password)


async def prepare_unknown_account_check() -> None:
    """Compute the stand-in hash now (when a server starts): else the first unknown email a
    process sees pays for it too and answers twice as slowly as a wrong password."""
    await asyncio.to_thread(_dummy_hash)


async def verify_without_account(password: str) -> bool:
    """Spend the time of a real verification when there is no account to check against, so
    an unknown email answers as slowly as a wrong password. Always False."""
    await asyncio.to_thread(_verify, await asyncio.to_thread(_dummy_hash), password)
    return False


def needs_rehash(hashed: str) -> bool:
    """True when the hash was made with other parameters than today's (upgrade it at login)."""
    try:
        return _hasher().check_needs_rehash(hashed)
    except InvalidHashError:
        return True
