"""The money rules of settlement.md as pure functions: tiers, rates, fees, royalties, days.

Exact arithmetic only (Decimal and int); the quantizing steps are part of the contract.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

SECONDS_PER_DAY = 86_400
BPS = 10_000
EIGHT_DECIMALS = Decimal("0.00000001")
WHOLE = Decimal(1)

# Index = tier 0..5.
TIER_THRESHOLDS_G8D = (0, 5_000, 20_000, 50_000, 200_000, 1_000_000)
DISCOUNT_BPS = (0, 1000, 2000, 3000, 4000, 5000)
AUTHOR_RATE_BPS = (1000, 1050, 1100, 1250, 1500, 2000)
FOLLOW_QUOTA = (1, 3, 10, 25, 50, 100)
MAX_TIER = len(TIER_THRESHOLDS_G8D) - 1

# Wide enough that no product or quotient below is ever rounded: NUMERIC(30,8) volumes times
# bps factors stay far under 100 digits, and dividing by powers of ten is exact.
_EXACT = Context(prec=100, rounding=ROUND_HALF_EVEN)


def tier_for_stake(staked_g8d: Decimal) -> int:
    """The highest tier whose threshold the staked G8D reaches; 0 for a sum below zero (a
    wallet's withdrawal recorded for a new owner of the wallet, its stake for the old one)."""
    return max(
        (tier for tier, threshold in enumerate(TIER_THRESHOLDS_G8D) if staked_g8d >= threshold),
        default=0,
    )


def day_index_of(moment: dt.datetime) -> int:
    return int(moment.timestamp()) // SECONDS_PER_DAY


def day_index_of_date(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def date_of_day_index(day_index: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day_index)


def day_bounds(day_index: int) -> tuple[dt.datetime, dt.datetime]:
    """Day D covers [D·86400, (D+1)·86400) in UTC."""
    start = dt.datetime.fromtimestamp(day_index * SECONDS_PER_DAY, tz=dt.UTC)
    return start, start + dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Fee:
    total_volume: Decimal
    discount_bps: int
    fee_amount: Decimal
    fee_credits: int
    author_fee_credits: int
    platform_fee_credits: int


def daily_fee(
    *,
    volume: Decimal,
    user_tier: int,
    author_tier: int,
    user_is_author: bool,
    base_fee_bps: int,
    credits_per_usdt0: int,
) -> Fee:
    """Steps 1-5 of a daily settlement for one (user, strategy) from its exact volume."""
    with localcontext(_EXACT):
        return _daily_fee(
            volume, user_tier, author_tier, user_is_author, base_fee_bps, credits_per_usdt0
        )


def _daily_fee(
    volume: Decimal,
    user_tier: int,
    author_tier: int,
    user_is_author: bool,
    base_fee_bps: int,
    credits_per_usdt0: int,
) -> Fee:
    total_volume = volume.quantize(EIGHT_DECIMALS, rounding=ROUND_HALF_EVEN)
    discount = DISCOUNT_BPS[user_tier]
    exact_fee = total_volume * base_fee_bps * (BPS - discount) / (BPS * BPS)
    fee_amount = exact_fee.quantize(EIGHT_DECIMALS, rounding=ROUND_HALF_EVEN)
    fee_credits = int((fee_amount * credits_per_usdt0).quantize(WHOLE, rounding=ROUND_HALF_EVEN))
    author_fee = 0 if user_is_author else fee_credits * AUTHOR_RATE_BPS[author_tier] // BPS
    return Fee(
        total_volume=total_volume,
        discount_bps=discount,
        fee_amount=fee_amount,
        fee_credits=fee_credits,
        author_fee_credits=author_fee,
        platform_fee_credits=fee_credits - author_fee,
    )


def royalty_amount(*, revenue_credits: int, rate_bps: int) -> int:
    return revenue_credits * rate_bps // BPS
