"""`gr8d indexer` and `gr8d run` as an operator runs them: --until-block, exit codes, a
progress bar on a terminal, a reorg too deep, every RPC fault at once, SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import os
import pty
import re
import struct
import sys
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gr8d.embedded import ServerUrls
from tests.chain import Protocol, deployed_protocol
from tests.e2e.conftest import free_port
from tests.faults.rpc_proxy import Faults, FaultyRpcProxy
from tests.indexing import (
    activity,
    anvil,
    clean_index_dump,
    differences,
    dump,
    fund_stakers,
    indexer_environment,
    reorg,
    stake,
)
from tests.indexing import seed_owners as seed
from tests.processes import cursor_block, start_gr8d, wait_until

EXIT_REORG_TOO_DEEP = 3


@pytest.fixture
async def chain() -> AsyncIterator[Protocol]:
    async with deployed_protocol() as protocol:
        await fund_stakers(protocol)
        await activity(protocol, 12)
        yield protocol


@pytest.fixture
async def seeded(chain: Protocol, session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        await seed(session, chain)
        await session.commit()


async def gr8d(
    *arguments: str, env: dict[str, str], log_path: Path, within: float = 120
) -> tuple[int, str]:
    process = await start_gr8d(arguments, env=env, log_path=log_path)
    code = await asyncio.wait_for(process.process.wait(), within)
    return code, process.output()


@pytest.mark.usefixtures("seeded")
async def test_until_block_head_backfills_to_the_head_at_start_and_exits_0(
    chain: Protocol,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
) -> None:
    env = indexer_environment(chain, database_url, tmp_path)
    head = await chain.w3.eth.block_number

    code, output = await gr8d(
        "indexer", "--until-block", "head", env=env, log_path=tmp_path / "out"
    )

    assert code == 0, output
    assert "backfill done" in output
    assert await cursor_block(session_factory) == head


async def test_a_node_of_another_chain_than_the_deployments_file_exits_2(
    chain: Protocol, database_url: str, tmp_path: Path
) -> None:
    env = indexer_environment(chain, database_url, tmp_path)
    mainnet = dataclasses.replace(chain.deployments, chain_id=143)
    mainnet.write(Path(env["DEPLOYMENTS_FILE"]))

    code, output = await gr8d("indexer", env=env, log_path=tmp_path / "out", within=60)

    assert code == 2, output[-3000:]
    assert "the node serves chain 10143, the deployments file chain 143" in output


async def test_until_block_is_head_or_a_block_number(
    chain: Protocol, database_url: str, tmp_path: Path
) -> None:
    env = indexer_environment(chain, database_url, tmp_path)

    code, output = await gr8d("indexer", "--until-block", "tip", env=env, log_path=tmp_path / "out")

    assert code == 2
    assert "'tip' is neither `head` nor a block number" in output


def visible_lines(screen: str) -> list[str]:
    """What a terminal shows of these bytes, line by line (without colours): a carriage return
    writes the rest over the line from its start."""
    shown = []
    for line in re.sub(r"\x1b\[[0-9;]*m", "", screen).split("\n"):
        cells: list[str] = []
        for part in line.split("\r"):
            cells[: len(part)] = part
        shown.append("".join(cells).rstrip())
    return shown


@pytest.mark.usefixtures("seeded")
async def test_a_backfill_on_a_terminal_draws_a_progress_bar_with_the_log_above_it(
    chain: Protocol, database_url: str, tmp_path: Path
) -> None:
    # At DEBUG every batch writes a log line while the bar is drawn.
    env = indexer_environment(chain, database_url, tmp_path) | {"LOG_LEVEL": "DEBUG"}
    head = await chain.w3.eth.block_number
    terminal, device = pty.openpty()
    fcntl.ioctl(device, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "gr8d", "indexer", "--until-block", str(head), "--batch-blocks", "3"),
        env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=device,
    )
    os.close(device)
    screen = bytearray()

    def read_all() -> None:
        while True:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # EIO: the process closed the terminal
                return
            if not chunk:
                return
            screen.extend(chunk)

    reading = asyncio.to_thread(read_all)
    code = await asyncio.wait_for(process.wait(), 120)
    await asyncio.wait_for(reading, 10)
    os.close(terminal)

    shown = screen.decode(errors="replace")
    assert code == 0, shown
    blocks = head - chain.deployments.start_block + 1
    assert "indexing: 100%" in shown
    assert f"{blocks}/{blocks}" in shown
    lines = visible_lines(shown)
    logged = [line for line in lines if "indexed" in line and "events=" in line]
    assert len(logged) >= 3, shown
    assert not [line for line in logged if "indexing:" in line], shown


@pytest.mark.usefixtures("seeded")
async def test_a_reorg_deeper_than_max_reorg_depth_exits_3_and_deletes_nothing(
    chain: Protocol,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
) -> None:
    env = indexer_environment(chain, database_url, tmp_path) | {"MAX_REORG_DEPTH": "2"}
    indexer = await start_gr8d(["indexer"], env=env, log_path=tmp_path / "out")
    try:

        async def caught_up() -> bool:
            return await cursor_block(session_factory) == await chain.w3.eth.block_number

        await wait_until(caught_up, within=60, what="the indexer reaches the head")
        async with session_factory() as session:
            before = await dump(session)

        await reorg(chain, 3, [(stake(chain, 2, 1), 0)])
        code = await asyncio.wait_for(indexer.process.wait(), 30)
    finally:
        await indexer.kill()

    assert code == EXIT_REORG_TOO_DEEP, indexer.output()[-3000:]
    assert "deeper than MAX_REORG_DEPTH=2; nothing was deleted" in indexer.output()
    async with session_factory() as session:
        assert await dump(session) == before


@pytest.mark.usefixtures("seeded")
async def test_every_rpc_fault_at_once_ends_in_the_database_of_a_clean_run(
    chain: Protocol,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
) -> None:
    # Empty blocks after the events: enough requests that each kind of fault is drawn.
    await anvil(chain, "anvil_mine", hex(160))
    head = await chain.w3.eth.block_number
    # Every kind of fault, at rates that make long runs of failures on one call (and with them
    # the client's long backoffs) rare; hangs shorter than the client's timeout; a provider
    # that refuses eth_getLogs over more than 8 blocks.
    faults = Faults(
        http_500=0.10,
        http_429=0.05,
        hang=0.05,
        hang_seconds=0.3,
        drop=0.04,
        truncated=0.04,
        null_block=0.10,
        lagging_head=0.30,
        max_log_blocks=8,
    )
    async with FaultyRpcProxy(chain.anvil.url, faults, seed=11) as proxy:
        env = indexer_environment(chain, database_url, tmp_path) | {"RPC_URLS": proxy.url}
        code, output = await gr8d(
            "indexer", "--until-block", str(head), env=env, log_path=tmp_path / "out"
        )
        injected = proxy.counts()

    assert code == 0, output[-3000:]
    assert set(injected) >= {
        "http_500",
        "http_429",
        "hang",
        "drop",
        "truncated",
        "null_block",
        "range_refused",
    }
    async with session_factory() as session:
        through_faults = await dump(session)
    assert differences(through_faults, await clean_index_dump(chain, session_factory, head)) == {}


@pytest.mark.usefixtures("seeded")
async def test_gr8d_run_indexes_beside_the_scheduler_and_stops_on_sigterm(
    chain: Protocol,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    server_urls: ServerUrls,
    tmp_path: Path,
) -> None:
    env = indexer_environment(chain, database_url, tmp_path) | {
        "REDIS_URL": server_urls.redis_url,
        "API_PORT": str(free_port()),
    }
    daemon = await start_gr8d(["run"], env=env, log_path=tmp_path / "out")
    try:

        async def caught_up() -> bool:
            return await cursor_block(session_factory) == await chain.w3.eth.block_number

        await wait_until(caught_up, within=60, what="gr8d run indexes the chain")
        await activity(chain, 2, first_uri=50)
        await wait_until(caught_up, within=10, what="gr8d run follows the head")
        assert "settlement scheduler started" in daemon.output()
    finally:
        code = await daemon.terminate()
    assert code == 0, daemon.output()[-3000:]


async def test_gr8d_run_with_every_part_switched_off_refuses(
    database_url: str, tmp_path: Path
) -> None:
    code, output = await gr8d(
        "run",
        "--no-indexer",
        "--no-scheduler",
        "--no-api",
        env={"DATABASE_URL": database_url},
        log_path=tmp_path / "out",
    )

    assert code == 2
    assert "every part is switched off" in output
