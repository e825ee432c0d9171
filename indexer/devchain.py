"""The dev chain: a local anvil with the protocol's contracts deployed (`gr8d devchain`).

``running_anvil()`` starts ``contracts/node_modules/.bin/anvil`` (installed by ``./dev`` or
``npm ci`` in contracts/) and learns anvil's funded dev keys from the ``--config-out`` file it
writes once it listens. ``deploy_protocol()`` deploys the eight contracts of chain.md from
``contracts/artifacts`` and names the dev roles. ``run_devchain()`` does both, writes the
deployments file (chain.md, "Where the contracts are") and keeps the chain running until it is
cancelled. The tests use the same pieces (tests/chain.py).

Transactions are signed locally with eth_account, as the relayer signs in production, rather
than sent from anvil's unlocked accounts. Everything here needs a source checkout: contracts/
is not shipped with the Python package.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, cast

import structlog
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract.async_contract import AsyncContractFunction
from web3.types import Nonce, TxParams, TxReceipt
from web3.utils import get_create_address

from gr8d.config import Settings
from indexer.deployments import CONTRACT_NAMES as CONTRACT_NAMES
from indexer.deployments import DEFAULT_HOST as DEFAULT_HOST
from indexer.deployments import DEFAULT_PORT as DEFAULT_PORT
from indexer.deployments import Deployments as Deployments
from indexer.deployments import DeploymentsFileError as DeploymentsFileError

log = structlog.get_logger("gr8d.devchain")

REPOSITORY_ROOT: Final = Path(__file__).resolve().parents[1]
CONTRACTS_DIR: Final = REPOSITORY_ROOT / "contracts"
ARTIFACTS_DIR: Final = CONTRACTS_DIR / "artifacts"

DEV_CHAIN_ID: Final = 10143
"""Monad testnet's chain id, so that code under test sees the id it sees on testnet."""
STARTUP_TIMEOUT_SECONDS: Final = 20.0
STOP_TIMEOUT_SECONDS: Final = 5.0
RECEIPT_TIMEOUT_SECONDS: Final = 60.0
FREE_PORT_ATTEMPTS: Final = 3
DEV_ACCOUNT_BALANCE_WEI: Final = 10_000 * 10**18


class DevchainError(Exception):
    """The dev chain cannot start, deploy or write its file; the message says why."""


class TransactionReverted(DevchainError):
    """A transaction was mined with status 0."""


# -- anvil ------------------------------------------------------------------------------------


def anvil_binary() -> Path:
    """contracts/node_modules/.bin/anvil; DevchainError when it is not installed."""
    binary = CONTRACTS_DIR / "node_modules" / ".bin" / "anvil"
    if not binary.exists():
        raise DevchainError(
            f"anvil is not installed at {binary}; run `./dev` or `cd contracts && npm ci`"
        )
    return binary


@dataclass(frozen=True, slots=True)
class Anvil:
    """A running anvil: its JSON-RPC URL, chain id, funded dev keys (anvil's order) and process."""

    url: str
    chain_id: int
    private_keys: tuple[str, ...]
    process: asyncio.subprocess.Process

    def account(self, index: int) -> LocalAccount:
        """Dev account ``index`` (0 deploys and owns by default, 1 relays)."""
        account: LocalAccount = Account.from_key(self.private_keys[index])
        return account


@asynccontextmanager
async def running_anvil(
    *,
    port: int | None = None,
    chain_id: int = DEV_CHAIN_ID,
    block_time: float | None = None,
    host: str = DEFAULT_HOST,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    genesis_timestamp: int | None = None,
) -> AsyncIterator[Anvil]:
    """An anvil for the duration of the block, stopped on exit (SIGTERM, then SIGKILL).

    ``port=None`` picks a free port (retried if another process takes it first);
    ``block_time=None`` mines a block per transaction, otherwise one every ``block_time``
    seconds; ``genesis_timestamp`` starts the chain's clock in the past (a simulation of past
    days moves it forward). DevchainError when anvil is missing, exits (say, the port is in
    use) or does not answer ``eth_chainId`` within ``startup_timeout`` seconds.
    """
    if block_time is not None and not block_time > 0:
        raise ValueError(f"block_time must be positive, not {block_time}")
    binary = anvil_binary()
    with tempfile.TemporaryDirectory(prefix="gr8d-anvil-") as scratch:
        failures: list[str] = []
        for _ in range(1 if port is not None else FREE_PORT_ATTEMPTS):
            chosen = port if port is not None else _free_port(host)
            config_out = Path(scratch) / f"anvil-{chosen}.json"
            log_path = Path(scratch) / f"anvil-{chosen}.log"
            process = await _spawn(
                binary,
                host=host,
                port=chosen,
                chain_id=chain_id,
                block_time=block_time,
                genesis_timestamp=genesis_timestamp,
                config_out=config_out,
                log_path=log_path,
            )
            url = f"http://{_url_host(host)}:{chosen}"
            try:
                anvil = await _wait_until_ready(
                    process,
                    url=url,
                    chain_id=chain_id,
                    config_out=config_out,
                    startup_timeout=startup_timeout,
                )
                if anvil is None:
                    output = log_path.read_text(errors="replace").strip() or "no output"
                    failures.append(
                        f"port {chosen}: anvil exited with code {process.returncode}: {output}"
                    )
                    continue
                yield anvil
                return
            finally:
                await stop_process(process)
        raise DevchainError("anvil did not start: " + "; ".join(failures))


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT_SECONDS; returns once the process is reaped."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    except asyncio.CancelledError:  # cancelled again while stopping: leave nothing behind
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        raise


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):  # listening everywhere: reach it through the loopback
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


