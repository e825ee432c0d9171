"""Relaying the day roots to ``DecisionHistory.commitDay`` (settlement.md, step 8).

The daily settlement writes one ``day_commits`` row per (strategy, day). When a relayer key is
configured, ``commit_day_roots`` sends the rows of a day that are not on chain yet, signed
locally with that key, and records the transaction in the caller's session.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, cast

import structlog
from eth_abi.abi import decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractLogicError

from db.models import DayCommit, StrategyRegistration
from gr8d.config import ConfigError, Settings
from settlement.errors import SettlementError
from settlement.merkle import keccak, scaled_units

log = structlog.get_logger("gr8d.settlement")

RECEIPT_TIMEOUT_SECONDS: Final = 120.0

# The part of DecisionHistory's ABI the relayer uses (contracts/artifacts/DecisionHistory.json;
# a test checks that these entries equal the artifact's). Embedded because contracts/ is not
# shipped with the Python package.
DECISION_HISTORY_ABI: Final[list[dict[str, Any]]] = [
    {
        "inputs": [
            {"internalType": "uint256", "name": "strategyId", "type": "uint256"},
            {"internalType": "uint256", "name": "dayIndex", "type": "uint256"},
            {"internalType": "bytes32", "name": "rootHash", "type": "bytes32"},
            {
                "components": [
                    {"internalType": "uint256", "name": "orderCount", "type": "uint256"},
                    {"internalType": "uint256", "name": "totalVolume", "type": "uint256"},
                    {"internalType": "uint256", "name": "avgPrice", "type": "uint256"},
                ],
                "internalType": "struct DecisionHistory.BatchInfo",
                "name": "batchInfo",
                "type": "tuple",
            },
        ],
        "name": "commitDay",
        "outputs": [],
        "stateMutability": "nonpayable",
        "type": "function",
    },
    {
        "inputs": [
            {"internalType": "uint256", "name": "strategyId", "type": "uint256"},
            {"internalType": "uint256", "name": "dayIndex", "type": "uint256"},
        ],
        "name": "rootOf",
        "outputs": [{"internalType": "bytes32", "name": "", "type": "bytes32"}],
        "stateMutability": "view",
        "type": "function",
    },
    {
        "inputs": [
            {"internalType": "uint256", "name": "strategyId", "type": "uint256"},
            {"internalType": "uint256", "name": "dayIndex", "type": "uint256"},
            {"internalType": "bytes32", "name": "rootHash", "type": "bytes32"},
        ],
        "name": "DayAlreadyCommitted",
        "type": "error",
    },
    {"inputs": [], "name": "EmptyRoot", "type": "error"},
    {
        "inputs": [{"internalType": "address", "name": "caller", "type": "address"}],
        "name": "NotRelayer",
        "type": "error",
    },
]

_NO_ROOT: Final = bytes(32)


class OnchainCommitFailed(SettlementError):
    """commitDay was refused (reverted in the gas estimate or in the mined transaction)."""

    def __init__(
        self, *, onchain_strategy_id: int, day_index: int, reason: str, tx_hash: str | None = None
    ) -> None:
        where = f" in transaction {tx_hash}" if tx_hash else ""
        super().__init__(
            f"DecisionHistory.commitDay(strategy {onchain_strategy_id}, day {day_index}) "
            f"reverted{where}: {reason}"
        )
        self.onchain_strategy_id = onchain_strategy_id
        self.day_index = day_index
        self.reason = reason
        self.tx_hash = tx_hash


async def commit_day_roots(
    session: AsyncSession,
    *,
    w3: AsyncWeb3[Any],
    decision_history_address: str,
    relayer_private_key: str,
    day_index: int,
    receipt_timeout: float = RECEIPT_TIMEOUT_SECONDS,
) -> int:
    """Send the day's uncommitted roots to ``DecisionHistory.commitDay``; returns how many.

    Rows considered: ``day_commits`` of ``day_index`` with ``onchain_tx_hash IS NULL`` whose
    strategy has a ``strategy_registrations`` row with an ``onchain_strategy_id``; strategies
    not registered on chain are skipped. The rows are locked ``FOR UPDATE SKIP LOCKED`` so two
    replicas relaying the same day at once never send the same root twice (the second skips it).

    For each row, ``rootOf(onchainStrategyId, dayIndex)`` is read first:

    * zero: ``commitDay(onchainStrategyId, dayIndex, root, BatchInfo)`` is signed with the
      relayer key (nonce from the chain's pending count, gas estimated, EIP-1559 fees from the
      node), sent, and its receipt awaited; then the row gets ``onchain_tx_hash`` and
      ``committed_at`` (wall-clock UTC when the receipt arrived). A revert, whether in the gas
      estimate (decoded: ``NotRelayer``, ``DayAlreadyCommitted``, ``EmptyRoot``) or in the mined
      transaction, raises ``OnchainCommitFailed``; the transactions sent before it stay on chain,
      and if the caller rolls back, the next run finds their roots there (next case). A
      receipt that does not come within ``receipt_timeout`` seconds raises web3's
      ``TimeExhausted``; that transaction may still be mined, with the same recovery.
    * our root: already committed, typically by an earlier run whose database transaction was
      lost after the chain had mined it. Nothing is sent and the row is left untouched: the
      transaction hash is not known without scanning logs, and the indexer records it when it
      projects the ``DayCommitted`` event (chain.md). Logged, not counted.
    * another root: the chain and the database disagree about that day, which no retry can
      fix. Nothing is sent, the row is left untouched, and an error is logged with both roots;
      the other rows of the day still go on.

    ``BatchInfo``: ``orderCount`` = ``leaf_count``; ``totalVolume`` = ``total_volume`` × 10^8
    (exact, as the column has 8 decimals, the scale of the Merkle leaves); ``avgPrice`` = 0,
    meaning "not reported": ``day_commits`` does not keep the traded amount a price average
    needs, and one strategy's executions may span several symbols, whose prices do not average.

    Works in the caller's transaction and never commits.
    """
    relayer = Account.from_key(relayer_private_key)
    contract = w3.eth.contract(
        address=AsyncWeb3.to_checksum_address(decision_history_address), abi=DECISION_HISTORY_ABI
    )
    rows = (
        await session.execute(
            select(
                DayCommit.id,
                DayCommit.strategy_id,
                DayCommit.merkle_root,
                DayCommit.leaf_count,
                DayCommit.total_volume,
                StrategyRegistration.onchain_strategy_id,
            )
            .join(StrategyRegistration, StrategyRegistration.strategy_id == DayCommit.strategy_id)
            .where(
                DayCommit.day_index == day_index,
                DayCommit.onchain_tx_hash.is_(None),
                StrategyRegistration.onchain_strategy_id.is_not(None),
            )
            .order_by(StrategyRegistration.onchain_strategy_id)
            .with_for_update(of=DayCommit, skip_locked=True)
        )
    ).all()
    sent = 0
    for commit_id, strategy_id, merkle_root, leaf_count, total_volume, onchain_id in rows:
        assert onchain_id is not None  # filtered above
        root = _root_bytes(merkle_root)
        context = {
            "strategy_id": str(strategy_id),
            "onchain_strategy_id": onchain_id,
            "day_index": day_index,
            "root": merkle_root,
        }
        existing = bytes(await contract.functions.rootOf(onchain_id, day_index).call())
        if existing == root:
            log.info("day root already on chain; the indexer records its transaction", **context)
            continue
        if existing != _NO_ROOT:
            log.error("day root on chain differs from ours", onchain_root=_hex(existing), **context)
            continue
        tx_hash = await _send_commit(
            w3,
            contract,
            relayer,
            onchain_strategy_id=onchain_id,
            day_index=day_index,
            root=root,
            batch_info=(leaf_count, _volume_units(total_volume), 0),
            receipt_timeout=receipt_timeout,
            strategy_id=strategy_id,
        )
        await session.execute(
            update(DayCommit)
            .where(DayCommit.id == commit_id)
            .values(onchain_tx_hash=tx_hash, committed_at=dt.datetime.now(dt.UTC))
        )
        sent += 1
    return sent


async def unsent_day_indexes(
    session: AsyncSession, *, first_day_index: int, end_day_index: int
) -> list[int]:
    """The days in [first, end) with a root ``commit_day_roots`` would send (not on chain yet,
    its strategy registered on chain), oldest first."""
    rows = await session.scalars(
        select(DayCommit.day_index)
        .join(StrategyRegistration, StrategyRegistration.strategy_id == DayCommit.strategy_id)
        .where(
            DayCommit.day_index >= first_day_index,
            DayCommit.day_index < end_day_index,
            DayCommit.onchain_tx_hash.is_(None),
            StrategyRegistration.onchain_strategy_id.is_not(None),
        )
        .distinct()
        .order_by(DayCommit.day_index)
    )
    return list(rows)


async def _send_commit(
    w3: AsyncWeb3[Any],
    contract: AsyncContract,
    relayer: LocalAccount,
    *,
    onchain_strategy_id: int,
    day_index: int,
    root: bytes,
    batch_info: tuple[int, int, int],
    receipt_timeout: float,
    strategy_id: uuid.UUID,
) -> str:
    """Sign, send and await one commitDay; the transaction hash (0x-hex)."""
    function = contract.functions.commitDay(onchain_strategy_id, day_index, root, batch_info)
    sender = relayer.address
    try:
        transaction = await function.build_transaction(
            {"from": sender, "nonce": await w3.eth.get_transaction_count(sender, "pending")}
        )
    except ContractLogicError as error:
        raise OnchainCommitFailed(
            onchain_strategy_id=onchain_strategy_id,
            day_index=day_index,
            reason=_revert_reason(error),
        ) from error
    signed = relayer.sign_transaction(cast(dict[str, Any], transaction))
    tx_hash = _hex(bytes(await w3.eth.send_raw_transaction(signed.raw_transaction)))
    receipt = await w3.eth.wait_for_transaction_receipt(HexStr(tx_hash), timeout=receipt_timeout)
    if receipt["status"] != 1:
        raise OnchainCommitFailed(
            onchain_strategy_id=onchain_strategy_id,
            day_index=day_index,
            reason="the mined transaction failed (status 0)",
            tx_hash=tx_hash,
        )
    log.info(
        "day root committed on chain",
        strategy_id=str(strategy_id),
        onchain_strategy_id=onchain_strategy_id,
        day_index=day_index,
        root=_hex(root),
        order_count=batch_info[0],
        total_volume_units=batch_info[1],
        tx_hash=tx_hash,
        block_number=receipt["blockNumber"],
        gas_used=receipt["gasUsed"],
    )
    return tx_hash


def _root_bytes(merkle_root: str) -> bytes:
    raw = bytes.fromhex(merkle_root.removeprefix("0x"))
    if len(raw) != 32 or raw == _NO_ROOT:
        raise ValueError(f"not a Merkle root: {merkle_root!r}")
    return raw


def _volume_units(total_volume: Decimal) -> int:
    return scaled_units(total_volume, "total_volume")


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _error_signatures() -> dict[bytes, tuple[str, list[str], list[str]]]:
    errors = {}
    for entry in DECISION_HISTORY_ABI:
        if entry["type"] != "error":
            continue
        types = [parameter["type"] for parameter in entry["inputs"]]
        names = [parameter["name"] for parameter in entry["inputs"]]
        selector = keccak(f"{entry['name']}({','.join(types)})".encode())[:4]
        errors[selector] = (entry["name"], types, names)
    return errors


_ERRORS: Final = _error_signatures()


def _show(abi_type: str, value: Any) -> str:
    if abi_type == "address":
        return str(AsyncWeb3.to_checksum_address(value))
    return _hex(value) if isinstance(value, bytes) else str(value)


def _revert_reason(error: ContractLogicError) -> str:
    """A custom error of DecisionHistory as ``Name(arg=value, ...)``, else web3's message."""
    data = error.data if isinstance(error.data, str) else None
    if data is not None and data.startswith("0x") and len(data) >= 10:
        try:
            payload = bytes.fromhex(data[2:])
        except ValueError:
            payload = b""
        known = _ERRORS.get(payload[:4])
        if known is not None:
            name, types, names = known
            try:
                values = decode(types, payload[4:])
            except Exception:
                return f"{name}(…)"
            arguments = ", ".join(
                f"{n}={_show(t, v)}" for n, t, v in zip(names, types, values, strict=True)
            )
            return f"{name}({arguments})"
    return str(error.message or error)


