"""A private anvil for the tests that talk to a chain, and helpers to deploy and transact.

A thin layer over indexer/devchain.py (the code behind `gr8d devchain`), so the tests start and
deploy exactly as the dev chain does. ``local_chain()`` starts ``contracts/node_modules/.bin/anvil``
(installed by ``npm ci`` in contracts/) on a free port with chain id 10143 (Monad testnet), waits
until it answers ``eth_chainId``, and yields an ``AsyncWeb3`` plus anvil's funded dev accounts
(read from the ``--config-out`` file anvil writes, so nothing is hard-coded). The process is
stopped on exit. Without the binary the calling test is skipped with the reason.

Transactions are signed locally with eth_account (as the relayer does), not sent from anvil's
unlocked accounts, so the tests exercise the same path as production code.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract.async_contract import AsyncContractFunction
from web3.types import TxParams, TxReceipt

from indexer import devchain
from indexer.devchain import (
    ARTIFACTS_DIR,
    CONTRACTS_DIR,
    Anvil,
    Deployments,
    artifact,
    contract_at,
    deploy_protocol,
    running_anvil,
)

__all__ = [
    "ANVIL",
    "ARTIFACTS_DIR",
    "CHAIN_ID",
    "CONTRACTS_DIR",
    "LocalChain",
    "anvil_or_skip",
    "artifact",
    "contract_at",
    "deploy",
    "local_chain",
    "send",
    "transact",
]

ANVIL = CONTRACTS_DIR / "node_modules" / ".bin" / "anvil"
CHAIN_ID = devchain.DEV_CHAIN_ID


@dataclass(frozen=True, slots=True)
class LocalChain:
    url: str
    w3: AsyncWeb3[AsyncHTTPProvider]
    accounts: tuple[LocalAccount, ...]
    """anvil's funded dev accounts, in anvil's order (account 0 deploys by default)."""

    @property
    def private_keys(self) -> tuple[str, ...]:
        return tuple("0x" + account.key.hex().removeprefix("0x") for account in self.accounts)


def anvil_or_skip() -> None:
    """Skip the calling test when anvil is not installed."""
    try:
        devchain.anvil_binary()
    except devchain.DevchainError as error:
        pytest.skip(f"{error} (CI does)")


@contextlib.asynccontextmanager
async def local_chain(*, block_time: float | None = None) -> AsyncIterator[LocalChain]:
    """A fresh anvil for the duration of the block (skips the test when anvil is missing)."""
    anvil_or_skip()
    async with devchain.running_anvil(chain_id=CHAIN_ID, block_time=block_time) as anvil:
        w3 = AsyncWeb3(AsyncHTTPProvider(anvil.url))
        accounts = tuple(anvil.account(index) for index in range(len(anvil.private_keys)))
        try:
            yield LocalChain(url=anvil.url, w3=w3, accounts=accounts)
        finally:
            await w3.provider.disconnect()


async def send(
    w3: AsyncWeb3[AsyncHTTPProvider], transaction: TxParams, sender: LocalAccount
) -> TxReceipt:
    """Sign locally, send, wait for the receipt; AssertionError when it reverted."""
    try:
        return await devchain.send_transaction(w3, transaction, sender)
    except devchain.TransactionReverted as reverted:
        raise AssertionError(str(reverted)) from None


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
    try:
        return await devchain.deploy_contract(w3, artifact_name, *constructor_args, sender=sender)
    except devchain.TransactionReverted as reverted:
        raise AssertionError(str(reverted)) from None


@dataclass(frozen=True)
class Protocol:
    """The protocol as `gr8d devchain` deploys it on a private anvil."""

    anvil: Anvil
    w3: AsyncWeb3[AsyncHTTPProvider]
    deployments: Deployments

    def contract(self, name: str) -> Any:
        return contract_at(self.w3, name, self.deployments.contracts[name])

    def account(self, index: int) -> LocalAccount:
        return self.anvil.account(index)


@contextlib.asynccontextmanager
async def deployed_protocol() -> AsyncIterator[Protocol]:
    """A private anvil with the protocol deployed: account 0 deploys, account 1 relays."""
    anvil_or_skip()
    async with running_anvil() as anvil:
        w3 = AsyncWeb3(AsyncHTTPProvider(anvil.url))
        try:
            deployments = await deploy_protocol(
                w3, anvil.private_keys[0], relayer=anvil.account(1).address
            )
            yield Protocol(anvil=anvil, w3=w3, deployments=deployments)
        finally:
            await w3.provider.disconnect()


# -- driving the protocol: time, snapshots and the users' actions ------------------------------

G8D_WEI = 10**18
MIN_LOCK_SECONDS = 15 * 86_400
COOLDOWN_SECONDS = 7 * 86_400


async def rpc_call(w3: AsyncWeb3[AsyncHTTPProvider], method: str, *params: Any) -> Any:
    """A raw JSON-RPC call (anvil's evm_* and anvil_* methods); AssertionError on an error."""
    response = await w3.provider.make_request(method, list(params))
    assert "error" not in response, f"{method}: {response['error']}"
    return response["result"]


async def snapshot(w3: AsyncWeb3[AsyncHTTPProvider]) -> str:
    """anvil's evm_snapshot: an id to revert the whole chain to (blocks, state, time)."""
    return str(await rpc_call(w3, "evm_snapshot"))


async def revert(w3: AsyncWeb3[AsyncHTTPProvider], snapshot_id: str) -> None:
    """Back to the snapshot (which anvil then forgets: take a new one to revert again)."""
    assert await rpc_call(w3, "evm_revert", snapshot_id) is True


async def travel(w3: AsyncWeb3[AsyncHTTPProvider], seconds: int) -> None:
    """Mine a block `seconds` after the latest one. (Counted from the latest block, not the
    wall clock: anvil's blocks run ahead of the clock when several are mined a second.)"""
    latest = await w3.eth.get_block("latest")
    await rpc_call(w3, "evm_setNextBlockTimestamp", hex(latest["timestamp"] + seconds))
    await rpc_call(w3, "evm_mine")


async def mine(w3: AsyncWeb3[AsyncHTTPProvider], blocks: int) -> None:
    await rpc_call(w3, "anvil_mine", hex(blocks))


async def stake(chain: Protocol, account: LocalAccount, wei: int) -> TxReceipt:
    """The owner mints `wei` G8D to `account`, which approves and stakes it."""
    token, staking = chain.contract("G8DToken"), chain.contract("G8DStaking")
    await transact(chain.w3, token.functions.mint(account.address, wei), chain.account(0))
    await transact(chain.w3, token.functions.approve(staking.address, wei), account)
    return await transact(chain.w3, staking.functions.stake(wei), account)


async def unstake(chain: Protocol, account: LocalAccount, wei: int) -> TxReceipt:
    """After the lock: request the unstake, wait out the cooldown, withdraw (Withdrawn's
    receipt)."""
    staking = chain.contract("G8DStaking")
    await travel(chain.w3, MIN_LOCK_SECONDS)
    await transact(chain.w3, staking.functions.requestUnstake(wei), account)
    await travel(chain.w3, COOLDOWN_SECONDS)
    return await transact(chain.w3, staking.functions.withdraw(), account)


async def create_strategy(chain: Protocol, author: LocalAccount, uri: str) -> int:
    """createStrategy as `author`; returns the registry's id for it."""
    registry = chain.contract("StrategyRegistry")
    await transact(chain.w3, registry.functions.createStrategy(uri), author)
    return int(await registry.functions.strategyCount().call()) - 1


async def activate_strategy(chain: Protocol, author: LocalAccount, strategy_id: int) -> None:
    """Draft to Active: the author asks, the reviewer (account 0) verifies and activates."""
    registry, reviewer = chain.contract("StrategyRegistry"), chain.account(0)
    steps = (
        (registry.functions.requestVerification(strategy_id), author),
        (registry.functions.verifyStrategy(strategy_id, b"\x01" * 32, 90), reviewer),
        (registry.functions.requestActivation(strategy_id), author),
        (registry.functions.activateStrategy(strategy_id), reviewer),
    )
    for function, sender in steps:
        await transact(chain.w3, function, sender)


async def commit_day(chain: Protocol, strategy_id: int, day_index: int, root: str) -> TxReceipt:
    """DecisionHistory.commitDay by the relayer (account 1)."""
    history = chain.contract("DecisionHistory")
    function = history.functions.commitDay(
        strategy_id, day_index, bytes.fromhex(root.removeprefix("0x")), (1, 0, 0)
    )
    return await transact(chain.w3, function, chain.account(1))


async def create_settlement(
    chain: Protocol, user: LocalAccount, strategy_id: int, day_index: int, fee: int
) -> int:
    """SettlementManager.createSettlement by the operator (account 0); returns its id."""
    manager = chain.contract("SettlementManager")
    function = manager.functions.createSettlement(user.address, strategy_id, day_index, fee)
    await transact(chain.w3, function, chain.account(0))
    return int(await manager.functions.settlementCount().call())


async def pay_settlement(chain: Protocol, user: LocalAccount, settlement_id: int) -> TxReceipt:
    """The user gets the fee in USDT0 from the owner, approves and pays the settlement."""
    manager, usdt0 = chain.contract("SettlementManager"), chain.contract("USDT0")
    fee = int((await manager.functions.getSettlement(settlement_id).call())[4])
    await transact(chain.w3, usdt0.functions.mint(user.address, fee), chain.account(0))
    await transact(chain.w3, usdt0.functions.approve(manager.address, fee), user)
    return await transact(chain.w3, manager.functions.paySettlement(settlement_id), user)
