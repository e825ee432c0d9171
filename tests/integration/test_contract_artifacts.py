"""The committed contract artifacts match the Solidity sources and the events of chain.md.

The first test recompiles contracts/src in memory with the pinned solc (`node compile.mjs
--check`); it needs `npm ci` to have been run in contracts/. The others read the committed
artifacts only: every event the indexer decodes must have the topic0 of the signature written in
the spec, byte for byte, with the same indexed parameters and names.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from eth_utils.abi import event_abi_to_log_topic

from indexer.deployments import CONTRACT_NAMES

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"

# The contracts of the deployments file (chain.md), each with an artifact of the same name.
CONTRACTS = CONTRACT_NAMES

# chain.md's events: (signature hashed into topic0, parameters as chain.md declares them).
CHAIN_EVENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "G8DStaking": (
        (
            "Staked(address,uint256,uint256)",
            "address indexed user, uint256 amount, uint256 timestamp",
        ),
        (
            "UnstakeRequested(address,uint256,uint256)",
            "address indexed user, uint256 amount, uint256 timestamp",
        ),
        (
            "Withdrawn(address,uint256,uint256)",
            "address indexed user, uint256 amount, uint256 timestamp",
        ),
    ),
    "StrategyRegistry": (
        (
            "StrategyCreated(uint256,address,string)",
            "uint256 indexed strategyId, address indexed author, string metadataURI",
        ),
        ("StrategyUpdated(uint256,string)", "uint256 indexed strategyId, string metadataURI"),
        ("VerificationRequested(uint256)", "uint256 indexed strategyId"),
        (
            "StrategyVerified(uint256,bytes32,uint256)",
            "uint256 indexed strategyId, bytes32 verificationHash, uint256 verificationScore",
        ),
        ("ActivationRequested(uint256)", "uint256 indexed strategyId"),
        ("StrategyActivated(uint256)", "uint256 indexed strategyId"),
        ("StrategySuspended(uint256)", "uint256 indexed strategyId"),
        ("StrategyRejected(uint256)", "uint256 indexed strategyId"),
    ),
    "FollowRegistry": (
        (
            "FollowStarted(address,uint256,uint256)",
            "address indexed user, uint256 indexed strategyId, uint256 dayIndex",
        ),
        ("FollowPaused(address,uint256)", "address indexed user, uint256 indexed strategyId"),
        ("FollowResumed(address,uint256)", "address indexed user, uint256 indexed strategyId"),
        ("FollowStopped(address,uint256)", "address indexed user, uint256 indexed strategyId"),
        (
            "LastSettledDayUpdated(address,uint256,uint256)",
            "address indexed user, uint256 indexed strategyId, uint256 dayIndex",
        ),
    ),
    "DecisionHistory": (
        (
            "DayCommitted(uint256,uint256,bytes32,(uint256,uint256,uint256))",
            "uint256 indexed strategyId, uint256 indexed dayIndex, bytes32 rootHash, "
            "BatchInfo batchInfo",
        ),
    ),
    "SettlementManager": (
        (
            "SettlementCreated(uint256,address,uint256,uint256,uint256)",
            "uint256 indexed settlementId, address indexed user, uint256 indexed strategyId, "
            "uint256 dayIndex, uint256 feeAmount",
        ),
        (
            "SettlementPaid(uint256,address,uint256)",
            "uint256 indexed settlementId, address indexed user, uint256 amount",
        ),
        ("SettlementExpired(uint256)", "uint256 indexed settlementId"),
    ),
    "FeeDistributor": (
        (
            "DailyFeesDistributed(uint256,uint256,uint256,uint256)",
            "uint256 indexed dayIndex, uint256 platformFee, uint256 buybackFee, uint256 authorFee",
        ),
        (
            "AuthorFeeDistributed(uint256,address,uint256,uint256)",
            "uint256 indexed strategyId, address indexed author, uint256 amount, uint256 dayIndex",
        ),
        (
            "AuthorFeesWithdrawn(uint256,address,uint256)",
            "uint256 indexed strategyId, address indexed author, uint256 amount",
        ),
    ),
}

# Events inherited from OpenZeppelin (ERC20, Ownable): allowed besides chain.md's, nothing else.
STANDARD_EVENTS = {
    "Transfer(address,address,uint256)": "address indexed from, address indexed to, uint256 value",
    "Approval(address,address,uint256)": (
        "address indexed owner, address indexed spender, uint256 value"
    ),
    "OwnershipTransferred(address,address)": (
        "address indexed previousOwner, address indexed newOwner"
    ),
}

CHAIN_EVENT_CASES = [
    pytest.param(contract, signature, declaration, id=f"{contract}.{signature.split('(')[0]}")
    for contract, events in CHAIN_EVENTS.items()
    for signature, declaration in events
]


@cache
def artifact(contract: str) -> dict[str, Any]:
    path = ARTIFACTS_DIR / f"{contract}.json"
    assert path.is_file(), f"{path} is missing: run `npm ci && npm run compile` in contracts/"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def events_of(contract: str) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in artifact(contract)["abi"] if entry["type"] == "event"}


def canonical_type(param: dict[str, Any]) -> str:
    """The ABI type as it appears in a signature: tuples expand to their components."""
    abi_type: str = param["type"]
    if abi_type.startswith("tuple"):
        inner = ",".join(canonical_type(component) for component in param["components"])
        return f"({inner}){abi_type.removeprefix('tuple')}"
    return abi_type


def signature_of(event: dict[str, Any]) -> str:
    return f"{event['name']}({','.join(canonical_type(p) for p in event['inputs'])})"


def declaration_of(event: dict[str, Any]) -> str:
    """The parameter list as Solidity declares it (structs by their own name)."""
    parts = []
    for param in event["inputs"]:
        if param["type"].startswith("tuple"):
            # internalType reads "struct DecisionHistory.BatchInfo".
            solidity_type = re.sub(r"^struct (\w+\.)?", "", param["internalType"])
        else:
            solidity_type = param["type"]
        indexed = " indexed" if param["indexed"] else ""
        parts.append(f"{solidity_type}{indexed} {param['name']}")
    return ", ".join(parts)


def test_committed_artifacts_match_a_fresh_compilation() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: cannot recompile contracts/ to compare the artifacts")
    result = subprocess.run(
        [node, "compile.mjs", "--check"],
        cwd=CONTRACTS_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        "contracts/artifacts differ from a compilation of contracts/src "
        "(run `npm ci && npm run compile` in contracts/ and commit artifacts/):\n"
        f"{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize("contract", CONTRACTS)
def test_every_deployed_contract_has_an_artifact(contract: str) -> None:
    data = artifact(contract)
    assert data["contractName"] == contract
    assert re.fullmatch(r"0x([0-9a-f]{2})+", data["bytecode"])
    assert re.fullmatch(r"0x([0-9a-f]{2})+", data["deployedBytecode"])
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", data["sourceHash"])
    assert data["solcVersion"].startswith("0.8.")


@pytest.mark.parametrize(("contract", "signature", "declaration"), CHAIN_EVENT_CASES)
def test_chain_md_event_is_in_the_abi_with_its_exact_topic(
    contract: str, signature: str, declaration: str
) -> None:
    name = signature.split("(")[0]
    events = events_of(contract)
    assert name in events, f"{contract} has no event {name}"
    event = events[name]
    assert not event["anonymous"]
    assert signature_of(event) == signature
    assert event_abi_to_log_topic(event) == keccak(text=signature)
    assert declaration_of(event) == declaration


@pytest.mark.parametrize("contract", CONTRACTS)
def test_abis_have_no_event_outside_chain_md(contract: str) -> None:
    allowed = {keccak(text=signature): signature for signature, _ in CHAIN_EVENTS.get(contract, ())}
    allowed |= {keccak(text=signature): signature for signature in STANDARD_EVENTS}
    for event in events_of(contract).values():
        topic = event_abi_to_log_topic(event)
        assert topic in allowed, f"{contract} emits {signature_of(event)}, which chain.md lacks"
        signature = allowed[topic]
        if signature in STANDARD_EVENTS:
            assert declaration_of(event) == STANDARD_EVENTS[signature]


def test_batch_info_is_the_struct_of_chain_md() -> None:
    (batch_info,) = (
        param
        for param in events_of("DecisionHistory")["DayCommitted"]["inputs"]
        if param["name"] == "batchInfo"
    )
    assert [(c["type"], c["name"]) for c in batch_info["components"]] == [
        ("uint256", "orderCount"),
        ("uint256", "totalVolume"),
        ("uint256", "avgPrice"),
    ]


def test_topics_are_distinct() -> None:
    signatures = [signature for events in CHAIN_EVENTS.values() for signature, _ in events]
    assert len({keccak(text=signature) for signature in signatures}) == len(signatures) == 23
