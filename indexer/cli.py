"""`gr8d devchain` and `gr8d indexer`: the indexer part's entry points."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click
import structlog

from gr8d.config import ConfigError, Settings

# The dev chain's module (web3, eth_account) is imported by the devchain command only.
from indexer.deployments import DEFAULT_HOST, DEFAULT_PORT, Deployments

if TYPE_CHECKING:
    from indexer.devchain import Anvil
    from indexer.follower import ChainFollower, StepResult
    from indexer.leader import LeaderTimings

DEFAULT_DEPLOYMENTS_FILE: Final = Path("deployments.dev.json")
EXIT_FAILURE: Final = 1
EXIT_REORG_TOO_DEEP: Final = 3
HEAD: Final = "head"
DEFAULT_BATCH_BLOCKS: Final = 1_000
# Monad makes a block about every 0.4 s; following polls no faster than that.
FOLLOW_POLL_SECONDS: Final = 0.4
# A database that does not answer within this many seconds counts as away (paused, cut off).
DATABASE_TIMEOUT_SECONDS: Final = 10.0
# The next batch is parsed and decoded in a thread while the event loop streams the current
# one to PostgreSQL; at Python's default 5 ms the loop waits that long for the interpreter
# lock each time it has data to send, and PostgreSQL waits with it.
THREAD_SWITCH_SECONDS: Final = 0.0005


def favour_the_event_loop() -> None:
    """The indexer process's interpreter setting (see THREAD_SWITCH_SECONDS)."""
    sys.setswitchinterval(THREAD_SWITCH_SECONDS)


log = structlog.get_logger("gr8d.indexer")


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
    from indexer.devchain import DevchainError, anvil_binary

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
    from indexer.devchain import DevchainError, run_devchain

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


class UntilBlock(click.ParamType[int | str]):
    """A block number, or `head`: the chain's head when the run starts."""

    name = "head|N"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | str:
        if isinstance(value, int):
            return value
        if value == HEAD:
            return HEAD
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = -1
        if number < 0:
            self.fail(f"{value!r} is neither `head` nor a block number", param, ctx)
        return number


@click.command()
@click.option(
    "--until-block",
    type=UntilBlock(),
    default=None,
    help="Backfill up to block N (or up to the head when it starts: `head`), then exit 0 "
    "(default: follow the head until stopped).",
)
@click.option(
    "--batch-blocks",
    type=click.IntRange(1),
    default=DEFAULT_BATCH_BLOCKS,
    show_default=True,
    help="At most this many blocks per batch (one transaction); the provider may allow fewer.",
)
@click.pass_context
def indexer(ctx: click.Context, until_block: int | str | None, batch_blocks: int) -> None:
    """The indexer alone: protocol events into chain_events and the tables they project to.

    Exit codes: 0 done, 1 failure, 2 bad configuration, 3 a reorg deeper than MAX_REORG_DEPTH
    (nothing deleted)."""
    from gr8d.cli import _until_signal

    work = run_indexer(
        ctx.obj, until_block=until_block, batch_blocks=batch_blocks, progress_bar=True
    )
    sys.exit(asyncio.run(_until_signal(work)))


