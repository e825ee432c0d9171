"""Market data over HTTP: the service's bulk upsert of candles, charts' reads of them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import Ohlcv
from gr8d.config import Settings
from tests.integration.api.conftest import SignIn, start_client

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]

UPSERT = "/api/v1/internal/ohlcv"
START = dt.datetime(2025, 3, 10, tzinfo=dt.UTC)


def candle(
    hour: int, *, symbol: str = "BTC/USDT", timeframe: str = "1h", **values: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": symbol,
        "timeframe": timeframe,
        "timestamp": at(hour),
        "open": "100",
        "high": "110.5",
        "low": "95.25",
        "close": "105",
        "volume": "12.12345678",
    }
    body.update(values)
    return body


def at(hour: int) -> str:
    """The ISO 8601 time `hour` hours after START, as the API writes it."""
    return (START + dt.timedelta(hours=hour)).isoformat().replace("+00:00", "Z")


async def stored(session_factory: Sessions) -> list[Ohlcv]:
    async with session_factory() as session:
        rows = await session.scalars(
            select(Ohlcv).order_by(Ohlcv.symbol, Ohlcv.timeframe, Ohlcv.timestamp)
        )
        return list(rows)


async def test_the_upsert_inserts_corrects_and_leaves_equal_candles_alone(
    client: Client, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    first = await client.post(
        UPSERT, json={"candles": [candle(0), candle(1), candle(2)]}, headers=service_headers
    )
    second = await client.post(
        UPSERT,
        json={"candles": [candle(1), candle(2, close="109"), candle(3)]},
        headers=service_headers,
    )
    assert first.status == 200
    assert await first.json() == {"received": 3, "inserted": 3, "updated": 0, "unchanged": 0}
    assert await second.json() == {"received": 3, "inserted": 1, "updated": 1, "unchanged": 1}
    rows = await stored(session_factory)
    assert [row.timestamp for row in rows] == [START + dt.timedelta(hours=h) for h in range(4)]
    assert [row.close for row in rows] == [Decimal(105), Decimal(105), Decimal(109), Decimal(105)]
    assert rows[0].volume == Decimal("12.12345678")


async def test_bad_candles_are_refused_and_nothing_is_written(
    client: Client, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    cases = {
        "DUPLICATE_CANDLES": [[candle(0), candle(1), candle(0, close="101")]],
        "VALIDATION_ERROR": [
            [candle(0, low="120")],
            [candle(0, high="99")],
            [candle(0, volume="-1")],
            [candle(0, open="0.123456789")],
            [candle(0, open="1234567890123")],
            [candle(0, timestamp="2025-03-10T00:00:00")],
            # Times Python holds but not once in UTC (year 0 and year 10000).
            [candle(0, timestamp="0001-01-01T00:00:00+14:00")],
            [candle(0, timestamp="9999-12-31T23:59:59-14:00")],
            [candle(0, timeframe="hourly")],
            [candle(0, symbol="")],
            [candle(0, extra="x")],
            [],
            [candle(n % 24) for n in range(5001)],
        ],
    }
    for code, candles in cases.items():
        for batch in candles:
            response = await client.post(UPSERT, json={"candles": batch}, headers=service_headers)
            body = await response.json(content_type=None)
            assert response.status == 422, batch[:1]
            assert body["code"] == code, batch[:1]
    assert await stored(session_factory) == []


async def test_the_upsert_is_for_the_service_token_only(client: Client, sign_in: SignIn) -> None:
    admin = await sign_in(is_superuser=True)
    as_admin = await client.post(UPSERT, json={"candles": [candle(0)]}, headers=admin.headers)
    anonymous = await client.post(UPSERT, json={"candles": [candle(0)]})
    assert as_admin.status == 403 and anonymous.status == 401


async def seed(
    client: Client, service_headers: dict[str, str], candles: list[dict[str, Any]]
) -> None:
    response = await client.post(UPSERT, json={"candles": candles}, headers=service_headers)
    assert response.status == 200


async def test_candles_are_read_oldest_first_within_the_range_and_limit(
    client: Client, sign_in: SignIn, service_headers: dict[str, str]
) -> None:
    me = await sign_in()
    await seed(
        client,
        service_headers,
        [candle(h) for h in range(10)]
        + [candle(h, timeframe="4h") for h in range(0, 12, 4)]
        + [candle(h, symbol="ETH/USDT") for h in range(3)],
    )

    async def hours(**params: str) -> list[int]:
        response = await client.get(
            "/api/v1/market/ohlcv",
            params={"symbol": "BTC/USDT", "timeframe": "1h", **params},
            headers=me.headers,
        )
        assert response.status == 200
        body = await response.json()
        return [
            int((dt.datetime.fromisoformat(c["timestamp"]) - START).total_seconds() // 3600)
            for c in body["candles"]
        ]

    assert await hours() == list(range(10))
    assert await hours(start=at(2), end=at(5)) == [2, 3, 4]
    assert await hours(start=at(2), limit="2") == [2, 3]
    assert await hours(limit="3") == [7, 8, 9]
    assert await hours(end=at(5), limit="2") == [3, 4]
    first = await client.get(
        "/api/v1/market/ohlcv",
        params={"symbol": "BTC/USDT", "timeframe": "1h", "limit": "1"},
        headers=me.headers,
    )
    assert (await first.json())["candles"][0] == {
        "timestamp": "2025-03-10T09:00:00Z",
        "open": "100.00000000",
        "high": "110.50000000",
        "low": "95.25000000",
        "close": "105.00000000",
        "volume": "12.12345678",
    }


async def test_candle_queries_are_validated(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    base = {"symbol": "BTC/USDT", "timeframe": "1h"}
    for params in (
        {"timeframe": "1h"},
        {**base, "limit": "5001"},
        {**base, "limit": "0"},
        {**base, "start": "2025-03-11T00:00:00Z", "end": "2025-03-10T00:00:00Z"},
        {**base, "start": "yesterday"},
        {**base, "start": "0001-01-01T00:00:00+14:00"},
        {**base, "end": "9999-12-31T23:59:59-14:00"},
        {**base, "timeframe": "1y"},
    ):
        response = await client.get("/api/v1/market/ohlcv", params=params, headers=me.headers)
        assert response.status == 422, params
    assert (await client.get("/api/v1/market/ohlcv", params=base)).status == 401


async def test_symbols_list_each_series_and_its_span(
    client: Client, sign_in: SignIn, service_headers: dict[str, str]
) -> None:
    me = await sign_in()
    await seed(
        client,
        service_headers,
        [candle(h) for h in range(5)]
        + [candle(h, timeframe="4h") for h in (0, 4)]
        + [candle(h, symbol="ETH/USDT") for h in (7, 8)],
    )
    response = await client.get("/api/v1/market/symbols", headers=me.headers)
    assert response.status == 200
    assert await response.json() == {
        "symbols": [
            {
                "symbol": "BTC/USDT",
                "timeframes": [
                    {"timeframe": "1h", "first": at(0), "last": at(4)},
                    {"timeframe": "4h", "first": at(0), "last": at(4)},
                ],
            },
            {
                "symbol": "ETH/USDT",
                "timeframes": [{"timeframe": "1h", "first": at(7), "last": at(8)}],
            },
        ]
    }
    assert (await client.get("/api/v1/market/symbols")).status == 401


async def test_the_service_token_is_not_held_to_the_per_ip_limit_but_a_wrong_one_is(
    api_settings: Settings, flushed_redis: None, service_headers: dict[str, str]
) -> None:
    strict = await start_client(api_settings.model_copy(update={"api_rate_limit_per_minute": 2}))
    try:
        service = [
            (await strict.post(UPSERT, json={"candles": [candle(n)]}, headers=service_headers))
            for n in range(5)
        ]
        guessing = [
            (await strict.post(UPSERT, json={"candles": []}, headers={"Authorization": "Bearer x"}))
            for _ in range(3)
        ]
    finally:
        await strict.close()

    assert [response.status for response in service] == [200] * 5
    assert [response.status for response in guessing] == [403, 403, 429]
