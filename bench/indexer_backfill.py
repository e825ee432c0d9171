"""Benchmark: the indexer's backfill of 100,000 protocol events, and its realtime latency.

On a fresh anvil with the protocol deployed, a helper contract (bench/BenchDriver.sol, compiled
here with contracts/' solc) lets ~200 accounts of its own call the protocol contracts, many
calls a transaction, so that N events (default 100,000) of all 23 kinds of chain.md come from
the deployed protocol addresses in ~100-event blocks. The database (a fresh one on
DATABASE_URL's server, else an embedded PostgreSQL) is seeded with the users, verified wallets,
PENDING registrations, settlements and day commits most of the events project to; a tenth of
the wallets, registrations and settlements are missing on purpose, so their events park.

Then, from an empty index:
  1. the ceiling: bare eth_getLogs over the same range, in the chunks the indexer asks
     (indexer/ranges.py's SpanTuner), sequential, with the JSON parsed but nothing decoded;
  2. `gr8d indexer --until-block head` as a subprocess (LOG_LEVEL=WARNING): events/s,
     blocks/s, its peak RSS (VmHWM) and CPU time;
  3. the same backfill in-process on a second fresh database, with timers on each part
     (fetch, headers, decode, write, project, commit; SQL per statement kind), then the raw
     write's floor: the indexed rows stored again by one binary COPY into an empty twin of
     chain_events (its indexes and CHECKs), nothing decoded or projected;
  4. realtime: anvil mining every 0.4 s, `gr8d indexer` following, a driver transaction with a
     few events in each block; per block, the time from the bench seeing the block (eth_blockNumber
     polled every 20 ms) to the indexer's cursor reaching it (indexer_cursors polled every
     20 ms; the cursor commits with the block's rows).

    ./dev bench indexer_backfill [--events N --per-block K --realtime-blocks B --profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import io
import json
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiohttp
from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount
from sha3 import keccak_256
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.types import Nonce
from web3.utils import get_create_address

from bench.statement_clock import StatementClock
from db import admin, migrate
from db.engine import create_engine, create_session_factory
from db.models import DayCommit, Settlement, Strategy, StrategyRegistration, User, Wallet
from db.uow import UnitOfWork
from gr8d.config import load_settings
from gr8d.embedded import servers_for
from gr8d.logging import configure_logging
from indexer import follower as follower_module
from indexer import projections, service
from indexer.cli import favour_the_event_loop
from indexer.devchain import CONTRACTS_DIR, Anvil, Deployments, deploy_protocol, running_anvil
from indexer.events import event_table
from indexer.follower import ChainFollower
from indexer.ranges import RangePolicy, SpanTuner
from indexer.rpc import JsonRpc

BENCH_DIR = Path(__file__).resolve().parent
DRIVER_SOURCE = BENCH_DIR / "BenchDriver.sol"
G8D = 10**18
USDT0 = 10**6
DAY_SECONDS = 86_400
MAX_UINT = 2**256 - 1
TX_GAS = 25_000_000
BLOCK_GAS_LIMIT = 1_000_000_000
GAS_PRICE = 10**10
AUTHORS = 20
USERS = 180
ACTORS_PER_TX = 50
SETUP_CALLS_PER_TX = 100
POLL_SECONDS = 0.02


# --- compiling and encoding ------------------------------------------------------------------

COMPILE_SCRIPT = """
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
const solc = createRequire(process.cwd() + '/')('solc')
const input = {
  language: 'Solidity',
  sources: { 'BenchDriver.sol': { content: readFileSync(process.argv[1], 'utf8') } },
  settings: { evmVersion: 'cancun', optimizer: { enabled: true, runs: 200 },
              outputSelection: { '*': { '*': ['evm.bytecode.object'] } } }
}
const output = JSON.parse(solc.compile(JSON.stringify(input)))
const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
if (errors.length) { for (const e of errors) console.error(e.formattedMessage); process.exit(1) }
const driver = output.contracts['BenchDriver.sol'].BenchDriver
process.stdout.write('0x' + driver.evm.bytecode.object)
"""


def compile_driver() -> bytes:
    """BenchDriver's creation code, compiled by the solc of contracts/node_modules."""
    found = subprocess.run(
        ["node", "--input-type=module", "-e", COMPILE_SCRIPT, str(DRIVER_SOURCE)],
        cwd=CONTRACTS_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise SystemExit(f"compiling {DRIVER_SOURCE} failed: {found.stderr.strip()}")
    return bytes.fromhex(found.stdout.strip().removeprefix("0x"))


@functools.cache
def _function(signature: str) -> tuple[bytes, list[str]]:
    selector = keccak_256(signature.encode()).digest()[:4]
    inside = signature[signature.index("(") + 1 : -1]
    types, depth, current = [], 0, ""
    for char in inside:  # split on top-level commas only (the struct of commitDay)
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            types.append(current)
            current = ""
        else:
            current += char
    if current:
        types.append(current)
    return selector, types


def call_data(signature: str, *args: Any) -> bytes:
    selector, types = _function(signature)
    return selector + encode(types, list(args))


# --- the traffic -----------------------------------------------------------------------------

T = TypeVar("T")


class Pool(Generic[T]):
    """A set with O(1) add, remove and random choice."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._where: dict[T, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T) -> None:
        if item not in self._where:
            self._where[item] = len(self._items)
            self._items.append(item)

    def discard(self, item: T) -> None:
        at = self._where.pop(item, None)
        if at is None:
            return
        last = self._items.pop()
        if at < len(self._items):
            self._items[at] = last
            self._where[last] = at

    def choice(self, rng: random.Random) -> T:
        return self._items[rng.randrange(len(self._items))]


@dataclass(frozen=True, slots=True)
class Call:
    actor: int
    contract: str
    data: bytes


@dataclass
class Block:
    calls: list[Call] = field(default_factory=list)
    advance_seconds: int = 0  # evm_increaseTime before the block is mined


@dataclass(frozen=True, slots=True)
class PlannedSettlement:
    onchain_id: int
    user: int
    strategy: int
    day: int
    fee: int


@dataclass
class Plan:
    """What the chain will hold that the database links to: seeded before indexing."""

    strategies: dict[int, tuple[int, str]] = field(default_factory=dict)  # id: (author, uri)
    settlements: list[PlannedSettlement] = field(default_factory=list)
    commits: list[tuple[int, int, bytes]] = field(default_factory=list)  # strategy, day, root


# The share of each family in the traffic (unstaking comes in cycles, see Traffic.block).
FAMILIES = (
    ("stake", 24),
    ("registry", 15),
    ("follow", 24),
    ("commit", 10),
    ("settlement", 15),
    ("fees", 7),
)
ADVANCEABLE = ("DRAFT", "VERIFICATION_REQUESTED", "VERIFIED", "ACTIVATION_REQUESTED", "SUSPENDED")


class Traffic:
    """A valid stream of protocol calls by the driver's actors, all 23 events of chain.md.

    Actor 0 is the operator (reviewer, relayer, settler, fee operator, token owner), actors
    1..AUTHORS create strategies, the rest stake, follow and pay settlements. The state kept
    here mirrors the contracts', so no call reverts.
    """

    def __init__(
        self, rng: random.Random, actor_addresses: Sequence[str], *, unstake_every: int | None
    ) -> None:
        self.rng = rng
        self.actor_addresses = list(actor_addresses)
        self.authors = list(range(1, 1 + AUTHORS))
        self.users = list(range(1 + AUTHORS, 1 + AUTHORS + USERS))
        self.plan = Plan()
        self.unstake_every = unstake_every
        self.blocks_made = 0
        self.status: dict[int, str] = {}
        self.by_status: dict[str, Pool[int]] = defaultdict(Pool)
        self.follows: dict[tuple[int, int], str] = {}
        self.pairs: dict[str, Pool[tuple[int, int]]] = defaultdict(Pool)
        self.settled_day: dict[tuple[int, int], int] = {}
        self.next_commit_day: dict[int, int] = {}
        self.next_settlement_day: dict[tuple[int, int], int] = {}
        self.pending_settlements: Pool[PlannedSettlement] = Pool()
        self.fee_day = 20_000
        self.author_pool = 0
        self.author_balances: Pool[tuple[int, int]] = Pool()
        self.staked: dict[int, int] = defaultdict(int)
        self.unstaking: list[int] = []
        names, weights = zip(*FAMILIES, strict=True)
        self.families: list[Callable[[], Call | None]] = [getattr(self, n) for n in names]
        self.weights = list(weights)

    # blocks

    def blocks(self, events: int, per_block: int) -> Iterator[Block]:
        made = 0
        while made < events:
            block = self.block(min(per_block, events - made))
            made += len(block.calls)
            yield block

    def block(self, size: int) -> Block:
        """`size` calls; every `unstake_every` blocks the clock jumps 16 days and a cohort asks
        to unstake, half a cycle later it jumps 8 days and the cohort withdraws (first in the
        block: a stake of the same block would restart the lock)."""
        block = Block()
        cycle = self.unstake_every
        if cycle and self.blocks_made % cycle == 0 and self.blocks_made:
            block.advance_seconds = 16 * DAY_SECONDS
            stakers = [user for user, wei in self.staked.items() if wei >= 3]
            self.unstaking = self.rng.sample(stakers, min(len(stakers), 60, size))
            for user in self.unstaking:
                block.calls.append(self.request_unstake(user))
        elif cycle and self.blocks_made % cycle == cycle // 2 and self.unstaking:
            block.advance_seconds = 8 * DAY_SECONDS
            block.calls += [self.withdraw(user) for user in self.unstaking[:size]]
            self.unstaking = []
        while len(block.calls) < size:
            family = self.rng.choices(self.families, self.weights)[0]
            block.calls.append(family() or self.stake())
        self.blocks_made += 1
        return block

    # staking

    def stake(self) -> Call:
        user = self.rng.choice(self.users)
        wei = self.rng.randrange(10, 5_000) * G8D
        self.staked[user] += wei
        return Call(user, "G8DStaking", call_data("stake(uint256)", wei))

    def request_unstake(self, user: int) -> Call:
        wei = self.staked[user] // 3
        self.staked[user] -= wei
        return Call(user, "G8DStaking", call_data("requestUnstake(uint256)", wei))

    def withdraw(self, user: int) -> Call:
        return Call(user, "G8DStaking", call_data("withdraw()"))

    # the registry

    def _move(self, strategy: int, status: str) -> None:
        self.by_status[self.status[strategy]].discard(strategy)
        self.status[strategy] = status
        self.by_status[status].add(strategy)

    def registry(self) -> Call:
        rng = self.rng
        advanceable = [s for s in ADVANCEABLE if len(self.by_status[s])]
        if advanceable and rng.random() < 0.8:
            return self._advance(self.by_status[rng.choice(advanceable)].choice(rng))
        if len(self.by_status["ACTIVE"]) and rng.random() < 0.05:
            strategy = self.by_status["ACTIVE"].choice(rng)
            self._move(strategy, "SUSPENDED")
            return self._registry(0, "suspendStrategy(uint256)", strategy)
        strategy, author = len(self.status), rng.choice(self.authors)
        uri = f"ipfs://bench/strategy-{strategy}"
        self.plan.strategies[strategy] = (author, uri)
        self.status[strategy] = "DRAFT"
        self.by_status["DRAFT"].add(strategy)
        return Call(author, "StrategyRegistry", call_data("createStrategy(string)", uri))

    def _registry(self, actor: int, signature: str, *args: Any) -> Call:
        return Call(actor, "StrategyRegistry", call_data(signature, *args))

    def _advance(self, strategy: int) -> Call:
        author, status = self.plan.strategies[strategy][0], self.status[strategy]
        chance = self.rng.random()
        if status == "DRAFT" and chance < 0.1:
            uri = f"ipfs://bench/strategy-{strategy}/v{self.rng.randrange(1000)}"
            return self._registry(author, "updateStrategy(uint256,string)", strategy, uri)
        if status == "DRAFT":
            self._move(strategy, "VERIFICATION_REQUESTED")
            return self._registry(author, "requestVerification(uint256)", strategy)
        if status in ("VERIFICATION_REQUESTED", "ACTIVATION_REQUESTED") and chance < 0.05:
            self._move(strategy, "REJECTED")
            return self._registry(0, "rejectStrategy(uint256)", strategy)
        if status == "VERIFICATION_REQUESTED":
            self._move(strategy, "VERIFIED")
            score = self.rng.randrange(101)
            digest = self.rng.randbytes(32)
            return self._registry(
                0, "verifyStrategy(uint256,bytes32,uint256)", strategy, digest, score
            )
        if status == "VERIFIED":
            self._move(strategy, "ACTIVATION_REQUESTED")
            return self._registry(author, "requestActivation(uint256)", strategy)
        self._move(strategy, "ACTIVE")  # from ACTIVATION_REQUESTED or SUSPENDED
        return self._registry(0, "activateStrategy(uint256)", strategy)

    # follows

    def _set_follow(self, pair: tuple[int, int], state: str) -> None:
        old = self.follows.get(pair)
        if old is not None:
            self.pairs[old].discard(pair)
        self.follows[pair] = state
        self.pairs[state].add(pair)

    def follow(self) -> Call | None:
        rng, chance = self.rng, self.rng.random()
        active = self.by_status["ACTIVE"]
        if chance < 0.4 and len(active):
            pair = (rng.choice(self.users), active.choice(rng))
            if self.follows.get(pair) in (None, "STOPPED"):
                self._set_follow(pair, "ACTIVE")
                return self._follow_call(pair[0], "follow(uint256)", pair[1])
        elif chance < 0.55 and len(self.pairs["ACTIVE"]):
            pair = self.pairs["ACTIVE"].choice(rng)
            self._set_follow(pair, "PAUSED")
            return self._follow_call(pair[0], "pause(uint256)", pair[1])
        elif chance < 0.68 and len(self.pairs["PAUSED"]):
            pair = self.pairs["PAUSED"].choice(rng)
            if self.status[pair[1]] == "ACTIVE":
                self._set_follow(pair, "ACTIVE")
                return self._follow_call(pair[0], "resume(uint256)", pair[1])
        elif chance < 0.78 and len(self.pairs["ACTIVE"]):
            pair = self.pairs["ACTIVE"].choice(rng)
            self._set_follow(pair, "STOPPED")
            return self._follow_call(pair[0], "stop(uint256)", pair[1])
        elif len(self.follows):
            state = rng.choice([s for s in ("ACTIVE", "PAUSED", "STOPPED") if len(self.pairs[s])])
            user, strategy = self.pairs[state].choice(rng)
            day = self.settled_day.get((user, strategy), 20_000) + rng.randrange(1, 3)
            self.settled_day[(user, strategy)] = day
            return Call(
                0,
                "FollowRegistry",
                call_data(
                    "setLastSettledDay(address,uint256,uint256)", self.address(user), strategy, day
                ),
            )
        return None

    def _follow_call(self, user: int, signature: str, strategy: int) -> Call:
        return Call(user, "FollowRegistry", call_data(signature, strategy))

    # decision history, settlements, fees

    def commit(self) -> Call | None:
        if not self.status:
            return None
        strategy = self.rng.randrange(len(self.status))
        day = self.next_commit_day.get(strategy, 20_000)
        self.next_commit_day[strategy] = day + 1
        root = self.rng.randbytes(31) + b"\x01"
        self.plan.commits.append((strategy, day, root))
        batch = (self.rng.randrange(1, 500), self.rng.randrange(10**12), self.rng.randrange(10**9))
        signature = "commitDay(uint256,uint256,bytes32,(uint256,uint256,uint256))"
        return Call(0, "DecisionHistory", call_data(signature, strategy, day, root, batch))

    def settlement(self) -> Call | None:
        rng, chance = self.rng, self.rng.random()
        if chance < 0.5 or not len(self.pending_settlements):
            if not self.status:
                return None
            user, strategy = rng.choice(self.users), rng.randrange(len(self.status))
            day = self.next_settlement_day.get((user, strategy), 20_000)
            self.next_settlement_day[(user, strategy)] = day + 1
            planned = PlannedSettlement(
                len(self.plan.settlements) + 1, user, strategy, day, rng.randrange(1, 50) * USDT0
            )
            self.plan.settlements.append(planned)
            self.pending_settlements.add(planned)
            signature = "createSettlement(address,uint256,uint256,uint256)"
            address = self.address(user)
            return Call(
                0, "SettlementManager", call_data(signature, address, strategy, day, planned.fee)
            )
        planned = self.pending_settlements.choice(rng)
        self.pending_settlements.discard(planned)
        if chance < 0.85:
            return Call(
                planned.user,
                "SettlementManager",
                call_data("paySettlement(uint256)", planned.onchain_id),
            )
        return Call(
            0, "SettlementManager", call_data("expireSettlement(uint256)", planned.onchain_id)
        )

    def fees(self) -> Call | None:
        rng, chance = self.rng, self.rng.random()
        amount = rng.randrange(1, 1_000) * USDT0
        if chance < 0.1 or self.author_pool < amount:
            self.fee_day += 1
            fees = (rng.randrange(1, 10**9), rng.randrange(1, 10**9), 10**12)
            self.author_pool += fees[2]
            return Call(
                0,
                "FeeDistributor",
                call_data(
                    "distributeDailyFees(uint256,uint256,uint256,uint256)", self.fee_day, *fees
                ),
            )
        if (chance < 0.8 or not len(self.author_balances)) and self.status:
            strategy = rng.randrange(len(self.status))
            author = self.plan.strategies[strategy][0]
            self.author_pool -= amount
            self.author_balances.add((strategy, author))
            signature = "distributeAuthorFee(uint256,address,uint256,uint256)"
            address = self.address(author)
            return Call(
                0, "FeeDistributor", call_data(signature, strategy, address, amount, self.fee_day)
            )
        if not len(self.author_balances):
            return None
        strategy, author = self.author_balances.choice(rng)
        self.author_balances.discard((strategy, author))
        return Call(author, "FeeDistributor", call_data("withdrawAuthorFees(uint256)", strategy))

    def address(self, actor: int) -> str:
        return self.actor_addresses[actor]


def setup_calls(addresses: Sequence[str], contracts: dict[str, str]) -> list[Call]:
    """The operator funds the users (G8D, USDT0) and the FeeDistributor (USDT0); each user
    approves staking and the settlement manager once."""
    calls = [
        Call(0, "USDT0", call_data("mint(address,uint256)", contracts["FeeDistributor"], 10**30))
    ]
    for user in range(1 + AUTHORS, 1 + AUTHORS + USERS):
        calls += [
            Call(0, "G8DToken", call_data("mint(address,uint256)", addresses[user], 10**12 * G8D)),
            Call(0, "USDT0", call_data("mint(address,uint256)", addresses[user], 10**15 * USDT0)),
            Call(
                user,
                "G8DToken",
                call_data("approve(address,uint256)", contracts["G8DStaking"], MAX_UINT),
            ),
            Call(
                user,
                "USDT0",
                call_data("approve(address,uint256)", contracts["SettlementManager"], MAX_UINT),
            ),
        ]
    return calls


# --- the chain -------------------------------------------------------------------------------


class Node:
    """Raw JSON-RPC to anvil, and the transactions of the deployer (signed here)."""

    def __init__(self, http: aiohttp.ClientSession, anvil: Anvil) -> None:
        self.http, self.url = http, anvil.url
        self.owner: LocalAccount = anvil.account(0)
        self.nonce = 0
        self.ids = 0

    async def call(self, method: str, *params: Any) -> Any:
        self.ids += 1
        request = {"jsonrpc": "2.0", "id": self.ids, "method": method, "params": list(params)}
        async with self.http.post(self.url, json=request) as response:
            answer = await response.json(content_type=None)
        if answer.get("error"):
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    async def head(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def send(self, to: str | None, data: bytes, chain_id: int) -> str:
        transaction: dict[str, Any] = {
            "data": data,
            "gas": TX_GAS,
            "maxFeePerGas": GAS_PRICE,
            "maxPriorityFeePerGas": 1,
            "nonce": self.nonce,
            "chainId": chain_id,
            "value": 0,
        }
        if to is not None:
            transaction["to"] = to
        signed = self.owner.sign_transaction(transaction)
        self.nonce += 1
        tx_hash: str = await self.call("eth_sendRawTransaction", signed.raw_transaction.to_0x_hex())
        return tx_hash

    async def receipt(self, tx_hash: str) -> dict[str, Any]:
        while True:
            found = await self.call("eth_getTransactionReceipt", tx_hash)
            if found is not None:
                if found["status"] != "0x1":
                    raise RuntimeError(f"transaction {tx_hash} reverted")
                return dict(found)
            await asyncio.sleep(0.05)


@dataclass
class Driver:
    node: Node
    address: str
    actors: list[str]
    contracts: dict[str, str]
    chain_id: int

    def transaction(self, calls: Sequence[Call]) -> bytes:
        return call_data(
            "run(uint256[],address[],bytes[])",
            [call.actor for call in calls],
            [self.contracts[call.contract] for call in calls],
            [call.data for call in calls],
        )

    async def send(self, calls: Sequence[Call]) -> list[str]:
        hashes = []
        for first in range(0, len(calls), SETUP_CALLS_PER_TX):
            chunk = calls[first : first + SETUP_CALLS_PER_TX]
            hashes.append(
                await self.node.send(self.address, self.transaction(chunk), self.chain_id)
            )
        return hashes


async def set_up_driver(node: Node, deployments: Deployments, bytecode: bytes) -> Driver:
    """Deploy the driver and its actors; make actor 0 the protocol's operator in every role;
    fund and approve. Works with automine and with interval mining (waits for receipts)."""
    chain_id = deployments.chain_id
    await node.call("evm_setBlockGasLimit", hex(BLOCK_GAS_LIMIT))
    node.nonce = int(await node.call("eth_getTransactionCount", node.owner.address, "pending"), 16)
    driver_address = get_create_address(node.owner.address, Nonce(node.nonce))
    await node.receipt(await node.send(None, bytecode, chain_id))
    actors_total = 1 + AUTHORS + USERS
    hashes = []
    for first in range(0, actors_total, ACTORS_PER_TX):
        count = min(ACTORS_PER_TX, actors_total - first)
        hashes.append(
            await node.send(driver_address, call_data("addActors(uint256)", count), chain_id)
        )
    # A contract's first CREATE uses nonce 1 (EIP-161).
    actors = [str(get_create_address(driver_address, Nonce(1 + n))) for n in range(actors_total)]
    contracts = {name: str(address) for name, address in deployments.contracts.items()}
    operator = actors[0]
    roles = [
        ("StrategyRegistry", call_data("setReviewer(address,bool)", operator, True)),
        ("FollowRegistry", call_data("setSettler(address)", operator)),
        ("SettlementManager", call_data("setOperator(address)", operator)),
        ("FeeDistributor", call_data("setOperator(address)", operator)),
        ("DecisionHistory", call_data("setRelayer(address)", operator)),
        ("G8DToken", call_data("transferOwnership(address)", operator)),
        ("USDT0", call_data("transferOwnership(address)", operator)),
    ]
    for name, data in roles:
        hashes.append(await node.send(contracts[name], data, chain_id))
    for tx_hash in hashes:
        await node.receipt(tx_hash)
    driver = Driver(node, driver_address, actors, contracts, chain_id)
    for tx_hash in await driver.send(setup_calls(actors, contracts)):
        await node.receipt(tx_hash)
    return driver


async def emit_blocks(driver: Driver, blocks: Iterator[Block], calls_per_tx: int) -> Counter[str]:
    """Each block: its transactions sent with automine off, then evm_mine; every receipt is
    checked. Returns the calls made, by function."""
    node, made = driver.node, Counter[str]()
    await node.call("evm_setAutomine", False)
    try:
        for block in blocks:
            if block.advance_seconds:
                await node.call("evm_increaseTime", hex(block.advance_seconds))
            sent = []
            for first in range(0, len(block.calls), calls_per_tx):
                chunk = block.calls[first : first + calls_per_tx]
                sent.append(
                    await node.send(driver.address, driver.transaction(chunk), driver.chain_id)
                )
            await node.call("evm_mine")
            receipts = await node.call("eth_getBlockReceipts", "latest")
            mined = {r["transactionHash"]: r["status"] for r in receipts}
            for tx_hash in sent:
                if mined.get(tx_hash) != "0x1":
                    raise RuntimeError(f"driver transaction {tx_hash} reverted or was not mined")
            made.update(call.data[:4].hex() for call in block.calls)
    finally:
        await node.call("evm_setAutomine", True)
    return made


# --- the database ----------------------------------------------------------------------------

UNVERIFIED_EVERY = 10  # every 10th user's wallet is not verified: its events park
UNREGISTERED_EVERY = 10  # every 10th strategy has no registration: its events park
UNSEEDED_SETTLEMENT_EVERY = 8  # every 8th settlement row is missing: its events park


def _id(kind: str, number: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"gr8d-bench:{kind}-{number}")


def verified(actor: int) -> bool:
    return actor <= AUTHORS or actor % UNVERIFIED_EVERY != 0


def registered(strategy: int) -> bool:
    return strategy % UNREGISTERED_EVERY != UNREGISTERED_EVERY - 1


async def seed_database(engine: AsyncEngine, plan: Plan, actors: Sequence[str]) -> None:
    """Users with wallets for every actor but the operator, the PENDING registrations, the
    settlements and the day commits the chain's events will link to."""
    people = range(1, len(actors))
    strategies = [s for s in sorted(plan.strategies) if registered(s)]
    author_of = {s: plan.strategies[s][0] for s in strategies}
    settlements = [
        s
        for s in plan.settlements
        if verified(s.user) and registered(s.strategy) and s.onchain_id % UNSEEDED_SETTLEMENT_EVERY
    ]
    async with engine.begin() as connection:
        await connection.execute(
            insert(User),
            [
                {"id": _id("user", a), "email": f"bench-{a}@example.com", "hashed_password": "x"}
                for a in people
            ],
        )
        await connection.execute(
            insert(Wallet),
            [
                {
                    "user_id": _id("user", a),
                    "address": actors[a].lower(),
                    "is_verified": verified(a),
                }
                for a in people
            ],
        )
        if strategies:
            await connection.execute(
                insert(Strategy),
                [
                    {
                        "id": _id("strategy", s),
                        "user_id": _id("user", author_of[s]),
                        "name": f"bench strategy {s}",
                        "definition": {"nodes": [], "edges": []},
                    }
                    for s in strategies
                ],
            )
            await connection.execute(
                insert(StrategyRegistration),
                [
                    {
                        "strategy_id": _id("strategy", s),
                        "author_id": _id("user", author_of[s]),
                        "metadata_uri": plan.strategies[s][1],
                    }
                    for s in strategies
                ],
            )
        if settlements:
            await connection.execute(
                insert(Settlement),
                [
                    {
                        "user_id": _id("user", s.user),
                        "strategy_id": _id("strategy", s.strategy),
                        "author_id": _id("user", author_of[s.strategy]),
                        "day_index": s.day,
                        "total_volume": Decimal(1000),
                        "fee_amount": Decimal(s.fee) / USDT0,
                        "fee_credits": 0,
                    }
                    for s in settlements
                ],
            )
        commits = [(s, day, root) for s, day, root in plan.commits if registered(s) and day % 2]
        if commits:
            await connection.execute(
                insert(DayCommit),
                [
                    {
                        "strategy_id": _id("strategy", s),
                        "day_index": day,
                        "merkle_root": "0x" + root.hex(),
                        "leaf_count": 1,
                        "total_volume": Decimal(1),
                    }
                    for s, day, root in commits
                ],
            )
        await connection.execute(text("ANALYZE"))


async def settle_down(*engines: AsyncEngine) -> None:
    """Vacuum the seeded tables and write them out now, so that neither autovacuum nor the
    checkpointer works on them while a run is measured (a database in service is past that)."""
    for engine in engines:
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM (ANALYZE)"))
            await autocommit.execute(text("CHECKPOINT"))


@contextlib.asynccontextmanager
async def fresh_database(server_url: str, label: str) -> AsyncIterator[str]:
    name = f"gr8d_bench_{label}_{os.getpid()}"
    url = await admin.create_database(server_url, name)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        await admin.drop_database(server_url, name)


async def projection_outcomes(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT projection_status, count(*) FROM chain_events GROUP BY 1 ORDER BY 1")
        )
        return {status: count for status, count in rows}


async def event_mix(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT event_name, count(*) FROM chain_events GROUP BY 1 ORDER BY 2 DESC")
        )
        return [(name, count) for name, count in rows]


async def cursor_block(engine: AsyncEngine) -> int | None:
    async with engine.connect() as connection:
        found = await connection.scalar(text("SELECT last_block_number FROM indexer_cursors"))
        return None if found is None else int(found)


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Ceiling:
    seconds: float
    logs: int
    requests: int
    megabytes: float


async def bare_fetch(url: str, deployments: Deployments, first: int, last: int) -> Ceiling:
    """eth_getLogs over first..last in the indexer's chunks, one request at a time; the answer
    is read and parsed, nothing else."""
    addresses = list(deployments.contracts.values())
    topics = [list(event_table())]
    tuner = SpanTuner(RangePolicy())
    logs = requests = size = 0
    async with aiohttp.ClientSession() as http:
        began = time.perf_counter()
        start = first
        while start <= last:
            end = min(last, start + tuner.span - 1)
            query = {
                "fromBlock": hex(start),
                "toBlock": hex(end),
                "address": addresses,
                "topics": topics,
            }
            request = {"jsonrpc": "2.0", "id": requests, "method": "eth_getLogs", "params": [query]}
            async with http.post(url, json=request) as response:
                body = await response.read()
            found = json.loads(body)["result"]
            requests, size, logs = requests + 1, size + len(body), logs + len(found)
            tuner.answered(end - start + 1, len(found))
            start = end + 1
        seconds = time.perf_counter() - began
    return Ceiling(seconds, logs, requests, size / 2**20)


@dataclass
class ProcessRun:
    seconds: float
    first_commit_seconds: float | None
    exit_code: int
    peak_rss_mib: float
    cpu_seconds: float
    output: str


def _peak_rss_kib(pid: int) -> int | None:
    """VmHWM (the kernel's high-water mark of resident memory) of a live process (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (Linux /proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # After the command: state is field 3, utime 14 and stime 15 (man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_indexer_process(
    arguments: Sequence[str], env: dict[str, str], engine: AsyncEngine, log_path: Path
) -> ProcessRun:
    """`python -m gr8d indexer ...` until it exits; its peak RSS polled from /proc, its CPU
    time from getrusage(RUSAGE_CHILDREN) around the wait."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    with log_path.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gr8d",
            "indexer",
            *arguments,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    peak_kib, first_commit = 0, None
    exited = asyncio.create_task(process.wait())
    while not exited.done():
        peak_kib = max(peak_kib, _peak_rss_kib(process.pid) or 0)
        if first_commit is None and await cursor_block(engine) is not None:
            first_commit = time.perf_counter() - began
        await asyncio.wait({exited}, timeout=0.05)
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output_text = await asyncio.to_thread(log_path.read_text, errors="replace")
    return ProcessRun(seconds, first_commit, exited.result(), peak_kib / 1024, cpu, output_text)


# The parts of the writing transaction (by the label before the colon).
DB_PARTS = ("write", "project", "commit")


class PartClock:
    """Wall time of the indexer's parts, measured in-process by wrapping them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, part: str) -> None:
        original = getattr(owner, name)
        seconds, calls = self.seconds, self.calls

        if asyncio.iscoroutinefunction(original):

            @functools.wraps(original)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    seconds[part] += time.perf_counter() - began
                    calls[part] += 1

            setattr(owner, name, timed_async)
        else:

            @functools.wraps(original)
            def timed(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    seconds[part] += time.perf_counter() - began
                    calls[part] += 1

            setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


# The SQL of a batch by kind, recognised by a piece of its text (first match wins).
STATEMENT_KINDS = (
    ("pg_advisory_xact_lock", "fence: advisory lock + cursor read"),
    ("INSERT INTO chain_events", "insert chain_events (unnest)"),
    ("INSERT INTO chain_blocks", "upsert chain_blocks"),
    ("INSERT INTO indexer_cursors", "upsert cursor"),
    ("DELETE FROM chain_blocks", "forget final blocks"),
    ("projection_status IN ('PENDING', 'FAILED')", "projection: read the batch's events"),
    ("INSERT INTO staking_records", "projection: staking"),
    ("INSERT INTO follows", "projection: follows"),
    ("SET onchain_settlement_id", "projection: settlements created"),
    ("WHEN c.event_name = 'SettlementPaid'", "projection: settlements paid/expired"),
    ("UPDATE day_commits", "projection: day commits"),
    ("SET merkle_root", "projection: merkle roots"),
    ("JOIN strategy_registrations AS r ON r.metadata_uri", "projection: registrations"),
    ("SET onchain_status", "projection: on-chain status"),
    ("'RAW_ONLY'", "projection: raw only"),
    ("e.projection_status = 'PARKED'", "projection: parked look-up"),
    ("UPDATE staking_records", "confirm staking records"),
    ("SAVEPOINT", "savepoints"),
    ("indexer_cursors", "cursor read"),
)


def statement_kind(statement: str) -> str:
    return next((label for piece, label in STATEMENT_KINDS if piece in statement), "other SQL")


@dataclass
class Breakdown:
    seconds: float
    cpu_seconds: float
    database_cpu_seconds: float
    parts: dict[str, float]
    calls: Counter[str]
    statements: dict[str, float]
    profile: str | None


async def in_process_backfill(
    database_url: str, anvil_url: str, deployments: Deployments, head: int, *, profile: bool
) -> Breakdown:
    """The follower's backfill in this process, with timers on its parts."""
    favour_the_event_loop()
    settings = load_settings(database_url=database_url, redis_url="unix:///x", log_level="WARNING")
    configure_logging(settings)
    engine = create_engine(settings)
    parts, statements = PartClock(), StatementClock(statement_kind)
    parts.wrap(JsonRpc, "logs", "fetch: eth_getLogs")
    parts.wrap(JsonRpc, "block", "headers: eth_getBlockByNumber N")
    parts.wrap(JsonRpc, "blocks", "headers: eth_getBlockByNumber batches")
    parts.wrap(JsonRpc, "latest_block", "head: latest + finalized")
    parts.wrap(JsonRpc, "finalized_block", "head: latest + finalized")
    parts.wrap(follower_module, "decode_logs", "decode: decode_logs")
    parts.wrap(service.RawEvent, "of", "decode: RawEvent.of")
    parts.wrap(service, "write_batch", "write: write_batch")
    # COPY runs on the driver's connection, which the statement clock does not see.
    parts.wrap(service, "_copy_events", "  of which COPY chain_events (ids, wallets, rows)")
    parts.wrap(service, "forget_final_blocks", "write: forget_final_blocks")
    parts.wrap(projections, "project_new", "project: project_new")
    parts.wrap(projections, "confirm_until", "project: confirm_until")
    parts.wrap(UnitOfWork, "commit", "commit")
    parts.wrap(service, "lock_position", "write: fence (lock + cursor)")
    parts.wrap(service, "position", "read cursor")
    profiler = cProfile.Profile() if profile else None
    try:
        async with aiohttp.ClientSession() as http:
            follower = ChainFollower(
                rpc=JsonRpc(http, anvil_url),
                session_factory=create_session_factory(engine),
                deployments=deployments,
                confirmations=settings.confirmations,
                max_reorg_depth=settings.max_reorg_depth,
            )
            with statements.attached(engine):
                cpu, began = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                await follower.index_until(head)
                if profiler:
                    profiler.disable()
                seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        database_cpu = await _backends_cpu_seconds(engine)
    finally:
        parts.undo()
        await engine.dispose()
    report = None
    if profiler:
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(25)
        report = buffer.getvalue()
    return Breakdown(
        seconds,
        cpu,
        database_cpu,
        dict(parts.seconds),
        parts.calls,
        dict(statements.seconds),
        report,
    )


async def _backends_cpu_seconds(engine: AsyncEngine) -> float:
    """CPU time of the database's server processes so far (the run's pooled connections are
    still open): PostgreSQL's share of the work, whatever else the machine is doing."""
    async with engine.connect() as connection:
        pids = await connection.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        )
        return sum(cpu_seconds(pid) for pid in pids)


