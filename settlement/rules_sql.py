"""The money rules of settlement.rules in SQL, for the daily run's set-based statements.

Same rules, same quantizing, exact NUMERIC arithmetic: only additions, multiplications and
comparisons (PostgreSQL's numeric division chooses its own result scale, so it is never used;
dividing by 10^8 is multiplying by 0.00000001). tests/integration/test_settlement_sql_rules.py
proves the SQL equal to `rules.daily_fee` and `rules.tier_for_stake` on random inputs. The
tables (discounts, rates, thresholds) are bound from settlement.rules, so they exist once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from settlement import rules


def half_even(value: str) -> str:
    """SQL rounding `value` (an exact NUMERIC expression) to a whole number with ties to even,
    as Decimal's ROUND_HALF_EVEN does; PostgreSQL's own round() sends ties away from zero, so a
    tie whose integer part is even goes to that integer part instead. `value` is written out
    five times: over many rows, give a column rather than a computation (see FEE_JOINS)."""
    return (
        f"(CASE WHEN abs({value} - trunc({value})) = 0.5 AND mod(trunc({value}), 2) = 0 "
        f"THEN trunc({value}) ELSE round({value}) END)"
    )


def eight_decimals(value: str) -> str:
    """SQL of `value` quantized to 8 decimals, ROUND_HALF_EVEN (`rules.EIGHT_DECIMALS`)."""
    return f"({half_even(f'({value}) * 100000000')} * 0.00000001)"


# (BLOCKCHAIN_ENABLED) each user's G8D staked in blocks before :end, as the indexer recorded it.
# A record's block time is its event's; naming the indexed chains (indexer_cursors, which a
# BLOCKCHAIN_ENABLED run requires anyway) lets each record find its event through chain_events'
# UNIQUE (chain_id, tx_hash, log_index) instead of a scan of every event ever indexed.
STAKED_CTE = """
    staked AS (
        SELECT r.user_id,
               sum(CASE WHEN r.type = 'STAKE' THEN r.amount ELSE -r.amount END) AS g8d
        FROM staking_records AS r
        JOIN chain_events AS e
            ON e.chain_id IN (SELECT chain_id FROM indexer_cursors)
           AND e.tx_hash = r.onchain_tx_hash AND e.log_index = r.log_index
        WHERE CAST(:blockchain_enabled AS boolean)
          AND r.status <> 'FAILED'
          AND e.block_timestamp < :end
        GROUP BY r.user_id
    )
"""


def tier_of(user: str, staked: str) -> str:
    """SQL of a user's tier at :end, from their `users` row and `staked` row (both may be
    missing): the admin's manual tier when set, else the tier of the stake, else 0 (no stake,
    or a sum below zero, reaches only threshold 0). width_bucket(stake, ascending thresholds)
    counts the thresholds the stake reaches: `rules.tier_for_stake` plus one."""
    return (
        f"coalesce({user}.manual_tier, width_bucket("
        f"greatest(coalesce({staked}.g8d, 0), 0), CAST(:tier_thresholds AS numeric[])) - 1)"
    )


# Steps 1-5 for each row of a relation `p(volume, user_tier, author_tier, user_is_author)`,
# in units of 10^-8 USDT0 so that every quantizing step rounds to a whole number:
#   volume units = volume × 10^8, half-even (total_volume = units × 10^-8);
#   fee units    = total_volume × BASE_FEE_BPS / 10^4 × (10^4 − discount) / 10^4 × 10^8
#                = volume units × BASE_FEE_BPS × (10^4 − discount) × 10^-8, half-even;
#   fee_credits  = fee units × 10^-8 × CREDITS_PER_USDT0, half-even;
#   author share = floor(fee_credits × author rate / 10^4), 0 for the strategy's own author.
# Each exact value is computed once in a lateral of its own (OFFSET 0 keeps the planner from
# folding it back into the rounding, which names it five times). Joins to append after
# `FROM ... AS p`; FEE_COLUMNS selects their values.
FEE_JOINS = f"""
    CROSS JOIN LATERAL (
        SELECT p.volume * 100000000 AS exact,
               (CAST(:discount_bps_by_tier AS integer[]))[p.user_tier + 1] AS discount_bps
        OFFSET 0
    ) AS volume_exact
    CROSS JOIN LATERAL (SELECT {half_even("volume_exact.exact")} AS units OFFSET 0) AS volume
    CROSS JOIN LATERAL (
        SELECT volume.units * (CAST(:base_fee_bps AS integer)
               * (10000 - volume_exact.discount_bps)) * 0.00000001 AS exact
        OFFSET 0
    ) AS fee_exact
    CROSS JOIN LATERAL (SELECT {half_even("fee_exact.exact")} AS units OFFSET 0) AS fee
    CROSS JOIN LATERAL (
        SELECT fee.units * CAST(:credits_per_usdt0 AS integer) * 0.00000001 AS exact OFFSET 0
    ) AS charged_exact
    CROSS JOIN LATERAL (
        SELECT CAST({half_even("charged_exact.exact")} AS bigint) AS credits OFFSET 0
    ) AS charged
    CROSS JOIN LATERAL (
        SELECT CASE WHEN p.user_is_author THEN 0 ELSE CAST(div(
            charged.credits * (CAST(:author_rate_bps_by_tier AS numeric[]))[p.author_tier + 1],
            10000
        ) AS bigint) END AS credits
    ) AS author
"""

FEE_COLUMNS = """
    volume.units * 0.00000001 AS total_volume,
    volume_exact.discount_bps,
    fee.units * 0.00000001 AS fee_amount,
    charged.credits AS fee_credits,
    author.credits AS author_fee_credits,
    charged.credits - author.credits AS platform_fee_credits
"""


def tier_parameters(*, blockchain_enabled: bool, end: dt.datetime) -> dict[str, Any]:
    """The bind parameters of STAKED_CTE and tier_of."""
    return {
        "blockchain_enabled": blockchain_enabled,
        "end": end,
        "tier_thresholds": list(rules.TIER_THRESHOLDS_G8D),
    }


def fee_parameters(*, base_fee_bps: int, credits_per_usdt0: int) -> dict[str, Any]:
    """The bind parameters of FEE_JOINS."""
    return {
        "base_fee_bps": base_fee_bps,
        "credits_per_usdt0": credits_per_usdt0,
        "discount_bps_by_tier": list(rules.DISCOUNT_BPS),
        "author_rate_bps_by_tier": list(rules.AUTHOR_RATE_BPS),
    }