async def _spawn(
    binary: Path,
    *,
    host: str,
    port: int,
    chain_id: int,
    block_time: float | None,
    genesis_timestamp: int | None,
    config_out: Path,
    log_path: Path,
) -> asyncio.subprocess.Process:
    arguments = [
        "--silent",
        "--host",
        host,
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--config-out",
        str(config_out),
    ]
    if block_time is not None:
        arguments += ["--block-time", f"{block_time:g}"]
    if genesis_timestamp is not None:
        arguments += ["--timestamp", str(genesis_timestamp)]
    with log_path.open("wb") as output:  # anvil's own errors ("Address already in use")
        return await asyncio.create_subprocess_exec(
            str(binary),
            *arguments,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )


async def _wait_until_ready(
    process: asyncio.subprocess.Process,
    *,
    url: str,
    chain_id: int,
    config_out: Path,
    startup_timeout: float,
) -> Anvil | None:
    """The Anvil once it answers; None when it exited first; DevchainError on timeout.

    anvil writes ``config_out`` only once it has bound its port, so an answer from another
    node already listening on that port is never mistaken for this one.
    """
    w3 = AsyncWeb3(AsyncHTTPProvider(url, exception_retry_configuration=None))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + startup_timeout
    try:
        while loop.time() < deadline:
            if process.returncode is not None:
                return None
            keys = await asyncio.to_thread(_funded_keys, config_out)
            if keys is not None and await _answers(w3, chain_id):
                return Anvil(url=url, chain_id=chain_id, private_keys=keys, process=process)
            await asyncio.sleep(0.05)
    finally:
        await w3.provider.disconnect()
    raise DevchainError(f"anvil did not answer eth_chainId at {url} within {startup_timeout:g} s")


def _funded_keys(config_out: Path) -> tuple[str, ...] | None:
    """anvil's dev keys from its --config-out file; None until it has written it."""
    try:
        keys = json.loads(config_out.read_text())["private_keys"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return tuple(str(key) for key in keys)


async def _answers(w3: AsyncWeb3[AsyncHTTPProvider], chain_id: int) -> bool:
    try:
        return await w3.eth.chain_id == chain_id
    except Exception:  # not listening yet: connection refused, reset, ...
        return False


# -- transactions -----------------------------------------------------------------------------


@cache
def artifact(name: str) -> dict[str, Any]:
    """contracts/artifacts/<name>.json: {"abi", "bytecode", ...}."""
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except OSError as error:
        raise DevchainError(f"no contract artifact at {path}: {error.strerror}") from None
    return data


def contract_at(w3: AsyncWeb3[Any], artifact_name: str, address: str) -> Any:
    """The AsyncContract of a deployed artifact."""
    return w3.eth.contract(
        address=AsyncWeb3.to_checksum_address(address), abi=artifact(artifact_name)["abi"]
    )


GAS_HEADROOM_PERCENT = 25


async def _submit(w3: AsyncWeb3[Any], transaction: TxParams, sender: LocalAccount) -> HexBytes:
    signed = sender.sign_transaction(cast(dict[str, Any], transaction))
    return await w3.eth.send_raw_transaction(signed.raw_transaction)


async def _mined(
    w3: AsyncWeb3[Any], tx_hash: HexBytes, *, receipt_timeout: float = RECEIPT_TIMEOUT_SECONDS
) -> TxReceipt:
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=receipt_timeout)
    if receipt["status"] != 1:
        raise TransactionReverted(f"transaction {tx_hash.to_0x_hex()} reverted")
    return receipt


