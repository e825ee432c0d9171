"""Merkle commitments of a day's filled executions, compatible with OpenZeppelin's tooling.

settlement.md, "Merkle leaves": the tree is the ``StandardMerkleTree`` of the
``@openzeppelin/merkle-tree`` JavaScript library (and of ``MerkleProof.sol`` on chain), with leaf
types ``LEAF_TYPES`` = (execution id, user id, side, amount, executed price, executed at).

This is a port of that library's algorithm (``dist/core.js``, ``merkletree.js``, ``standard.js``
of version 1.0.8), checked against vectors produced by the library itself
(``tests/vectors/merkle``):

* leaf hash: ``keccak256(bytes.concat(keccak256(abi.encode(values))))``;
* node hash: keccak256 of the two 32-byte children in ascending order (sorted pairs);
* the leaf hashes are sorted (stable sort, ascending), then laid out as a complete binary tree in
  an array of ``2n - 1`` nodes: the i-th sorted hash goes to ``tree[len - 1 - i]`` and each
  internal node ``tree[i]`` hashes ``tree[2i + 1]`` and ``tree[2i + 2]``; the root is ``tree[0]``;
* a proof lists the siblings on the way from a leaf up to the root.

Values are kept in the library's JSON representation (bytes16 as lowercase 0x-hex strings,
integers as decimal strings) so that ``dump()`` matches ``StandardMerkleTree.dump()``. Pure
functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, TypeAlias, TypedDict

from eth_abi.abi import encode
from sha3 import keccak_256

LEAF_TYPES: Final = ("bytes16", "bytes16", "uint8", "uint256", "uint256", "uint256")
"""ABI types of a leaf: execution id, user id, side (0 BUY / 1 SELL), amount * 10^8,
executed price * 10^8, executed at (unix seconds)."""

SCALE_DECIMALS: Final = 8
"""Amounts and prices are committed as integers: value * 10^8."""

SIDE_CODES: Final[dict[str, int]] = {"BUY": 0, "SELL": 1}

DUMP_FORMAT: Final = "standard-v1"

_UINT_BITS: Final[dict[str, int]] = {"uint8": 8, "uint256": 256}
_HEX = re.compile(r"(?:0x)?((?:[0-9a-fA-F]{2})*)")
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

LeafValue: TypeAlias = bytes | int | str
"""One ABI value: bytes16 as 16 bytes or a 0x-hex string, uints as int or a decimal string."""

AbiValues: TypeAlias = tuple[bytes, bytes, int, int, int, int]
"""A leaf as eth_abi encodes it."""

JsValues: TypeAlias = tuple[str, str, str, str, str, str]
"""A leaf in the JS library's representation (0x-hex bytes16, decimal-string uints)."""


class DumpedValue(TypedDict):
    value: list[str]
    treeIndex: int  # the library's JSON key


class StandardTreeDump(TypedDict):
    """The JSON shape of ``StandardMerkleTree.dump()`` (format "standard-v1")."""

    format: str
    leafEncoding: list[str]  # the library's JSON key
    tree: list[str]
    values: list[DumpedValue]


# --- execution leaves ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecutionLeaf:
    """The part of one filled execution that the day's Merkle root commits to.

    Construction refuses what the leaf cannot represent exactly instead of rounding it: an
    amount or price that is negative, not finite, has a non-zero digit past the 8th decimal or
    exceeds uint256 once scaled; a side other than BUY / SELL; a naive or pre-1970 executed_at.
    Trailing zeros past the 8th decimal are fine (the value is exact). executed_at is committed in
    whole unix seconds: a sub-second part is dropped (floor), as Solidity time has no fractions.
    """

    execution_id: uuid.UUID
    user_id: uuid.UUID
    side: str
    amount: Decimal
    executed_price: Decimal
    executed_at: dt.datetime

    def __post_init__(self) -> None:
        if self.side not in SIDE_CODES:
            raise ValueError(f"side must be BUY or SELL, not {self.side!r}")
        scaled_units(self.amount, "amount")
        scaled_units(self.executed_price, "executed_price")
        unix_seconds(self.executed_at)

    def abi_values(self) -> AbiValues:
        """The ABI values of the leaf, in ``LEAF_TYPES`` order."""
        return (
            self.execution_id.bytes,
            self.user_id.bytes,
            SIDE_CODES[self.side],
            scaled_units(self.amount, "amount"),
            scaled_units(self.executed_price, "executed_price"),
            unix_seconds(self.executed_at),
        )

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.abi_values())