async def run_indexer(
    settings: Settings,
    *,
    until_block: int | str | None = None,
    batch_blocks: int = DEFAULT_BATCH_BLOCKS,
    progress_bar: bool = False,
    timings: LeaderTimings | None = None,
) -> int:
    """The indexer as a process runs it: wait to lead, then backfill and follow (or backfill
    up to `until_block` and return 0). Returns the exit code."""
    import aiohttp

    from db.engine import create_engine, create_session_factory
    from indexer.follower import ChainFollower, ReorgTooDeep
    from indexer.leader import Leadership
    from indexer.rpc import JsonRpc

    deployments = await _deployments(settings)
    favour_the_event_loop()
    engine = create_engine(settings, timeout=DATABASE_TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession() as http:
            follower = ChainFollower(
                rpc=JsonRpc(http, settings.rpc_urls),
                session_factory=create_session_factory(engine),
                deployments=deployments,
                batch_blocks=batch_blocks,
                confirmations=settings.confirmations,
                max_reorg_depth=settings.max_reorg_depth,
                poll_seconds=FOLLOW_POLL_SECONDS,
            )
            await _check_chain(follower)
            leadership = Leadership(
                settings.require_database_url(),
                ssl=settings.effective_database_ssl.value,
                chain_id=deployments.chain_id,
                timings=timings,
            )
            try:
                return await leadership.run(lambda: _work(follower, until_block, progress_bar))
            except ReorgTooDeep as error:
                click.echo(f"gr8d indexer: {error}", err=True)
                return EXIT_REORG_TOO_DEEP
    finally:
        await engine.dispose()


async def _deployments(settings: Settings) -> Deployments:
    if not settings.rpc_urls:
        raise ConfigError("RPC_URLS", "required by the indexer")
    if not settings.deployments_file:
        raise ConfigError("DEPLOYMENTS_FILE", "required by the indexer")
    try:
        return await asyncio.to_thread(Deployments.read, Path(settings.deployments_file))
    except (OSError, ValueError) as error:
        raise ConfigError("DEPLOYMENTS_FILE", str(error)) from None


async def _check_chain(follower: ChainFollower) -> None:
    """The node must serve the deployments' chain; while no node answers, keep asking."""
    from indexer.follower import describe
    from indexer.rpc import RpcError

    attempt = 0
    while True:
        try:
            await follower.check_chain()
            return
        except RpcError as error:
            attempt += 1
            delay = follower.backoff.delay(attempt)
            log.warning("no RPC node answers; waiting", error=describe(error), retry_in=delay)
            await asyncio.sleep(delay)


async def _work(follower: ChainFollower, until_block: int | str | None, progress_bar: bool) -> int:
    """What the leader does; a cursor moved by another process ends the lead (not the run)."""
    from indexer.follower import CursorMoved
    from indexer.leader import LostLeadership

    try:
        if until_block is None:
            await follower.follow()
            return 0
        target = (await follower.rpc.block_number()) if until_block == HEAD else int(until_block)
        first = await follower.next_block()
        with _bar(first, target, enabled=progress_bar) as update:
            follower.on_step = update
            progress = await follower.index_until(target)
        log.info(
            "backfill done",
            blocks=f"{progress.first_block}-{progress.last_block}",
            events=progress.events,
            batches=progress.batches,
        )
        return 0
    except CursorMoved as moved:
        raise LostLeadership(str(moved)) from moved


@contextlib.contextmanager
def _bar(first: int, target: int, *, enabled: bool) -> Iterator[Callable[[StepResult], None]]:
    """A progress bar on a terminal (stderr); log lines go above it, not through it."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    total = max(0, target - first + 1)
    terminal = sys.stderr
    shown = enabled and terminal.isatty()
    with (
        tqdm(
            total=total,
            unit="block",
            desc="indexing",
            disable=not shown,
            dynamic_ncols=True,
            file=terminal,
        ) as bar,
        logging_redirect_tqdm(),
        # gr8d's own loggers write to sys.stderr themselves (gr8d.logging), not through the
        # standard library's handlers that logging_redirect_tqdm redirects.
        _writing_above(terminal) if shown else contextlib.nullcontext(),
    ):
        events = 0

        def update(step: StepResult) -> None:
            nonlocal events
            events += step.events
            bar.n = min(total, max(0, step.cursor - first + 1))
            bar.set_postfix(events=events, head=step.head, refresh=False)
            bar.refresh()

        yield update


class _AboveTheBar:
    """sys.stderr while the bar is drawn: each write clears the bar, goes out, and the bar is
    drawn again below it."""

    def __init__(self, terminal: Any) -> None:
        self._terminal = terminal

    def write(self, text: str) -> int:
        from tqdm import tqdm

        with tqdm.external_write_mode(file=self._terminal):
            written: int = self._terminal.write(text)
            self._terminal.flush()
        return written

    def flush(self) -> None:
        self._terminal.flush()

    def isatty(self) -> bool:
        return bool(self._terminal.isatty())

    def fileno(self) -> int:
        return int(self._terminal.fileno())


@contextlib.contextmanager
def _writing_above(terminal: Any) -> Iterator[None]:
    sys.stderr = _AboveTheBar(terminal)
    try:
        yield
    finally:
        sys.stderr = terminal