async def send_transaction(
    w3: AsyncWeb3[Any],
    transaction: TxParams,
    sender: LocalAccount,
    *,
    receipt_timeout: float = RECEIPT_TIMEOUT_SECONDS,
) -> TxReceipt:
    """Sign locally, send, wait for the receipt; TransactionReverted when it reverted."""
    transaction = cast(TxParams, {**transaction, "from": sender.address})
    if "gas" in transaction:
        # The estimate holds for the block it was made in: a stake in the same second as the
        # last one rewrites lastStakeAt with the value it has (cheap), one a second later
        # does not, and the estimate then runs out of gas.
        transaction["gas"] = int(transaction["gas"]) * (100 + GAS_HEADROOM_PERCENT) // 100
    if "nonce" not in transaction:
        transaction["nonce"] = await w3.eth.get_transaction_count(sender.address, "pending")
    return await _mined(w3, await _submit(w3, transaction, sender), receipt_timeout=receipt_timeout)


async def transact(
    w3: AsyncWeb3[Any], function: AsyncContractFunction, sender: LocalAccount
) -> TxReceipt:
    """Call a state-changing contract function as ``sender``; returns the receipt."""
    transaction = await function.build_transaction({"from": sender.address})
    return await send_transaction(w3, transaction, sender)


async def deploy_contract(
    w3: AsyncWeb3[Any], artifact_name: str, *constructor_args: Any, sender: LocalAccount
) -> ChecksumAddress:
    """Deploy contracts/artifacts/<artifact_name>.json; returns the contract's address."""
    compiled = artifact(artifact_name)
    factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
    transaction = await factory.constructor(*constructor_args).build_transaction(
        {"from": sender.address}
    )
    receipt = await send_transaction(w3, transaction, sender)
    address = receipt["contractAddress"]
    if address is None:
        raise DevchainError(f"deploying {artifact_name} created no contract")
    return address


# -- the protocol -----------------------------------------------------------------------------


async def deploy_protocol(
    w3: AsyncWeb3[Any],
    deployer_key: str,
    *,
    relayer: str | None = None,
    reviewer: str | None = None,
    operator: str | None = None,
    settler: str | None = None,
    platform_wallet: str | None = None,
    buyback_wallet: str | None = None,
    receipt_timeout: float = RECEIPT_TIMEOUT_SECONDS,
) -> Deployments:
    """Deploy the eight contracts of chain.md with ``deployer_key`` and name the dev roles.

    The deployer owns every Ownable contract (and so may mint both tokens). Each role left
    None is the deployer: DecisionHistory's ``relayer``, StrategyRegistry's ``reviewer``,
    SettlementManager's and FeeDistributor's ``operator``, FollowRegistry's ``settler``,
    FeeDistributor's platform and buyback wallets. SettlementManager's treasury is the
    FeeDistributor, which receives the fees it distributes.

    The deployments go out together (their addresses follow from the deployer's nonces, so a
    constructor can name a contract that is not mined yet), then the role setters: two rounds
    of receipts, which matters when anvil mines on an interval.
    """
    deployer: LocalAccount = Account.from_key(deployer_key)
    me = deployer.address

    def role(address: str | None) -> ChecksumAddress:
        return AsyncWeb3.to_checksum_address(address if address is not None else me)

    nonce = await w3.eth.get_transaction_count(me, "pending")
    planned: dict[str, ChecksumAddress] = {}
    for offset, name in enumerate(CONTRACT_NAMES):
        planned[name] = get_create_address(me, Nonce(nonce + offset))
    constructor_args: dict[str, Sequence[Any]] = {
        "G8DToken": (),
        "USDT0": (),
        "G8DStaking": (planned["G8DToken"],),
        "StrategyRegistry": (),
        "FollowRegistry": (planned["StrategyRegistry"],),
        "DecisionHistory": (role(relayer),),
        "SettlementManager": (planned["USDT0"], planned["FeeDistributor"]),
        "FeeDistributor": (planned["USDT0"], role(platform_wallet), role(buyback_wallet)),
    }
    sent: dict[str, HexBytes] = {}
    for offset, name in enumerate(CONTRACT_NAMES):
        compiled = artifact(name)
        factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
        transaction = await factory.constructor(*constructor_args[name]).build_transaction(
            {"from": me, "nonce": Nonce(nonce + offset)}
        )
        sent[name] = await _submit(w3, transaction, deployer)
    start_block: int | None = None
    for name, tx_hash in sent.items():
        receipt = await _mined(w3, tx_hash, receipt_timeout=receipt_timeout)
        if receipt["contractAddress"] != planned[name]:
            raise DevchainError(
                f"{name} was deployed at {receipt['contractAddress']}, not at {planned[name]}"
                " (another transaction from the deployer interleaved?)"
            )
        block = receipt["blockNumber"]
        start_block = block if start_block is None else min(start_block, block)
    assert start_block is not None

    def at(name: str) -> Any:
        return contract_at(w3, name, planned[name])

    setters: list[AsyncContractFunction] = [
        at("StrategyRegistry").functions.setReviewer(role(reviewer), True),
        at("FollowRegistry").functions.setSettler(role(settler)),
        at("SettlementManager").functions.setOperator(role(operator)),
        at("FeeDistributor").functions.setOperator(role(operator)),
    ]
    first_setter_nonce = nonce + len(CONTRACT_NAMES)
    role_hashes: list[HexBytes] = []
    for offset, setter in enumerate(setters):
        transaction = await setter.build_transaction(
            {"from": me, "nonce": Nonce(first_setter_nonce + offset)}
        )
        role_hashes.append(await _submit(w3, transaction, deployer))
    for tx_hash in role_hashes:
        await _mined(w3, tx_hash, receipt_timeout=receipt_timeout)

    return Deployments(
        chain_id=await w3.eth.chain_id, start_block=start_block, contracts=dict(planned)
    )


