"""indexer.events against logs built here from chain.md's event signatures, written out below
(not read from the artifacts, so a contract whose events drift from the spec fails here)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_abi.decoding import ContextFramesBytesIO
from hypothesis import given
from hypothesis import strategies as st
from sha3 import keccak_256

from indexer.events import (
    PROTOCOL_EVENTS,
    DecodedEvent,
    DecodeError,
    DecodeFailure,
    EventTableError,
    MalformedLog,
    UnknownEvent,
    decode_log,
    decode_logs,
    event_table,
    load_event_table,
)

# chain.md, "Contracts and their events", one line each.
SIGNATURES = {
    "Staked": "Staked(address,uint256,uint256)",
    "UnstakeRequested": "UnstakeRequested(address,uint256,uint256)",
    "Withdrawn": "Withdrawn(address,uint256,uint256)",
    "StrategyCreated": "StrategyCreated(uint256,address,string)",
    "StrategyUpdated": "StrategyUpdated(uint256,string)",
    "VerificationRequested": "VerificationRequested(uint256)",
    "StrategyVerified": "StrategyVerified(uint256,bytes32,uint256)",
    "ActivationRequested": "ActivationRequested(uint256)",
    "StrategyActivated": "StrategyActivated(uint256)",
    "StrategySuspended": "StrategySuspended(uint256)",
    "StrategyRejected": "StrategyRejected(uint256)",
    "FollowStarted": "FollowStarted(address,uint256,uint256)",
    "FollowPaused": "FollowPaused(address,uint256)",
    "FollowResumed": "FollowResumed(address,uint256)",
    "FollowStopped": "FollowStopped(address,uint256)",
    "LastSettledDayUpdated": "LastSettledDayUpdated(address,uint256,uint256)",
    "DayCommitted": "DayCommitted(uint256,uint256,bytes32,(uint256,uint256,uint256))",
    "SettlementCreated": "SettlementCreated(uint256,address,uint256,uint256,uint256)",
    "SettlementPaid": "SettlementPaid(uint256,address,uint256)",
    "SettlementExpired": "SettlementExpired(uint256)",
    "DailyFeesDistributed": "DailyFeesDistributed(uint256,uint256,uint256,uint256)",
    "AuthorFeeDistributed": "AuthorFeeDistributed(uint256,address,uint256,uint256)",
    "AuthorFeesWithdrawn": "AuthorFeesWithdrawn(uint256,address,uint256)",
}
CONTRACTS = {
    **dict.fromkeys(["Staked", "UnstakeRequested", "Withdrawn"], "G8DStaking"),
    **dict.fromkeys(
        [
            "StrategyCreated",
            "StrategyUpdated",
            "VerificationRequested",
            "StrategyVerified",
            "ActivationRequested",
            "StrategyActivated",
            "StrategySuspended",
            "StrategyRejected",
        ],
        "StrategyRegistry",
    ),
    **dict.fromkeys(
        [
            "FollowStarted",
            "FollowPaused",
            "FollowResumed",
            "FollowStopped",
            "LastSettledDayUpdated",
        ],
        "FollowRegistry",
    ),
    "DayCommitted": "DecisionHistory",
    **dict.fromkeys(
        ["SettlementCreated", "SettlementPaid", "SettlementExpired"], "SettlementManager"
    ),
    **dict.fromkeys(
        ["DailyFeesDistributed", "AuthorFeeDistributed", "AuthorFeesWithdrawn"], "FeeDistributor"
    ),
}

MAX = 2**256 - 1
MAX_TEXT = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
USER = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"  # checksummed on purpose
AUTHOR = "0xAb8483F64d9C6d1EcF9b849Ae677dD3315835cb2"
CONTRACT = "0xD7ACd2a9FD159E69Bb102A1ca21C9a3e3A5F771B"
ROOT = bytes.fromhex("5f" * 16 + "a0" * 16)
BLOCK_HASH = "0x" + "AB" * 32
TX_HASH = "0x" + "Cd" * 32

Typed = tuple[str, Any]


def keccak_hex(text: str) -> str:
    return "0x" + str(keccak_256(text.encode()).hexdigest())


def word(type_: str, value: Any) -> str:
    return "0x" + encode([type_], [value]).hex()


def make_log(
    name: str,
    indexed: Sequence[Typed] = (),
    data: Sequence[Typed] = (),
    /,
    **fields: Any,
) -> dict[str, Any]:
    """A log as eth_getLogs returns it, topics and data ABI-encoded from typed values."""
    log: dict[str, Any] = {
        "address": CONTRACT,
        "topics": [keccak_hex(SIGNATURES[name])] + [word(t, v) for t, v in indexed],
        "data": "0x" + encode([t for t, _ in data], [v for _, v in data]).hex(),
        "blockNumber": "0x1b4",
        "blockHash": BLOCK_HASH,
        "transactionHash": TX_HASH,
        "transactionIndex": "0x3",
        "logIndex": "0x1f",
        "removed": False,
    }
    log.update(fields)
    return log


def jsonable(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def assert_exact(actual: Any, expected: Any) -> None:
    """Equal and of the same types all the way down (1 == 1.0 == True would pass ==)."""
    assert type(actual) is type(expected), (actual, expected)
    if isinstance(expected, dict):
        assert list(actual) == list(expected)
        for key in expected:
            assert_exact(actual[key], expected[key])
    else:
        assert actual == expected


class Case:
    def __init__(
        self, name: str, indexed: Sequence[Typed], data: Sequence[Typed], args: dict[str, Any]
    ) -> None:
        self.name, self.indexed, self.data, self.args = name, indexed, data, args

    def log(self, **fields: Any) -> dict[str, Any]:
        return make_log(self.name, self.indexed, self.data, **fields)


user, author = USER.lower(), AUTHOR.lower()
root = "0x" + ROOT.hex()
CASES = [
    Case(
        "Staked",
        [("address", USER)],
        [("uint256", 5_000 * 10**18), ("uint256", 1_767_225_600)],
        {"user": user, "amount": 5_000 * 10**18, "timestamp": 1_767_225_600},
    ),
    Case(
        "UnstakeRequested",
        [("address", USER)],
        [("uint256", 10**18 + 1), ("uint256", 1_767_312_000)],
        {"user": user, "amount": 10**18 + 1, "timestamp": 1_767_312_000},
    ),
    Case(
        "Withdrawn",
        [("address", USER)],
        [("uint256", 1), ("uint256", 0)],
        {"user": user, "amount": 1, "timestamp": 0},
    ),
    Case(
        "StrategyCreated",
        [("uint256", 0), ("address", AUTHOR)],
        [("string", "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")],
        {
            "strategyId": 0,
            "author": author,
            "metadataURI": "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
        },
    ),
    Case(
        "StrategyUpdated",
        [("uint256", 7)],
        [("string", "https://gr8diy.example/s/7?v=2&ç=📈")],
        {"strategyId": 7, "metadataURI": "https://gr8diy.example/s/7?v=2&ç=📈"},
    ),
    Case("VerificationRequested", [("uint256", 8)], [], {"strategyId": 8}),
    Case(
        "StrategyVerified",
        [("uint256", 9)],
        [("bytes32", ROOT), ("uint256", 9_876)],
        {"strategyId": 9, "verificationHash": root, "verificationScore": 9_876},
    ),
    Case("ActivationRequested", [("uint256", 10)], [], {"strategyId": 10}),
    Case("StrategyActivated", [("uint256", 11)], [], {"strategyId": 11}),
    Case("StrategySuspended", [("uint256", 12)], [], {"strategyId": 12}),
    Case("StrategyRejected", [("uint256", 2**64)], [], {"strategyId": 2**64}),
    Case(
        "FollowStarted",
        [("address", USER), ("uint256", 3)],
        [("uint256", 20_454)],
        {"user": user, "strategyId": 3, "dayIndex": 20_454},
    ),
    Case("FollowPaused", [("address", USER), ("uint256", 3)], [], {"user": user, "strategyId": 3}),
    Case("FollowResumed", [("address", USER), ("uint256", 3)], [], {"user": user, "strategyId": 3}),
    Case("FollowStopped", [("address", USER), ("uint256", 3)], [], {"user": user, "strategyId": 3}),
    Case(
        "LastSettledDayUpdated",
        [("address", USER), ("uint256", 3)],
        [("uint256", 20_455)],
        {"user": user, "strategyId": 3, "dayIndex": 20_455},
    ),
    Case(
        "DayCommitted",
        [("uint256", 4), ("uint256", 20_456)],
        [("bytes32", ROOT), ("(uint256,uint256,uint256)", (12, 34_567_890_000, 65_432_100))],
        {
            "strategyId": 4,
            "dayIndex": 20_456,
            "rootHash": root,
            "batchInfo": {"orderCount": 12, "totalVolume": 34_567_890_000, "avgPrice": 65_432_100},
        },
    ),
    Case(
        "SettlementCreated",
        [("uint256", 100), ("address", USER), ("uint256", 4)],
        [("uint256", 20_456), ("uint256", 2_500_000)],
        {
            "settlementId": 100,
            "user": user,
            "strategyId": 4,
            "dayIndex": 20_456,
            "feeAmount": 2_500_000,
        },
    ),
    Case(
        "SettlementPaid",
        [("uint256", 100), ("address", USER)],
        [("uint256", 2_500_000)],
        {"settlementId": 100, "user": user, "amount": 2_500_000},
    ),
    Case("SettlementExpired", [("uint256", 101)], [], {"settlementId": 101}),
    Case(
        "DailyFeesDistributed",
        [("uint256", 20_456)],
        [("uint256", 1_000_000), ("uint256", 500_000), ("uint256", 1_000_001)],
        {
            "dayIndex": 20_456,
            "platformFee": 1_000_000,
            "buybackFee": 500_000,
            "authorFee": 1_000_001,
        },
    ),
    Case(
        "AuthorFeeDistributed",
        [("uint256", 4), ("address", AUTHOR)],
        [("uint256", 250_000), ("uint256", 20_456)],
        {"strategyId": 4, "author": author, "amount": 250_000, "dayIndex": 20_456},
    ),
    Case(
        "AuthorFeesWithdrawn",
        [("uint256", 4), ("address", AUTHOR)],
        [("uint256", 750_000)],
        {"strategyId": 4, "author": author, "amount": 750_000},
    ),
]
BY_NAME = {case.name: case for case in CASES}


def decoded(log: dict[str, Any]) -> DecodedEvent:
    return decode_log(log)


# --- the table ----------------------------------------------------------------------------------


def test_cases_cover_every_event_of_chain_md() -> None:
    assert [case.name for case in CASES] == list(PROTOCOL_EVENTS) == list(SIGNATURES)


def test_the_table_holds_exactly_chain_md_signatures_from_the_right_contracts() -> None:
    table = event_table()
    assert {topic0: spec.signature for topic0, spec in table.items()} == {
        keccak_hex(signature): signature for signature in SIGNATURES.values()
    }
    assert {spec.name: spec.contract for spec in table.values()} == CONTRACTS


def test_the_table_is_built_once() -> None:
    assert event_table() is event_table()


def test_another_artifacts_directory_gives_the_same_table(tmp_path: Path) -> None:
    for path in (Path(__file__).resolve().parents[2] / "contracts" / "artifacts").glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    table = load_event_table(tmp_path)
    assert {k: v.signature for k, v in table.items()} == {
        k: v.signature for k, v in event_table().items()
    }


def test_artifacts_missing_an_event_are_refused(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "contracts" / "artifacts"
    for path in source.glob("*.json"):
        if path.stem != "FeeDistributor":
            shutil.copy(path, tmp_path / path.name)
    with pytest.raises(EventTableError, match="AuthorFeeDistributed"):
        load_event_table(tmp_path)
    with pytest.raises(EventTableError, match="no contract artifacts"):
        load_event_table(tmp_path / "nowhere")


# --- every event, exactly -------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_event_decodes_to_the_exact_values(case: Case) -> None:
    log = case.log()
    event = decoded(log)
    assert event.name == case.name
    assert event.contract == CONTRACTS[case.name]
    assert event.contract_address == CONTRACT.lower()
    assert (event.block_number, event.log_index, event.removed) == (0x1B4, 0x1F, False)
    assert (event.block_hash, event.tx_hash) == (BLOCK_HASH.lower(), TX_HASH.lower())
    assert event.topics == [topic.lower() for topic in log["topics"]]
    assert event.data == log["data"]
    assert_exact(event.args, case.args)
    assert event.problem is None
    assert event.json_args is not None
    assert_exact(event.json_args, jsonable(case.args))
    assert json.loads(json.dumps(event.json_args)) == event.json_args


def test_the_word_slicing_agrees_with_the_events_eth_abi_decoder() -> None:
    table = event_table()
    for case in CASES:
        spec = table[keccak_hex(SIGNATURES[case.name])]
        raw = bytes.fromhex(case.log()["data"][2:])
        reference = spec.decoder(ContextFramesBytesIO(raw))  # type: ignore[no-untyped-call]
        expected = tuple(value for _, value in case.data)
        expected = tuple(v.encode() if isinstance(v, str) else v for v in expected)
        assert reference == expected
        assert (spec.data_size is None) == any(t == "string" for t, _ in case.data)
    not_plain = {spec.name for spec in table.values() if not spec.plain}
    assert not_plain == {"StrategyCreated", "StrategyUpdated", "DayCommitted"}


def test_max_uint256_everywhere_is_exact_and_a_decimal_string_in_json() -> None:
    log = make_log(
        "SettlementCreated",
        [("uint256", MAX), ("address", USER), ("uint256", MAX)],
        [("uint256", MAX), ("uint256", MAX)],
    )
    event = decoded(log)
    assert_exact(
        event.args,
        {"settlementId": MAX, "user": user, "strategyId": MAX, "dayIndex": MAX, "feeAmount": MAX},
    )
    assert event.json_args == {
        "settlementId": MAX_TEXT,
        "user": user,
        "strategyId": MAX_TEXT,
        "dayIndex": MAX_TEXT,
        "feeAmount": MAX_TEXT,
    }
    staked = decoded(make_log("Staked", [("address", USER)], [("uint256", MAX), ("uint256", MAX)]))
    assert staked.args["amount"] == MAX and type(staked.args["amount"]) is int
    assert staked.json_args is not None and staked.json_args["amount"] == MAX_TEXT
    day = decoded(
        make_log(
            "DayCommitted",
            [("uint256", MAX), ("uint256", MAX)],
            [("bytes32", b"\xff" * 32), ("(uint256,uint256,uint256)", (MAX, MAX, MAX))],
        )
    )
    assert day.json_args is not None
    assert day.json_args["batchInfo"] == dict.fromkeys(
        ["orderCount", "totalVolume", "avgPrice"], MAX_TEXT
    )
    assert day.json_args["rootHash"] == "0x" + "ff" * 32


# --- hostile strings -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["StrategyCreated", "StrategyUpdated"])
def test_a_metadata_uri_with_a_nul_byte_is_kept_exactly_but_not_as_json(name: str) -> None:
    uri = "ipfs://bafy\x00evil"
    indexed = BY_NAME[name].indexed
    event = decoded(make_log(name, indexed, [("string", uri)]))
    assert event.args["metadataURI"] == uri
    assert event.json_args is None
    assert (
        event.problem == f"{name}: metadataURI contains a NUL character, which JSONB cannot store"
    )


@pytest.mark.parametrize(
    "raw",
    [b"ipfs://\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"caf\xc3", b"ok\x80"],
    ids=["ff-fe", "overlong", "surrogate", "truncated", "lone-continuation"],
)
def test_invalid_utf8_in_a_string_is_kept_losslessly_but_not_as_json(raw: bytes) -> None:
    # A string is encoded exactly like bytes; this is what a contract emitting junk looks like.
    event = decoded(
        make_log("StrategyCreated", BY_NAME["StrategyCreated"].indexed, [("bytes", raw)])
    )
    uri = event.args["metadataURI"]
    assert isinstance(uri, str)
    assert uri.encode("utf-8", "surrogateescape") == raw
    with pytest.raises(UnicodeEncodeError):
        uri.encode("utf-8")
    assert event.json_args is None
    assert event.problem == "StrategyCreated: metadataURI is not valid UTF-8"


def test_an_empty_string_decodes() -> None:
    event = decoded(make_log("StrategyUpdated", [("uint256", 1)], [("string", "")]))
    assert event.args == {"strategyId": 1, "metadataURI": ""}
    assert event.json_args == {"strategyId": "1", "metadataURI": ""}


# --- bad logs --------------------------------------------------------------------------------


def test_an_unknown_topic0_is_an_unknown_event() -> None:
    transfer = make_log("Staked", [("address", USER)], [("uint256", 1), ("uint256", 2)])
    transfer["topics"] = [
        keccak_hex("Transfer(address,address,uint256)"),
        word("address", USER),
        word("address", AUTHOR),
    ]
    with pytest.raises(UnknownEvent) as caught:
        decode_log(transfer)
    assert caught.value.topic0 == keccak_hex("Transfer(address,address,uint256)")
    # A signature that drifted from chain.md (uint128 amount) is another event altogether.
    drifted = BY_NAME["Staked"].log()
    drifted["topics"][0] = keccak_hex("Staked(address,uint128,uint256)")
    with pytest.raises(UnknownEvent):
        decode_log(drifted)
    for event in ("OwnershipTransferred(address,address)", "Approval(address,address,uint256)"):
        with pytest.raises(UnknownEvent):
            decode_log({**drifted, "topics": [keccak_hex(event)]})


Mutation = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Mutation:
    def mutate(log: dict[str, Any]) -> None:
        log[key] = value

    return mutate


def _drop(key: str) -> Mutation:
    def mutate(log: dict[str, Any]) -> None:
        del log[key]

    return mutate


def _data(change: Callable[[str], str]) -> Mutation:
    def mutate(log: dict[str, Any]) -> None:
        log["data"] = change(log["data"])

    return mutate


def _topics(change: Callable[[list[str]], list[Any]]) -> Mutation:
    def mutate(log: dict[str, Any]) -> None:
        log["topics"] = change(log["topics"])

    return mutate


def _string_data(hex_words: str) -> Mutation:
    return _set("data", "0x" + hex_words)


def _w(value: int) -> str:
    return value.to_bytes(32, "big").hex()


MALFORMED: list[tuple[str, str, Mutation, str]] = [
    ("Staked", "data-one-byte-short", _data(lambda d: d[:-2]), "data is 63 bytes, expected 64"),
    ("Staked", "data-one-word-short", _data(lambda d: d[:-64]), "data is 32 bytes, expected 64"),
    ("Staked", "data-one-word-long", _data(lambda d: d + "00" * 32), "expected 64"),
    ("DayCommitted", "struct-cut", _data(lambda d: d[:-64]), "data is 96 bytes, expected 128"),
    ("SettlementExpired", "data-where-none", _set("data", "0x00"), "expected 0"),
    ("Staked", "data-bad-hex", _data(lambda d: d[:-2] + "zz"), "data is not hex"),
    ("Staked", "data-odd-length", _data(lambda d: d + "0"), "data is not hex"),
    ("Staked", "data-with-spaces", _data(lambda d: d[:66] + " " + d[66:]), "data is not hex"),
    ("Staked", "data-no-prefix", _data(lambda d: d[2:]), "not a 0x-hex string"),
    ("Staked", "data-missing", _drop("data"), "not a 0x-hex string"),
    ("Staked", "data-not-a-string", _set("data", 12), "not a 0x-hex string"),
    ("StrategyCreated", "string-cut", _data(lambda d: d[:-64]), "data does not decode"),
    ("StrategyCreated", "string-empty-data", _set("data", "0x"), "data does not decode"),
    (
        "StrategyCreated",
        "string-pointer-out",
        _string_data(_w(0x400) + _w(1) + "61" + "00" * 31),
        "data does not decode",
    ),
    (
        "StrategyCreated",
        "string-huge-length",
        _string_data(_w(32) + _w(2**255) + "61" * 32),
        "data does not decode",
    ),
    (
        "StrategyCreated",
        "string-dirty-padding",
        _string_data(_w(32) + _w(1) + "61" + "01" * 31),
        "data does not decode",
    ),
    (
        "FollowStarted",
        "topic-missing",
        _topics(lambda t: t[:2]),
        "FollowStarted has 3 topics, the log 2",
    ),
    ("FollowStarted", "topic-extra", _topics(lambda t: [*t, t[1]]), "has 3 topics, the log 4"),
    ("Staked", "no-topics", _set("topics", []), "topics is not a non-empty list"),
    ("Staked", "topics-missing", _drop("topics"), "topics is not a non-empty list"),
    ("Staked", "topics-a-string", _set("topics", "0x00"), "topics is not a non-empty list"),
    (
        "Staked",
        "topic0-not-hex",
        _topics(lambda t: ["0x" + "zz" * 32, *t[1:]]),
        "topic0 is not a 32-byte hex string",
    ),
    (
        "Staked",
        "topic0-short",
        _topics(lambda t: [t[0][:-2], *t[1:]]),
        "topic0 is not a 32-byte hex string",
    ),
    ("Staked", "topic0-a-number", _topics(lambda t: [1, *t[1:]]), "topic0 is not a string"),
    (
        "Staked",
        "topic-not-hex",
        _topics(lambda t: [t[0], "0x" + "g" * 64]),
        "topic user is not 32-byte hex",
    ),
    ("Staked", "topic-a-list", _topics(lambda t: [t[0], [t[1]]]), "topic user is not 32-byte hex"),
    (
        "Staked",
        "address-topic-dirty",
        _topics(lambda t: [t[0], "0x01" + t[1][4:]]),
        "non-zero upper bytes",
    ),
    ("Staked", "address-missing", _drop("address"), "address is not a 20-byte hex string"),
    ("Staked", "address-short", _set("address", "0x1234"), "address is not a 20-byte hex string"),
    ("Staked", "block-number-pending", _set("blockNumber", None), "blockNumber is missing"),
    (
        "Staked",
        "block-number-negative",
        _set("blockNumber", "-0x1"),
        "blockNumber is not a hex quantity",
    ),
    (
        "Staked",
        "block-number-decimal",
        _set("blockNumber", "436"),
        "blockNumber is not a hex quantity",
    ),
    (
        "Staked",
        "block-number-underscores",
        _set("blockNumber", "0x1_0"),
        "blockNumber is not a hex quantity",
    ),
    (
        "Staked",
        "block-number-float",
        _set("blockNumber", 436.0),
        "blockNumber is not a hex quantity",
    ),
    ("Staked", "log-index-bool", _set("logIndex", True), "logIndex is not a hex quantity"),
    ("Staked", "block-hash-short", _set("blockHash", "0x1234"), "blockHash is not a 32-byte hex"),
    ("Staked", "tx-hash-missing", _drop("transactionHash"), "transactionHash is not a 32-byte hex"),
    ("Staked", "removed-a-string", _set("removed", "false"), "removed is not a boolean"),
]


@pytest.mark.parametrize(
    ("name", "mutate", "reason"),
    [(name, mutate, reason) for name, _, mutate, reason in MALFORMED],
    ids=[label for _, label, _, _ in MALFORMED],
)
def test_a_malformed_log_raises_malformed_log_with_a_one_line_reason(
    name: str, mutate: Mutation, reason: str
) -> None:
    log = BY_NAME[name].log()
    mutate(log)
    with pytest.raises(MalformedLog) as caught:
        decode_log(log)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message and len(message) < 300


@pytest.mark.parametrize("log", [None, [], "0x", 42, {"topics": None}], ids=repr)
def test_a_log_that_is_not_an_object_is_malformed(log: Any) -> None:
    with pytest.raises(MalformedLog):
        decode_log(log)


def test_quantities_as_ints_upper_case_hex_and_removed_logs_are_accepted() -> None:
    log = BY_NAME["Staked"].log(blockNumber=436, logIndex="0x1F", removed=True)
    log["data"] = log["data"].upper().replace("0X", "0x")
    log["topics"] = [t.upper().replace("0X", "0x") for t in log["topics"]]
    event = decoded(log)
    assert (event.block_number, event.log_index, event.removed) == (436, 31, True)
    assert event.data == BY_NAME["Staked"].log()["data"]
    assert_exact(event.args, BY_NAME["Staked"].args)
    no_removed = BY_NAME["Staked"].log()
    del no_removed["removed"]
    assert decoded(no_removed).removed is False


def test_decode_logs_keeps_the_order_and_reports_what_did_not_decode() -> None:
    unknown = BY_NAME["Staked"].log()
    unknown["topics"] = [keccak_hex("Transfer(address,address,uint256)"), word("address", USER)]
    short = BY_NAME["SettlementPaid"].log()
    short["data"] = "0x"
    logs = [BY_NAME["Staked"].log(), unknown, BY_NAME["DayCommitted"].log(), short]
    results = decode_logs(logs)
    assert [type(r) for r in results] == [DecodedEvent, DecodeFailure, DecodedEvent, DecodeFailure]
    assert isinstance(results[1], DecodeFailure) and isinstance(results[1].error, UnknownEvent)
    assert results[1].log is unknown
    assert isinstance(results[3], DecodeFailure) and isinstance(results[3].error, MalformedLog)
    assert results[3].reason == "SettlementPaid: data is 0 bytes, expected 32"
    assert decode_logs([]) == []


# --- properties -----------------------------------------------------------------------------

uint256 = st.integers(min_value=0, max_value=MAX)
addresses = st.binary(min_size=20, max_size=20)
bytes32 = st.binary(min_size=32, max_size=32)


@given(who=addresses, amount=uint256, timestamp=uint256)
def test_staked_round_trips(who: bytes, amount: int, timestamp: int) -> None:
    event = decoded(
        make_log("Staked", [("address", who)], [("uint256", amount), ("uint256", timestamp)])
    )
    expected = {"user": "0x" + who.hex(), "amount": amount, "timestamp": timestamp}
    assert_exact(event.args, expected)
    assert event.json_args == jsonable(expected)


@given(settlement=uint256, who=addresses, strategy=uint256, day=uint256, fee=uint256)
def test_settlement_created_round_trips(
    settlement: int, who: bytes, strategy: int, day: int, fee: int
) -> None:
    event = decoded(
        make_log(
            "SettlementCreated",
            [("uint256", settlement), ("address", who), ("uint256", strategy)],
            [("uint256", day), ("uint256", fee)],
        )
    )
    expected = {
        "settlementId": settlement,
        "user": "0x" + who.hex(),
        "strategyId": strategy,
        "dayIndex": day,
        "feeAmount": fee,
    }
    assert_exact(event.args, expected)
    assert event.json_args == jsonable(expected)


@given(strategy=uint256, day=uint256, root_hash=bytes32, batch=st.tuples(uint256, uint256, uint256))
def test_day_committed_round_trips_and_agrees_with_eth_abi(
    strategy: int, day: int, root_hash: bytes, batch: tuple[int, int, int]
) -> None:
    log = make_log(
        "DayCommitted",
        [("uint256", strategy), ("uint256", day)],
        [("bytes32", root_hash), ("(uint256,uint256,uint256)", batch)],
    )
    event = decoded(log)
    expected = {
        "strategyId": strategy,
        "dayIndex": day,
        "rootHash": "0x" + root_hash.hex(),
        "batchInfo": dict(zip(["orderCount", "totalVolume", "avgPrice"], batch, strict=True)),
    }
    assert_exact(event.args, expected)
    assert event.json_args == jsonable(expected)
    spec = event_table()[log["topics"][0]]
    reference = spec.decoder(ContextFramesBytesIO(bytes.fromhex(log["data"][2:])))  # type: ignore[no-untyped-call]
    assert reference == (root_hash, batch)


@given(strategy=uint256, who=addresses, uri=st.text())
def test_any_metadata_uri_round_trips_and_is_json_unless_it_holds_a_nul(
    strategy: int, who: bytes, uri: str
) -> None:
    event = decoded(
        make_log("StrategyCreated", [("uint256", strategy), ("address", who)], [("string", uri)])
    )
    assert_exact(
        event.args, {"strategyId": strategy, "author": "0x" + who.hex(), "metadataURI": uri}
    )
    assert (event.json_args is None) == ("\x00" in uri)
    assert (event.problem is not None) == ("\x00" in uri)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [
    "address",
    "topics",
    "data",
    "blockNumber",
    "blockHash",
    "transactionHash",
    "logIndex",
    "removed",
]


@given(
    name=st.sampled_from(list(SIGNATURES)),
    field=st.sampled_from(FIELDS),
    value=json_values,
    data=st.binary(max_size=200),
    extra_topics=st.lists(bytes32, max_size=4),
)
def test_hostile_logs_only_ever_raise_decode_errors(
    name: str, field: str, value: Any, data: bytes, extra_topics: list[bytes]
) -> None:
    case = BY_NAME[name]
    for log in (
        case.log(**{field: value}),
        case.log(data="0x" + data.hex()),
        case.log(topics=[keccak_hex(SIGNATURES[name])] + ["0x" + t.hex() for t in extra_topics]),
    ):
        try:
            event = decode_log(log)
        except DecodeError:
            continue
        assert event.name == name
        assert (event.json_args is None) == (event.problem is not None)
