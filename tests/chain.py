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
