"""Fast, exact decoding of the protocol's logs (chain.md, "Contracts and their events").

The event ABIs come from the compiled contracts (``contracts/artifacts/<Name>.json``) and are
turned, once, into a table topic0 -> :class:`EventSpec`. Decoding a log then costs no ABI
lookup: topics are fixed 32-byte words read here directly (an address is the last 20 bytes, a
uint256 the whole word); the data part of events made only of 32-byte words (uint256, bytes32
and structs of them: every protocol event but the two with a string) is sliced word by word, and
the rest goes through the event's precomputed, strict eth_abi decoder. The tests check the
word slicing against that decoder.

Values are exact: integers stay ``int`` in :attr:`DecodedEvent.args` and become decimal strings
in :attr:`DecodedEvent.json_args` (what goes into the JSONB column, where no consumer can round
them); addresses and hashes are lower-case 0x-hex. Strings are decoded from their bytes here:
invalid UTF-8 decodes losslessly with ``surrogateescape`` (so the value never equals a real
string and cannot be written by accident), and such a string, or one with a NUL character,
makes ``json_args`` ``None`` with :attr:`DecodedEvent.problem` saying why (chain.md, "Hostile
values": the raw log is kept, its projection is skipped).

Bad input raises :class:`UnknownEvent` (topic0 is not a protocol event) or :class:`MalformedLog`
(with a one-line reason); nothing else escapes for any JSON value given as a log.
"""

from __future__ import annotations

import functools
import gc
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from eth_abi.decoding import ContextFramesBytesIO, TupleDecoder
from eth_abi.registry import registry
from sha3 import keccak_256

DEFAULT_ARTIFACTS_DIR = Path(__file__).resolve().parents[1] / "contracts" / "artifacts"

# chain.md's events, in its order. ERC-20 and Ownable events (Transfer, Approval,
# OwnershipTransferred) are not protocol events and are left out on purpose.
PROTOCOL_EVENTS: tuple[str, ...] = (
    "Staked",
    "UnstakeRequested",
    "Withdrawn",
    "StrategyCreated",
    "StrategyUpdated",
    "VerificationRequested",
    "StrategyVerified",
    "ActivationRequested",
    "StrategyActivated",
    "StrategySuspended",
    "StrategyRejected",
    "FollowStarted",
    "FollowPaused",
    "FollowResumed",
    "FollowStopped",
    "LastSettledDayUpdated",
    "DayCommitted",
    "SettlementCreated",
    "SettlementPaid",
    "SettlementExpired",
    "DailyFeesDistributed",
    "AuthorFeeDistributed",
    "AuthorFeesWithdrawn",
)

# A log as eth_getLogs returns it in JSON: "address", "topics", "data", "blockNumber",
# "blockHash", "transactionHash", "logIndex" (quantities as hex strings), "removed".
RawLog: TypeAlias = Mapping[str, Any]

_WORD = 32
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")
_ADDRESS_TOPIC_PADDING = "0" * 24


class EventTableError(ValueError):
    """The artifacts do not describe the protocol's events (missing, conflicting, unsupported)."""


class DecodeError(ValueError):
    """A log that cannot be decoded as a protocol event."""


class UnknownEvent(DecodeError):
    """topic0 is not one of the protocol's events."""

    def __init__(self, topic0: str) -> None:
        super().__init__(f"unknown event topic0 {topic0}")
        self.topic0 = topic0


class MalformedLog(DecodeError):
    """The log is not what eth_getLogs returns for its event; the message is one line."""


@dataclass(frozen=True, slots=True)
class Param:
    """One event input: ``type`` as in the ABI ("uint256", "string", "tuple", ...)."""

    name: str
    type: str
    components: tuple[Param, ...] = ()

    @property
    def canonical_type(self) -> str:
        """The type as it appears in the event signature: structs as "(t1,t2,...)"."""
        if self.type == "tuple":
            return "(" + ",".join(c.canonical_type for c in self.components) + ")"
        return self.type

    @property
    def decoder_type(self) -> str:
        """The type handed to eth_abi: strings as bytes, so UTF-8 is checked here, not there."""
        if self.type == "tuple":
            return "(" + ",".join(c.decoder_type for c in self.components) + ")"
        return "bytes" if self.type == "string" else self.type


