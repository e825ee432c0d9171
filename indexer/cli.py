"""`gr8d devchain` and `gr8d indexer`: the indexer part's entry points."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Final

import click

from gr8d.config import Settings
from indexer.devchain import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    Anvil,
    Deployments,
    DevchainError,
    anvil_binary,
    run_devchain,
)

DEFAULT_DEPLOYMENTS_FILE: Final = Path("deployments.dev.json")
EXIT_FAILURE: Final = 1
# Monad makes a block about every 0.4 s; following polls no faster than that.
FOLLOW_POLL_SECONDS: Final = 0.4


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="The JSON-RPC port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--deployments-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Where to write the deployments file [default: DEPLOYMENTS_FILE, else "
    f"{DEFAULT_DEPLOYMENTS_FILE}].",
)
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="The address anvil listens on (0.0.0.0 to serve other containers).",
)
@click.option(
    "--block-time",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Mine a block every this many seconds (Monad: 0.4) [default: one per transaction].",
)
@click.pass_context
def devchain(
    ctx: click.Context,
    port: int,
    deployments_file: Path | None,
    host: str,
    block_time: float | None,
) -> None:
    """Start a local EVM node (anvil), deploy the contracts, write the deployments file, and
    keep running until Ctrl-C or SIGTERM."""
    from gr8d.cli import _until_signal

    settings: Settings = ctx.obj
    path = deployments_file or Path(settings.deployments_file or DEFAULT_DEPLOYMENTS_FILE)
    try:
        anvil_binary()
    except DevchainError as error:
        click.echo(f"gr8d devchain: {error}", err=True)
        sys.exit(EXIT_FAILURE)
    work = _devchain(
        settings, port=port or None, deployments_file=path, host=host, block_time=block_time
    )
    sys.exit(asyncio.run(_until_signal(work)))


async def _devchain(
    settings: Settings,
    *,
    port: int | None,
    deployments_file: Path,
    host: str,
    block_time: float | None,
) -> int:
    def announce(anvil: Anvil, _: Deployments) -> None:
        click.echo(f"export RPC_URLS={anvil.url}")
        click.echo(f"export DEPLOYMENTS_FILE={deployments_file.resolve()}")

    try:
        await run_devchain(
            settings,
            port=port,
            deployments_file=deployments_file,
            host=host,
            block_time=block_time,
            on_ready=announce,
        )
    except DevchainError as error:
        click.echo(f"gr8d devchain: {error}", err=True)
        return EXIT_FAILURE
    return 0


@click.command()
@click.option(
    "--until-block",
    type=click.IntRange(0),
    default=None,
    help="Backfill up to this block, then exit 0 (default: follow the head until stopped).",
)
@click.pass_context
def indexer(ctx: click.Context, until_block: int | None) -> None:
    """The indexer alone: raw protocol events into chain_events (projections: next issue)."""
    from gr8d.cli import _until_signal

    sys.exit(asyncio.run(_until_signal(_index(ctx.obj, until_block))))


async def _index(settings: Settings, until_block: int | None) -> int:
    import aiohttp

    from db.engine import create_engine, create_session_factory
    from gr8d.config import ConfigError
    from indexer.follower import ChainFollower
    from indexer.rpc import JsonRpc

    if not settings.rpc_urls:
        raise ConfigError("RPC_URLS", "required by the indexer")
    if not settings.deployments_file:
        raise ConfigError("DEPLOYMENTS_FILE", "required by the indexer")
    try:
        deployments = await asyncio.to_thread(Deployments.read, Path(settings.deployments_file))
    except (OSError, ValueError) as error:
        raise ConfigError("DEPLOYMENTS_FILE", str(error)) from None
    engine = create_engine(settings)
    try:
        async with aiohttp.ClientSession() as http:
            follower = ChainFollower(
                rpc=JsonRpc(http, settings.rpc_urls),
                session_factory=create_session_factory(engine),
                deployments=deployments,
                confirmations=settings.confirmations,
            )
            await follower.check_chain()
            if until_block is not None:
                await follower.index_until(until_block)
                return 0
            while True:
                await follower.index_until(await follower.rpc.block_number())
                await asyncio.sleep(FOLLOW_POLL_SECONDS)
    finally:
        await engine.dispose()
