"""settlement.md's formulas, with worked examples computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement import rules
from settlement.scheduled import days_to_settle, months_to_settle


def fee(volume: str, user_tier: int = 0, author_tier: int = 0, **overrides: object) -> rules.Fee:
    arguments: dict[str, object] = {
        "volume": Decimal(volume),
        "user_tier": user_tier,
        "author_tier": author_tier,
        "user_is_author": False,
        "base_fee_bps": 20,
        "credits_per_usdt0": 100,
        **overrides,
    }
    return rules.daily_fee(**arguments)  # type: ignore[arg-type]


# 1,000 USDT0 of volume at 20 bps is 2 USDT0 = 200 credits before the discount.
FEE_CREDITS_BY_USER_TIER = [200, 180, 160, 140, 120, 100]
# floor(fee × author rate / 10000), worked by hand for each (user tier, author tier).
AUTHOR_FEE_CREDITS = [
    [20, 21, 22, 25, 30, 40],
    [18, 18, 19, 22, 27, 36],
    [16, 16, 17, 20, 24, 32],
    [14, 14, 15, 17, 21, 28],
    [12, 12, 13, 15, 18, 24],
    [10, 10, 11, 12, 15, 20],
]


@pytest.mark.parametrize("user_tier", range(6))
@pytest.mark.parametrize("author_tier", range(6))
def test_every_tier_pair_splits_a_1000_usdt0_day_as_worked_by_hand(
    user_tier: int, author_tier: int
) -> None:
    result = fee("1000", user_tier, author_tier)
    expected_fee = FEE_CREDITS_BY_USER_TIER[user_tier]
    expected_author = AUTHOR_FEE_CREDITS[user_tier][author_tier]
    assert result.fee_credits == expected_fee
    assert result.fee_amount == Decimal(expected_fee) / 100
    assert result.discount_bps == user_tier * 1000
    assert result.author_fee_credits == expected_author
    assert result.platform_fee_credits == expected_fee - expected_author


@pytest.mark.parametrize(
    ("volume", "total_volume"),
    [
        ("0.000000005", "0.00000000"),
        ("0.000000015", "0.00000002"),
        ("0.000000025", "0.00000002"),
        ("12.3456789049999", "12.34567890"),
    ],
)
def test_total_volume_rounds_half_even_to_8_decimals(volume: str, total_volume: str) -> None:
    assert fee(volume).total_volume == Decimal(total_volume)


@pytest.mark.parametrize(
    ("volume", "fee_amount"),
    [("0.0000025", "0.00000000"), ("0.0000075", "0.00000002"), ("0.0000125", "0.00000002")],
)
def test_fee_amount_rounds_half_even_to_8_decimals(volume: str, fee_amount: str) -> None:
    assert fee(volume).fee_amount == Decimal(fee_amount)


@pytest.mark.parametrize(
    ("volume", "fee_credits"), [("2.5", 0), ("7.5", 2), ("12.5", 2), ("17.5", 4)]
)
def test_fee_credits_round_half_even_to_a_whole_credit(volume: str, fee_credits: int) -> None:
    assert fee(volume).fee_credits == fee_credits


def test_a_tiny_volume_costs_nothing() -> None:
    result = fee("0.00000001")
    assert (result.fee_amount, result.fee_credits, result.author_fee_credits) == (0, 0, 0)


def test_no_one_earns_an_author_fee_from_themselves() -> None:
    result = fee("1000", 0, 5, user_is_author=True)
    assert result.author_fee_credits == 0
    assert result.platform_fee_credits == result.fee_credits == 200


def test_a_zero_base_fee_charges_nothing() -> None:
    result = fee("1000000", base_fee_bps=0)
    assert (result.fee_amount, result.fee_credits, result.platform_fee_credits) == (0, 0, 0)


def test_a_whale_volume_is_computed_exactly() -> None:
    result = fee("9999999999999999999999.99999999", 3)
    # × 0.002 × 0.7 = 13,999,999,999,999,999,999.999999999999986 → 8 places, half-even.
    assert result.fee_amount == Decimal("14000000000000000000.00000000")


@given(
    volume=st.decimals(min_value=0, max_value=10**12, places=16, allow_nan=False),
    user_tier=st.integers(0, 5),
    author_tier=st.integers(0, 5),
    user_is_author=st.booleans(),
    base_fee_bps=st.integers(0, 10_000),
    credits_per_usdt0=st.integers(1, 10_000),
)
def test_fee_parts_always_add_up_and_never_go_negative(
    volume: Decimal,
    user_tier: int,
    author_tier: int,
    user_is_author: bool,
    base_fee_bps: int,
    credits_per_usdt0: int,
) -> None:
    result = rules.daily_fee(
        volume=volume,
        user_tier=user_tier,
        author_tier=author_tier,
        user_is_author=user_is_author,
        base_fee_bps=base_fee_bps,
        credits_per_usdt0=credits_per_usdt0,
    )
    assert result.author_fee_credits + result.platform_fee_credits == result.fee_credits
    assert min(result.fee_credits, result.author_fee_credits, result.platform_fee_credits) >= 0
    assert result.fee_amount <= result.total_volume
    assert result.fee_amount.as_tuple().exponent >= -8  # type: ignore[operator]


@pytest.mark.parametrize(
    ("staked", "tier"),
    [
        ("-60000", 0),
        ("-0.000000000000000001", 0),
        ("0", 0),
        ("4999.999999999999999999", 0),
        ("5000", 1),
        ("19999", 1),
        ("20000", 2),
        ("50000", 3),
        ("200000", 4),
        ("999999", 4),
        ("1000000", 5),
        ("50000000", 5),
    ],
)
def test_the_tier_is_the_highest_threshold_the_stake_reaches(staked: str, tier: int) -> None:
    assert rules.tier_for_stake(Decimal(staked)) == tier


def test_a_day_is_a_utc_calendar_day() -> None:
    day = rules.day_index_of_date(dt.date(2026, 11, 22))
    start, end = rules.day_bounds(day)
    assert start == dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    assert end == dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    assert rules.day_index_of(end - dt.timedelta(microseconds=1)) == day
    assert rules.day_index_of(end) == day + 1
    assert rules.date_of_day_index(day) == dt.date(2026, 11, 22)


def test_royalties_round_down_to_a_whole_credit() -> None:
    assert rules.royalty_amount(revenue_credits=999, rate_bps=1050) == 104


def test_catch_up_lists_every_finished_day_and_month_oldest_first() -> None:
    assert days_to_settle(dt.date(2026, 11, 20), dt.date(2026, 11, 23)) == [
        dt.date(2026, 11, 20),
        dt.date(2026, 11, 21),
        dt.date(2026, 11, 22),
    ]
    assert days_to_settle(dt.date(2026, 11, 23), dt.date(2026, 11, 23)) == []
    assert months_to_settle(dt.date(2025, 11, 15), dt.date(2026, 2, 1)) == [
        "2025-11",
        "2025-12",
        "2026-01",
    ]
