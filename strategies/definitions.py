"""Strategy definitions: the node-edge graph of api.md "Strategy definitions", checked as data.

Pure functions over the JSON document: no database, no HTTP. Every check runs and every
violation is reported (a client fixes them all at once rather than one per round trip).

    {"nodes": [{"id", "type", "config": {}}], "edges": [{"from_node", "to_node", "condition"?}]}

Saving needs a well-formed graph (`save_violations`); deploying needs a runnable one as well
(`deploy_violations`). Keys beyond these (a UI's node positions, say) are kept as they are.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from graphlib import CycleError, TopologicalSorter
from typing import Any

MAX_NODES = 50
MAX_EDGES = 100
MAX_DEFINITION_BYTES = 256 * 1024
MAX_TRIGGERS = 1
MAX_LLM_NODES = 5
MAX_NODE_ID_LENGTH = 100

Loc = tuple[str | int, ...]


class NodeType(StrEnum):
    TRIGGER = "trigger"
    DATA_SOURCE = "data_source"
    INDICATOR = "indicator"
    CONDITION = "condition"
    LLM = "llm"
    ACTION = "action"


NODE_TYPES = frozenset(NodeType)


class ViolationCode(StrEnum):
    INVALID_DEFINITION = "INVALID_DEFINITION"  # the shape: wrong types, missing keys
    DUPLICATE_NODE_ID = "DUPLICATE_NODE_ID"
    INVALID_EDGE_REFERENCE = "INVALID_EDGE_REFERENCE"
    STRATEGY_TOO_COMPLEX = "STRATEGY_TOO_COMPLEX"
    UNKNOWN_NODE_TYPE = "UNKNOWN_NODE_TYPE"
    NO_TRIGGER = "NO_TRIGGER"
    MULTIPLE_TRIGGERS = "MULTIPLE_TRIGGERS"
    NO_ACTION_NODE = "NO_ACTION_NODE"
    CYCLE_DETECTED = "CYCLE_DETECTED"
    TOO_MANY_LLM_NODES = "TOO_MANY_LLM_NODES"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule; `loc` points into the definition (("nodes", 3, "id"), or () for all)."""

    code: ViolationCode
    message: str
    loc: Loc = ()


@dataclass(frozen=True, slots=True)
class _Graph:
    """The parts of a definition that were well-formed enough to reason about."""

    node_ids: list[str]
    node_types: list[str]
    edges: list[tuple[str, str]]


