"""A reproducible scenario: people sign up, link wallets, stake, build and register strategies,
follow each other on chain, trade for several days, publish and clone templates, buy credits.

Everything goes through the real API and the real chain; the seed fixes every choice, so the
same seed on a fresh database and chain gives the same activity. Days are the `days` days
before `today` (UTC); when the chain's clock is behind a day, it is moved to that day first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3 import Web3

from simulation.chain import Protocol
from simulation.client import ApiClient, Caller, ClientAddresses

STAKE_LADDER_G8D = (0, 6_000, 25_000, 60_000, 250_000, 1_200_000)
"""One stake per tier 0..5 (chain.md thresholds: 0, 5k, 20k, 50k, 200k, 1M)."""
SYMBOLS = ("BTC/USDT", "ETH/USDT", "MON/USDT")
TEMPLATE_PRICE_CREDITS = 40


@dataclass(frozen=True, slots=True)
class Scenario:
    users: int = 8
    days: int = 3
    seed: int = 7

    @property
    def authors(self) -> int:
        return max(2, self.users // 3)


def demo_email(index: int) -> str:
    return f"demo{index}@gr8diy.dev"


def demo_password(index: int) -> str:
    return f"demo-password-{index}"


@dataclass
class Person:
    index: int
    email: str
    password: str
    wallet: LocalAccount
    caller: Caller
    user_id: str = ""
    stake_g8d: int = 0
    credits: int = 0


@dataclass
class Strategy:
    id: str
    author: Person
    onchain_id: int


@dataclass
class World:
    """What the scenario made, for the later steps and the demo's checks."""

    scenario: Scenario
    days: list[dt.date]
    people: list[Person] = field(default_factory=list)
    strategies: list[Strategy] = field(default_factory=list)
    follows: list[tuple[Person, Strategy]] = field(default_factory=list)
    executions: int = 0
    clones: list[str] = field(default_factory=list)
    template_ids: list[str] = field(default_factory=list)
    settlements_paid_onchain: int = 0

    @property
    def authors(self) -> list[Person]:
        return [strategy.author for strategy in self.strategies]


def simulated_days(scenario: Scenario, today: dt.date) -> list[dt.date]:
    return [today - dt.timedelta(days=offset) for offset in range(scenario.days, 0, -1)]


def _wallet(seed: int, index: int) -> LocalAccount:
    key = Web3.keccak(text=f"gr8d simulation {seed} wallet {index}")
    account: LocalAccount = Account.from_key(key)
    return account


def _definition(rng: random.Random) -> dict[str, Any]:
    symbol = rng.choice(SYMBOLS)
    period = rng.choice((7, 14, 21))
    return {
        "nodes": [
            {"id": "clock", "type": "trigger", "config": {"every": "1h"}},
            {"id": "prices", "type": "data_source", "config": {"symbol": symbol}},
            {"id": "rsi", "type": "indicator", "config": {"name": "RSI", "period": period}},
            {"id": "oversold", "type": "condition", "config": {"below": 30}},
            {"id": "buy", "type": "action", "config": {"side": "BUY", "symbol": symbol}},
        ],
        "edges": [
            {"from_node": "clock", "to_node": "prices"},
            {"from_node": "prices", "to_node": "rsi"},
            {"from_node": "rsi", "to_node": "oversold"},
            {"from_node": "oversold", "to_node": "buy", "condition": "true"},
        ],
    }