# -- gr8d devchain ----------------------------------------------------------------------------


async def run_devchain(
    settings: Settings,
    *,
    port: int | None = DEFAULT_PORT,
    deployments_file: Path,
    block_time: float | None = None,
    host: str = DEFAULT_HOST,
    chain_id: int = DEV_CHAIN_ID,
    genesis_timestamp: int | None = None,
    on_ready: Callable[[Anvil, Deployments], None] | None = None,
) -> None:
    """Start anvil, deploy, write ``deployments_file``, then run until cancelled.

    Dev roles: account 0 deploys and owns, reviews, operates and settles; the relayer is the
    address of RELAYER_PRIVATE_KEY when set (funded on the dev chain), else account 1.
    ``on_ready`` is called once the file is written. Cancelling stops anvil (SIGTERM, then
    SIGKILL); DevchainError when anvil cannot start or exits by itself.
    """
    await asyncio.to_thread(_refuse_foreign_file, deployments_file, chain_id)
    async with running_anvil(
        port=port,
        chain_id=chain_id,
        block_time=block_time,
        host=host,
        genesis_timestamp=genesis_timestamp,
    ) as anvil:
        w3 = AsyncWeb3(AsyncHTTPProvider(anvil.url))
        try:
            relayer = await _relayer_address(w3, anvil, settings)
            deployments = await deploy_protocol(
                w3,
                anvil.private_keys[0],
                relayer=relayer,
                receipt_timeout=_receipt_timeout(block_time),
            )
        finally:
            await w3.provider.disconnect()
        await asyncio.to_thread(deployments.write, deployments_file)
        log.info(
            "dev chain ready",
            rpc_url=anvil.url,
            chain_id=deployments.chain_id,
            deployments_file=str(deployments_file),
            start_block=deployments.start_block,
            owner=anvil.account(0).address,
            relayer=relayer,
            anvil_pid=anvil.process.pid,
            **deployments.contracts,
        )
        if on_ready is not None:
            on_ready(anvil, deployments)
        code = await anvil.process.wait()
        raise DevchainError(f"anvil exited by itself with code {code}")


def _receipt_timeout(block_time: float | None) -> float:
    return RECEIPT_TIMEOUT_SECONDS + 4 * (block_time or 0)


async def _relayer_address(
    w3: AsyncWeb3[AsyncHTTPProvider], anvil: Anvil, settings: Settings
) -> ChecksumAddress:
    if not settings.relayer_private_key:
        return anvil.account(1).address
    try:
        relayer: LocalAccount = Account.from_key(settings.relayer_private_key)
    except Exception as error:  # eth_account raises several types for a malformed key
        raise DevchainError(f"RELAYER_PRIVATE_KEY is not a private key: {error}") from None
    if await w3.eth.get_balance(relayer.address) == 0:
        await w3.provider.make_request(
            "anvil_setBalance", [relayer.address, hex(DEV_ACCOUNT_BALANCE_WEI)]
        )
    return relayer.address


def _refuse_foreign_file(path: Path, chain_id: int) -> None:
    """Never overwrite the deployments file of another chain (a production file, say)."""
    if not path.exists():
        return
    try:
        existing = Deployments.read(path)
    except DeploymentsFileError as error:
        raise DevchainError(
            f"refusing to overwrite {path}: {error}; delete it or pass another --deployments-file"
        ) from None
    if existing.chain_id != chain_id:
        raise DevchainError(
            f"refusing to overwrite {path}: it describes chain {existing.chain_id}, not the dev"
            f" chain {chain_id}; pass another --deployments-file"
        )
