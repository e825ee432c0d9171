"""settlement.merkle against vectors written by the real @openzeppelin/merkle-tree.

The vectors come from tests/vectors/merkle/generate.mjs (``npm ci && node generate.mjs``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.merkle import (
    LEAF_TYPES,
    ExecutionLeaf,
    StandardMerkleTree,
    abi_values,
    day_tree,
    execution_leaf_hash,
    js_values,
    leaf_hash,
    proof_for,
    root_of_leaf_hashes,
)

VECTOR_DIR = Path(__file__).resolve().parent.parent / "vectors" / "merkle"
VECTORS: dict[str, Any] = json.loads((VECTOR_DIR / "vectors.json").read_text())
TREES: list[dict[str, Any]] = VECTORS["trees"]

each_tree = pytest.mark.parametrize("vector", TREES, ids=[t["name"] for t in TREES])


def vector_values(vector: dict[str, Any]) -> list[list[str]]:
    return [leaf["values"] for leaf in vector["leaves"]]


def execution_leaf(execution: dict[str, str]) -> ExecutionLeaf:
    return ExecutionLeaf(
        execution_id=uuid.UUID(execution["executionId"]),
        user_id=uuid.UUID(execution["userId"]),
        side=execution["side"],
        amount=Decimal(execution["amount"]),
        executed_price=Decimal(execution["executedPrice"]),
        executed_at=dt.datetime.fromisoformat(execution["executedAt"]),
    )


def flip_last_bit(hex_node: str) -> str:
    return hex_node[:-1] + format(int(hex_node[-1], 16) ^ 1, "x")


def leaf(**overrides: Any) -> ExecutionLeaf:
    fields: dict[str, Any] = {
        "execution_id": uuid.UUID("5f0c6a53-4a43-4f0e-9d0b-5b8f8e3f7a11"),
        "user_id": uuid.UUID("0b7e2a9c-1d3f-4c6b-8e5a-2f9d4c7b1a60"),
        "side": "BUY",
        "amount": Decimal("1.50000000"),
        "executed_price": Decimal("65000.12345678"),
        "executed_at": dt.datetime(2026, 3, 14, 9, 26, 53, tzinfo=dt.UTC),
    }
    return ExecutionLeaf(**(fields | overrides))


# --- the vectors --------------------------------------------------------------------------------


def test_the_vectors_come_from_the_pinned_library_version() -> None:
    package = json.loads((VECTOR_DIR / "package.json").read_text())
    pinned = package["dependencies"]["@openzeppelin/merkle-tree"]
    assert VECTORS["library"] == f"@openzeppelin/merkle-tree@{pinned}"
    assert tuple(VECTORS["leafEncoding"]) == LEAF_TYPES


def test_the_vectors_cover_the_promised_tree_sizes_and_edge_values() -> None:
    sizes = {len(t["leaves"]) for t in TREES}
    assert {1, 2, 3, 7, 8, 33} <= sizes
    values = [v for t in TREES for v in vector_values(t)]
    assert {v[2] for v in values} == {"0", "1"}
    assert any(v[3] == "1" for v in values)
    assert any(v[3] == str(2**256 - 1) for v in values)
    assert any(v[5] == "0" for v in values)
    assert any(v[5].startswith("17") for v in values)  # 2026 timestamps


@each_tree
def test_python_reproduces_the_root_of_every_vector_tree(vector: dict[str, Any]) -> None:
    assert StandardMerkleTree(vector_values(vector)).root == vector["root"]


@each_tree
def test_python_reproduces_every_leaf_hash_and_tree_index(vector: dict[str, Any]) -> None:
    tree = StandardMerkleTree(vector_values(vector))
    for index, expected in enumerate(vector["leaves"]):
        assert "0x" + leaf_hash(expected["values"]).hex() == expected["hash"]
        assert tree.leaf_hash(index) == expected["hash"]
        assert tree.tree_index(index) == expected["treeIndex"]


@each_tree
def test_python_reproduces_every_proof_by_index_and_by_value(vector: dict[str, Any]) -> None:
    tree = StandardMerkleTree(vector_values(vector))
    for index, expected in enumerate(vector["leaves"]):
        assert tree.proof(index) == expected["proof"]
        assert tree.proof(expected["values"]) == expected["proofByValue"]


@each_tree
def test_python_reproduces_the_library_dump_byte_for_byte(vector: dict[str, Any]) -> None:
    dump = StandardMerkleTree(vector_values(vector)).dump()
    assert dump == vector["dump"]
    assert json.dumps(dump, indent=2) == json.dumps(vector["dump"], indent=2)


@each_tree
def test_a_tree_built_from_abi_values_dumps_like_one_built_from_strings(
    vector: dict[str, Any],
) -> None:
    tree = StandardMerkleTree([abi_values(v) for v in vector_values(vector)])
    assert tree.dump() == vector["dump"]


@each_tree
def test_execution_leaves_give_the_abi_values_of_the_vectors(vector: dict[str, Any]) -> None:
    for expected in vector["leaves"]:
        if expected["execution"] is not None:
            values = execution_leaf(expected["execution"]).abi_values()
            assert list(js_values(values)) == expected["values"]


@each_tree
def test_the_library_proofs_and_python_proofs_verify(vector: dict[str, Any]) -> None:
    tree = StandardMerkleTree(vector_values(vector))
    for index, expected in enumerate(vector["leaves"]):
        assert StandardMerkleTree.verify(vector["root"], expected["values"], expected["proof"])
        assert StandardMerkleTree.verify(tree.root, expected["values"], tree.proof(index))


@each_tree
def test_a_tampered_leaf_does_not_verify(vector: dict[str, Any]) -> None:
    for expected in vector["leaves"]:
        values = list(expected["values"])
        values[2] = "1" if values[2] == "0" else "0"
        assert not StandardMerkleTree.verify(vector["root"], values, expected["proof"])
        values = list(expected["values"])
        values[4] = str(int(values[4]) ^ 1)
        assert not StandardMerkleTree.verify(vector["root"], values, expected["proof"])


@each_tree
def test_a_tampered_proof_does_not_verify(vector: dict[str, Any]) -> None:
    root = vector["root"]
    for expected in vector["leaves"]:
        values, proof = expected["values"], expected["proof"]
        extra = "0x" + "11" * 32
        assert not StandardMerkleTree.verify(root, values, [*proof, extra])
        for position in range(len(proof)):
            flipped = [*proof]
            flipped[position] = flip_last_bit(proof[position])
            assert not StandardMerkleTree.verify(root, values, flipped)
        if proof:
            assert not StandardMerkleTree.verify(root, values, proof[:-1])


@each_tree
def test_a_proof_does_not_verify_under_another_root(vector: dict[str, Any]) -> None:
    other_root = flip_last_bit(vector["root"])
    for expected in vector["leaves"]:
        assert not StandardMerkleTree.verify(other_root, expected["values"], expected["proof"])


@each_tree
def test_the_root_does_not_depend_on_the_order_of_the_leaves(vector: dict[str, Any]) -> None:
    values = vector_values(vector)
    assert StandardMerkleTree(values[::-1]).root == vector["root"]
    assert StandardMerkleTree(values[1::2] + values[::2]).root == vector["root"]


def test_proof_for_gives_the_leaf_hash_proof_and_root_of_an_execution() -> None:
    vector = next(t for t in TREES if t["name"] == "thirty-three leaves")
    leaves = [execution_leaf(expected["execution"]) for expected in vector["leaves"]]
    assert day_tree(leaves).root == vector["root"]
    for leaf_, expected in zip(leaves, vector["leaves"], strict=True):
        assert proof_for(leaves, leaf_.execution_id) == (
            expected["hash"],
            expected["proof"],
            vector["root"],
        )


def test_proof_for_an_execution_outside_the_day_raises_key_error() -> None:
    with pytest.raises(KeyError):
        proof_for([leaf()], uuid.UUID(int=0))


def test_an_empty_tree_is_refused_as_the_library_refuses_it() -> None:
    with pytest.raises(ValueError, match="non-zero number of leaves"):
        StandardMerkleTree([])
    with pytest.raises(ValueError, match="non-zero number of leaves"):
        day_tree([])
    with pytest.raises(ValueError):
        proof_for([], uuid.UUID(int=0))


def test_a_leaf_not_in_the_tree_has_no_proof() -> None:
    tree = day_tree([leaf()])
    with pytest.raises(ValueError, match="not in tree"):
        tree.proof(leaf(side="SELL").abi_values())
    with pytest.raises(IndexError):
        tree.proof(1)


def test_a_malformed_proof_node_is_refused_like_the_library_refuses_it() -> None:
    only = leaf()
    tree = day_tree([only])
    with pytest.raises(ValueError, match="32 bytes"):
        StandardMerkleTree.verify(tree.root, only.abi_values(), ["0x1234"])


@pytest.mark.parametrize(
    ("position", "value"),
    [
        (0, b"\x00" * 15),
        (1, "0x" + "ab" * 17),
        (1, "not hex"),
        (2, 256),
        (2, True),
        (3, -1),
        (4, 2**256),
        (5, "12.5"),
        (5, "-1"),
    ],
)
def test_values_that_do_not_fit_their_abi_type_are_refused(position: int, value: object) -> None:
    values: list[Any] = list(leaf().abi_values())
    values[position] = value
    with pytest.raises(ValueError):
        StandardMerkleTree([values])


# --- ExecutionLeaf ------------------------------------------------------------------------------


def test_an_execution_leaf_gives_uuid_bytes_side_code_scaled_amounts_and_unix_seconds() -> None:
    sell = leaf(side="SELL", executed_at=dt.datetime(2026, 3, 14, 9, 26, 53, 999_999, dt.UTC))
    assert sell.abi_values() == (
        sell.execution_id.bytes,
        sell.user_id.bytes,
        1,
        150_000_000,
        6_500_012_345_678,
        1_773_480_413,
    )
    assert leaf().abi_values()[2] == 0
    assert sell.leaf_hash() == leaf_hash(sell.abi_values())


def test_execution_leaf_refuses_nine_decimal_amounts() -> None:
    with pytest.raises(ValueError, match="more than 8 decimals"):
        leaf(amount=Decimal("0.000000001"))
    with pytest.raises(ValueError, match="more than 8 decimals"):
        leaf(executed_price=Decimal("65000.123456789"))


def test_execution_leaf_accepts_trailing_zeros_past_the_eighth_decimal() -> None:
    assert leaf(amount=Decimal("1.500000000000000000")).abi_values()[3] == 150_000_000
    assert leaf(amount=Decimal("1E+3")).abi_values()[3] == 100_000_000_000
    assert leaf(amount=Decimal("0.00000001")).abi_values()[3] == 1
    assert leaf(amount=Decimal("0E-30")).abi_values()[3] == 0
    assert leaf(amount=Decimal("-0")).abi_values()[3] == 0


@pytest.mark.parametrize(
    "bad",
    [
        Decimal("-0.00000001"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal(2**256),
        Decimal("1E+1000000000"),
        Decimal("1E-1000000000"),
    ],
)
def test_execution_leaf_refuses_negative_non_finite_and_oversized_prices(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        leaf(executed_price=bad)


def test_execution_leaf_refuses_an_unknown_side_and_naive_or_pre_1970_times() -> None:
    with pytest.raises(ValueError, match="BUY or SELL"):
        leaf(side="buy")
    with pytest.raises(ValueError, match="timezone-aware"):
        leaf(executed_at=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="before 1970"):
        leaf(executed_at=dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=dt.UTC))


def test_execution_leaf_counts_seconds_in_utc_whatever_the_time_zone() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    local = leaf(executed_at=dt.datetime(2026, 1, 1, 1, 0, 0, tzinfo=paris))
    assert local.abi_values()[5] == 1_767_225_600


# --- properties ---------------------------------------------------------------------------------

execution_leaves = st.builds(
    ExecutionLeaf,
    execution_id=st.uuids(),
    user_id=st.uuids(),
    side=st.sampled_from(["BUY", "SELL"]),
    amount=st.decimals(min_value=0, max_value=Decimal("999999999999.99999999"), places=8),
    executed_price=st.decimals(min_value=0, max_value=Decimal("999999999999.99999999"), places=8),
    executed_at=st.datetimes(
        min_value=dt.datetime(1970, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC),
    ),
)


@settings(deadline=None)
@given(
    leaves=st.lists(
        execution_leaves, min_size=1, max_size=40, unique_by=lambda leaf: leaf.execution_id
    ),
    data=st.data(),
)
def test_every_proof_verifies_and_the_root_ignores_the_order_of_the_leaves(
    leaves: list[ExecutionLeaf], data: st.DataObject
) -> None:
    tree = day_tree(leaves)
    for index, leaf_ in enumerate(leaves):
        assert StandardMerkleTree.verify(tree.root, leaf_.abi_values(), tree.proof(index))
        leaf_hex, proof, root = proof_for(leaves, leaf_.execution_id)
        assert root == tree.root
        assert StandardMerkleTree.verify(root, leaf_.abi_values(), proof)
        assert leaf_hex == "0x" + leaf_.leaf_hash().hex()
    shuffled = data.draw(st.permutations(leaves))
    assert day_tree(shuffled).root == tree.root


@settings(deadline=None)
@given(leaves=st.lists(execution_leaves, min_size=1, max_size=40))
def test_the_fast_day_root_equals_the_standard_tree_root(leaves: list[ExecutionLeaf]) -> None:
    hashes = [
        execution_leaf_hash(leaf.execution_id.bytes, leaf.user_id.bytes, *leaf.abi_values()[2:])
        for leaf in leaves
    ]
    assert hashes == [leaf.leaf_hash() for leaf in leaves]
    assert root_of_leaf_hashes(hashes) == day_tree(leaves).root
