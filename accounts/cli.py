"""`gr8d admin ...`: operator commands on accounts (the first admin has to come from somewhere)."""

from __future__ import annotations

import asyncio

import click

from accounts import service
from accounts.credentials import CredentialCipher, reseal_all
from accounts.errors import UserNotFound
from db.engine import create_engine, create_session_factory
from db.uow import UnitOfWork
from gr8d.config import Settings

EXIT_NO_SUCH_USER = 2


async def promote_now(settings: Settings, email: str) -> bool:
    """Make the user an administrator in one transaction; False when they already were one."""
    engine = create_engine(settings)
    try:
        async with UnitOfWork(create_session_factory(engine)) as uow:
            promoted = await service.promote(uow.session, email=email)
            await uow.commit()
            return promoted
    finally:
        await engine.dispose()


async def reseal_now(settings: Settings) -> tuple[int, str]:
    """Re-encrypt every credential sealed with an older key under the first configured key,
    in one transaction; how many moved, and the key they moved to."""
    cipher = CredentialCipher.from_setting(settings.credentials_encryption_key)
    engine = create_engine(settings)
    try:
        async with UnitOfWork(create_session_factory(engine)) as uow:
            moved = await reseal_all(uow.session, cipher=cipher)
            await uow.commit()
            return moved, cipher.current_key_id
    finally:
        await engine.dispose()


@click.group()
def admin() -> None:
    """Operator commands on accounts."""


@admin.command()
@click.argument("email")
@click.pass_context
def promote(ctx: click.Context, email: str) -> None:
    """Make the existing user with EMAIL an administrator (is_superuser)."""
    try:
        promoted = asyncio.run(promote_now(ctx.obj, email))
    except UserNotFound:
        click.echo(f"gr8d admin promote: no user with email {email!r}", err=True)
        ctx.exit(EXIT_NO_SUCH_USER)
    address = service.normalize_email(email)
    click.echo(f"{address} is now an administrator" if promoted else f"{address} already was one")


@admin.command("reseal-credentials")
@click.pass_context
def reseal_credentials(ctx: click.Context) -> None:
    """Key rotation: after listing a new key first in CREDENTIALS_ENCRYPTION_KEY, re-encrypt
    every stored credential under it; then the old key can be removed from the list."""
    moved, key_id = asyncio.run(reseal_now(ctx.obj))
    click.echo(f"{moved} credential(s) re-encrypted under key {key_id!r}")