class Simulation:
    def __init__(
        self, api: ApiClient, protocol: Protocol, scenario: Scenario, *, today: dt.date
    ) -> None:
        self.api = api
        self.protocol = protocol
        self.rng = random.Random(scenario.seed)
        self.service = Caller(token=None)
        self.addresses = ClientAddresses.fresh()
        self.world = World(scenario=scenario, days=simulated_days(scenario, today))

    def with_service_token(self, token: str) -> Simulation:
        self.service = Caller(token=token)
        return self

    async def sign_up_everyone(self) -> None:
        scenario = self.world.scenario
        for index in range(scenario.users):
            person = Person(
                index=index,
                email=demo_email(index),
                password=demo_password(index),
                wallet=_wallet(scenario.seed, index),
                caller=Caller(client_ip=self.addresses.of_person(index)),
            )
            await self._register_and_log_in(person)
            await self._link_wallet(person)
            self.world.people.append(person)

    async def _register_and_log_in(self, person: Person) -> None:
        await self.api.post(
            "/auth/register",
            person.caller,
            json={
                "email": person.email,
                "password": person.password,
                "full_name": f"Demo Trader {person.index}",
            },
            expect=(201, 409),
        )
        tokens = await self.api.post(
            "/auth/login",
            person.caller,
            json={"email": person.email, "password": person.password},
        )
        person.caller.token = tokens["access_token"]
        me = await self.api.get("/users/me", person.caller)
        person.user_id = me["id"]

    async def _link_wallet(self, person: Person) -> None:
        challenge = await self.api.post(
            "/wallets/challenge", person.caller, json={"address": person.wallet.address}
        )
        message = challenge["message"]
        signed = person.wallet.sign_message(encode_defunct(text=message))
        await self.api.post(
            "/wallets",
            person.caller,
            json={"message": message, "signature": signed.signature.to_0x_hex()},
            expect=(201, 409),
        )

    async def buy_credits(self) -> None:
        """Authors and half the followers buy plenty; the rest buy too little to cover their
        fees, so some settlements stay PENDING and are later paid on chain."""
        for person in self.world.people:
            well_off = person.index < self.world.scenario.authors or person.index % 2 == 0
            person.credits = 2_000 if well_off else 1
            await self.api.post(
                "/credits/charge",
                self.service,
                json={
                    "user_id": person.user_id,
                    "amount": person.credits,
                    "reference": f"simulated-purchase-{self.world.scenario.seed}-{person.index}",
                },
                expect=(200, 201, 409),
            )

    async def stake_on_chain(self) -> None:
        await self.protocol.move_clock_to(_noon(self.world.days[0]))
        for person in self.world.people:
            person.stake_g8d = STAKE_LADDER_G8D[person.index % len(STAKE_LADDER_G8D)]
            await self.protocol.fund(person.wallet, g8d=person.stake_g8d + 1_000, usdt0=1_000)
            if person.stake_g8d:
                await self.protocol.stake(person.wallet, person.stake_g8d)

    async def publish_strategies(self) -> None:
        authors = self.world.people[: self.world.scenario.authors]
        for author in authors:
            created = await self.api.post(
                "/strategies",
                author.caller,
                json={
                    "name": f"RSI dip buyer #{author.index}",
                    "description": "Buys when the RSI says oversold.",
                    "definition": _definition(self.rng),
                    "is_public": True,
                },
            )
            strategy_id = created["id"]
            await self.api.post(f"/strategies/{strategy_id}/deploy", author.caller)
            registration = await self.api.post(
                f"/strategies/{strategy_id}/registration", author.caller
            )
            onchain_id = await self.protocol.create_strategy(
                author.wallet, registration["metadata_uri"]
            )
            await self.protocol.activate(author.wallet, onchain_id)
            self.world.strategies.append(Strategy(strategy_id, author, onchain_id))

    async def follow_on_chain(self) -> None:
        followers = [p for p in self.world.people if p not in self.world.authors]
        for follower in followers:
            choices = self.rng.sample(self.world.strategies, k=min(2, len(self.world.strategies)))
            for strategy in choices:
                await self.protocol.follow(follower.wallet, strategy.onchain_id)
                self.world.follows.append((follower, strategy))

    async def wait_until_follows_are_indexed(self, patience: float = 120.0) -> None:
        """The trading engine trades for followers the platform knows: wait for the indexer."""
        expected: dict[str, int] = {}
        for follower, _ in self.world.follows:
            expected[follower.email] = expected.get(follower.email, 0) + 1
        async with asyncio.timeout(patience):
            for follower in {person.email: person for person, _ in self.world.follows}.values():
                while True:
                    page = await self.api.get("/follows", follower.caller)
                    if page["total"] >= expected[follower.email]:
                        break
                    await asyncio.sleep(0.5)

    async def trade_every_day(self) -> None:
        for day in self.world.days:
            await self.protocol.move_clock_to(_noon(day))
            for pair_index, (follower, strategy) in enumerate(self.world.follows):
                for trade in range(self.rng.randint(1, 3)):
                    await self._report_execution(follower, strategy, day, pair_index, trade)

    async def _report_execution(
        self, follower: Person, strategy: Strategy, day: dt.date, pair: int, trade: int
    ) -> None:
        moment = dt.datetime.combine(day, dt.time(9), dt.UTC) + dt.timedelta(
            minutes=self.rng.randint(0, 600)
        )
        price = Decimal(self.rng.randint(20_000, 90_000)) + Decimal(self.rng.randint(0, 99)) / 100
        amount = Decimal(self.rng.randint(1, 500)) / 1000
        await self.api.post(
            "/internal/executions",
            self.service,
            json={
                "exchange_order_id": f"sim-{self.world.scenario.seed}-{day}-{pair}-{trade}",
                "user_id": follower.user_id,
                "strategy_id": strategy.id,
                "symbol": self.rng.choice(SYMBOLS),
                "side": self.rng.choice(("BUY", "SELL")),
                "order_type": "MARKET",
                "amount": str(amount),
                "price": str(price),
                "executed_price": str(price),
                "status": "FILLED",
                "executed_at": moment.isoformat(),
            },
            expect=(200, 201),
        )
        self.world.executions += 1

    async def publish_and_clone_templates(self) -> None:
        first = self.world.strategies[0]
        template = await self.api.post(
            f"/strategies/{first.id}/publish",
            first.author.caller,
            json={
                "name": "RSI dip buyer (template)",
                "description": "A ready-made RSI strategy.",
                "price_credits": TEMPLATE_PRICE_CREDITS,
            },
            expect=(200, 201),
        )
        self.world.template_ids.append(template["id"])
        buyers = [p for p in self.world.people if p is not first.author and p.credits > 100]
        for buyer in buyers[:3]:
            clone = await self.api.post(
                f"/templates/{template['id']}/clone",
                buyer.caller,
                expect=(200, 201),
            )
            self.world.clones.append(str(clone["id"]))

    async def feed_market_data(self) -> None:
        """Hourly candles of every symbol over the simulated days, as the data feed sends them."""
        for symbol in SYMBOLS:
            price = Decimal(self.rng.randint(1_000, 60_000))
            candles = []
            for day in self.world.days:
                for hour in range(24):
                    change = Decimal(self.rng.randint(-150, 150)) / 10_000
                    close = (price * (1 + change)).quantize(Decimal("0.01"))
                    candles.append(
                        {
                            "symbol": symbol,
                            "timeframe": "1h",
                            "timestamp": dt.datetime.combine(
                                day, dt.time(hour), dt.UTC
                            ).isoformat(),
                            "open": str(price),
                            "high": str(max(price, close) * Decimal("1.002")),
                            "low": str(min(price, close) * Decimal("0.998")),
                            "close": str(close),
                            "volume": str(self.rng.randint(10, 5_000)),
                        }
                    )
                    price = close
            await self.api.post("/internal/ohlcv", self.service, json={"candles": candles})

    async def keep_keys_and_backtest(self) -> None:
        """Each author stores an exchange key and back-tests a strategy (charged in credits)."""
        first_day, last_day = self.world.days[0], self.world.days[-1]
        for strategy in self.world.strategies:
            author = strategy.author
            await self.api.post(
                "/credentials",
                author.caller,
                json={
                    "type": "EXCHANGE",
                    "provider": "binance",
                    "api_key": f"demo-key-{self.world.scenario.seed}-{author.index}-abcd",
                    "api_secret": f"demo-secret-{author.index}",
                    "nickname": "main account",
                },
                expect=(201,),
            )
            await self.api.post(
                "/backtests",
                author.caller,
                json={
                    "strategy_id": strategy.id,
                    "symbol": SYMBOLS[0],
                    "timeframe": "1h",
                    "start_date": dt.datetime.combine(first_day, dt.time(0), dt.UTC).isoformat(),
                    "end_date": dt.datetime.combine(last_day, dt.time(23), dt.UTC).isoformat(),
                    "initial_capital": "10000",
                },
                expect=(201,),
            )

    async def run_activity(self) -> World:
        await self.sign_up_everyone()
        await self.buy_credits()
        await self.feed_market_data()
        await self.stake_on_chain()
        await self.publish_strategies()
        await self.keep_keys_and_backtest()
        await self.follow_on_chain()
        await self.protocol.mine(3)
        await self.wait_until_follows_are_indexed()
        await self.trade_every_day()
        await self.publish_and_clone_templates()
        await self.protocol.move_clock_to(dt.datetime.now(dt.UTC))
        return self.world

    async def pay_pending_settlements_on_chain(self, limit: int = 2) -> int:
        """The users who could not pay in credits pay some of their settlements in USDT0."""
        onchain_ids = {strategy.id: strategy.onchain_id for strategy in self.world.strategies}
        for person in self.world.people:
            page = await self.api.get(
                "/settlements", person.caller, params={"status": "PENDING", "size": "100"}
            )
            for settlement in page["items"]:
                fee_units = int(Decimal(settlement["fee_amount"]) * 10**6)
                if self.world.settlements_paid_onchain >= limit:
                    return self.world.settlements_paid_onchain
                if fee_units == 0 or settlement["strategy_id"] not in onchain_ids:
                    continue
                onchain_id = await self.protocol.create_settlement(
                    person.wallet,
                    strategy_id=onchain_ids[settlement["strategy_id"]],
                    day_index=int(settlement["day_index"]),
                    fee_units=fee_units,
                )
                await self.protocol.pay_settlement(person.wallet, onchain_id, fee_units)
                self.world.settlements_paid_onchain += 1
        return self.world.settlements_paid_onchain


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), dt.UTC)