def encoded_size(definition: Any) -> int:
    """Bytes of the compact UTF-8 JSON form: the size rule measures what is stored."""
    text = json.dumps(definition, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass"))


def storable_text(text: str) -> bool:
    """PostgreSQL text and JSONB hold UTF-8 without NUL: no U+0000, no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(value: Any) -> bool:
    """Whether anything in a JSON document cannot go into JSONB: a key or string that is not
    `storable_text`, or a NaN / Infinity (Python's json reads them; JSON has no such number)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not storable_text(item):
                return True
        elif isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def save_violations(definition: Any) -> list[Violation]:
    """Everything that keeps a definition from being saved (empty when it may be saved)."""
    return _violations(definition, deploying=False)


def deploy_violations(definition: Any) -> list[Violation]:
    """Everything that keeps a definition from being deployed: the save rules and the run rules."""
    return _violations(definition, deploying=True)


def _violations(definition: Any, *, deploying: bool) -> list[Violation]:
    if not isinstance(definition, Mapping):
        return [Violation(ViolationCode.INVALID_DEFINITION, "the definition must be an object")]
    violations: list[Violation] = []
    if _unstorable(definition):
        violations.append(
            Violation(
                ViolationCode.INVALID_DEFINITION,
                "the definition holds a NUL character, invalid UTF-8 or a non-finite number",
            )
        )
    nodes = _list_field(definition, "nodes", violations)
    edges = _list_field(definition, "edges", violations)
    violations += _size_violations(definition, nodes, edges)
    graph, shape = _read_graph(nodes, edges)
    violations += shape
    violations += _duplicate_ids(nodes)
    violations += _unknown_types(nodes)
    violations += _dangling_edges(edges, set(graph.node_ids))
    if deploying:
        violations += _run_violations(graph)
    return violations


def _list_field(definition: Mapping[str, Any], key: str, out: list[Violation]) -> list[Any]:
    value = definition.get(key)
    if isinstance(value, list):
        return value
    out.append(Violation(ViolationCode.INVALID_DEFINITION, f'"{key}" must be a list', (key,)))
    return []


def _size_violations(
    definition: Mapping[str, Any], nodes: Sequence[Any], edges: Sequence[Any]
) -> list[Violation]:
    violations = []
    if len(nodes) > MAX_NODES:
        violations.append(
            Violation(
                ViolationCode.STRATEGY_TOO_COMPLEX,
                f"{len(nodes)} nodes; at most {MAX_NODES} are allowed",
                ("nodes",),
            )
        )
    if len(edges) > MAX_EDGES:
        violations.append(
            Violation(
                ViolationCode.STRATEGY_TOO_COMPLEX,
                f"{len(edges)} edges; at most {MAX_EDGES} are allowed",
                ("edges",),
            )
        )
    size = encoded_size(definition)
    if size > MAX_DEFINITION_BYTES:
        violations.append(
            Violation(
                ViolationCode.STRATEGY_TOO_COMPLEX,
                f"{size} bytes of JSON; at most {MAX_DEFINITION_BYTES} are allowed",
            )
        )
    return violations


def _read_graph(nodes: Sequence[Any], edges: Sequence[Any]) -> tuple[_Graph, list[Violation]]:
    """The well-formed nodes and edges, and a shape violation for each malformed one."""
    violations: list[Violation] = []
    node_ids: list[str] = []
    node_types: list[str] = []
    for index, node in enumerate(nodes):
        node_violations = _node_shape(node, ("nodes", index))
        violations += node_violations
        if not node_violations:
            node_ids.append(node["id"])
            node_types.append(node["type"])
    pairs: list[tuple[str, str]] = []
    for index, edge in enumerate(edges):
        edge_violations = _edge_shape(edge, ("edges", index))
        violations += edge_violations
        if not edge_violations:
            pairs.append((edge["from_node"], edge["to_node"]))
    return _Graph(node_ids=node_ids, node_types=node_types, edges=pairs), violations


def _shape(message: str, loc: Loc) -> Violation:
    return Violation(ViolationCode.INVALID_DEFINITION, message, loc)


def _node_shape(node: Any, loc: Loc) -> list[Violation]:
    if not isinstance(node, Mapping):
        return [_shape("a node must be an object", loc)]
    violations = []
    node_id = node.get("id")
    if not isinstance(node_id, str) or not node_id.strip():
        violations.append(_shape("a node needs a non-empty string id", (*loc, "id")))
    elif len(node_id) > MAX_NODE_ID_LENGTH:
        violations.append(
            _shape(f"a node id has at most {MAX_NODE_ID_LENGTH} characters", (*loc, "id"))
        )
    if not isinstance(node.get("type"), str):
        violations.append(_shape("a node needs a string type", (*loc, "type")))
    if "config" in node and not isinstance(node["config"], Mapping):
        violations.append(_shape("a node's config must be an object", (*loc, "config")))
    return violations


def _edge_shape(edge: Any, loc: Loc) -> list[Violation]:
    if not isinstance(edge, Mapping):
        return [_shape("an edge must be an object", loc)]
    violations = [
        _shape(f"an edge needs a string {end}", (*loc, end))
        for end in ("from_node", "to_node")
        if not isinstance(edge.get(end), str)
    ]
    condition = edge.get("condition")
    if condition is not None and not isinstance(condition, str | bool | Mapping):
        violations.append(
            _shape(
                "an edge's condition must be a string, a boolean or an object",
                (*loc, "condition"),
            )
        )
    return violations


def _duplicate_ids(nodes: Sequence[Any]) -> list[Violation]:
    """One violation per node that reuses an id an earlier node has."""
    seen: set[str] = set()
    violations = []
    for index, node in enumerate(nodes):
        node_id = node.get("id") if isinstance(node, Mapping) else None
        if not isinstance(node_id, str):
            continue
        if node_id in seen:
            violations.append(
                Violation(
                    ViolationCode.DUPLICATE_NODE_ID,
                    f"node id {node_id!r} is already used by an earlier node",
                    ("nodes", index, "id"),
                )
            )
        seen.add(node_id)
    return violations


def _unknown_types(nodes: Sequence[Any]) -> list[Violation]:
    known = ", ".join(sorted(NODE_TYPES))
    return [
        Violation(
            ViolationCode.UNKNOWN_NODE_TYPE,
            f"unknown node type {node['type']!r} (known: {known})",
            ("nodes", index, "type"),
        )
        for index, node in enumerate(nodes)
        if isinstance(node, Mapping)
        and isinstance(node.get("type"), str)
        and node["type"] not in NODE_TYPES
    ]


def _dangling_edges(edges: Sequence[Any], node_ids: set[str]) -> list[Violation]:
    violations = []
    for index, edge in enumerate(edges):
        if not isinstance(edge, Mapping):
            continue
        for end in ("from_node", "to_node"):
            target = edge.get(end)
            if isinstance(target, str) and target not in node_ids:
                violations.append(
                    Violation(
                        ViolationCode.INVALID_EDGE_REFERENCE,
                        f"{end} {target!r} is not a node of this definition",
                        ("edges", index, end),
                    )
                )
    return violations


def _run_violations(graph: _Graph) -> list[Violation]:
    counts = Counter(graph.node_types)
    violations = []
    triggers = counts[NodeType.TRIGGER]
    if triggers == 0:
        violations.append(
            Violation(ViolationCode.NO_TRIGGER, "a deployed strategy needs one trigger node")
        )
    elif triggers > MAX_TRIGGERS:
        violations.append(
            Violation(
                ViolationCode.MULTIPLE_TRIGGERS,
                f"{triggers} trigger nodes; a deployed strategy has exactly one",
            )
        )
    if counts[NodeType.ACTION] == 0:
        violations.append(
            Violation(
                ViolationCode.NO_ACTION_NODE, "a deployed strategy needs at least one action node"
            )
        )
    if counts[NodeType.LLM] > MAX_LLM_NODES:
        violations.append(
            Violation(
                ViolationCode.TOO_MANY_LLM_NODES,
                f"{counts[NodeType.LLM]} llm nodes; at most {MAX_LLM_NODES} are allowed",
            )
        )
    cycle = find_cycle(graph.node_ids, graph.edges)
    if cycle:
        violations.append(
            Violation(
                ViolationCode.CYCLE_DETECTED,
                "the edges form a cycle: " + " -> ".join(cycle),
                ("edges",),
            )
        )
    return violations


def find_cycle(node_ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[str]:
    """One cycle of the graph as a closed path of node ids, or [] when it has none. Edges to
    unknown nodes are left out here: they are reported as references of their own."""
    known = set(node_ids)
    sorter: TopologicalSorter[str] = TopologicalSorter({node_id: () for node_id in known})
    for source, target in edges:
        if source in known and target in known:
            sorter.add(target, source)
    try:
        sorter.prepare()
    except CycleError as error:
        return [str(node) for node in error.args[1]]
    return []
