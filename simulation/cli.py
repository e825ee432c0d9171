"""`gr8d simulate`: drive the scenario against a running API (`gr8d run` or `gr8d api`) and a dev
chain (`gr8d devchain`), then settle the simulated days and month through the scheduler's own
catch-up, and pay some settlements on chain.

The chain's clock cannot go back: on a dev chain started now, the on-chain steps happen now
while the executions carry the simulated days' times (as the trading engine reports them).
`gr8d demo` starts its chain in the past so both line up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import aiohttp
import click
import structlog
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3

from gr8d.config import ConfigError, Settings
from indexer.devchain import Deployments, DeploymentsFileError
from simulation.chain import Protocol
from simulation.client import ApiClient, ApiRefused
from simulation.scenario import Scenario, Simulation, World
from simulation.world_clock import backdate_clones

ANVIL_FIRST_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
"""anvil's first account for its default mnemonic: public knowledge, funded on every dev chain."""
FINALITY_BLOCKS = 70
EXIT_FAILURE = 1

log = structlog.get_logger("gr8d.simulate")


def previous_month_start(today: dt.date) -> dt.date:
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


async def settle_through_catch_up(settings: Settings, start_day: dt.date) -> None:
    """The scheduler's catch-up, from `start_day` (the advisory lock keeps a running daemon's
    scheduler from doubling anything)."""
    from settlement.cli import settlement_jobs

    async with settlement_jobs(settings) as jobs:
        await dataclasses.replace(jobs, start_day=start_day).catch_up()


async def simulate(
    settings: Settings, *, api_url: str, operator_key: str, scenario: Scenario
) -> World:
    if not settings.rpc_urls or not settings.deployments_file:
        raise ConfigError("RPC_URLS", "gr8d simulate needs RPC_URLS and DEPLOYMENTS_FILE")
    deployments = await asyncio.to_thread(Deployments.read, Path(settings.deployments_file))
    from settlement.scheduled import MONTHLY_RUN_TIME, settling_date

    # The simulated days and last month are periods the catch-up settles now: their run times
    # (01:00 for a day, 02:00 on the 1st for a month) have come.
    today = settling_date(dt.datetime.now(dt.UTC), MONTHLY_RUN_TIME)
    w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(settings.rpc_urls[0]))
    try:
        async with aiohttp.ClientSession() as http:
            protocol = Protocol(w3, deployments, Account.from_key(operator_key))
            simulation = Simulation(
                ApiClient(http, api_url), protocol, scenario, today=today
            ).with_service_token(settings.internal_api_token)
            world = await simulation.run_activity()
            month = previous_month_start(today)
            await backdate_clones(settings, world.clones, into=month)
            await protocol.mine(FINALITY_BLOCKS)
            await settle_through_catch_up(settings, month)
            await simulation.pay_pending_settlements_on_chain()
            await protocol.mine(FINALITY_BLOCKS)
            return world
    finally:
        await w3.provider.disconnect()


@click.command(name="simulate")
@click.option("--users", type=click.IntRange(2, 500), default=8, show_default=True)
@click.option("--days", type=click.IntRange(1, 60), default=3, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--api-url",
    default=None,
    help="The running API's base URL [default: http://127.0.0.1:API_PORT/api/v1].",
)
@click.option(
    "--operator-key",
    envvar="SIMULATION_OPERATOR_KEY",
    default=ANVIL_FIRST_DEV_KEY,
    show_default="anvil's first dev account",
    help="The key that deployed the contracts (owner, reviewer, settlement operator).",
)
@click.pass_context
def simulate_command(
    ctx: click.Context, users: int, days: int, seed: int, api_url: str | None, operator_key: str
) -> None:
    """Drive realistic activity through the chain and the API (users, wallets, stakes,
    strategies, registrations, follows, executions, clones), then settle it."""
    from gr8d.cli import _until_signal

    settings: Settings = ctx.obj
    url = api_url or f"http://127.0.0.1:{settings.api_port}/api/v1"
    scenario = Scenario(users=users, days=days, seed=seed)

    async def work() -> int:
        try:
            world = await simulate(
                settings, api_url=url, operator_key=operator_key, scenario=scenario
            )
        except (ApiRefused, DeploymentsFileError, aiohttp.ClientError) as error:
            click.echo(f"gr8d simulate: {error}", err=True)
            return EXIT_FAILURE
        click.echo(
            f"simulated {len(world.people)} users over {len(world.days)} days: "
            f"{len(world.strategies)} strategies registered, {len(world.follows)} follows, "
            f"{world.executions} executions, {len(world.clones)} clones, "
            f"{world.settlements_paid_onchain} settlements paid on chain"
        )
        return 0

    raise SystemExit(asyncio.run(_until_signal(work())))
