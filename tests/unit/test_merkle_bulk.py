"""The bulk path of the daily run (encoded leaves back to back, hashed in one call) against the
vectors written by the real @openzeppelin/merkle-tree (tests/vectors/merkle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode

from settlement.merkle import (
    ENCODED_LEAF_BYTES,
    LEAF_TYPES,
    abi_values,
    leaf_hashes_of_encoded,
    root_of_leaf_hashes,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "merkle" / "vectors.json").read_text()
)
each_tree = pytest.mark.parametrize(
    "vector", VECTORS["trees"], ids=[t["name"] for t in VECTORS["trees"]]
)


def encoded(values: list[str]) -> bytes:
    return encode(list(LEAF_TYPES), list(abi_values(values)))


@each_tree
def test_encoded_leaves_hash_to_the_librarys_leaf_hashes_and_root(vector: dict[str, Any]) -> None:
    blob = b"".join(encoded(leaf["values"]) for leaf in vector["leaves"])

    hashes = leaf_hashes_of_encoded(blob)

    assert ["0x" + h.hex() for h in hashes] == [leaf["hash"] for leaf in vector["leaves"]]
    assert root_of_leaf_hashes(hashes) == vector["root"]


def test_a_truncated_encoding_is_refused() -> None:
    blob = encoded(VECTORS["trees"][0]["leaves"][0]["values"])
    assert len(blob) == ENCODED_LEAF_BYTES
    with pytest.raises(ValueError, match="192-byte records"):
        leaf_hashes_of_encoded(blob[:-1])


def test_no_leaves_have_no_root() -> None:
    assert leaf_hashes_of_encoded(b"") == []
    with pytest.raises(ValueError, match="non-zero number of leaves"):
        root_of_leaf_hashes([])
