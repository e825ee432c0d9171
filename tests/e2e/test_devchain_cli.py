"""`gr8d devchain`: runs until stopped, writes the deployments file, leaves no anvil behind.

``run_devchain`` is driven as an asyncio task (what `gr8d devchain` runs), and the click
command from a separate process that registers it itself and is stopped with SIGTERM (the
command is not necessarily registered in gr8d/cli.py yet). Skipped without anvil.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3

from gr8d.config import Settings, load_settings
from indexer.devchain import (
    CONTRACT_NAMES,
    DEV_CHAIN_ID,
    Anvil,
    Deployments,
    DevchainError,
    contract_at,
    run_devchain,
)
from tests.chain import anvil_or_skip

STOP_WITHIN_SECONDS = 10
START_WITHIN_SECONDS = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def file_appears(path: Path, *, within: float = START_WITHIN_SECONDS) -> Deployments:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await asyncio.to_thread(path.exists):
        assert loop.time() < deadline, f"{path} did not appear within {within} s"
        await asyncio.sleep(0.05)
    return Deployments.read(path)


def dev_settings(**overrides: object) -> Settings:
    return load_settings(app_env="test", relayer_private_key=None, **overrides)


async def test_run_devchain_writes_the_file_and_stops_anvil_when_cancelled(
    tmp_path: Path,
) -> None:
    anvil_or_skip()
    path = tmp_path / "deployments.dev.json"
    ready: list[Anvil] = []
    task = asyncio.create_task(
        run_devchain(
            dev_settings(),
            port=None,
            deployments_file=path,
            block_time=None,
            on_ready=lambda anvil, _: ready.append(anvil),
        )
    )
    try:
        deployments = await file_appears(path)
        (anvil,) = ready
        assert deployments.chain_id == DEV_CHAIN_ID
        assert list(deployments.contracts) == list(CONTRACT_NAMES)
        w3 = AsyncWeb3(AsyncHTTPProvider(anvil.url))
        try:
            assert await w3.eth.chain_id == deployments.chain_id
            for address in deployments.contracts.values():
                assert len(await w3.eth.get_code(address)) > 0
            history = contract_at(w3, "DecisionHistory", deployments.contracts["DecisionHistory"])
            assert await history.functions.relayer().call() == anvil.account(1).address
        finally:
            await w3.provider.disconnect()
        assert not task.done()  # keeps running
    finally:
        task.cancel()
        async with asyncio.timeout(STOP_WITHIN_SECONDS):
            with pytest.raises(asyncio.CancelledError):
                await task
    assert anvil.process.returncode is not None
    port = int(anvil.url.rsplit(":", 1)[1])
    assert not listening(port)


async def test_run_devchain_refuses_to_overwrite_another_chains_file(tmp_path: Path) -> None:
    anvil_or_skip()
    path = tmp_path / "deployments.json"
    production = '{"chain_id": 143, "start_block": 5, "contracts": {}}\n'
    path.write_text(production)
    with pytest.raises(DevchainError, match=r"refusing to overwrite .* chain 143"):
        await run_devchain(dev_settings(), port=None, deployments_file=path)
    assert path.read_text() == production


async def test_gr8d_devchain_runs_until_sigterm_and_relays_with_the_configured_key(
    tmp_path: Path,
) -> None:
    anvil_or_skip()
    port = free_port()
    path = tmp_path / "deployments.dev.json"
    relayer = Account.create()
    env = {
        **os.environ,
        "APP_ENV": "development",
        "RELAYER_PRIVATE_KEY": relayer.key.to_0x_hex(),
        "LOG_FORMAT": "json",
    }
    env.pop("DEPLOYMENTS_FILE", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gr8d",
        "devchain",
        "--port",
        str(port),
        "--deployments-file",
        str(path),
        "--block-time",
        "0.2",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        deployments = await file_appears(path)
        w3 = AsyncWeb3(AsyncHTTPProvider(f"http://127.0.0.1:{port}"))
        try:
            assert await w3.eth.chain_id == deployments.chain_id == DEV_CHAIN_ID
            history = contract_at(w3, "DecisionHistory", deployments.contracts["DecisionHistory"])
            assert await history.functions.relayer().call() == relayer.address
            assert await w3.eth.get_balance(relayer.address) > 0  # funded to pay for commits
        finally:
            await w3.provider.disconnect()
        assert json.loads(path.read_text())["contracts"] == dict(deployments.contracts)
        assert process.returncode is None

        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_WITHIN_SECONDS):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = output.decode()
    assert process.returncode == 0, log
    assert "dev chain ready" in log and str(path) in log
    assert f"export RPC_URLS=http://127.0.0.1:{port}\n" in log
    assert f"export DEPLOYMENTS_FILE={path}\n" in log
    assert not listening(port)