@dataclass(frozen=True)
class WriteFloor:
    seconds: float
    database_cpu_seconds: float


_TWIN = "bench_chain_events_twin"


async def raw_write_floor(engine: AsyncEngine) -> WriteFloor:
    """What PostgreSQL takes to store the indexed events once more by one binary COPY into an
    empty twin of chain_events (its columns, CHECKs and indexes; a logged table, as the real
    one), nothing decoded or projected: the least any indexer keeping chain.md's raw table
    pays for these rows on this machine."""
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        rows = io.BytesIO()
        await raw.copy_from_table("chain_events", output=rows, format="binary")
        await raw.execute(f"CREATE TABLE {_TWIN} (LIKE chain_events INCLUDING ALL)")
        try:
            backend = await raw.fetchval("SELECT pg_backend_pid()")
            rows.seek(0)
            cpu, began = cpu_seconds(backend), time.perf_counter()
            await raw.copy_to_table(_TWIN, source=rows, format="binary")
            return WriteFloor(time.perf_counter() - began, cpu_seconds(backend) - cpu)
        finally:
            await raw.execute(f"DROP TABLE {_TWIN}")


# --- realtime --------------------------------------------------------------------------------


class FirstSeen:
    """The wall time at which each block number was first seen (polled every 20 ms)."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self.highest = -1

    def saw(self, number: int) -> None:
        now = time.perf_counter()
        for block in range(self.highest + 1, number + 1):
            self.at.setdefault(block, now)
        self.highest = max(self.highest, number)


async def poll(every: float, probe: Callable[[], Awaitable[int | None]], seen: FirstSeen) -> None:
    while True:
        found = await probe()
        if found is not None:
            seen.saw(found)
        await asyncio.sleep(every)


@dataclass
class Latency:
    blocks: list[int]
    seconds: list[float]


async def realtime(
    server_url: str, bytecode: bytes, blocks: int, per_block: int, folder: Path
) -> Latency:
    rng = random.Random(7)
    async with (
        running_anvil(block_time=0.4) as anvil,
        aiohttp.ClientSession() as http,
    ):
        w3 = AsyncWeb3(AsyncHTTPProvider(anvil.url))
        try:
            deployments = await deploy_protocol(
                w3, anvil.private_keys[0], relayer=anvil.account(1).address
            )
        finally:
            await w3.provider.disconnect()
        node = Node(http, anvil)
        driver = await set_up_driver(node, deployments, bytecode)
        traffic = Traffic(rng, driver.actors, unstake_every=None)
        # Strategies first, so that the measured blocks carry every kind of call.
        warm_up = list(traffic.blocks(400, 100))
        planned = list(traffic.blocks(blocks * per_block, per_block))
        for block in warm_up:
            for tx_hash in await driver.send(block.calls):
                await node.receipt(tx_hash)
        deployments_file = folder / "realtime-deployments.json"
        deployments.write(deployments_file)
        async with fresh_database(server_url, "realtime") as url:
            settings = load_settings(database_url=url, redis_url="unix:///x")
            engine = create_engine(settings)
            try:
                await seed_database(engine, traffic.plan, driver.actors)
                return await _measure_realtime(
                    engine, node, driver, planned, deployments_file, url, folder
                )
            finally:
                await engine.dispose()


async def _next_block(node: Node) -> None:
    before = await node.head()
    while True:
        if await node.head() != before:
            return
        await asyncio.sleep(0.005)


async def _measure_realtime(
    engine: AsyncEngine,
    node: Node,
    driver: Driver,
    planned: list[Block],
    deployments_file: Path,
    database_url: str,
    folder: Path,
) -> Latency:
    env = {
        "DATABASE_URL": database_url,
        "RPC_URLS": node.url,
        "DEPLOYMENTS_FILE": str(deployments_file),
        "LOG_LEVEL": "WARNING",
    }
    log_path = folder / "realtime-indexer.log"
    with log_path.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gr8d",
            "indexer",
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    seen, committed = FirstSeen(), FirstSeen()
    pollers: list[asyncio.Task[None]] = []
    try:
        head = await node.head()
        while (await cursor_block(engine) or -1) < head:
            if process.returncode is not None:
                raise SystemExit(f"the indexer exited:\n{log_path.read_text()[-3000:]}")
            await asyncio.sleep(0.1)
        pollers = [
            asyncio.create_task(poll(POLL_SECONDS, node.head, seen)),
            asyncio.create_task(poll(POLL_SECONDS, lambda: cursor_block(engine), committed)),
        ]
        sent: list[str] = []
        for block in planned:
            # Sent right after a block appears, each lands in the next one.
            await _next_block(node)
            sent += await driver.send(block.calls)
        receipts = [await node.receipt(tx_hash) for tx_hash in sent]
        numbers = sorted({int(r["blockNumber"], 16) for r in receipts})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if committed.highest >= numbers[-1]:
                break
            await asyncio.sleep(0.05)
    finally:
        for task in pollers:
            task.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
        if process.returncode is None:
            process.terminate()
        await process.wait()
    measured = [n for n in numbers if n in seen.at and n in committed.at]
    return Latency(measured, [committed.at[n] - seen.at[n] for n in measured])


# --- the run ---------------------------------------------------------------------------------


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _load() -> str:
    """Other work on the machine skews every figure: say how busy it was."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<44} {value:>16}  {note}")


