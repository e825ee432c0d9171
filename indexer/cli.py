"""`gr8d devchain`: the indexer part's entry points."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Final

import click

from gr8d.config import Settings
from indexer.devchain import (
    DEFAULT_PORT,
    Anvil,
    Deployments,
    DevchainError,
    anvil_binary,
    run_devchain,
)

DEFAULT_DEPLOYMENTS_FILE: Final = Path("deployments.dev.json")
EXIT_FAILURE: Final = 1


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
    "--block-time",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Mine a block every this many seconds (Monad: 0.4) [default: one per transaction].",
)
@click.pass_context
def devchain(
    ctx: click.Context, port: int, deployments_file: Path | None, block_time: float | None
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
    work = _devchain(settings, port=port or None, deployments_file=path, block_time=block_time)
    sys.exit(asyncio.run(_until_signal(work)))


async def _devchain(
    settings: Settings, *, port: int | None, deployments_file: Path, block_time: float | None
) -> int:
    def announce(anvil: Anvil, _: Deployments) -> None:
        click.echo(f"export RPC_URLS={anvil.url}")
        click.echo(f"export DEPLOYMENTS_FILE={deployments_file.resolve()}")

    try:
        await run_devchain(
            settings,
            port=port,
            deployments_file=deployments_file,
            block_time=block_time,
            on_ready=announce,
        )
    except DevchainError as error:
        click.echo(f"gr8d devchain: {error}", err=True)
        return EXIT_FAILURE
    return 0