_TopicReader: TypeAlias = Callable[[str], Any]
_DataReader: TypeAlias = Callable[[bytes], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class EventSpec:
    """Everything needed to decode one event, computed once from its ABI."""

    name: str
    contract: str
    signature: str
    topic0: str
    indexed: tuple[Param, ...]
    data: tuple[Param, ...]
    decoder: TupleDecoder = field(repr=False)
    # Exact byte length of the data when it is only 32-byte words (decoded without eth_abi).
    data_size: int | None
    topic_readers: tuple[tuple[str, _TopicReader], ...] = field(repr=False)
    read_data: _DataReader = field(repr=False)
    # The ABI order of the inputs when it is not "indexed first, then data".
    order: tuple[str, ...] | None = field(repr=False)
    # Every value is an int or a hex string (no string, no struct): its JSON needs no checks.
    plain: bool = field(repr=False)

    @property
    def topic_count(self) -> int:
        return 1 + len(self.indexed)


@dataclass(slots=True)
class DecodedEvent:
    """One decoded log. Not frozen only because that makes it 3x slower to build; treat it as
    read-only."""

    name: str
    contract: str  # the artifact's name, e.g. "G8DStaking"
    contract_address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    removed: bool
    topics: list[str]
    data: str
    args: dict[str, Any]
    json_args: dict[str, Any] | None
    problem: str | None


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """A log of a batch that did not decode, and why."""

    log: RawLog
    error: DecodeError

    @property
    def reason(self) -> str:
        return str(self.error)


# --- the table --------------------------------------------------------------------------------


def _param(entry: Any, where: str) -> Param:
    if not isinstance(entry, dict):
        raise EventTableError(f"{where}: an input is not an object")
    name, type_ = entry.get("name"), entry.get("type")
    if not isinstance(name, str) or not isinstance(type_, str):
        raise EventTableError(f"{where}: an input lacks a name or a type")
    components: tuple[Param, ...] = ()
    if type_ == "tuple":
        raw = entry.get("components")
        if not isinstance(raw, list) or not raw:
            raise EventTableError(f"{where}: struct {name!r} has no components")
        components = tuple(_param(c, f"{where}.{name}") for c in raw)
        _check_names(components, f"{where}.{name}")
    return Param(name=name, type=type_, components=components)


def _check_names(params: Sequence[Param], where: str) -> None:
    names = [p.name for p in params]
    if "" in names or len(set(names)) != len(names):
        raise EventTableError(f"{where}: inputs need distinct, non-empty names: {names}")


def _uint_topic(topic: str) -> int:
    return int(topic, 16)


def _bytes32_topic(topic: str) -> str:
    return topic


def _address_topic(topic: str) -> str:
    if topic[2:26] != _ADDRESS_TOPIC_PADDING:
        raise MalformedLog(f"address topic {topic} has non-zero upper bytes")
    return "0x" + topic[26:]


_PLAIN_TYPES = frozenset({"uint256", "address", "bytes32"})

_TOPIC_READERS: dict[str, _TopicReader] = {
    "uint256": _uint_topic,
    "bytes32": _bytes32_topic,
    "address": _address_topic,
}

# --- data made of 32-byte words, sliced without eth_abi


_WordReader: TypeAlias = Callable[[bytes, int], Any]


def _uint_word(raw: bytes, at: int) -> int:
    return int.from_bytes(raw[at : at + _WORD], "big")


def _bytes32_word(raw: bytes, at: int) -> str:
    return "0x" + raw[at : at + _WORD].hex()


_WORD_READERS: dict[str, _WordReader] = {"uint256": _uint_word, "bytes32": _bytes32_word}


def _word_layout(
    params: Sequence[Param], start: int
) -> tuple[list[tuple[str, _WordReader, int]], int]:
    """(name, reader, byte offset) per field, and where the next field starts; raises KeyError
    when a type is not a plain word (the event then goes through eth_abi)."""
    layout: list[tuple[str, _WordReader, int]] = []
    at = start
    for param in params:
        if param.type == "tuple":
            inner, after = _word_layout(param.components, 0)
            layout.append((param.name, _struct_reader(inner), at))
            at += after
        else:
            layout.append((param.name, _WORD_READERS[param.type], at))
            at += _WORD
    return layout, at


def _struct_reader(layout: list[tuple[str, _WordReader, int]]) -> _WordReader:
    fields = tuple(layout)

    def read(raw: bytes, at: int) -> dict[str, Any]:
        return {name: reader(raw, at + offset) for name, reader, offset in fields}

    return read


def _words_reader(params: Sequence[Param]) -> tuple[_DataReader, int] | None:
    try:
        layout, size = _word_layout(params, 0)
    except KeyError:
        return None
    fields = tuple(layout)

    def read(raw: bytes) -> dict[str, Any]:
        return {name: reader(raw, offset) for name, reader, offset in fields}

    return read, size


# --- anything else, through eth_abi

_Converter: TypeAlias = Callable[[Any], Any]
_INTEGER_TYPE = re.compile(r"u?int([1-9][0-9]{0,2})")
_BYTES_TYPE = re.compile(r"bytes([1-9][0-9]?)?")


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        # Lossless: the original bytes come back with .encode("utf-8", "surrogateescape").
        return value.decode("utf-8", "surrogateescape")


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _same(value: Any) -> Any:
    return value


def _lower(value: str) -> str:
    return value.lower()


def _converter(param: Param, where: str) -> _Converter:
    type_ = param.type
    if type_ == "tuple":
        parts = tuple((c.name, _converter(c, where)) for c in param.components)

        def struct(value: tuple[Any, ...]) -> dict[str, Any]:
            return {name: convert(v) for (name, convert), v in zip(parts, value, strict=True)}

        return struct
    if type_ == "string":
        return _text
    if type_ == "address":
        return _lower
    if type_ == "bool":
        return _same
    if _INTEGER_TYPE.fullmatch(type_):
        return _same
    if _BYTES_TYPE.fullmatch(type_):
        return _hex
    raise EventTableError(f"{where}: unsupported type {type_!r} for {param.name!r}")


def _abi_reader(name: str, params: Sequence[Param], decoder: TupleDecoder) -> _DataReader:
    converters = tuple((p.name, _converter(p, name)) for p in params)

    def read(raw: bytes) -> dict[str, Any]:
        try:
            values = decoder(ContextFramesBytesIO(raw))  # type: ignore[no-untyped-call]
        except Exception as error:  # eth_abi raises several kinds on hostile data
            raise MalformedLog(f"{name}: data does not decode: {_one_line(error)}") from None
        return {key: convert(v) for (key, convert), v in zip(converters, values, strict=True)}

    return read


def _spec(contract: str, entry: dict[str, Any]) -> EventSpec:
    name = entry["name"]
    where = f"{contract}.{name}"
    raw_inputs = entry.get("inputs")
    if not isinstance(raw_inputs, list):
        raise EventTableError(f"{where}: no inputs list")
    inputs = [(_param(i, where), bool(i.get("indexed"))) for i in raw_inputs]
    params = [p for p, _ in inputs]
    _check_names(params, where)
    indexed = tuple(p for p, is_indexed in inputs if is_indexed)
    data = tuple(p for p, is_indexed in inputs if not is_indexed)
    signature = f"{name}({','.join(p.canonical_type for p in params)})"
    topic_readers = []
    for param in indexed:
        reader = _TOPIC_READERS.get(param.type)
        if reader is None:
            raise EventTableError(f"{where}: unsupported indexed type {param.type!r}")
        topic_readers.append((param.name, reader))
    try:
        # strict: padding, pointers and lengths are checked.
        decoder = registry.get_tuple_decoder(*(p.decoder_type for p in data), strict=True)
    except Exception as error:
        raise EventTableError(f"{where}: eth_abi cannot decode it: {_one_line(error)}") from None
    words = _words_reader(data)
    if words is None:
        read_data, data_size = _abi_reader(name, data, decoder), None
    else:
        read_data, data_size = words
    order = tuple(p.name for p in params)
    return EventSpec(
        name=name,
        contract=contract,
        signature=signature,
        topic0="0x" + keccak_256(signature.encode()).hexdigest(),
        indexed=indexed,
        data=data,
        decoder=decoder,
        data_size=data_size,
        topic_readers=tuple(topic_readers),
        read_data=read_data,
        order=None if order == tuple(p.name for p in indexed + data) else order,
        plain=all(p.type in _PLAIN_TYPES for p in params),
    )


def load_event_table(artifacts_dir: Path | None = None) -> dict[str, EventSpec]:
    """topic0 (lower-case 0x-hex) -> EventSpec for chain.md's events, from the artifacts."""
    directory = DEFAULT_ARTIFACTS_DIR if artifacts_dir is None else artifacts_dir
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise EventTableError(f"no contract artifacts in {directory}")
    wanted = set(PROTOCOL_EVENTS)
    table: dict[str, EventSpec] = {}
    for path in paths:
        try:
            artifact = json.loads(path.read_text())
            abi = artifact["abi"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise EventTableError(f"{path}: not a contract artifact: {_one_line(error)}") from None
        contract = artifact.get("contractName") or path.stem
        if not isinstance(abi, list):
            raise EventTableError(f"{path}: abi is not a list")
        for entry in abi:
            if not isinstance(entry, dict) or entry.get("type") != "event":
                continue
            if entry.get("name") not in wanted or entry.get("anonymous"):
                continue
            spec = _spec(str(contract), entry)
            known = table.get(spec.topic0)
            if known is not None and (known.indexed, known.data) != (spec.indexed, spec.data):
                raise EventTableError(
                    f"{spec.signature} differs between {known.contract} and {spec.contract}"
                )
            table.setdefault(spec.topic0, spec)
    missing = wanted - {spec.name for spec in table.values()}
    if missing:
        raise EventTableError(f"{directory}: no ABI for {', '.join(sorted(missing))}")
    if len(table) != len(wanted):
        names = sorted(spec.signature for spec in table.values())
        raise EventTableError(f"{directory}: an event has several signatures: {names}")
    return table


@functools.cache
def event_table(artifacts_dir: Path | None = None) -> Mapping[str, EventSpec]:
    """The table, built once per directory (None: the project's artifacts)."""
    return load_event_table(artifacts_dir)


# --- decoding ---------------------------------------------------------------------------------


def _one_line(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: object) -> str:
    return _one_line(repr(value), 80)


def _quantity(log: RawLog, key: str) -> int:
    value = log.get(key)
    if type(value) is str and _QUANTITY.fullmatch(value):
        return int(value, 16)
    if type(value) is int and value >= 0:
        return value
    if value is None:
        raise MalformedLog(f"{key} is missing (a pending log?)")
    raise MalformedLog(f"{key} is not a hex quantity: {_show(value)}")


def _hash(log: RawLog, key: str) -> str:
    value = log.get(key)
    if type(value) is str and _HASH.fullmatch(value):
        return value.lower()
    raise MalformedLog(f"{key} is not a 32-byte hex string: {_show(value)}")


class _Unstorable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def _json_value(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str:
        if "\x00" in value:
            raise _Unstorable("contains a NUL character, which JSONB cannot store")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Unstorable("is not valid UTF-8") from None
        return value
    if kind is dict:
        return _json_dict(value)
    return value  # bool


def _json_dict(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        try:
            out[key] = _json_value(value)
        except _Unstorable as unstorable:
            unstorable.path.insert(0, key)
            raise
    return out


def to_json_args(args: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The JSONB form of decoded args (integers as decimal strings), or None and the reason."""
    try:
        return _json_dict(args), None
    except _Unstorable as unstorable:
        return None, f"{'.'.join(unstorable.path)} {unstorable.reason}"


def decode_log(log: RawLog, table: Mapping[str, EventSpec] | None = None) -> DecodedEvent:
    """Decode one eth_getLogs entry; raises UnknownEvent or MalformedLog."""
    if table is None:
        table = event_table()
    if type(log) is not dict and not isinstance(log, Mapping):
        raise MalformedLog(f"a log is a JSON object, not {type(log).__name__}")
    topics = log.get("topics")
    if type(topics) not in (list, tuple) or not topics:
        raise MalformedLog(f"topics is not a non-empty list: {_show(topics)}")
    topic0 = topics[0]
    if type(topic0) is not str:
        raise MalformedLog(f"topic0 is not a string: {_show(topic0)}")
    topic0 = topic0.lower()
    spec = table.get(topic0)
    if spec is None:
        if _HASH.fullmatch(topic0):
            raise UnknownEvent(topic0)
        raise MalformedLog(f"topic0 is not a 32-byte hex string: {_show(topic0)}")
    if len(topics) != len(spec.topic_readers) + 1:
        raise MalformedLog(
            f"{spec.name} has {len(spec.topic_readers) + 1} topics, the log {len(topics)}"
        )

    args: dict[str, Any] = {}
    normal_topics = [topic0]
    # Lengths checked above; strict=True would cost a microsecond a log.
    for (name, reader), topic in zip(spec.topic_readers, topics[1:], strict=False):
        if type(topic) is not str or not _HASH.fullmatch(topic):
            raise MalformedLog(f"{spec.name}: topic {name} is not 32-byte hex: {_show(topic)}")
        topic = topic.lower()
        normal_topics.append(topic)
        args[name] = reader(topic)

    data = log.get("data")
    if type(data) is not str or data[:2] != "0x":
        raise MalformedLog(f"{spec.name}: data is not a 0x-hex string: {_show(data)}")
    try:
        raw = bytes.fromhex(data[2:])
    except ValueError:
        raise MalformedLog(f"{spec.name}: data is not hex: {_show(data)}") from None
    if 2 * len(raw) != len(data) - 2:  # fromhex skips whitespace
        raise MalformedLog(f"{spec.name}: data is not hex: {_show(data)}")
    if spec.data_size is not None and len(raw) != spec.data_size:
        raise MalformedLog(f"{spec.name}: data is {len(raw)} bytes, expected {spec.data_size}")
    args.update(spec.read_data(raw))
    if spec.order is not None:
        args = {name: args[name] for name in spec.order}

    address = log.get("address")
    if type(address) is not str or not _ADDRESS.fullmatch(address):
        raise MalformedLog(f"address is not a 20-byte hex string: {_show(address)}")
    removed = log.get("removed", False)
    if type(removed) is not bool:
        raise MalformedLog(f"removed is not a boolean: {_show(removed)}")
    if spec.plain:  # only ints and hex strings: nothing JSONB could refuse
        stored: dict[str, Any] | None = {
            key: str(value) if type(value) is int else value for key, value in args.items()
        }
        problem = None
    else:
        stored, problem = to_json_args(args)
    return DecodedEvent(
        name=spec.name,
        contract=spec.contract,
        contract_address=address.lower(),
        block_number=_quantity(log, "blockNumber"),
        block_hash=_hash(log, "blockHash"),
        tx_hash=_hash(log, "transactionHash"),
        log_index=_quantity(log, "logIndex"),
        removed=removed,
        topics=normal_topics,
        data=data.lower(),
        args=args,
        json_args=stored,
        problem=None if problem is None else f"{spec.name}: {problem}",
    )


def decode_logs(
    logs: Iterable[RawLog], table: Mapping[str, EventSpec] | None = None
) -> list[DecodedEvent | DecodeFailure]:
    """Decode a batch, in order; a log that does not decode becomes a DecodeFailure.

    The cyclic garbage collector is paused meanwhile: a batch makes hundreds of thousands of
    small objects, none in a cycle, and the collections their count sets off would take a
    third of the time (bench/decode_events). The loop never awaits, and a pause another
    thread began is left for that thread to end."""
    if table is None:
        table = event_table()
    out: list[DecodedEvent | DecodeFailure] = []
    append = out.append
    collecting = gc.isenabled()
    gc.disable()
    try:
        for log in logs:
            try:
                append(decode_log(log, table))
            except DecodeError as error:
                append(DecodeFailure(log, error))
    finally:
        if collecting:
            gc.enable()
    return out
