"""`gr8d admin ...` from a separate process: promote (the operator's way to the first admin) and
reseal-credentials (the last step of a key rotation)."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.credentials import CredentialCipher, SealedField
from db.models import Credential, User
from gr8d.embedded import ServerUrls
from tests.factories import add_user


async def gr8d(
    *arguments: str,
    database_url: str,
    redis_url: str,
    extra_env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gr8d",
        *arguments,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            **(extra_env or {}),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_promoting_an_existing_user_makes_them_an_admin_once(
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    server_urls: ServerUrls,
) -> None:
    async with session_factory() as session, session.begin():
        user_id = await add_user(session, email="first.admin@example.com")
    promote = functools.partial(
        gr8d, "admin", "promote", database_url=database_url, redis_url=server_urls.redis_url
    )

    code, out, err = await promote("First.Admin@Example.com")
    again, out_again, _ = await promote("first.admin@example.com")

    assert code == 0, err
    assert out.strip() == "first.admin@example.com is now an administrator"
    assert again == 0 and "already" in out_again
    async with session_factory() as session:
        assert (await session.get_one(User, user_id)).is_superuser is True


async def test_promoting_an_unknown_email_exits_2_with_one_line(
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    server_urls: ServerUrls,
) -> None:
    async with session_factory() as session, session.begin():
        bystander = await add_user(session)

    code, out, err = await gr8d(
        "admin",
        "promote",
        "nobody@example.com",
        database_url=database_url,
        redis_url=server_urls.redis_url,
    )

    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "gr8d admin promote: no user with email 'nobody@example.com'"
    ]
    async with session_factory() as session:
        assert (await session.get_one(User, bystander)).is_superuser is False


async def test_resealing_moves_credentials_of_an_old_key_to_the_new_first_key(
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    server_urls: ServerUrls,
) -> None:
    old_key, new_key = "old:" + "A" * 43 + "=", "new:" + "B" * 43 + "="
    old_cipher = CredentialCipher.from_setting(old_key)
    async with session_factory() as session, session.begin():
        user_id = await add_user(session)
        credential = Credential(
            id=uuid.uuid4(), user_id=user_id, type="EXCHANGE", provider="binance", nickname="main"
        )
        credential.encrypted_api_key = old_cipher.seal(
            "key-1234", credential_id=credential.id, user_id=user_id, field=SealedField.API_KEY
        )
        session.add(credential)
    reseal = functools.partial(
        gr8d,
        "admin",
        "reseal-credentials",
        database_url=database_url,
        redis_url=server_urls.redis_url,
        extra_env={"CREDENTIALS_ENCRYPTION_KEY": f"{new_key},{old_key}"},
    )

    code, out, err = await reseal()
    again, out_again, _ = await reseal()

    assert code == 0, err
    assert out.strip() == "1 credential(s) re-encrypted under key 'new'"
    assert again == 0 and out_again.startswith("0 credential(s)")
    async with session_factory() as session:
        stored = await session.get_one(Credential, credential.id)
    new_only = CredentialCipher.from_setting(new_key)
    assert CredentialCipher.key_id_of(stored.encrypted_api_key) == "new"
    opened = new_only.open(
        stored.encrypted_api_key,
        credential_id=credential.id,
        user_id=user_id,
        field=SealedField.API_KEY,
    )
    assert opened == "key-1234"
