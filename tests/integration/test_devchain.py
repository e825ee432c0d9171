"""The dev chain's pieces (indexer/devchain.py): anvil, the protocol's deployment and its file.

Skipped when anvil is not installed (`npm ci` in contracts/).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.logs import DISCARD

from indexer.devchain import (
    CONTRACT_NAMES,
    DEV_CHAIN_ID,
    Deployments,
    DeploymentsFileError,
    DevchainError,
    contract_at,
    deploy_protocol,
    running_anvil,
)
from tests.chain import Protocol, anvil_or_skip, deployed_protocol, transact

G8D = 10**18
ZERO_ADDRESS = "0x" + "00" * 20


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def protocol() -> AsyncIterator[Protocol]:
    """The protocol as `gr8d devchain` deploys it: account 0 deploys, account 1 relays."""
    async with deployed_protocol() as deployed:
        yield deployed


async def test_every_contract_of_chain_md_is_deployed_with_code(protocol: Protocol) -> None:
    contracts = protocol.deployments.contracts
    assert list(contracts) == list(CONTRACT_NAMES)
    assert len(set(contracts.values())) == len(CONTRACT_NAMES)
    for name, address in contracts.items():
        assert AsyncWeb3.is_checksum_address(address), name
        assert len(await protocol.w3.eth.get_code(address)) > 0, f"{name} has no code"


async def test_the_chain_id_and_start_block_are_those_of_the_chain(protocol: Protocol) -> None:
    deployments = protocol.deployments
    assert deployments.chain_id == protocol.anvil.chain_id == DEV_CHAIN_ID
    assert await protocol.w3.eth.chain_id == DEV_CHAIN_ID
    # start_block is the first deployment's block: nothing of the protocol exists before it.
    first = deployments.contracts["G8DToken"]
    assert deployments.start_block >= 1
    assert await protocol.w3.eth.get_code(first, deployments.start_block - 1) == b""
    assert len(await protocol.w3.eth.get_code(first, deployments.start_block)) > 0


async def test_the_deployments_file_has_chain_md_shape_and_round_trips(
    protocol: Protocol, tmp_path: Path
) -> None:
    path = tmp_path / "nested" / "deployments.json"
    protocol.deployments.write(path)

    document = json.loads(path.read_text())
    assert set(document) == {"chain_id", "start_block", "contracts"}
    assert document["chain_id"] == DEV_CHAIN_ID
    assert document["start_block"] == protocol.deployments.start_block
    assert list(document["contracts"]) == list(CONTRACT_NAMES)
    assert all(AsyncWeb3.is_checksum_address(a) for a in document["contracts"].values())
    assert Deployments.read(path) == protocol.deployments
    assert Deployments.from_json(protocol.deployments.to_json()) == protocol.deployments
    assert [entry.name for entry in path.parent.iterdir()] == ["deployments.json"]  # no temp


async def test_the_dev_roles_are_set(protocol: Protocol) -> None:
    owner, relayer = protocol.account(0).address, protocol.account(1).address
    contracts = protocol.deployments.contracts
    for name in CONTRACT_NAMES:
        if name != "G8DStaking":  # the only contract without an owner
            assert await protocol.contract(name).functions.owner().call() == owner, name
    assert await protocol.contract("DecisionHistory").functions.relayer().call() == relayer
    assert await protocol.contract("StrategyRegistry").functions.isReviewer(owner).call()
    assert await protocol.contract("FollowRegistry").functions.settler().call() == owner
    settlements = protocol.contract("SettlementManager")
    fees = protocol.contract("FeeDistributor")
    assert await settlements.functions.operator().call() == owner
    assert await fees.functions.operator().call() == owner
    assert await settlements.functions.treasury().call() == contracts["FeeDistributor"]
    assert await settlements.functions.paymentToken().call() == contracts["USDT0"]
    assert await fees.functions.paymentToken().call() == contracts["USDT0"]
    assert await fees.functions.platformWallet().call() == owner
    staking = protocol.contract("G8DStaking")
    assert await staking.functions.token().call() == contracts["G8DToken"]
    follows = protocol.contract("FollowRegistry")
    assert await follows.functions.strategies().call() == contracts["StrategyRegistry"]


async def test_a_user_stakes_5000_g8d_and_reaches_tier_1(protocol: Protocol) -> None:
    w3, owner, user = protocol.w3, protocol.account(0), protocol.account(2)
    token, staking = protocol.contract("G8DToken"), protocol.contract("G8DStaking")
    await transact(w3, token.functions.mint(user.address, 10_000 * G8D), owner)
    await transact(w3, token.functions.approve(staking.address, 5_000 * G8D), user)

    receipt = await transact(w3, staking.functions.stake(5_000 * G8D), user)

    assert await staking.functions.tierOf(user.address).call() == 1
    assert await staking.functions.stakedOf(user.address).call() == 5_000 * G8D
    assert await token.functions.balanceOf(user.address).call() == 5_000 * G8D
    (staked,) = staking.events.Staked().process_receipt(receipt, errors=DISCARD)
    assert staked["args"]["user"] == user.address
    assert staked["args"]["amount"] == 5_000 * G8D
    assert receipt["blockNumber"] > protocol.deployments.start_block


async def test_deploying_on_an_interval_mined_chain_takes_two_rounds_of_blocks() -> None:
    anvil_or_skip()
    async with running_anvil(block_time=0.2) as anvil:
        w3 = AsyncWeb3(AsyncHTTPProvider(anvil.url))
        try:
            deployments = await asyncio.wait_for(deploy_protocol(w3, anvil.private_keys[0]), 10)
            head = await w3.eth.block_number
            for address in deployments.contracts.values():
                assert len(await w3.eth.get_code(address)) > 0
            relayer = contract_at(w3, "DecisionHistory", deployments.contracts["DecisionHistory"])
            assert await relayer.functions.relayer().call() == anvil.account(0).address
        finally:
            await w3.provider.disconnect()
    assert head - deployments.start_block <= 3


async def test_anvil_on_a_port_in_use_fails_with_a_clear_error() -> None:
    anvil_or_skip()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DevchainError, match=f"port {port}.*[Aa]ddress already in use"):
            async with running_anvil(port=port):
                pytest.fail("anvil started on a port in use")


async def test_anvil_stops_when_the_block_ends() -> None:
    anvil_or_skip()
    async with running_anvil() as anvil:
        process = anvil.process
        assert process.returncode is None
    assert process.returncode is not None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"start_block": 1, "contracts": {}}', '"chain_id" must be'),
        ('{"chain_id": true, "start_block": 1}', '"chain_id" must be'),
        ('{"chain_id": 1, "start_block": -1}', '"start_block" must be'),
        ('{"chain_id": 1, "start_block": 0, "contracts": []}', '"contracts" is not an object'),
        ('{"chain_id": 1, "start_block": 0, "contracts": {"G8DStakng": "0x"}}', "unknown"),
        ('{"chain_id": 1, "start_block": 0, "contracts": {"USDT0": "0x12"}}', "not an address"),
    ],
)
def test_a_malformed_deployments_file_is_refused_naming_the_file(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "deployments.json"
    path.write_text(content)
    with pytest.raises(DeploymentsFileError, match=reason) as refused:
        Deployments.read(path)
    assert str(path) in str(refused.value)


def test_a_contract_missing_from_the_file_is_allowed_and_addresses_are_checksummed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deployments.json"
    lower = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
    path.write_text(json.dumps({"chain_id": 143, "start_block": 7, "contracts": {"USDT0": lower}}))
    deployments = Deployments.read(path)
    assert deployments.chain_id == 143 and deployments.start_block == 7
    assert dict(deployments.contracts) == {"USDT0": AsyncWeb3.to_checksum_address(lower)}
    with pytest.raises(DeploymentsFileError, match="unreadable"):
        Deployments.read(tmp_path / "missing.json")