@dataclass(frozen=True, slots=True)
class Relayer:
    """What relaying needs: a chain connection, the DecisionHistory address and the key."""

    w3: AsyncWeb3[Any]
    decision_history: str
    private_key: str = field(repr=False)

    async def close(self) -> None:
        await self.w3.provider.disconnect()


async def build_relayer(settings: Settings) -> Relayer | None:
    """The relayer when RELAYER_PRIVATE_KEY is set (None otherwise); ConfigError when the
    RPC or the deployments file needed with it is missing or disagrees."""
    if not settings.relayer_private_key:
        return None
    if not settings.rpc_urls:
        raise ConfigError("RPC_URLS", "required when RELAYER_PRIVATE_KEY is set")
    if not settings.deployments_file:
        raise ConfigError("DEPLOYMENTS_FILE", "required when RELAYER_PRIVATE_KEY is set")
    try:
        text = await asyncio.to_thread(Path(settings.deployments_file).read_text)
        deployments = json.loads(text)
        chain_id = int(deployments["chain_id"])
        address = deployments.get("contracts", {}).get("DecisionHistory")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError("DEPLOYMENTS_FILE", f"unreadable: {error}") from None
    if address is None:
        log.warning("no DecisionHistory in the deployments file; day roots stay off chain")
        return None
    w3 = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(settings.rpc_urls[0]))
    if await w3.eth.chain_id != chain_id:
        await w3.provider.disconnect()
        raise ConfigError("RPC_URLS", f"the node's chain id is not {chain_id} (deployments file)")
    return Relayer(w3, AsyncWeb3.to_checksum_address(address), settings.relayer_private_key)
