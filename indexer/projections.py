"""Projections of the raw protocol events into the domain tables (chain.md, "From events to
rows"), in the caller's transaction (the indexer's batch, or the API's request): nothing here
commits.

Every projection is a function of ``chain_events`` and the links the API and the settlement
own (verified wallets, registrations, settlements, day commits), computed per *key* from all
the events of that key that are not FAILED, whatever their projection status:

========================  =================  ===============================================
events                    key                effect
========================  =================  ===============================================
Staked, Withdrawn         wallet             one ``staking_records`` row per event for the
                                             owner of the verified wallet: amount in G8D
                                             (wei x 10^-18, exact), tier of the wallet's
                                             running balance (Σ Staked − Σ Withdrawn, in
                                             chain order) after the event, carried from
                                             batch to batch in ``staking_checkpoints``;
                                             CONFIRMED when the block is final, else PENDING
StrategyCreated           metadata URI       the registration with that URI: REGISTERED by
                                             the first creation (chain order) from a
                                             verified wallet of the strategy's owner, with
                                             onchain_strategy_id, tx, registered_at = block
                                             time; FAILED when only other gr8d users created
                                             it; PENDING while no creator is known
registry events           on-chain id S      ``onchain_status`` of S's registration = the
                                             mapping of S's last registry event (below)
Follow*                   (wallet, S)        ``follows`` of (owner, author of S, strategy of
                                             S): the row exists while a FollowStarted does,
                                             onchain_tx_hash = the latest FollowStarted,
                                             is_active = the last event of one of the
                                             owner's wallets is FollowStarted/Resumed
DayCommitted              event; S           the ``day_commits`` row of (strategy of S, day)
                                             with the same root gets the tx and committed_at
                                             = block time; the registration's merkle_root =
                                             root of S's latest committed day
SettlementCreated         event              the settlement (owner of W, strategy of S, day)
                                             gets onchain_settlement_id
SettlementPaid            event              that settlement: PAID, paid_via ONCHAIN,
                                             paid_tx_hash, paid_at = block time (a
                                             settlement already PAID in credits is left
                                             as it is and a warning is logged)
SettlementExpired         event              that settlement: FAILED when it is PENDING
UnstakeRequested,         -                  RAW_ONLY (the API reads them raw), as is any
LastSettledDayUpdated,                       other event without a table of its own
FeeDistributor events
========================  =================  ===============================================

On-chain status of a registration (the registry's enum, StrategyRegistry.sol): StrategyCreated
and StrategyUpdated → DRAFT (an update sends the strategy back to Draft, as the contract
does), VerificationRequested → PENDING_REVIEW, StrategyVerified → VERIFIED,
ActivationRequested → ACTIVATION_REQUESTED, StrategyActivated → ACTIVE, StrategySuspended →
SUSPENDED, StrategyRejected → REJECTED.

Outcomes, in ``chain_events.projection_status``: APPLIED; PARKED when the wallet, the
registration or the settlement the event names is not known yet (it is re-derived by
:func:`replay_parked` once the link exists, and by any later event of the same key); RAW_ONLY;
FAILED with ``projection_error`` when the tables cannot hold a value (a stake of 10^30 wei or
more overflows NUMERIC(30,18), a strategy id or day index past BIGINT, a string the decoder
refused, an author following their own strategy, a settlement row a second on-chain
settlement claims). A failure is logged and counted, and the rest of the batch goes on: values
are checked before any SQL runs, and a statement that still fails is retried on halves of the
batch inside SAVEPOINTs until the one event that causes it is marked FAILED.

Each event is written once where possible: the indexer's writer (service.write_batch,
:func:`project_after_write`) stores a batch's events with the status they most likely end
with (RAW_ONLY, APPLIED, or PARKED for a stake or follow of a wallet that is not verified)
and :func:`project_new`, in the same transaction, takes those fresh rows (as the writer hands
them over, else read back) as PENDING, decides as it would for PENDING rows, and updates
only the ones the guess got wrong (an update of chain_events cannot be HOT: the unprojected
index covers projection_status).

Because a key's state is derived from its remaining events, replaying parked events and
unwinding a reorg are the same derivation: :func:`unwind_from` deletes the orphaned events and
re-derives the keys they touched. Settlements and day commits are rows the settlement owns,
which the indexer only links; unwinding undoes exactly the links the removed events made
(onchain_settlement_id, the on-chain payment, the expiry, the commit's tx).

Decisions where chain.md is silent or unsafe:

* A StrategyCreated by someone else (a front-runner, the URI is public) fails the registration
  only until the owner's own creation of the URI is indexed, which then registers it: a
  stranger cannot block a registration for good.
* A follows row is one per (follower, strategy), but a user may follow with several wallets:
  it is active while any of them follows.
* A day commit is linked only when the chain's root equals the root the settlement computed;
  a different root is logged as an error and the row is left for the relayer's own check.
* Undoing an expiry turns the settlement back to PENDING; if the settlement's own expiry
  sweep had failed it too, its next run fails it again.
* What was applied stays applied when a link goes away later (a wallet deleted or unverified):
  its staking records and the registration its creation made are kept; only events not yet
  applied wait for a link.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import OnchainStrategyStatus as Onchain
from db.enums import ProjectionStatus
from db.models.internal import (
    FOLLOW_EVENTS,
    REGISTRY_EVENTS,
    SETTLEMENT_EVENTS,
    STAKING_EVENTS,
)
from indexer.events import PROTOCOL_EVENTS
from settlement.rules import TIER_THRESHOLDS_G8D

log = structlog.get_logger("gr8d.indexer")

ONCHAIN_STATUS_OF_EVENT: dict[str, Onchain] = {
    "StrategyCreated": Onchain.DRAFT,
    "StrategyUpdated": Onchain.DRAFT,
    "VerificationRequested": Onchain.PENDING_REVIEW,
    "StrategyVerified": Onchain.VERIFIED,
    "ActivationRequested": Onchain.ACTIVATION_REQUESTED,
    "StrategyActivated": Onchain.ACTIVE,
    "StrategySuspended": Onchain.SUSPENDED,
    "StrategyRejected": Onchain.REJECTED,
}
assert set(ONCHAIN_STATUS_OF_EVENT) == set(REGISTRY_EVENTS)

BIGINT_MAX = 2**63 - 1
WEI_PER_G8D = 10**18
# staking_records.amount is NUMERIC(30,18): 12 integer digits of G8D.
STAKE_WEI_LIMIT = 10**30

_DAY_COMMITTED = "DayCommitted"
_SETTLEMENT_CREATED = "SettlementCreated"
_REQUIRED_ARGS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(STAKING_EVENTS, ("user", "amount")),
    "StrategyCreated": ("strategyId", "author", "metadataURI"),
    **dict.fromkeys(REGISTRY_EVENTS[1:], ("strategyId",)),
    **dict.fromkeys(FOLLOW_EVENTS, ("user", "strategyId")),
    _DAY_COMMITTED: ("strategyId", "dayIndex", "rootHash"),
    _SETTLEMENT_CREATED: ("settlementId", "user", "strategyId", "dayIndex"),
    "SettlementPaid": ("settlementId", "user"),
    "SettlementExpired": ("settlementId",),
}
_BIGINT_ARGS = ("strategyId", "dayIndex")
# Events without a table of their own: kept raw (chain.md), whatever their values. A writer
# may store them RAW_ONLY at once and spare the projection an update.
RAW_ONLY_EVENTS: tuple[str, ...] = tuple(
    name for name in PROTOCOL_EVENTS if name not in _REQUIRED_ARGS
)
# Events that park while their `user` is no verified wallet: a writer that calls
# project_after_write may store them PARKED then (a guess the projection checks).
PARKED_WITHOUT_WALLET: tuple[str, ...] = (*STAKING_EVENTS, *FOLLOW_EVENTS)


@dataclass(frozen=True, slots=True)
class ProjectionFailure:
    tx_hash: str
    log_index: int
    event_name: str
    error: str


@dataclass
class ProjectionReport:
    """Events that changed projection status in one pass, by their new status."""

    applied: int = 0
    parked: int = 0
    raw_only: int = 0
    failed: int = 0
    failures: list[ProjectionFailure] = field(default_factory=list)

    def merge(self, other: ProjectionReport) -> None:
        self.applied += other.applied
        self.parked += other.parked
        self.raw_only += other.raw_only
        self.failed += other.failed
        self.failures.extend(other.failures)


@dataclass(frozen=True, slots=True)
class FreshEvents:
    """chain_events ids first..last: a batch stored APPLIED ahead of its projection."""

    first: int
    last: int

    @property
    def params(self) -> dict[str, int]:
        return {"fresh_first": self.first, "fresh_last": self.last}


NOT_FRESH = FreshEvents(0, -1)
_FRESH_KEY = "gr8d.indexer.fresh_events"
_STORED_KEY = "gr8d.indexer.stored_events"


async def project_after_write(
    session: AsyncSession,
    *,
    chain_id: int,
    event_ids: Sequence[int],
    stored: Sequence[StoredEvent] | None = None,
) -> None:
    """A writer stored these events of a chain with the status it guesses they end with
    (APPLIED, or PARKED for PARKED_WITHOUT_WALLET events of a wallet that is not verified)
    and calls :func:`project_new` over their blocks in the same transaction and session, which
    reads them as PENDING, decides, and updates only the ones guessed wrong.

    The projection tells them apart by their ids, which one insert numbers in a row; should
    they not be one run (another writer's rows between them), or should a previous write not
    have been projected yet, those are stored PENDING instead, as a writer without this
    promise stores them. A writer that passes the rows it stored (`stored`, as they are in
    the table) spares project_new reading them back."""
    previous = session.info.pop((_FRESH_KEY, chain_id), None)
    session.info.pop((_STORED_KEY, chain_id), None)
    if previous is not None:
        await session.execute(
            _DEMOTE_WRITTEN, {"ids": list(range(previous.first, previous.last + 1))}
        )
    if not event_ids:
        return
    first, last = min(event_ids), max(event_ids)
    if last - first + 1 == len(event_ids):
        session.info[(_FRESH_KEY, chain_id)] = FreshEvents(first, last)
        if stored is not None:
            session.info[(_STORED_KEY, chain_id)] = stored
    else:
        await session.execute(_DEMOTE_WRITTEN, {"ids": list(event_ids)})


_UNCHECKED = "\0unchecked"  # no reason a check gives can hold a NUL


class _Event(NamedTuple):
    """A chain_events row with the arguments the projections read (as stored: strings).
    (A tuple: a batch makes thousands, and a frozen dataclass is slow to build.)"""

    id: int
    chain_id: int
    block_number: int
    log_index: int
    tx_hash: str
    name: str
    status: str
    error: str | None
    args: dict[str, str | None]
    # Why the tables cannot hold the values (see _refusal), when the writer has checked.
    refusal: str | None = _UNCHECKED

    def arg(self, name: str) -> str:
        value = self.args[name]
        assert value is not None  # checked by _refusal before any projection reads it
        return value


_ARG_NAMES = (
    "user",
    "author",
    "strategyId",
    "metadataURI",
    "dayIndex",
    "rootHash",
    "settlementId",
    "amount",
)
_EVENT_COLUMNS = (
    "e.id, e.chain_id, e.block_number, e.log_index, e.tx_hash, e.event_name, "
    "e.projection_status, e.projection_error, e.args IS NOT NULL AS decoded, "
    + ", ".join(f"e.args ->> '{name}' AS \"{name}\"" for name in _ARG_NAMES)
)


def _event_of(row: Any) -> _Event:
    # By position (the order of _EVENT_COLUMNS), from one plain tuple: a batch reads
    # thousands of rows, and each access to a Row costs more than to a tuple.
    values = tuple(row)
    id_, chain_id, block_number, log_index, tx_hash, name, status, error = values[:8]
    args = dict(zip(_ARG_NAMES, values[9:], strict=True)) if values[8] else {}
    return _Event(id_, chain_id, block_number, log_index, tx_hash, name, status, error, args)


# A chain_events row as a writer stored it (for project_after_write).
StoredEvent: TypeAlias = _Event


def stored_event(
    id_: int,
    chain_id: int,
    block_number: int,
    log_index: int,
    tx_hash: str,
    name: str,
    status: str,
    error: str | None,
    arguments: dict[str, str | None] | None,
    refusal: str | None,
) -> StoredEvent:
    """The row as project_new would read it back: `arguments` from :func:`projected_arguments`
    of the args stored (None: stored without args, then read-only) and `refusal` from
    :func:`refusal_of` them, both made once where the event is decoded."""
    args = arguments if arguments is not None else {}
    return _Event(
        id_, chain_id, block_number, log_index, tx_hash, name, status, error, args, refusal
    )


def projected_arguments(json_args: Mapping[str, object] | None) -> dict[str, str | None] | None:
    """What ``args ->> name`` gives for each argument the projections read."""
    if json_args is None:
        return None
    return {name: _as_text(json_args.get(name)) for name in _ARG_NAMES}


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    # jsonb's text form of a non-string value (none of the arguments read is one).
    return json.dumps(value)


def _verified_owner(address: str) -> str:
    """A lateral join giving `wa.user_id`, the owner of the verified wallet `address`: one
    index lookup per row (a join would hash every wallet for a batch's hundreds of keys)."""
    return (
        "LEFT JOIN LATERAL (SELECT wa.user_id FROM wallets AS wa "
        f"WHERE wa.address = {address} AND wa.is_verified OFFSET 0) AS wa ON true"
    )


def _registered_strategy(onchain_id: str) -> str:
    """A lateral join giving `r.strategy_id`, the strategy registered on chain as
    `onchain_id`: one lookup in its unique index per row. (A plain join over a computed id
    may compare every row with every registration, and a batch's registrations are too new
    for the statistics: the status is checked after the lookup, never by its index.)"""
    return (
        "LEFT JOIN LATERAL (SELECT r.strategy_id FROM (SELECT r.strategy_id, r.status "
        "FROM strategy_registrations AS r "
        f"WHERE r.onchain_strategy_id = {onchain_id} OFFSET 0) AS r "
        "WHERE r.status = 'REGISTERED') AS r ON true"
    )


def _names(events: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{name}'" for name in events) + ")"


def _bigint(expression: str) -> str:
    """A uint argument as BIGINT, NULL past BIGINT's range (never a cast error)."""
    return (
        f"CASE WHEN CAST({expression} AS numeric) <= {BIGINT_MAX} "
        f"THEN CAST({expression} AS bigint) END"
    )


def _tier_of_wei(balance: str) -> str:
    """settlement.rules' tier thresholds over a balance in wei, as SQL."""
    arms = " ".join(
        f"WHEN {balance} >= {threshold * WEI_PER_G8D} THEN {tier}"
        for tier, threshold in reversed(list(enumerate(TIER_THRESHOLDS_G8D)))
        if tier > 0
    )
    return f"CASE {arms} ELSE 0 END"


def _onchain_status_of(event_name: str) -> str:
    arms = " ".join(
        f"WHEN '{name}' THEN '{status.value}'" for name, status in ONCHAIN_STATUS_OF_EVENT.items()
    )
    return f"CASE {event_name} {arms} END"


# Every projecting statement ends in an `outcome` CTE (id, current status, new status, error,
# warning) and this tail: only PENDING and PARKED events move, and only when their outcome
# differs. (The current status comes with the outcome so that the planner joins on the id.)
#
# Lookups of a key's events are LATERAL subqueries (kept apart from the outer query by a
# window or OFFSET 0): one index scan per key, whatever the table's size and however stale its
# statistics (a batch's rows are minutes old; the planner would guess a handful and scan the
# whole event family instead).
_MARK = """
marked AS (
    UPDATE chain_events AS e
    SET projection_status = o.status, projection_error = o.error
    FROM outcome AS o
    WHERE e.id = o.id
      AND o.current IN ('PENDING', 'PARKED')
      AND (e.projection_status, e.projection_error) IS DISTINCT FROM (o.status, o.error)
    RETURNING e.event_name, e.tx_hash, e.log_index, e.projection_status,
              e.projection_error, o.warning
)
"""
_FRESH_KEPT = """
FROM outcome AS o JOIN chain_events AS f ON f.id = o.id
WHERE o.id BETWEEN CAST(:fresh_first AS bigint) AND CAST(:fresh_last AS bigint)
  AND o.current = 'PENDING'
  AND (f.projection_status, f.projection_error) IS NOT DISTINCT FROM (o.status, o.error)
"""
# What moved, one row each; fresh rows whose stored status was right: one by one when there
# is something to log, else one count per status (`times`).
_MARKED = f"""
SELECT event_name, tx_hash, log_index, projection_status, projection_error, warning,
       1 AS times
FROM marked
UNION ALL
SELECT f.event_name, f.tx_hash, f.log_index, o.status, o.error, o.warning, 1
{_FRESH_KEPT}
  AND (o.warning IS NOT NULL OR o.status NOT IN ('APPLIED', 'PARKED'))
UNION ALL
SELECT '', NULL, NULL, o.status, NULL, NULL, count(*)
{_FRESH_KEPT}
  AND o.warning IS NULL AND o.status IN ('APPLIED', 'PARKED')
GROUP BY o.status
"""
_NOTHING = "CAST(NULL AS text)"

# A batch's writer stores its projectable events APPLIED or PARKED at once, as it guesses
# (service.write_batch, project_after_write), so that most are written once; until
# project_new has projected them, those fresh rows (ids fresh_first..fresh_last) read as
# PENDING, and the projection decides. A fresh row the guess got right is not updated, so
# the tail above reports it from the outcome.
_STATUS = (
    "CASE WHEN e.projection_status IN ('APPLIED', 'PARKED') AND e.id BETWEEN "
    "CAST(:fresh_first AS bigint) AND CAST(:fresh_last AS bigint) "
    "THEN 'PENDING' ELSE e.projection_status END"
)


# --- reading events ------------------------------------------------------------------------

_CHAIN_ORDER = operator.attrgetter("block_number", "log_index")

_NOT_FRESH_IN_RANGE = f"""
    SELECT {_EVENT_COLUMNS}
    FROM chain_events AS e
    WHERE e.chain_id = :chain_id AND e.block_number BETWEEN :first_block AND :last_block
      AND e.projection_status IN ('PENDING', 'FAILED')
      AND e.id NOT BETWEEN CAST(:fresh_first AS bigint) AND CAST(:fresh_last AS bigint)
"""
_IN_RANGE_NOT_FRESH = text(_NOT_FRESH_IN_RANGE)
_IN_RANGE = text(
    f"""
    {_NOT_FRESH_IN_RANGE}
    UNION ALL
    -- Fresh rows wherever they are: none may stay as the writer guessed unchecked. (Found
    -- by id alone: the chain's whole index need not be read to confirm their chain.)
    SELECT {_EVENT_COLUMNS}
    FROM (
        SELECT * FROM chain_events AS e
        WHERE e.id BETWEEN CAST(:fresh_first AS bigint) AND CAST(:fresh_last AS bigint)
        OFFSET 0
    ) AS e
    WHERE e.chain_id = :chain_id
    ORDER BY block_number, log_index
    """
)

# Fresh rows back to what a writer without the promise stores: all (_DEMOTE_WRITTEN), or
# the APPLIED and PARKED when project_new has counted the RAW_ONLY already (_DEMOTE_FRESH).
_DEMOTE_FRESH = text(
    """
    UPDATE chain_events AS e SET projection_status = 'PENDING'
    WHERE e.id BETWEEN CAST(:fresh_first AS bigint) AND CAST(:fresh_last AS bigint)
      AND e.projection_status IN ('APPLIED', 'PARKED')
    """
)
_DEMOTE_WRITTEN = text(
    """
    UPDATE chain_events SET projection_status = 'PENDING'
    WHERE id = ANY(CAST(:ids AS bigint[]))
      AND projection_status IN ('APPLIED', 'PARKED', 'RAW_ONLY')
    """
)

_FROM_BLOCK = text(
    f"""
    SELECT {_EVENT_COLUMNS}
    FROM chain_events AS e
    WHERE e.chain_id = :chain_id AND e.block_number >= :block_number
    ORDER BY e.block_number, e.log_index
    """
)

_PARKED = text(
    f"""
    SELECT {_EVENT_COLUMNS}
    FROM chain_events AS e
    WHERE e.projection_status = 'PARKED'
      AND (CAST(:chain_id AS bigint) IS NULL OR e.chain_id = CAST(:chain_id AS bigint))
      AND (CAST(:everything AS boolean)
           OR (e.args ->> 'user') = ANY(CAST(:wallets AS text[]))
           OR (e.args ->> 'author') = ANY(CAST(:wallets AS text[]))
           OR (e.args ->> 'metadataURI') = ANY(CAST(:uris AS text[]))
           OR (e.args ->> 'strategyId') = ANY(CAST(:strategy_ids AS text[])))
    ORDER BY e.chain_id, e.block_number, e.log_index
    """
)

_PARKED_CLOSINGS = text(
    f"""
    SELECT {_EVENT_COLUMNS}
    FROM unnest(CAST(:settlement_ids AS text[])) AS k(settlement_id)
    CROSS JOIN LATERAL (
        SELECT * FROM chain_events AS e
        WHERE e.chain_id = :chain_id AND e.event_name IN {_names(SETTLEMENT_EVENTS)}
          AND (e.args ->> 'settlementId') = k.settlement_id
          AND e.event_name IN ('SettlementPaid', 'SettlementExpired')
          AND e.projection_status = 'PARKED'
        OFFSET 0
    ) AS e
    ORDER BY e.block_number, e.log_index
    """
)

_FINALIZED = text("SELECT finalized_block_number FROM indexer_cursors WHERE chain_id = :chain_id")


async def _parked(
    session: AsyncSession,
    *,
    chain_id: int | None,
    wallets: Sequence[str] = (),
    uris: Sequence[str] = (),
    strategy_ids: Sequence[int] = (),
    everything: bool = False,
) -> list[_Event]:
    rows = await session.execute(
        _PARKED,
        {
            "chain_id": chain_id,
            "everything": everything,
            "wallets": [wallet.lower() for wallet in wallets],
            "uris": list(uris),
            "strategy_ids": [str(number) for number in strategy_ids],
        },
    )
    return [_event_of(row) for row in rows]


# --- checks before any SQL -----------------------------------------------------------------


def _refusal(event: _Event) -> str | None:
    """Why the tables cannot hold this event's values, or None."""
    if event.refusal != _UNCHECKED:
        return event.refusal
    return refusal_of(event.name, event.args)


def refusal_of(name: str, args: Mapping[str, str | None] | None) -> str | None:
    """Why the tables cannot hold the values of an event `name` whose arguments, as
    :func:`projected_arguments` gives them, are `args`; or None."""
    if name not in _REQUIRED_ARGS:
        return None
    args = args or {}
    missing = [arg for arg in _REQUIRED_ARGS[name] if args.get(arg) is None]
    if missing:
        return f"{name} lacks decoded arguments {', '.join(missing)}"
    amount = args.get("amount")
    if name in STAKING_EVENTS and amount is not None and int(amount) >= STAKE_WEI_LIMIT:
        return (
            f"amount {amount} wei does not fit staking_records.amount "
            f"NUMERIC(30,18) (less than 10^12 G8D)"
        )
    for arg in _BIGINT_ARGS:
        value = args.get(arg)
        if value is not None and int(value) > BIGINT_MAX:
            return f"{arg} {value} does not fit BIGINT"
    return None


# --- registrations (key: metadata URI) -----------------------------------------------------

_DERIVE_REGISTRATIONS = text(
    f"""
    WITH keys AS (
        SELECT DISTINCT uri FROM unnest(CAST(:uris AS text[])) AS k(uri)
    ),
    registration AS (
        -- The registration a URI names (the oldest, should two share it) and its owner.
        SELECT keys.uri, g.id, g.owner, g.status, g.onchain_strategy_id, g.onchain_tx_hash
        FROM keys
        LEFT JOIN LATERAL (
            SELECT r.id, s.user_id AS owner, r.status, r.onchain_strategy_id, r.onchain_tx_hash
            FROM strategy_registrations AS r JOIN strategies AS s ON s.id = r.strategy_id
            WHERE r.metadata_uri = keys.uri
            ORDER BY r.created_at, r.id
            LIMIT 1
        ) AS g ON true
    ),
    creations AS MATERIALIZED (
        -- One row per creation of the URI (one without any: a registration with none left).
        SELECT g.uri, g.id AS registration_id, g.owner, g.status AS registration_status,
               g.onchain_strategy_id AS registered_id, g.onchain_tx_hash AS registered_tx,
               e.*
        FROM registration AS g
        LEFT JOIN LATERAL (
            SELECT e.id, {_STATUS} AS projection_status, e.block_number, e.log_index,
                   e.tx_hash, e.block_timestamp, {_bigint("e.args ->> 'strategyId'")} AS onchain_id,
                   e.args ->> 'author' AS author
            FROM chain_events AS e
            WHERE (e.args ->> 'metadataURI') = g.uri AND e.event_name = 'StrategyCreated'
              AND e.chain_id = :chain_id AND e.projection_status <> 'FAILED'
            OFFSET 0
        ) AS e ON true
    ),
    authors AS MATERIALIZED (
        -- Each author's wallet looked up once, then joined by hash.
        SELECT w.address, w.user_id FROM wallets AS w
        WHERE w.address IN (SELECT author FROM creations) AND w.is_verified
    ),
    judged AS (
        -- The creation that registered the strategy stays ours even if its wallet has been
        -- unlinked since: a wallet leaving gr8d does not unregister a strategy.
        SELECT c.uri, c.registration_id, c.id, c.projection_status, c.block_number,
               c.log_index, c.tx_hash, c.block_timestamp, c.onchain_id,
               CASE WHEN c.registration_id IS NULL OR c.id IS NULL THEN NULL
                    WHEN c.projection_status = 'APPLIED' AND c.registration_status = 'REGISTERED'
                         AND c.registered_tx = c.tx_hash
                         AND c.registered_id = c.onchain_id THEN true
                    WHEN w.user_id IS NOT NULL THEN w.user_id = c.owner END AS ours
        FROM creations AS c LEFT JOIN authors AS w ON w.address = c.author
    ),
    ranked AS (
        -- First: the owner's first creation if there is one.
        SELECT j.*,
               row_number() OVER (PARTITION BY registration_id
                                  ORDER BY ours IS TRUE DESC, block_number, log_index) AS rank,
               coalesce(bool_or(NOT ours) OVER (PARTITION BY registration_id), false)
                   AS refused
        FROM judged AS j
        WHERE registration_id IS NOT NULL
    ),
    state AS (
        SELECT registration_id AS id,
               CASE WHEN ours THEN 'REGISTERED' WHEN refused THEN 'FAILED'
                    ELSE 'PENDING' END AS status,
               CASE WHEN ours THEN onchain_id END AS onchain_id,
               CASE WHEN ours THEN tx_hash END AS tx_hash,
               CASE WHEN ours THEN block_timestamp END AS registered_at
        FROM ranked
        WHERE rank = 1
    ),
    changed AS (
        UPDATE strategy_registrations AS r
        SET status = s.status,
            onchain_strategy_id = s.onchain_id,
            onchain_tx_hash = s.tx_hash,
            registered_at = s.registered_at,
            -- The strategy's own state is derived next from its events (a new id starts
            -- from DRAFT, its committed days from none).
            onchain_status = CASE WHEN s.onchain_id IS NULL THEN NULL
                                  WHEN r.onchain_strategy_id = s.onchain_id THEN r.onchain_status
                                  ELSE 'DRAFT' END,
            merkle_root = CASE WHEN r.onchain_strategy_id = s.onchain_id THEN r.merkle_root END
        FROM state AS s
        WHERE r.id = s.id
          AND (r.status, r.onchain_strategy_id, r.onchain_tx_hash, r.registered_at)
              IS DISTINCT FROM (s.status, s.onchain_id, s.tx_hash, s.registered_at)
        RETURNING r.onchain_strategy_id
    ),
    outcome AS (
        SELECT id, projection_status AS current,
               CASE WHEN ours IS NULL THEN 'PARKED' ELSE 'APPLIED' END AS status,
               {_NOTHING} AS error,
               CASE WHEN NOT ours THEN 'another gr8d user created this URI on chain' END
                   AS warning
        FROM judged
        WHERE id IS NOT NULL
    ),
    {_MARK}
    SELECT event_name, tx_hash, log_index, projection_status, projection_error, warning,
           times, CAST(NULL AS bigint) AS registered
    FROM ({_MARKED}) AS events
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, 0, onchain_strategy_id
    FROM changed WHERE onchain_strategy_id IS NOT NULL
    """
)


# --- on-chain status (key: S) --------------------------------------------------------------

_STATUS_EVENTS = REGISTRY_EVENTS[1:]  # StrategyCreated's outcome is the registration's

_DERIVE_ONCHAIN_STATUS = text(
    f"""
    WITH keys AS (
        SELECT k.s, r.id AS registration_id
        FROM (SELECT DISTINCT s FROM unnest(CAST(:strategy_ids AS bigint[])) AS k(s)) AS k
        LEFT JOIN strategy_registrations AS r
          ON r.onchain_strategy_id = k.s AND r.status = 'REGISTERED'
    ),
    latest AS (
        SELECT keys.registration_id, last.event_name
        FROM keys
        LEFT JOIN LATERAL (
            SELECT e.event_name FROM chain_events AS e
            WHERE e.chain_id = :chain_id AND e.event_name IN {_names(REGISTRY_EVENTS)}
              AND (e.args ->> 'strategyId') = CAST(keys.s AS text)
              AND e.projection_status <> 'FAILED'
            ORDER BY e.block_number DESC, e.log_index DESC
            LIMIT 1
        ) AS last ON true
        WHERE keys.registration_id IS NOT NULL
    ),
    changed AS (
        UPDATE strategy_registrations AS r
        SET onchain_status = {_onchain_status_of("l.event_name")}
        FROM latest AS l
        WHERE r.id = l.registration_id AND r.onchain_status IS DISTINCT FROM
              ({_onchain_status_of("l.event_name")})
        RETURNING r.id
    ),
    outcome AS (
        SELECT e.id, e.projection_status AS current,
               CASE WHEN keys.registration_id IS NULL THEN 'PARKED' ELSE 'APPLIED' END
                   AS status,
               {_NOTHING} AS error, {_NOTHING} AS warning
        FROM keys
        CROSS JOIN LATERAL (
            SELECT e.id, {_STATUS} AS projection_status FROM chain_events AS e
            WHERE e.chain_id = :chain_id AND e.event_name IN {_names(REGISTRY_EVENTS)}
              AND (e.args ->> 'strategyId') = CAST(keys.s AS text)
              AND e.event_name IN {_names(_STATUS_EVENTS)}
              AND {_STATUS} IN ('PENDING', 'PARKED')
            OFFSET 0
        ) AS e
    ),
    {_MARK}
    {_MARKED}
    """
)


# --- follows (key: wallet and S) -----------------------------------------------------------

_DERIVE_FOLLOWS = text(
    f"""
    WITH seed AS (
        SELECT DISTINCT w, s
        FROM unnest(CAST(:wallets AS text[]), CAST(:strategy_ids AS bigint[])) AS k(w, s)
    ),
    seed_owners AS MATERIALIZED (
        -- Wallets and strategies are looked up once each, then joined by hash: a batch
        -- names the same few hundred of them thousands of times.
        SELECT wa.address, wa.user_id FROM wallets AS wa
        WHERE wa.address = ANY(SELECT DISTINCT w FROM seed) AND wa.is_verified
    ),
    owner_pairs AS (
        SELECT DISTINCT o.user_id AS follower, seed.s
        FROM seed JOIN seed_owners AS o ON o.address = seed.w
    ),
    owner_wallets AS MATERIALIZED (
        -- Every verified wallet of those owners (the seed's verified ones among them).
        SELECT wa.address, wa.user_id FROM wallets AS wa
        WHERE wa.user_id IN (SELECT follower FROM owner_pairs) AND wa.is_verified
    ),
    strategy AS MATERIALIZED (
        SELECT k.s, r.strategy_id, st.user_id AS author
        FROM (SELECT DISTINCT s FROM seed) AS k
        {_registered_strategy("k.s")}
        LEFT JOIN strategies AS st ON st.id = r.strategy_id
    ),
    pairs AS (
        -- The follows row of (owner, S) depends on every verified wallet of the owner.
        SELECT w, s FROM seed
        UNION
        SELECT wa.address, o.s
        FROM owner_pairs AS o JOIN owner_wallets AS wa ON wa.user_id = o.follower
    ),
    events AS (
        SELECT e.*, p.w, p.s, wa.user_id AS follower, g.strategy_id, g.author
        FROM pairs AS p
        CROSS JOIN LATERAL (
            SELECT e.id, {_STATUS} AS projection_status, e.event_name, e.block_number,
                   e.log_index, e.tx_hash
            FROM chain_events AS e
            WHERE e.chain_id = :chain_id AND e.event_name IN {_names(FOLLOW_EVENTS)}
              AND (e.args ->> 'strategyId') = CAST(p.s AS text) AND (e.args ->> 'user') = p.w
              AND e.projection_status <> 'FAILED'
            OFFSET 0
        ) AS e
        LEFT JOIN owner_wallets AS wa ON wa.address = p.w
        JOIN strategy AS g ON g.s = p.s
    ),
    usable AS (
        SELECT events.*,
               row_number() OVER (PARTITION BY w, s
                                  ORDER BY block_number DESC, log_index DESC) AS from_last
        FROM events
        WHERE follower IS NOT NULL AND strategy_id IS NOT NULL AND follower <> author
    ),
    derived AS (
        -- Active while the last event of one of the owner's wallets started or resumed it;
        -- the row exists while a FollowStarted does, and carries the latest one's tx.
        SELECT follower, author, strategy_id,
               bool_or(from_last = 1 AND event_name IN ('FollowStarted', 'FollowResumed'))
                   AS is_active,
               (array_agg(tx_hash ORDER BY block_number DESC, log_index DESC)
                   FILTER (WHERE event_name = 'FollowStarted'))[1] AS tx_hash
        FROM usable
        GROUP BY follower, author, strategy_id
        HAVING bool_or(event_name = 'FollowStarted')
    ),
    upserted AS (
        INSERT INTO follows (follower_id, following_id, strategy_id, is_active, onchain_tx_hash)
        SELECT follower, author, strategy_id, is_active, tx_hash FROM derived
        ON CONFLICT (follower_id, following_id, strategy_id) DO UPDATE
        SET is_active = excluded.is_active, onchain_tx_hash = excluded.onchain_tx_hash
        WHERE (follows.is_active, follows.onchain_tx_hash)
              IS DISTINCT FROM (excluded.is_active, excluded.onchain_tx_hash)
        RETURNING 1
    ),
    removed AS (
        -- Only an unwind takes a follow's every FollowStarted away.
        DELETE FROM follows AS f
        USING owner_pairs AS o, strategy_registrations AS r, strategies AS st
        WHERE CAST(:prune AS boolean)
          AND r.onchain_strategy_id = o.s AND r.status = 'REGISTERED' AND st.id = r.strategy_id
          AND f.follower_id = o.follower AND f.following_id = st.user_id
          AND f.strategy_id = r.strategy_id
          AND NOT EXISTS (SELECT 1 FROM derived AS d
                          WHERE d.follower = o.follower AND d.strategy_id = r.strategy_id)
        RETURNING 1
    ),
    outcome AS (
        SELECT id, projection_status AS current,
               CASE WHEN follower IS NULL OR strategy_id IS NULL THEN 'PARKED'
                    WHEN follower = author THEN 'FAILED'
                    ELSE 'APPLIED' END AS status,
               CASE WHEN follower = author
                    THEN 'the author follows their own strategy: follows refuses a self-follow'
                    END AS error,
               {_NOTHING} AS warning
        FROM events
    ),
    {_MARK}
    {_MARKED}
    """
)


# --- day commits (event) and merkle roots (key: S) -----------------------------------------

_APPLY_DAY_COMMITS = text(
    f"""
    WITH events AS (
        SELECT e.id, {_STATUS} AS projection_status, e.tx_hash, e.block_timestamp,
               lower(e.args ->> 'rootHash') AS root,
               {_bigint("e.args ->> 'strategyId'")} AS s,
               {_bigint("e.args ->> 'dayIndex'")} AS day_index
        FROM unnest(CAST(:ids AS bigint[])) AS k(id)
        CROSS JOIN LATERAL (SELECT * FROM chain_events AS e WHERE e.id = k.id OFFSET 0) AS e
    ),
    linked AS (
        SELECT ev.*, r.strategy_id, d.id AS commit_id, lower(d.merkle_root) AS our_root
        FROM events AS ev
        {_registered_strategy("ev.s")}
        LEFT JOIN LATERAL (
            SELECT d.id, d.merkle_root FROM day_commits AS d
            WHERE d.strategy_id = r.strategy_id AND d.day_index = ev.day_index
            OFFSET 0
        ) AS d ON true
    ),
    committed AS (
        UPDATE day_commits AS d
        SET onchain_tx_hash = l.tx_hash, committed_at = l.block_timestamp
        FROM linked AS l
        WHERE d.id = l.commit_id AND l.our_root = l.root
          AND (d.onchain_tx_hash, d.committed_at)
              IS DISTINCT FROM (l.tx_hash, l.block_timestamp)
        RETURNING d.id
    ),
    outcome AS (
        SELECT id, projection_status AS current,
               CASE WHEN strategy_id IS NULL THEN 'PARKED' ELSE 'APPLIED' END AS status,
               {_NOTHING} AS error,
               CASE WHEN our_root <> root
                    THEN 'the chain committed root ' || root || ' for this day, day_commits '
                         || 'holds ' || our_root || ': not linked' END AS warning
        FROM linked
    ),
    {_MARK}
    {_MARKED}
    """
)

_DERIVE_MERKLE_ROOTS = text(
    f"""
    WITH keys AS (
        SELECT DISTINCT s FROM unnest(CAST(:strategy_ids AS bigint[])) AS k(s)
    ),
    latest AS (
        SELECT keys.s, last.root
        FROM keys
        LEFT JOIN LATERAL (
            SELECT lower(e.args ->> 'rootHash') AS root FROM chain_events AS e
            WHERE e.chain_id = :chain_id AND e.event_name = '{_DAY_COMMITTED}'
              AND (e.args ->> 'strategyId') = CAST(keys.s AS text)
              AND e.projection_status <> 'FAILED'
            ORDER BY CAST(e.args ->> 'dayIndex' AS numeric) DESC, e.block_number DESC,
                     e.log_index DESC
            LIMIT 1
        ) AS last ON true
    )
    UPDATE strategy_registrations AS r
    SET merkle_root = l.root
    FROM latest AS l
    WHERE r.onchain_strategy_id = l.s AND r.status = 'REGISTERED'
      AND r.merkle_root IS DISTINCT FROM l.root
    """
)


# --- settlements (event) -------------------------------------------------------------------

_APPLY_SETTLEMENTS_CREATED = text(
    f"""
    WITH events AS (
        SELECT e.id, {_STATUS} AS projection_status, e.block_number, e.log_index,
               e.args ->> 'user' AS wallet,
               CAST(e.args ->> 'settlementId' AS numeric) AS onchain_id,
               {_bigint("e.args ->> 'strategyId'")} AS s,
               {_bigint("e.args ->> 'dayIndex'")} AS day_index
        FROM unnest(CAST(:ids AS bigint[])) AS k(id)
        CROSS JOIN LATERAL (SELECT * FROM chain_events AS e WHERE e.id = k.id OFFSET 0) AS e
    ),
    owners AS MATERIALIZED (
        -- Each wallet's owner looked up once, then joined by hash.
        SELECT wa.address, wa.user_id FROM wallets AS wa
        WHERE wa.address IN (SELECT wallet FROM events) AND wa.is_verified
    ),
    linked AS (
        SELECT ev.*, st.id AS settlement_id,
               st.onchain_settlement_id IS NULL OR st.onchain_settlement_id = ev.onchain_id
                   AS linkable
        FROM events AS ev
        LEFT JOIN owners AS wa ON wa.address = ev.wallet
        {_registered_strategy("ev.s")}
        LEFT JOIN LATERAL (
            SELECT st.id, st.onchain_settlement_id FROM settlements AS st
            WHERE st.user_id = wa.user_id AND st.strategy_id = r.strategy_id
              AND st.day_index = ev.day_index
            OFFSET 0
        ) AS st ON true
    ),
    ranked AS (
        -- One chain settlement per row: the first that may link it.
        SELECT linked.*,
               settlement_id IS NOT NULL AND linkable
               AND row_number() OVER (PARTITION BY settlement_id, linkable
                                      ORDER BY block_number, log_index) = 1 AS chosen
        FROM linked
    ),
    linked_rows AS (
        UPDATE settlements AS s
        SET onchain_settlement_id = c.onchain_id
        FROM ranked AS c
        WHERE c.chosen AND s.id = c.settlement_id
          AND s.onchain_settlement_id IS DISTINCT FROM c.onchain_id
        RETURNING s.id
    ),
    outcome AS (
        SELECT id, projection_status AS current,
               CASE WHEN settlement_id IS NULL THEN 'PARKED'
                    WHEN chosen THEN 'APPLIED'
                    ELSE 'FAILED' END AS status,
               CASE WHEN settlement_id IS NOT NULL AND NOT chosen
                    THEN 'settlement ' || settlement_id || ' is on chain already as '
                         || 'another settlement: onchain_settlement_id holds one' END AS error,
               {_NOTHING} AS warning
        FROM ranked
    ),
    {_MARK}
    {_MARKED}
    """
)

_APPLY_SETTLEMENTS_CLOSED = text(
    f"""
    WITH events AS (
        SELECT e.id, {_STATUS} AS projection_status, e.event_name, e.tx_hash,
               e.block_timestamp,
               e.block_number, e.log_index,
               CAST(e.args ->> 'settlementId' AS numeric) AS onchain_id
        FROM unnest(CAST(:ids AS bigint[])) AS k(id)
        CROSS JOIN LATERAL (SELECT * FROM chain_events AS e WHERE e.id = k.id OFFSET 0) AS e
    ),
    linked AS (
        SELECT ev.*, s.id AS settlement_id, s.status AS settlement_status, s.paid_via
        FROM events AS ev LEFT JOIN settlements AS s ON s.onchain_settlement_id = ev.onchain_id
    ),
    closing AS (
        SELECT DISTINCT ON (settlement_id) *
        FROM linked WHERE settlement_id IS NOT NULL
        ORDER BY settlement_id, block_number, log_index
    ),
    closed AS (
        UPDATE settlements AS s
        SET status = CASE WHEN c.event_name = 'SettlementPaid' THEN 'PAID' ELSE 'FAILED' END,
            paid_via = CASE WHEN c.event_name = 'SettlementPaid' THEN 'ONCHAIN'
                            ELSE s.paid_via END,
            paid_tx_hash = CASE WHEN c.event_name = 'SettlementPaid' THEN c.tx_hash
                                ELSE s.paid_tx_hash END,
            paid_at = CASE WHEN c.event_name = 'SettlementPaid' THEN c.block_timestamp
                           ELSE s.paid_at END
        FROM closing AS c
        WHERE s.id = c.settlement_id
          AND ((c.event_name = 'SettlementPaid' AND s.status <> 'PAID')
               OR (c.event_name = 'SettlementExpired' AND s.status = 'PENDING'))
        RETURNING s.id
    ),
    outcome AS (
        SELECT id, projection_status AS current,
               CASE WHEN settlement_id IS NULL THEN 'PARKED' ELSE 'APPLIED' END AS status,
               {_NOTHING} AS error,
               CASE WHEN event_name = 'SettlementPaid' AND settlement_status = 'PAID'
                         AND paid_via = 'CREDITS'
                    THEN 'paid on chain after it was paid in credits' END AS warning
        FROM linked
    ),
    {_MARK}
    {_MARKED}
    """
)


# --- staking (key: wallet) -----------------------------------------------------------------


# A wallet's staking events in chain order, after a position: (block, log index).
def _stakes_after(wallet: str, block: str, log_index: str) -> str:
    return f"""
        FROM chain_events AS e
        WHERE e.chain_id = :chain_id AND e.event_name IN {_names(STAKING_EVENTS)}
          AND (e.args ->> 'user') = {wallet} AND e.projection_status <> 'FAILED'
          AND (e.block_number, e.log_index) > ({block}, {log_index})
    """


_SIGNED_WEI = (
    "CASE WHEN e.event_name = 'Staked' THEN 1 ELSE -1 END * CAST(e.args ->> 'amount' AS numeric)"
)

# Each wallet's running balance starts at its checkpoint when every event to project comes
# after it and none it sums is parked (a new batch of a verified wallet), else at zero (the
# parked events are projected again too): either way each record's tier is its wallet's stake
# after it. The checkpoint then moves to the wallet's last event.
_DERIVE_STAKING = text(
    f"""
    WITH keys AS (
        SELECT k.w, wa.user_id, COALESCE(c.staked_wei, 0) AS staked_wei,
               COALESCE(c.block_number, -1) AS block_number,
               COALESCE(c.log_index, -1) AS log_index
        FROM unnest(
            CAST(:wallets AS text[]), CAST(:first_blocks AS bigint[]),
            CAST(:first_logs AS integer[])
        ) AS k(w, first_block, first_log)
        {_verified_owner("k.w")}
        LEFT JOIN staking_checkpoints AS c
          ON c.chain_id = :chain_id AND c.wallet_address = k.w AND NOT c.parked
         AND (c.block_number, c.log_index) < (k.first_block, k.first_log)
    ),
    history AS (
        SELECT h.*, keys.w, keys.user_id
        FROM keys
        CROSS JOIN LATERAL (
            SELECT e.id, e.event_name, e.block_number, e.log_index, e.tx_hash,
                   {_STATUS} AS projection_status,
                   CAST(e.args ->> 'amount' AS numeric) AS wei,
                   keys.staked_wei + sum({_SIGNED_WEI})
                       OVER (ORDER BY e.block_number, e.log_index) AS balance
            {_stakes_after("keys.w", "keys.block_number", "keys.log_index")}
        ) AS h
    ),
    todo AS (
        SELECT * FROM history WHERE projection_status IN ('PENDING', 'PARKED')
    ),
    written AS (
        INSERT INTO staking_records (
            user_id, amount, tier, type, onchain_tx_hash, status, confirmed_at,
            wallet_address, block_number, log_index
        )
        SELECT user_id, wei * 0.000000000000000001, {_tier_of_wei("balance")},
               CASE WHEN event_name = 'Staked' THEN 'STAKE' ELSE 'UNSTAKE' END, tx_hash,
               CASE WHEN block_number <= :finalized THEN 'CONFIRMED' ELSE 'PENDING' END,
               CASE WHEN block_number <= :finalized THEN now() END,
               w, block_number, log_index
        FROM todo WHERE user_id IS NOT NULL
        ON CONFLICT (onchain_tx_hash, log_index) DO UPDATE
        SET user_id = excluded.user_id, amount = excluded.amount, tier = excluded.tier,
            type = excluded.type, wallet_address = excluded.wallet_address,
            block_number = excluded.block_number
        RETURNING 1
    ),
    checkpoint AS (
        INSERT INTO staking_checkpoints AS c (
            chain_id, wallet_address, staked_wei, block_number, log_index, parked
        )
        SELECT DISTINCT ON (w) :chain_id, w, balance, block_number, log_index,
               user_id IS NULL
        FROM history
        ORDER BY w, block_number DESC, log_index DESC
        ON CONFLICT (chain_id, wallet_address) DO UPDATE
        SET staked_wei = excluded.staked_wei, block_number = excluded.block_number,
            log_index = excluded.log_index, parked = excluded.parked
        RETURNING 1
    ),
    outcome AS (
        SELECT id, projection_status AS current,
               CASE WHEN user_id IS NULL THEN 'PARKED' ELSE 'APPLIED' END AS status,
               {_NOTHING} AS error, {_NOTHING} AS warning
        FROM todo
    ),
    {_MARK}
    {_MARKED}
    """
)

# The checkpoints of these wallets again from their whole history, after events of theirs
# were removed (an unwind) or refused (FAILED); a wallet with no stake event left has none.
_FORGET_CHECKPOINTS = text(
    """
    DELETE FROM staking_checkpoints
    WHERE chain_id = :chain_id AND wallet_address = ANY(CAST(:wallets AS text[]))
    """
)
_REBUILD_CHECKPOINTS = text(
    f"""
    INSERT INTO staking_checkpoints (
        chain_id, wallet_address, staked_wei, block_number, log_index, parked
    )
    SELECT :chain_id, k.w, last.staked_wei, last.block_number, last.log_index, last.parked
    FROM (SELECT DISTINCT w FROM unnest(CAST(:wallets AS text[])) AS k(w)) AS k
    CROSS JOIN LATERAL (
        SELECT e.block_number, e.log_index,
               sum({_SIGNED_WEI}) OVER (ORDER BY e.block_number, e.log_index) AS staked_wei,
               bool_or(e.projection_status = 'PARKED') OVER () AS parked
        {_stakes_after("k.w", "-1", "-1")}
        ORDER BY e.block_number DESC, e.log_index DESC
        LIMIT 1
    ) AS last
    """
)


async def _rebuild_checkpoints(session: AsyncSession, *, chain_id: int, wallets: list[str]) -> None:
    if wallets:
        params = {"chain_id": chain_id, "wallets": sorted(set(wallets))}
        await session.execute(_FORGET_CHECKPOINTS, params)
        await session.execute(_REBUILD_CHECKPOINTS, params)


# --- raw only and refused ------------------------------------------------------------------

_MARK_RAW_ONLY = text(
    """
    UPDATE chain_events
    SET projection_status = 'RAW_ONLY', projection_error = NULL
    WHERE id = ANY(CAST(:ids AS bigint[])) AND projection_status IN ('PENDING', 'PARKED')
    RETURNING event_name, tx_hash, log_index, projection_status, projection_error,
              CAST(NULL AS text) AS warning, 1 AS times
    """
)

_MARK_FAILED = text(
    """
    UPDATE chain_events AS e
    SET projection_status = 'FAILED', projection_error = k.error
    FROM unnest(CAST(:ids AS bigint[]), CAST(:errors AS text[])) AS k(id, error)
    WHERE e.id = k.id
    RETURNING e.event_name, e.tx_hash, e.log_index, e.projection_status, e.projection_error,
              CAST(NULL AS text) AS warning, 1 AS times
    """
)


# --- one pass ------------------------------------------------------------------------------


def _tally(report: ProjectionReport, chain_id: int, rows: Iterable[Any]) -> None:
    for row in rows:
        name, tx_hash, log_index, status, error, warning, times = row[:7]
        if name is None:
            continue
        if warning:
            log.warning(
                "projection note",
                chain_id=chain_id,
                event_name=name,
                tx_hash=tx_hash,
                log_index=log_index,
                note=warning,
            )
        if status == ProjectionStatus.APPLIED:
            report.applied += times
        elif status == ProjectionStatus.PARKED:
            report.parked += times
        elif status == ProjectionStatus.RAW_ONLY:
            report.raw_only += times
        elif status == ProjectionStatus.FAILED:
            _count_failure(report, chain_id, name, tx_hash, log_index, error)


def _count_failure(
    report: ProjectionReport,
    chain_id: int,
    name: str,
    tx_hash: str,
    log_index: int,
    error: str | None,
) -> None:
    report.failed += 1
    reason = error or "unknown"
    report.failures.append(ProjectionFailure(tx_hash, log_index, name, reason))
    log.error(
        "projection failed",
        chain_id=chain_id,
        event_name=name,
        tx_hash=tx_hash,
        log_index=log_index,
        error=reason,
    )


async def _mark_failed(
    session: AsyncSession,
    refused: Sequence[tuple[_Event, str]],
    report: ProjectionReport,
    chain_id: int,
    fresh: FreshEvents = NOT_FRESH,
) -> None:
    """These events FAILED for these reasons; a refused stake leaves its wallet's balance."""
    await _run(
        session,
        _MARK_FAILED,
        {"ids": [e.id for e, _ in refused], "errors": [r for _, r in refused]},
        report,
        chain_id,
        fresh,
    )
    await _rebuild_checkpoints(
        session, chain_id=chain_id, wallets=_stakers(event for event, _ in refused)
    )


def _stakers(events: Iterable[_Event]) -> list[str]:
    return [
        user
        for event in events
        if event.name in STAKING_EVENTS and isinstance(user := event.args.get("user"), str)
    ]


def _strategy_ids(events: Iterable[_Event]) -> list[int]:
    return sorted({int(event.arg("strategyId")) for event in events})


async def _run(
    session: AsyncSession,
    statement: Any,
    params: dict[str, Any],
    report: ProjectionReport,
    chain_id: int,
    fresh: FreshEvents = NOT_FRESH,
) -> list[Any]:
    rows = list(await session.execute(statement, {"chain_id": chain_id, **fresh.params, **params}))
    _tally(report, chain_id, rows)
    return rows


async def _project(
    session: AsyncSession,
    *,
    chain_id: int,
    events: Sequence[_Event],
    finalized_block: int,
    report: ProjectionReport,
    fresh: FreshEvents,
) -> None:
    """Project these events (PENDING or PARKED, of one chain), family by family, in the
    order their links depend on each other: registrations first, the events of a strategy
    after it, settlements' payments after their creation."""
    refused = [(event, reason) for event in events if (reason := _refusal(event))]
    if refused:
        await _mark_failed(session, refused, report, chain_id, fresh)
    skipped = {event.id for event, _ in refused}
    seeds = [event for event in events if event.id not in skipped]
    by_name = {
        name: list(group)
        for name, group in itertools.groupby(
            sorted(seeds, key=lambda e: e.name), key=lambda e: e.name
        )
    }

    def named(*names: str) -> list[_Event]:
        return [event for name in names for event in by_name.get(name, [])]

    created = named("StrategyCreated")
    newly_registered: list[int] = []
    if created:
        rows = await _run(
            session,
            _DERIVE_REGISTRATIONS,
            {"uris": sorted({event.arg("metadataURI") for event in created})},
            report,
            chain_id,
            fresh,
        )
        newly_registered = [row[7] for row in rows if row[7] is not None]
    if newly_registered:
        # Events of a strategy parked before its registration was known follow it now.
        known = {event.id for event in seeds}
        for event in await _parked(session, chain_id=chain_id, strategy_ids=newly_registered):
            if event.id not in known and event.name != "StrategyCreated":
                by_name.setdefault(event.name, []).append(event)

    statuses = named(*REGISTRY_EVENTS)
    if statuses or newly_registered:
        await _run(
            session,
            _DERIVE_ONCHAIN_STATUS,
            {"strategy_ids": sorted({*_strategy_ids(statuses), *newly_registered})},
            report,
            chain_id,
            fresh,
        )
    follows = named(*FOLLOW_EVENTS)
    if follows:
        pairs = sorted({(e.arg("user"), int(e.arg("strategyId"))) for e in follows})
        await _run(
            session,
            _DERIVE_FOLLOWS,
            {
                "wallets": [w for w, _ in pairs],
                "strategy_ids": [s for _, s in pairs],
                "prune": False,
            },
            report,
            chain_id,
            fresh,
        )
    commits = named(_DAY_COMMITTED)
    if commits:
        await _run(
            session, _APPLY_DAY_COMMITS, {"ids": [e.id for e in commits]}, report, chain_id, fresh
        )
    if commits or newly_registered:
        await session.execute(
            _DERIVE_MERKLE_ROOTS,
            {
                "chain_id": chain_id,
                "strategy_ids": sorted({*_strategy_ids(commits), *newly_registered}),
            },
        )
    opened = named(_SETTLEMENT_CREATED)
    if opened:
        await _run(
            session,
            _APPLY_SETTLEMENTS_CREATED,
            {"ids": [e.id for e in opened]},
            report,
            chain_id,
            fresh,
        )
    closed = named("SettlementPaid", "SettlementExpired")
    if opened:
        # A payment or expiry parked before its settlement was linked follows the link now.
        known = {event.id for event in closed}
        parked = await session.execute(
            _PARKED_CLOSINGS,
            {
                "chain_id": chain_id,
                "settlement_ids": sorted({event.arg("settlementId") for event in opened}),
            },
        )
        closed += [event for row in parked if (event := _event_of(row)).id not in known]
    if closed:
        await _run(
            session,
            _APPLY_SETTLEMENTS_CLOSED,
            {"ids": [e.id for e in closed]},
            report,
            chain_id,
            fresh,
        )
    stakes = named(*STAKING_EVENTS)
    if stakes:
        first: dict[str, tuple[int, int]] = {}
        for event in stakes:
            at = (event.block_number, event.log_index)
            first[event.arg("user")] = min(first.get(event.arg("user"), at), at)
        wallets = sorted(first)
        await _run(
            session,
            _DERIVE_STAKING,
            {
                "wallets": wallets,
                "first_blocks": [first[w][0] for w in wallets],
                "first_logs": [first[w][1] for w in wallets],
                "finalized": finalized_block,
            },
            report,
            chain_id,
            fresh,
        )
    raw = [event.id for event in seeds if event.name not in _REQUIRED_ARGS]
    if raw:
        await _run(session, _MARK_RAW_ONLY, {"ids": raw}, report, chain_id, fresh)


async def _project_guarded(
    session: AsyncSession,
    *,
    chain_id: int,
    events: Sequence[_Event],
    finalized_block: int,
    report: ProjectionReport,
    fresh: FreshEvents = NOT_FRESH,
) -> None:
    """_project inside a SAVEPOINT; when PostgreSQL refuses a value the checks did not
    foresee, the halves are tried apart (in chain order) until the one event that is refused
    is marked FAILED with PostgreSQL's reason, so the rest of the batch still projects."""
    if not events:
        return
    attempt = ProjectionReport()
    try:
        async with session.begin_nested():
            await _project(
                session,
                chain_id=chain_id,
                events=events,
                finalized_block=finalized_block,
                report=attempt,
                fresh=fresh,
            )
    except (IntegrityError, DataError) as refused:
        if fresh != NOT_FRESH:
            # The halves must not both project (and count) the fresh events of a key they
            # share: stored PENDING, the first half's pass moves them, the second's does not.
            await session.execute(_DEMOTE_FRESH, fresh.params)
        if len(events) == 1:
            reason = " ".join(str(refused.orig).split())[:500]
            await _mark_failed(session, [(events[0], reason)], report, chain_id)
            return
        middle = len(events) // 2
        for half in (events[:middle], events[middle:]):
            await _project_guarded(
                session,
                chain_id=chain_id,
                events=half,
                finalized_block=finalized_block,
                report=report,
            )
        return
    report.merge(attempt)


# --- public --------------------------------------------------------------------------------


async def project_new(
    session: AsyncSession,
    *,
    chain_id: int,
    first_block: int,
    last_block: int,
    finalized_block: int,
) -> ProjectionReport:
    """Project the PENDING events of blocks first_block..last_block (inclusive) of a chain,
    in chain order; staking records of blocks <= finalized_block are CONFIRMED at once.
    Events the decoder already refused (FAILED) are counted and logged in the report."""
    fresh = session.info.pop((_FRESH_KEY, chain_id), NOT_FRESH)
    stored: Sequence[_Event] | None = session.info.pop((_STORED_KEY, chain_id), None)
    params = {
        "chain_id": chain_id,
        "first_block": first_block,
        "last_block": last_block,
        **fresh.params,
    }
    if stored is None:
        events = [_event_of(row) for row in await session.execute(_IN_RANGE, params)]
    else:
        earlier = [_event_of(row) for row in await session.execute(_IN_RANGE_NOT_FRESH, params)]
        events = sorted([*earlier, *stored], key=_CHAIN_ORDER)
    report = ProjectionReport()
    for event in events:
        if event.status == ProjectionStatus.FAILED:
            _count_failure(
                report, chain_id, event.name, event.tx_hash, event.log_index, event.error
            )
        elif event.status == ProjectionStatus.RAW_ONLY:
            report.raw_only += 1
    await _project_guarded(
        session,
        chain_id=chain_id,
        # APPLIED and PARKED ones are the fresh (see project_after_write).
        events=[
            event
            for event in events
            if event.status
            in (ProjectionStatus.PENDING, ProjectionStatus.APPLIED, ProjectionStatus.PARKED)
        ],
        finalized_block=finalized_block,
        report=report,
        fresh=fresh,
    )
    return report


def writer_fence_key(chain_id: int) -> int:
    """The transaction-scoped advisory lock every write of a chain's indexer takes first
    (service.lock_position), and a replay of its parked events too."""
    digest = hashlib.blake2b(f"gr8d.indexer.write:{chain_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_INDEXED_CHAINS = text("SELECT chain_id FROM indexer_cursors ORDER BY chain_id")
_LOCK_WRITERS = text(
    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"
)


async def replay_parked(
    session: AsyncSession,
    *,
    chain_id: int | None = None,
    wallets: Sequence[str] | None = None,
    metadata_uris: Sequence[str] | None = None,
    strategy_ids: Sequence[int] | None = None,
) -> int:
    """Project PARKED events again, in chain order; returns how many are APPLIED now.

    Without filters every parked event is tried (of one chain, or of all). The API narrows it
    to what a new link can unpark: ``wallets`` after a wallet is verified (events of that
    wallet as user or author), ``metadata_uris`` after a registration is created. A key's
    state is derived from all its events, so the end state is the one the link would have
    given from the start (a wallet's tiers over its whole staking history).

    It waits for a batch the indexer is writing (the batch's lock, writer_fence_key): that
    batch's projection did not see the caller's new link, uncommitted, and parks what the
    link unparks, while its rows are not visible to the replay until it commits. (Only a
    chain's very first batch, before its cursor exists, is not waited for.)"""
    chains = [chain_id] if chain_id is not None else list(await session.scalars(_INDEXED_CHAINS))
    await session.execute(_LOCK_WRITERS, {"keys": sorted(writer_fence_key(c) for c in chains)})
    everything = wallets is None and metadata_uris is None and strategy_ids is None
    events = await _parked(
        session,
        chain_id=chain_id,
        wallets=wallets or (),
        uris=metadata_uris or (),
        strategy_ids=strategy_ids or (),
        everything=everything,
    )
    applied = 0
    for chain, group in itertools.groupby(events, key=lambda event: event.chain_id):
        finalized = await session.scalar(_FINALIZED, {"chain_id": chain})
        report = ProjectionReport()
        await _project_guarded(
            session,
            chain_id=chain,
            events=list(group),
            finalized_block=-1 if finalized is None else int(finalized),
            report=report,
        )
        applied += report.applied
        log.info("replayed parked events", chain_id=chain, applied=report.applied)
    return applied


_UNDO_SETTLEMENTS = text(
    f"""
    WITH gone AS (
        SELECT CAST(e.args ->> 'settlementId' AS numeric) AS onchain_id,
               bool_or(e.event_name = 'SettlementCreated') AS created,
               max(e.tx_hash) FILTER (WHERE e.event_name = 'SettlementPaid') AS paid_tx_hash,
               bool_or(e.event_name = 'SettlementExpired') AS expired
        FROM chain_events AS e
        WHERE e.chain_id = :chain_id AND e.block_number >= :block_number
          AND e.event_name IN {_names(SETTLEMENT_EVENTS)} AND e.projection_status = 'APPLIED'
        GROUP BY 1
    ),
    undone AS (
        SELECT s.id, g.created,
               s.paid_via = 'ONCHAIN' AND s.paid_tx_hash = g.paid_tx_hash AS unpaid,
               g.expired AND s.status = 'FAILED' AS unexpired
        FROM gone AS g JOIN settlements AS s ON s.onchain_settlement_id = g.onchain_id
    )
    UPDATE settlements AS s
    SET onchain_settlement_id = CASE WHEN u.created THEN NULL ELSE s.onchain_settlement_id END,
        status = CASE WHEN u.unpaid OR u.unexpired THEN 'PENDING' ELSE s.status END,
        paid_via = CASE WHEN u.unpaid THEN NULL ELSE s.paid_via END,
        paid_tx_hash = CASE WHEN u.unpaid THEN NULL ELSE s.paid_tx_hash END,
        paid_at = CASE WHEN u.unpaid THEN NULL ELSE s.paid_at END
    FROM undone AS u
    WHERE s.id = u.id AND (u.created OR u.unpaid OR u.unexpired)
    """
)

_UNDO_DAY_COMMITS = text(
    f"""
    UPDATE day_commits AS d
    SET onchain_tx_hash = NULL, committed_at = NULL
    FROM chain_events AS e
    JOIN strategy_registrations AS r
      ON r.onchain_strategy_id = {_bigint("e.args ->> 'strategyId'")}
    WHERE e.chain_id = :chain_id AND e.block_number >= :block_number
      AND e.event_name = '{_DAY_COMMITTED}' AND e.projection_status = 'APPLIED'
      AND d.strategy_id = r.strategy_id AND d.day_index = {_bigint("e.args ->> 'dayIndex'")}
      AND d.onchain_tx_hash = e.tx_hash
    """
)

_DELETE_STAKING = text(
    f"""
    DELETE FROM staking_records AS r
    USING chain_events AS e
    WHERE e.chain_id = :chain_id AND e.block_number >= :block_number
      AND e.event_name IN {_names(STAKING_EVENTS)}
      AND r.onchain_tx_hash = e.tx_hash AND r.log_index = e.log_index
    """
)

_DELETE_EVENTS = text(
    "DELETE FROM chain_events WHERE chain_id = :chain_id AND block_number >= :block_number"
)
_DELETE_BLOCKS = text(
    "DELETE FROM chain_blocks WHERE chain_id = :chain_id AND number >= :block_number"
)


async def unwind_from(session: AsyncSession, *, chain_id: int, block_number: int) -> int:
    """Remove blocks >= block_number of a chain (a reorg): their chain_events and chain_blocks
    rows and everything projected from them, so the tables equal a clean index of the blocks
    before it. Returns the number of events removed. The cursor is the caller's to move.

    Links into rows the settlement owns are undone by the removed events themselves; then the
    keys those events touched are derived again from the events that remain, dependants
    first (follows, merkle roots and statuses read the registration the unwind may reset)."""
    where = {"chain_id": chain_id, "block_number": block_number}
    removed = [_event_of(row) for row in await session.execute(_FROM_BLOCK, where)]
    await session.execute(_UNDO_SETTLEMENTS, where)
    await session.execute(_UNDO_DAY_COMMITS, where)
    await session.execute(_DELETE_STAKING, where)
    await session.execute(_DELETE_EVENTS, where)
    await session.execute(_DELETE_BLOCKS, where)

    await _rebuild_checkpoints(session, chain_id=chain_id, wallets=_stakers(removed))
    keyed = [event for event in removed if event.args and _refusal(event) is None]
    report = ProjectionReport()

    def named(*names: str) -> list[_Event]:
        return [event for event in keyed if event.name in names]

    follows = named(*FOLLOW_EVENTS)
    if follows:
        pairs = sorted({(e.arg("user"), int(e.arg("strategyId"))) for e in follows})
        await _run(
            session,
            _DERIVE_FOLLOWS,
            {
                "wallets": [w for w, _ in pairs],
                "strategy_ids": [s for _, s in pairs],
                "prune": True,
            },
            report,
            chain_id,
        )
    commits = named(_DAY_COMMITTED)
    if commits:
        await session.execute(
            _DERIVE_MERKLE_ROOTS, {"chain_id": chain_id, "strategy_ids": _strategy_ids(commits)}
        )
    statuses = named(*REGISTRY_EVENTS)
    if statuses:
        await _run(
            session,
            _DERIVE_ONCHAIN_STATUS,
            {"strategy_ids": _strategy_ids(statuses)},
            report,
            chain_id,
        )
    created = named("StrategyCreated")
    if created:
        await _run(
            session,
            _DERIVE_REGISTRATIONS,
            {"uris": sorted({event.arg("metadataURI") for event in created})},
            report,
            chain_id,
        )
    log.info("unwound", chain_id=chain_id, from_block=block_number, events=len(removed))
    return len(removed)


_CONFIRM = text(
    """
    UPDATE staking_records AS r
    SET status = 'CONFIRMED', confirmed_at = now()
    FROM chain_events AS e
    WHERE r.status = 'PENDING' AND r.block_number <= :finalized_block
      AND e.chain_id = :chain_id AND e.tx_hash = r.onchain_tx_hash
      AND e.log_index = r.log_index
    """
)


async def confirm_until(session: AsyncSession, *, chain_id: int, finalized_block: int) -> int:
    """Staking records of blocks <= finalized_block become CONFIRMED; returns how many."""
    result = await session.execute(
        _CONFIRM, {"chain_id": chain_id, "finalized_block": finalized_block}
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