def scaled_units(value: Decimal, name: str = "value") -> int:
    """``value * 10^8`` as an exact integer that fits uint256; ValueError otherwise."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, not {value}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, not {value}")
    # Exact integer arithmetic on the digits: Decimal arithmetic would round to the context.
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    coefficient = int("".join(map(str, digits)) or "0")
    shift = exponent + SCALE_DECIMALS
    scaled: int
    remainder: int
    if coefficient == 0:
        return 0
    if shift > 78 or -shift > len(digits):  # bounds the powers of ten below
        reason = "does not fit uint256 once scaled by 10^8" if shift > 0 else "is too precise"
        raise ValueError(f"{name} {reason}: {value}")
    if shift >= 0:
        scaled = coefficient * 10**shift
    else:
        scaled, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            raise ValueError(f"{name} has more than {SCALE_DECIMALS} decimals: {value}")
    if scaled >= 2**256:
        raise ValueError(f"{name} does not fit uint256 once scaled by 10^8: {value}")
    return scaled


def unix_seconds(moment: dt.datetime) -> int:
    """Whole seconds since 1970-01-01T00:00:00Z (floor); refuses naive and pre-1970 times."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"executed_at must be timezone-aware, not {moment!r}")
    seconds = (moment - _EPOCH) // dt.timedelta(seconds=1)
    if seconds < 0:
        raise ValueError(f"executed_at must not be before 1970: {moment.isoformat()}")
    return seconds


# --- hashing ------------------------------------------------------------------------------------


def keccak(data: bytes) -> bytes:
    """Keccak-256 in C (safe-pysha3): a day of a million leaves makes three million of these."""
    digest: bytes = keccak_256(data).digest()
    return digest


_WORD = 32
_BYTES16_PAD = bytes(16)


def execution_leaf_hash(
    execution_id: bytes,
    user_id: bytes,
    side_code: int,
    amount_units: int,
    price_units: int,
    executed_at: int,
) -> bytes:
    """``leaf_hash`` of values already scaled and checked, encoded without eth_abi.

    Every type in ``LEAF_TYPES`` is static, so ``abi.encode`` is six 32-byte words: bytes16
    left-aligned and zero-padded, unsigned integers big-endian.
    """
    encoded = b"".join(
        (
            execution_id,
            _BYTES16_PAD,
            user_id,
            _BYTES16_PAD,
            side_code.to_bytes(_WORD, "big"),
            amount_units.to_bytes(_WORD, "big"),
            price_units.to_bytes(_WORD, "big"),
            executed_at.to_bytes(_WORD, "big"),
        )
    )
    return keccak(keccak(encoded))


ENCODED_LEAF_BYTES: Final = _WORD * len(LEAF_TYPES)
"""Length of one leaf's ``abi.encode(values)``: every type in ``LEAF_TYPES`` is one word."""


def leaf_hashes_of_encoded(encoded: bytes) -> list[bytes]:
    """The leaf hashes of leaves given as their ``abi.encode(values)``, back to back.

    A day has a million leaves: this loop is kept to the two hash calls per leaf.
    """
    if len(encoded) % ENCODED_LEAF_BYTES:
        raise ValueError(f"encoded leaves come in {ENCODED_LEAF_BYTES}-byte records")
    view = memoryview(encoded)
    size = ENCODED_LEAF_BYTES
    return [
        keccak_256(keccak_256(view[at : at + size]).digest()).digest()
        for at in range(0, len(encoded), size)
    ]


def root_of_leaf_hashes(hashes: Sequence[bytes]) -> str:
    """The StandardMerkleTree root over these leaf hashes (0x-hex).

    ``make_merkle_tree(sorted(hashes))[0]`` without its checks, for 32-byte hashes made here:
    the sorted leaves fill the end of the node array in descending order, and each internal
    node hashes its two children as ``node_hash`` does.
    """
    if not hashes:
        raise ValueError("Expected non-zero number of leaves")
    tree = [b""] * (len(hashes) - 1) + sorted(hashes, reverse=True)
    for i in range(len(hashes) - 2, -1, -1):
        left, right = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = keccak_256(left + right if left <= right else right + left).digest()
    return _to_hex(tree[0])


