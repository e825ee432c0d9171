"""settlement.rules_sql against settlement.rules: the daily run's SQL computes exactly what the
pure functions compute (settlement.md's quantizing included), on random and tie-making inputs."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from settlement import rules, rules_sql

DB_EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

ONE_E8 = Decimal("0.00000001")
END = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)

# Values with up to 20 decimals, and values that sit exactly halfway between two integers
# (or, for the 8-decimal step, two multiples of 10^-8): the rounding's hard cases.
exact_numbers = st.decimals(
    min_value=-(10**15), max_value=10**15, places=20, allow_nan=False, allow_infinity=False
)
halfway_numbers = st.integers(-(10**12), 10**12).map(lambda n: Decimal(n) + Decimal("0.5"))
halfway_at_8_decimals = st.integers(0, 10**14).map(lambda n: (Decimal(n) + Decimal("0.5")) * ONE_E8)

# A (user, strategy) volume is a sum of products of two 8-decimal numbers: 16 decimals.
volumes = st.one_of(
    st.decimals(min_value=0, max_value=10**13, places=16, allow_nan=False, allow_infinity=False),
    halfway_at_8_decimals,
    st.integers(0, 10**9).map(lambda n: Decimal(n) * ONE_E8),
)
tiers = st.integers(0, rules.MAX_TIER)
fee_rows = st.lists(st.tuples(volumes, tiers, tiers, st.booleans()), min_size=1, max_size=30)

_HALF_EVEN = text(
    f"""
    SELECT {rules_sql.half_even("x")} AS whole, {rules_sql.eight_decimals("x")} AS eighths
    FROM unnest(CAST(:values AS numeric[])) WITH ORDINALITY AS v(x, n)
    ORDER BY n
    """
)

_FEES = text(
    f"""
    WITH p AS (
        SELECT *
        FROM unnest(
            CAST(:volumes AS numeric[]), CAST(:user_tiers AS integer[]),
            CAST(:author_tiers AS integer[]), CAST(:own AS boolean[])
        ) WITH ORDINALITY AS p(volume, user_tier, author_tier, user_is_author, n)
    )
    SELECT {rules_sql.FEE_COLUMNS}
    FROM p
    {rules_sql.FEE_JOINS}
    ORDER BY p.n
    """
)

_TIERS = text(
    f"""
    SELECT {rules_sql.tier_of("u", "s")} AS tier
    FROM unnest(CAST(:stakes AS numeric[])) WITH ORDINALITY AS s(g8d, n)
    CROSS JOIN (SELECT CAST(:manual AS integer) AS manual_tier) AS u
    ORDER BY s.n
    """
)


@DB_EXAMPLES
@given(values=st.lists(st.one_of(exact_numbers, halfway_numbers, halfway_at_8_decimals)))
@example(values=[Decimal("0.5"), Decimal("1.5"), Decimal("2.5"), Decimal("-0.5"), Decimal("-1.5")])
@example(values=[Decimal("0.000000005"), Decimal("0.000000015"), Decimal("-0.000000025")])
async def test_half_even_rounds_as_decimal_does(
    session: AsyncSession, values: list[Decimal]
) -> None:
    rows = (await session.execute(_HALF_EVEN, {"values": values})).all()

    assert [row.whole for row in rows] == [
        v.quantize(Decimal(1), rounding=ROUND_HALF_EVEN) for v in values
    ]
    assert [row.eighths for row in rows] == [
        v.quantize(rules.EIGHT_DECIMALS, rounding=ROUND_HALF_EVEN) for v in values
    ]


@DB_EXAMPLES
@given(
    rows=fee_rows,
    base_fee_bps=st.one_of(st.just(20), st.integers(0, 10_000)),
    credits_per_usdt0=st.one_of(st.just(100), st.integers(1, 1_000_000)),
)
@example(
    # 1,000 USDT0 by tier 3 on a tier-5 author: 140 credits, 28 to the author (settlement.md).
    rows=[(Decimal(1000), 3, 5, False), (Decimal(1000), 3, 5, True)],
    base_fee_bps=20,
    credits_per_usdt0=100,
)
@example(
    # Halfway volumes, fees and credits: 0.25 USDT0 at 20 bps is a fee of 0.0005, i.e. 0.05
    # credits, which rounds to 0; 2.5 rounds to 2, 3.5 to 4, and 0.000000005 to 0.00000000.
    rows=[
        (Decimal("0.25"), 0, 0, False),
        (Decimal("0.000000005"), 0, 0, False),
        (Decimal("0.000000015"), 0, 0, False),
        (Decimal("1250"), 0, 0, False),
        (Decimal("1750"), 0, 0, False),
    ],
    base_fee_bps=20,
    credits_per_usdt0=100,
)
async def test_fee_parts_are_those_of_rules_daily_fee(
    session: AsyncSession,
    rows: list[tuple[Decimal, int, int, bool]],
    base_fee_bps: int,
    credits_per_usdt0: int,
) -> None:
    computed = (
        await session.execute(
            _FEES,
            {
                "volumes": [volume for volume, *_ in rows],
                "user_tiers": [user_tier for _, user_tier, _, _ in rows],
                "author_tiers": [author_tier for *_, author_tier, _ in rows],
                "own": [own for *_, own in rows],
                **rules_sql.fee_parameters(
                    base_fee_bps=base_fee_bps, credits_per_usdt0=credits_per_usdt0
                ),
            },
        )
    ).all()

    expected = [
        rules.daily_fee(
            volume=volume,
            user_tier=user_tier,
            author_tier=author_tier,
            user_is_author=own,
            base_fee_bps=base_fee_bps,
            credits_per_usdt0=credits_per_usdt0,
        )
        for volume, user_tier, author_tier, own in rows
    ]
    assert [
        rules.Fee(
            total_volume=row.total_volume,
            discount_bps=row.discount_bps,
            fee_amount=row.fee_amount,
            fee_credits=row.fee_credits,
            author_fee_credits=row.author_fee_credits,
            platform_fee_credits=row.platform_fee_credits,
        )
        for row in computed
    ] == expected


thresholds = st.sampled_from(rules.TIER_THRESHOLDS_G8D).flatmap(
    lambda threshold: st.sampled_from(
        [Decimal(threshold), threshold - Decimal("1e-18"), threshold + Decimal("1e-18")]
    )
)
# Below zero too: a wallet's withdrawal recorded for its new owner (rules.tier_for_stake).
stakes = st.one_of(
    thresholds,
    st.decimals(
        min_value=-(10**6), max_value=10**9, places=18, allow_nan=False, allow_infinity=False
    ),
)


@DB_EXAMPLES
@given(stakes=st.lists(stakes, min_size=1, max_size=20), manual=st.none() | tiers)
async def test_the_tier_of_a_stake_is_that_of_rules_tier_for_stake(
    session: AsyncSession, stakes: list[Decimal], manual: int | None
) -> None:
    parameters = rules_sql.tier_parameters(blockchain_enabled=True, end=END)
    computed = await session.execute(_TIERS, {"stakes": stakes, "manual": manual, **parameters})
    expected = [manual if manual is not None else rules.tier_for_stake(s) for s in stakes]
    assert list(computed.scalars()) == expected
