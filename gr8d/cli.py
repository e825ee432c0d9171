"""The `gr8d` command line: the composition root every process starts from."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn

import click
import structlog

from gr8d.config import ConfigError, Settings, load_settings
from gr8d.logging import configure_logging

EXIT_FAILURE = 1
EXIT_BAD_CONFIGURATION = 2


def _fail_configuration(error: ConfigError) -> NoReturn:
    click.echo(f"gr8d: configuration error: {error}", err=True)
    sys.exit(EXIT_BAD_CONFIGURATION)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


# The parts' own commands, imported only when one of them runs (or help lists them): some
# import web3 and eth_account, a second of start-up the indexer would otherwise pay each run.
PART_COMMANDS: dict[str, tuple[str, str]] = {
    "admin": ("accounts.cli", "admin"),
    "devchain": ("indexer.cli", "devchain"),
    "indexer": ("indexer.cli", "indexer"),
    "settle": ("settlement.cli", "settle"),
    "simulate": ("simulation.cli", "simulate_command"),
}


HELP_REQUESTED = "gr8d.help_requested"


def _asks_for_help(args: list[str], help_options: list[str]) -> bool:
    """Whether a help option comes before `--` (after it, every word is an argument)."""
    for arg in args:
        if arg == "--":
            return False
        if arg in help_options:
            return True
    return False


class PartsGroup(click.Group):
    """The gr8d group: its own commands plus PART_COMMANDS, loaded by name on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *PART_COMMANDS})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # A subcommand's --help is parsed after this group's callback has loaded the settings;
        # help must show whatever the configuration (operations.md: --help on every level).
        ctx.meta[HELP_REQUESTED] = _asks_for_help(args, ctx.help_option_names)
        return super().parse_args(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in PART_COMMANDS:
            module_name, attribute = PART_COMMANDS[cmd_name]
            command: click.Command = getattr(importlib.import_module(module_name), attribute)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=PartsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """gr8d: the chain and money back end of gr8diy (indexer, settlement, API)."""
    if ctx.meta.get(HELP_REQUESTED):
        return
    try:
        ctx.obj = load_settings()
    except ConfigError as error:
        _fail_configuration(error)
    configure_logging(ctx.obj)


@cli.command()
@click.option("--sql", is_flag=True, help="Print the SQL of `alembic upgrade head` instead.")
@click.pass_context
def migrate(ctx: click.Context, sql: bool) -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    from db import migrate as migrations

    if sql:
        click.echo(migrations.upgrade_sql())
        return
    settings = _settings(ctx)
    try:
        url = settings.require_database_url()
    except ConfigError as error:
        _fail_configuration(error)
    migrations.upgrade(url)
    structlog.get_logger("gr8d.migrate").info("schema is at head")


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".gr8d"),
    show_default=True,
    help="Where the embedded PostgreSQL and Redis keep their data.",
)
@click.option("--check", is_flag=True, help="Set everything up, verify it, and exit 0 or 1.")
@click.pass_context
def demo(ctx: click.Context, data_dir: Path, check: bool) -> None:
    """Run gr8d on embedded defaults: private PostgreSQL and Redis when no URL is set."""
    from gr8d.demo import run_demo

    sys.exit(asyncio.run(_until_signal(run_demo(_settings(ctx), data_dir, check=check))))


async def _until_signal(work: Any) -> int:
    """Run `work`; SIGINT or SIGTERM cancels it cleanly."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    cancel: Callable[[], bool] = task.cancel
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, cancel)
    try:
        result: int = await task
    except asyncio.CancelledError:
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
    return result


@cli.command()
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """The settlement scheduler alone: catch up, then daily/monthly/hourly runs."""
    from settlement.cli import run_scheduler

    sys.exit(asyncio.run(_until_signal(_as_exit_code(run_scheduler(_settings(ctx))))))


@cli.command()
@click.option(
    "--no-indexer",
    is_flag=True,
    help="Do not run the indexer (it runs when RPC_URLS and DEPLOYMENTS_FILE are set, or "
    "BLOCKCHAIN_ENABLED).",
)
@click.option("--no-scheduler", is_flag=True, help="Do not run the settlement scheduler.")
@click.option("--no-api", is_flag=True, help="Do not serve the HTTP API.")
@click.pass_context
def run(ctx: click.Context, no_indexer: bool, no_scheduler: bool, no_api: bool) -> None:
    """The daemon: indexer, settlement scheduler and API in one process."""
    parts = _daemon_parts(
        _settings(ctx), indexer=not no_indexer, scheduler=not no_scheduler, api=not no_api
    )
    if not parts:
        click.echo("gr8d run: every part is switched off", err=True)
        sys.exit(EXIT_BAD_CONFIGURATION)
    sys.exit(asyncio.run(_until_signal(_as_exit_code(*(start() for start in parts)))))


Part = Callable[[], Coroutine[Any, Any, int | None]]


def _daemon_parts(
    settings: Settings, *, indexer: bool, scheduler: bool, api: bool = False
) -> list[Part]:
    """The parts `gr8d run` starts, each a coroutine factory (it returns an exit code when it
    ends on its own)."""
    parts: list[Part] = []
    if indexer and _chain_configured(settings):
        from indexer.cli import run_indexer

        parts.append(lambda: run_indexer(settings))
    elif indexer:
        structlog.get_logger("gr8d").info(
            "indexer not started: no chain configured (RPC_URLS, DEPLOYMENTS_FILE)"
        )
    if scheduler:
        from settlement.cli import run_scheduler

        parts.append(lambda: run_scheduler(settings))
    if api:
        from api.server import serve_api

        parts.append(lambda: serve_api(settings))
    return parts


def _chain_configured(settings: Settings) -> bool:
    return settings.blockchain_enabled or bool(settings.rpc_urls and settings.deployments_file)


async def _as_exit_code(*parts: Coroutine[Any, Any, int | None]) -> int:
    """Run the parts together; the first to end (a failure, or an exit code) stops them all."""
    tasks = [asyncio.ensure_future(part) for part in parts]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
    return next(iter(done)).result() or 0


@cli.command()
@click.option("--host", default=None, help="Address to bind (default API_HOST, 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port to bind (default API_PORT, 8080).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes serving the port (default API_WORKERS, 1); each has its own database pool.",
)
@click.option("--worker", is_flag=True, hidden=True, help="One of --workers' processes.")
@click.pass_context
def api(
    ctx: click.Context, host: str | None, port: int | None, workers: int | None, worker: bool
) -> None:
    """The HTTP API alone (aiohttp), on /api/v1."""
    from api.server import serve_api, serve_api_workers

    settings = _settings(ctx)
    count = 1 if worker else workers or settings.api_workers
    work = (
        serve_api(settings, host=host, port=port, reuse_port=worker)
        if count == 1
        else serve_api_workers(settings, workers=count, host=host, port=port)
    )
    sys.exit(asyncio.run(_until_signal(_as_exit_code(work))))


def main() -> None:
    try:
        cli(prog_name="gr8d")
    except ConfigError as error:
        _fail_configuration(error)
    except Exception:
        # Logged, not left to Python's traceback printer: in production every line written is
        # one JSON object (operations.md), the failure's too.
        structlog.get_logger("gr8d").exception("gr8d failed")
        sys.exit(EXIT_FAILURE)