def _hex_bytes(value: str | bytes, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    match = _HEX.fullmatch(value)
    if match is None:
        raise ValueError(f"{what} must be hex bytes, not {value!r}")
    return bytes.fromhex(match.group(1))


def _to_hex(value: bytes) -> str:
    return "0x" + value.hex()


def _node(value: str | bytes) -> bytes:
    node = _hex_bytes(value, "a Merkle node")
    if len(node) != 32:
        raise ValueError("Merkle tree nodes must be 32 bytes")
    return node


def _js_value(abi_type: str, value: LeafValue) -> str:
    """One value in the JS library's representation, validated for its ABI type."""
    if abi_type == "bytes16":
        if not isinstance(value, bytes | str):
            raise ValueError(f"bytes16 value must be bytes or a 0x-hex string, not {value!r}")
        raw = _hex_bytes(value, "bytes16 value")
        if len(raw) != 16:
            raise ValueError(f"bytes16 value must be exactly 16 bytes, not {len(raw)}")
        return _to_hex(raw)
    bits = _UINT_BITS[abi_type]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{abi_type} value must be an int or a decimal string, not {value!r}")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError(f"{abi_type} value must be a decimal string, not {value!r}")
        value = int(value)
    if not 0 <= value < 2**bits:
        raise ValueError(f"{value} is out of range for {abi_type}")
    return str(value)


def js_values(values: Sequence[LeafValue]) -> JsValues:
    """A leaf's values in the JS library's representation (as ``dump()`` shows them)."""
    if isinstance(values, str | bytes) or len(values) != len(LEAF_TYPES):
        raise ValueError(f"a leaf has {len(LEAF_TYPES)} values {LEAF_TYPES}, got {values!r}")
    a, b, c, d, e, f = (_js_value(t, v) for t, v in zip(LEAF_TYPES, values, strict=True))
    return (a, b, c, d, e, f)


def abi_values(values: Sequence[LeafValue]) -> AbiValues:
    """A leaf's values as eth_abi encodes them."""
    a, b, c, d, e, f = js_values(values)
    return (bytes.fromhex(a[2:]), bytes.fromhex(b[2:]), int(c), int(d), int(e), int(f))


def leaf_hash(values: Sequence[LeafValue]) -> bytes:
    """The library's standardLeafHash: keccak256(bytes.concat(keccak256(abi.encode(values))))."""
    return keccak(keccak(encode(list(LEAF_TYPES), list(abi_values(values)))))


def node_hash(a: bytes, b: bytes) -> bytes:
    """keccak256 of the two nodes in ascending order (the library's standardNodeHash)."""
    return keccak(a + b if a <= b else b + a)


# --- the tree as an array (core.js) -------------------------------------------------------------


def make_merkle_tree(leaves: Sequence[bytes]) -> list[bytes]:
    """core.js makeMerkleTree: leaves (already in their final order) into a node array."""
    if not leaves:
        raise ValueError("Expected non-zero number of leaves")
    for leaf in leaves:
        _node(leaf)
    tree: list[bytes] = [b""] * (2 * len(leaves) - 1)
    for i, leaf in enumerate(leaves):
        tree[len(tree) - 1 - i] = leaf
    for i in range(len(tree) - 1 - len(leaves), -1, -1):
        tree[i] = node_hash(tree[2 * i + 1], tree[2 * i + 2])
    return tree


def get_proof(tree: Sequence[bytes], tree_index: int) -> list[bytes]:
    """core.js getProof: the siblings from the leaf at tree_index up to the root."""
    if not (0 <= tree_index < len(tree) and 2 * tree_index + 1 >= len(tree)):
        raise ValueError("Index is not a leaf")
    proof = []
    index = tree_index
    while index > 0:
        sibling = index + 1 if index % 2 else index - 1
        proof.append(tree[sibling])
        index = (index - 1) // 2
    return proof


def process_proof(leaf: bytes, proof: Sequence[str | bytes]) -> bytes:
    """core.js processProof (and MerkleProof.processProof): the root a proof leads to."""
    computed = _node(leaf)
    for sibling in proof:
        computed = node_hash(computed, _node(sibling))
    return computed


# --- StandardMerkleTree (merkletree.js, standard.js) --------------------------------------------


class StandardMerkleTree:
    """OpenZeppelin's ``StandardMerkleTree.of(values, LEAF_TYPES)`` with sorted leaves.

    Leaf values may be given as ``AbiValues`` (bytes / int) or in the JS representation;
    ``values`` keeps them in the JS representation, in input order.
    """

    __slots__ = ("_hash_lookup", "_tree", "_tree_indices", "values")

    def __init__(self, values: Sequence[Sequence[LeafValue]]) -> None:
        if not values:
            raise ValueError("Expected non-zero number of leaves")
        self.values: tuple[JsValues, ...] = tuple(js_values(v) for v in values)
        hashes = [leaf_hash(v) for v in self.values]
        # Stable ascending sort of the hashes, as Array.prototype.sort with bytes compare.
        order = sorted(range(len(hashes)), key=hashes.__getitem__)
        self._tree = make_merkle_tree([hashes[i] for i in order])
        tree_indices = [0] * len(hashes)
        for position, value_index in enumerate(order):
            tree_indices[value_index] = len(self._tree) - 1 - position
        self._tree_indices = tuple(tree_indices)
        # Like the library's hashLookup: with equal leaves, the last one wins.
        self._hash_lookup = {h: i for i, h in enumerate(hashes)}

    @property
    def root(self) -> str:
        return _to_hex(self._tree[0])

    @property
    def leaf_encoding(self) -> tuple[str, ...]:
        return LEAF_TYPES

    @property
    def tree(self) -> list[str]:
        """Every node, root first, as 0x-hex strings."""
        return [_to_hex(node) for node in self._tree]

    def __len__(self) -> int:
        return len(self.values)

    def leaf_index(self, values: Sequence[LeafValue]) -> int:
        """The input position of a leaf (the last one when equal leaves were given)."""
        try:
            return self._hash_lookup[leaf_hash(values)]
        except KeyError:
            raise ValueError("Leaf is not in tree") from None

    def tree_index(self, index: int) -> int:
        """Where the leaf given at input position ``index`` sits in the node array."""
        if not 0 <= index < len(self.values):
            raise IndexError("Index out of bounds")
        return self._tree_indices[index]

    def leaf_hash(self, index_or_values: int | Sequence[LeafValue]) -> str:
        return _to_hex(self._tree[self.tree_index(self._index(index_or_values))])

    def proof(self, index_or_values: int | Sequence[LeafValue]) -> list[str]:
        """The proof of a leaf given by input position or by its values, as 0x-hex strings."""
        tree_index = self.tree_index(self._index(index_or_values))
        proof = get_proof(self._tree, tree_index)
        if process_proof(self._tree[tree_index], proof) != self._tree[0]:
            raise AssertionError("Unable to prove value")  # the library's invariant
        return [_to_hex(node) for node in proof]

    @staticmethod
    def verify(
        root: str | bytes, leaf_values: Sequence[LeafValue], proof: Sequence[str | bytes]
    ) -> bool:
        """Whether ``proof`` proves ``leaf_values`` under ``root`` (``StandardMerkleTree.verify``).

        Like the library, a proof node that is not 32 bytes of hex raises ValueError.
        """
        return _hex_bytes(root, "root") == process_proof(leaf_hash(leaf_values), proof)

    def dump(self) -> StandardTreeDump:
        """The library's ``dump()``: loadable by ``StandardMerkleTree.load`` in JS."""
        return {
            "format": DUMP_FORMAT,
            "leafEncoding": list(LEAF_TYPES),
            "tree": self.tree,
            "values": [
                {"value": list(value), "treeIndex": tree_index}
                for value, tree_index in zip(self.values, self._tree_indices, strict=True)
            ],
        }

    def _index(self, index_or_values: int | Sequence[LeafValue]) -> int:
        if isinstance(index_or_values, bool):
            raise TypeError("a leaf is given by its input position or by its values")
        if isinstance(index_or_values, int):
            return index_or_values
        return self.leaf_index(index_or_values)


# --- what the settlement and the API use --------------------------------------------------------


def day_tree(leaves: Sequence[ExecutionLeaf]) -> StandardMerkleTree:
    """The tree of one day's executions; ValueError when there are none."""
    return StandardMerkleTree([leaf.abi_values() for leaf in leaves])


ProofFor: TypeAlias = tuple[str, list[str], str]


def proof_for(leaves: Sequence[ExecutionLeaf], execution_id: uuid.UUID) -> ProofFor:
    """(leaf hash, proof, root) of one execution in its day's tree, all 0x-hex.

    The proof verifies with ``MerkleProof.verify(proof, root, leafHash)`` on chain. KeyError
    when the execution is not among ``leaves``; ValueError when ``leaves`` is empty.
    """
    tree = day_tree(leaves)
    for index, leaf in enumerate(leaves):
        if leaf.execution_id == execution_id:
            return tree.leaf_hash(index), tree.proof(index), tree.root
    raise KeyError(f"execution {execution_id} is not in this day's tree")