async def backfill(
    server_url: str, arguments: argparse.Namespace, bytecode: bytes, folder: Path
) -> None:
    rng = random.Random(arguments.seed)
    async with running_anvil() as anvil, aiohttp.ClientSession() as http:
        w3 = AsyncWeb3(AsyncHTTPProvider(anvil.url))
        try:
            deployments = await deploy_protocol(
                w3, anvil.private_keys[0], relayer=anvil.account(1).address
            )
        finally:
            await w3.provider.disconnect()
        node = Node(http, anvil)
        began = time.perf_counter()
        driver = await set_up_driver(node, deployments, bytecode)
        traffic = Traffic(rng, driver.actors, unstake_every=100)
        made = await emit_blocks(
            driver, traffic.blocks(arguments.events, arguments.per_block), arguments.calls_per_tx
        )
        head = await node.head()
        seeding = time.perf_counter() - began
        deployments_file = folder / "deployments.json"
        deployments.write(deployments_file)
        blocks = head - deployments.start_block + 1
        print(
            f"seeded the chain in {seeding:.1f} s: {sum(made.values()):,} protocol calls in "
            f"{traffic.blocks_made:,} blocks ({arguments.per_block} a block, "
            f"{arguments.calls_per_tx} a transaction), head {head:,}, "
            f"{len(traffic.plan.strategies):,} strategies, "
            f"{len(traffic.plan.settlements):,} settlements"
        )

        async with (
            fresh_database(server_url, "backfill") as url,
            fresh_database(server_url, "inprocess") as second_url,
        ):
            settings = load_settings(database_url=url, redis_url="unix:///x")
            engine = create_engine(settings)
            second = create_engine(load_settings(database_url=second_url, redis_url="unix:///x"))
            try:
                await seed_database(engine, traffic.plan, driver.actors)
                await seed_database(second, traffic.plan, driver.actors)
                await settle_down(engine, second)
                before = await bare_fetch(anvil.url, deployments, deployments.start_block, head)
                env = {
                    "DATABASE_URL": url,
                    "RPC_URLS": anvil.url,
                    "DEPLOYMENTS_FILE": str(deployments_file),
                    "LOG_LEVEL": "WARNING",
                }
                anvil_cpu = cpu_seconds(anvil.process.pid)
                run = await run_indexer_process(
                    ["--until-block", "head"], env, engine, folder / "indexer.log"
                )
                anvil_cpu = cpu_seconds(anvil.process.pid) - anvil_cpu
                after = await bare_fetch(anvil.url, deployments, deployments.start_block, head)
                if run.exit_code != 0:
                    raise SystemExit(f"gr8d indexer exited {run.exit_code}:\n{run.output[-3000:]}")
                outcomes = await projection_outcomes(engine)
                mix = await event_mix(engine)
                breakdown = await in_process_backfill(
                    second_url, anvil.url, deployments, head, profile=arguments.profile
                )
                second_outcomes = await projection_outcomes(second)
                floor = await raw_write_floor(second)
            finally:
                await engine.dispose()
                await second.dispose()

    events = sum(outcomes.values())
    ceiling = min((before, after), key=lambda c: c.seconds)
    if ceiling.logs != events or second_outcomes != outcomes:
        print(f"WARNING: fetched {ceiling.logs} logs, indexed {events}; {second_outcomes}")
    rate = events / run.seconds
    ceiling_rate = ceiling.logs / ceiling.seconds
    print()
    print(
        f"backfill of blocks {deployments.start_block:,}-{head:,} from an empty index ({_load()}):"
    )
    _row("events indexed", f"{events:,}", ", ".join(f"{k} {v:,}" for k, v in outcomes.items()))
    print(
        textwrap.fill(
            f"{len(mix)} kinds: " + ", ".join(f"{name} {count:,}" for name, count in mix),
            width=100,
            initial_indent="    ",
            subsequent_indent="    ",
        )
    )
    _row("gr8d indexer --until-block head, wall", f"{run.seconds:.2f} s", "(process start to exit)")
    if run.first_commit_seconds is not None:
        _row("  of which start-up to the first commit", f"{run.first_commit_seconds:.2f} s")
    _row("events/s end to end", f"{rate:,.0f}", "target >= 20,000 on 2 cores")
    _row("blocks/s end to end", f"{blocks / run.seconds:,.0f}")
    _row("indexer peak RSS (VmHWM)", f"{run.peak_rss_mib:,.0f} MiB")
    _row(
        "indexer CPU (user + system)",
        f"{run.cpu_seconds:.2f} s",
        f"{run.cpu_seconds / run.seconds:.0%} of its wall time",
    )
    _row("anvil CPU meanwhile", f"{anvil_cpu:.2f} s")
    _row(
        "ceiling: bare eth_getLogs, same chunks",
        f"{ceiling.seconds:.2f} s",
        f"{ceiling.requests} requests, {ceiling.megabytes:.0f} MiB (best of before/after)",
    )
    _row(
        "ceiling events/s",
        f"{ceiling_rate:,.0f}",
        f"before {before.logs / before.seconds:,.0f}, after {after.logs / after.seconds:,.0f}",
    )
    _row("indexer / ceiling", f"{rate / ceiling_rate:.0%}", "target >= 50%")
    floor_rate = events / floor.seconds
    _row(
        "floor: one binary COPY of the rows into a twin",
        f"{floor.seconds:.2f} s",
        f"{floor_rate:,.0f} ev/s, {floor_rate / ceiling_rate:.0%} of the ceiling; "
        f"PostgreSQL CPU {floor.database_cpu_seconds:.2f} s",
    )
    _row(
        "  fetch ceiling then that write, nothing else",
        f"{events / (ceiling.seconds + floor.seconds):,.0f} ev/s",
        f"{ceiling.seconds / (ceiling.seconds + floor.seconds):.0%} of the ceiling",
    )
    print()
    print(
        f"where the time goes (the same backfill in-process, {breakdown.seconds:.2f} s wall, "
        f"{events / breakdown.seconds:,.0f} events/s, Python CPU {breakdown.cpu_seconds:.2f} s, "
        f"PostgreSQL CPU {breakdown.database_cpu_seconds:.2f} s):"
    )
    for part, seconds in sorted(breakdown.parts.items(), key=lambda item: -item[1]):
        share = seconds / breakdown.seconds
        _row(part, f"{seconds:.2f} s", f"{share:4.0%}  ({breakdown.calls[part]:,} calls)")
    written = sum(s for part, s in breakdown.parts.items() if part.split(":")[0] in DB_PARTS)
    print(
        "  (shares add up to more than 100 %: the next batch's reads - fetch, headers, decode -\n"
        "  run while the current batch is written; the writing transaction alone took "
        f"{written:.2f} s, {written / breakdown.seconds:.0%} of the wall time)"
    )
    print("  SQL by statement (wall time on the connection, inside the parts above):")
    for kind, seconds in sorted(breakdown.statements.items(), key=lambda item: -item[1]):
        _row(f"  {kind}", f"{seconds:.2f} s", f"{seconds / breakdown.seconds:4.0%}")
    if breakdown.profile:
        print(breakdown.profile)


