"""A private anvil for the tests that talk to a chain, and helpers to deploy and transact.

``local_chain()`` starts ``contracts/node_modules/.bin/anvil`` (installed by ``npm ci`` in
contracts/) on a free port with chain id 10143 (Monad testnet), waits until it answers
``eth_chainId``, and yields an ``AsyncWeb3`` plus anvil's funded dev accounts (read from the
``--config-out`` file anvil writes, so nothing is hard-coded). The process is killed on exit.
Without the binary the calling test is skipped with the reason.

Transactions are signed locally with eth_account (as the relayer does), not sent from anvil's
unlocked accounts, so the tests exercise the same path as production code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract.async_contract import AsyncContractFunction
from web3.types import TxParams, TxReceipt

CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "contracts"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
ANVIL = CONTRACTS_DIR / "node_modules" / ".bin" / "anvil"
CHAIN_ID = 10143
STARTUP_TIMEOUT = 20.0
PORT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class LocalChain:
    url: str
    w3: AsyncWeb3[AsyncHTTPProvider]
    accounts: tuple[LocalAccount, ...]
    """anvil's funded dev accounts, in anvil's order (account 0 deploys by default)."""

    @property
    def private_keys(self) -> tuple[str, ...]:
        return tuple("0x" + account.key.hex().removeprefix("0x") for account in self.accounts)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=5)
    except TimeoutError:
        process.kill()
        await process.wait()


async def _answers(w3: AsyncWeb3[AsyncHTTPProvider]) -> bool:
    try:
        return await w3.eth.chain_id == CHAIN_ID
    except Exception:  # not listening yet: connection refused, reset, ...
        return False


@contextlib.asynccontextmanager
async def local_chain() -> AsyncIterator[LocalChain]:
    """A fresh anvil for the duration of the block (skips the test when anvil is missing)."""
    if not ANVIL.exists():
        pytest.skip(f"anvil is not installed at {ANVIL}; run `npm ci` in contracts/ (CI does)")
    with tempfile.TemporaryDirectory(prefix="gr8d-anvil-") as tmp:
        config_out = Path(tmp) / "anvil.json"
        log_path = Path(tmp) / "anvil.log"
        failures: list[str] = []
        for _ in range(PORT_ATTEMPTS):  # another process may grab the free port first
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            with log_path.open("wb") as log:
                process = await asyncio.create_subprocess_exec(
                    str(ANVIL),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--chain-id",
                    str(CHAIN_ID),
                    "--silent",
                    "--config-out",
                    str(config_out),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                )
            w3 = AsyncWeb3(AsyncHTTPProvider(url))
            try:
                if await _wait_until_ready(process, w3):
                    keys = json.loads(config_out.read_text())["private_keys"]
                    accounts = tuple(Account.from_key(key) for key in keys)
                    yield LocalChain(url=url, w3=w3, accounts=accounts)
                    return
                failures.append(f"port {port}: {log_path.read_text(errors='replace').strip()}")
            finally:
                await w3.provider.disconnect()
                await _stop(process)
        raise RuntimeError("anvil did not start:\n" + "\n".join(failures))


async def _wait_until_ready(
    process: asyncio.subprocess.Process, w3: AsyncWeb3[AsyncHTTPProvider]
) -> bool:
    """True once anvil answers eth_chainId; False when it exited; RuntimeError on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT
    while loop.time() < deadline:
        if process.returncode is not None:
            return False
        if await _answers(w3):
            return True
        await asyncio.sleep(0.05)
    raise RuntimeError(f"anvil did not answer eth_chainId within {STARTUP_TIMEOUT} s")


@cache
def artifact(name: str) -> dict[str, Any]:
    """contracts/artifacts/<name>.json: {"abi", "bytecode", ...}."""
    data: dict[str, Any] = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())
    return data


def contract_at(w3: AsyncWeb3[AsyncHTTPProvider], artifact_name: str, address: str) -> Any:
    """The AsyncContract of a deployed artifact."""
    return w3.eth.contract(
        address=AsyncWeb3.to_checksum_address(address), abi=artifact(artifact_name)["abi"]
    )


async def send(
    w3: AsyncWeb3[AsyncHTTPProvider], transaction: TxParams, sender: LocalAccount
) -> TxReceipt:
    """Sign locally, send, wait for the receipt; AssertionError when it reverted."""
    transaction = {**transaction, "from": sender.address}
    transaction.setdefault("nonce", await w3.eth.get_transaction_count(sender.address, "pending"))
    signed = sender.sign_transaction(cast(dict[str, Any], transaction))
    tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1, f"transaction {tx_hash.to_0x_hex()} reverted"
    return receipt


async def transact(
    w3: AsyncWeb3[AsyncHTTPProvider], function: AsyncContractFunction, sender: LocalAccount
) -> TxReceipt:
    """Call a state-changing contract function as ``sender``; returns the receipt."""
    transaction = await function.build_transaction({"from": sender.address})
    return await send(w3, transaction, sender)


async def deploy(
    w3: AsyncWeb3[AsyncHTTPProvider],
    artifact_name: str,
    *constructor_args: Any,
    sender: LocalAccount,
) -> ChecksumAddress:
    """Deploy contracts/artifacts/<artifact_name>.json; returns the contract's address."""
    compiled = artifact(artifact_name)
    factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
    transaction = await factory.constructor(*constructor_args).build_transaction(
        {"from": sender.address}
    )
    receipt = await send(w3, transaction, sender)
    address = receipt["contractAddress"]
    assert address is not None
    return address
