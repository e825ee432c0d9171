"""The protocol as the simulation's people use it: transactions signed locally with their keys
on the dev chain (anvil), the operator being the deployer (owner, reviewer, settlement operator).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from indexer.devchain import Deployments, contract_at, transact

G8D_WEI = 10**18
USDT0_UNITS = 10**6
GAS_MONEY_WEI = 10 * 10**18


@dataclass
class Protocol:
    w3: AsyncWeb3[Any]
    deployments: Deployments
    operator: LocalAccount

    def contract(self, name: str) -> Any:
        return contract_at(self.w3, name, self.deployments.contracts[name])

    async def _rpc(self, method: str, params: list[Any]) -> Any:
        response = await self.w3.provider.make_request(method, params)
        return response.get("result")

    async def chain_time(self) -> int:
        block = await self.w3.eth.get_block("latest")
        return int(block["timestamp"])

    async def move_clock_to(self, moment: dt.datetime) -> None:
        """Mine a block at `moment` when the chain's clock is behind it (anvil only)."""
        target = int(moment.timestamp())
        if target > await self.chain_time():
            await self._rpc("evm_setNextBlockTimestamp", [target])
            await self._rpc("evm_mine", [])

    async def mine(self, blocks: int) -> None:
        """Empty blocks on top, so what came before becomes final (anvil's `finalized` tag
        trails its head by 64 blocks)."""
        await self._rpc("anvil_mine", [hex(blocks)])

    async def fund(self, account: LocalAccount, *, g8d: int, usdt0: int) -> None:
        await self._rpc("anvil_setBalance", [account.address, hex(GAS_MONEY_WEI)])
        await transact(
            self.w3,
            self.contract("G8DToken").functions.mint(account.address, g8d * G8D_WEI),
            self.operator,
        )
        await transact(
            self.w3,
            self.contract("USDT0").functions.mint(account.address, usdt0 * USDT0_UNITS),
            self.operator,
        )

    async def stake(self, account: LocalAccount, g8d: int) -> None:
        staking = self.contract("G8DStaking")
        amount = g8d * G8D_WEI
        await transact(
            self.w3, self.contract("G8DToken").functions.approve(staking.address, amount), account
        )
        await transact(self.w3, staking.functions.stake(amount), account)

    async def create_strategy(self, author: LocalAccount, metadata_uri: str) -> int:
        registry = self.contract("StrategyRegistry")
        receipt = await transact(self.w3, registry.functions.createStrategy(metadata_uri), author)
        (event,) = registry.events.StrategyCreated().process_receipt(receipt)
        return int(event["args"]["strategyId"])

    async def activate(self, author: LocalAccount, strategy_id: int) -> None:
        """Author asks, the reviewer verifies and activates: followable from now on."""
        registry = self.contract("StrategyRegistry").functions
        await transact(self.w3, registry.requestVerification(strategy_id), author)
        verification = AsyncWeb3.keccak(text=f"simulated review of {strategy_id}")
        await transact(
            self.w3, registry.verifyStrategy(strategy_id, verification, 90), self.operator
        )
        await transact(self.w3, registry.requestActivation(strategy_id), author)
        await transact(self.w3, registry.activateStrategy(strategy_id), self.operator)

    async def follow(self, follower: LocalAccount, strategy_id: int) -> None:
        await transact(
            self.w3, self.contract("FollowRegistry").functions.follow(strategy_id), follower
        )

    async def create_settlement(
        self, user: LocalAccount, *, strategy_id: int, day_index: int, fee_units: int
    ) -> int:
        manager = self.contract("SettlementManager")
        receipt = await transact(
            self.w3,
            manager.functions.createSettlement(user.address, strategy_id, day_index, fee_units),
            self.operator,
        )
        (event,) = manager.events.SettlementCreated().process_receipt(receipt)
        return int(event["args"]["settlementId"])

    async def pay_settlement(self, user: LocalAccount, settlement_id: int, fee_units: int) -> None:
        manager = self.contract("SettlementManager")
        await transact(
            self.w3, self.contract("USDT0").functions.approve(manager.address, fee_units), user
        )
        await transact(self.w3, manager.functions.paySettlement(settlement_id), user)