async def main(arguments: argparse.Namespace) -> None:
    bytecode = compile_driver()
    configured = load_settings(database_url=os.environ.get("DATABASE_URL"), redis_url="unix:///x")
    with (
        tempfile.TemporaryDirectory() as scratch,
        servers_for(configured, Path(scratch)) as urls,
    ):
        folder = Path(scratch)
        if arguments.events:
            await backfill(urls.database_url, arguments, bytecode, folder)
        if arguments.realtime_blocks:
            latency = await realtime(
                urls.database_url, bytecode, arguments.realtime_blocks, 5, folder
            )
            values = latency.seconds
            print()
            print(
                f"realtime: anvil mining every 0.4 s, `gr8d indexer` following, a driver "
                f"transaction of 5 events in each of {len(values)} blocks; from the block first "
                f"seen by eth_blockNumber (polled every 20 ms) to the indexer's cursor (committed "
                f"with the block's rows) reaching it (polled every 20 ms; {_load()}):"
            )
            _row("median", f"{statistics.median(values) * 1000:.0f} ms")
            _row("p95", f"{_percentile(values, 0.95) * 1000:.0f} ms", "target < 1,000 ms")
            _row("max", f"{max(values) * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="0: skip the backfill")
    parser.add_argument("--per-block", type=int, default=100)
    parser.add_argument("--calls-per-tx", type=int, default=50)
    parser.add_argument("--realtime-blocks", type=int, default=60, help="0: skip realtime")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process run")
    parser.add_argument("--seed", type=int, default=20_260)
    asyncio.run(main(parser.parse_args()))
