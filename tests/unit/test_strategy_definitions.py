"""The definition rules of api.md "Strategy definitions", one rule at a time and all at once."""

from __future__ import annotations

import json
from typing import Any

from strategies.definitions import (
    MAX_DEFINITION_BYTES,
    MAX_EDGES,
    MAX_LLM_NODES,
    MAX_NODES,
    ViolationCode,
    deploy_violations,
    encoded_size,
    save_violations,
)


def node(node_id: str, node_type: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "config": config}


def edge(source: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"from_node": source, "to_node": target, **extra}


def runnable() -> dict[str, Any]:
    """trigger -> data -> indicator -> condition -> llm -> action: deployable as it is."""
    return {
        "nodes": [
            node("t", "trigger", cron="*/5 * * * *"),
            node("d", "data_source", symbol="BTC/USDT"),
            node("i", "indicator", name="rsi"),
            node("c", "condition", expression="rsi < 30"),
            node("l", "llm", model="any"),
            node("a", "action", side="BUY"),
        ],
        "edges": [
            edge("t", "d"),
            edge("d", "i"),
            edge("i", "c"),
            edge("c", "l", condition="true"),
            edge("l", "a"),
        ],
    }


def codes(violations: list[Any]) -> list[str]:
    return [violation.code for violation in violations]


def test_a_runnable_definition_can_be_saved_and_deployed() -> None:
    assert save_violations(runnable()) == []
    assert deploy_violations(runnable()) == []


def test_extra_keys_such_as_node_positions_are_accepted() -> None:
    definition = runnable()
    definition["nodes"][0]["position"] = {"x": 10, "y": 20}
    definition["viewport"] = {"zoom": 1}
    assert deploy_violations(definition) == []


def test_a_definition_that_is_not_an_object_is_invalid() -> None:
    assert codes(save_violations(["nodes"])) == ["INVALID_DEFINITION"]


def test_missing_node_and_edge_lists_are_each_reported() -> None:
    violations = save_violations({"nodes": {}})
    assert [(v.code, v.loc) for v in violations] == [
        ("INVALID_DEFINITION", ("nodes",)),
        ("INVALID_DEFINITION", ("edges",)),
    ]


def test_malformed_nodes_and_edges_point_at_the_field() -> None:
    definition = {
        "nodes": [{"id": "", "type": 3, "config": []}, "not a node"],
        "edges": [{"from_node": 1}, edge("x", "y", condition=[1])],
    }
    locs = {v.loc for v in save_violations(definition) if v.code == "INVALID_DEFINITION"}
    assert locs == {
        ("nodes", 0, "id"),
        ("nodes", 0, "type"),
        ("nodes", 0, "config"),
        ("nodes", 1),
        ("edges", 0, "from_node"),
        ("edges", 0, "to_node"),
        ("edges", 1, "condition"),
    }


def test_a_reused_node_id_is_a_duplicate() -> None:
    definition = runnable()
    definition["nodes"].append(node("d", "data_source"))
    violations = save_violations(definition)
    assert codes(violations) == ["DUPLICATE_NODE_ID"]
    assert violations[0].loc == ("nodes", 6, "id")


def test_an_edge_to_a_missing_node_is_an_invalid_reference_on_each_end() -> None:
    definition = runnable()
    definition["edges"].append(edge("ghost", "nobody"))
    violations = save_violations(definition)
    assert codes(violations) == ["INVALID_EDGE_REFERENCE", "INVALID_EDGE_REFERENCE"]
    assert [v.loc for v in violations] == [("edges", 5, "from_node"), ("edges", 5, "to_node")]


def test_an_unknown_node_type_is_named() -> None:
    definition = runnable()
    definition["nodes"][2]["type"] = "oracle"
    violations = save_violations(definition)
    assert codes(violations) == ["UNKNOWN_NODE_TYPE"]
    assert "oracle" in violations[0].message and violations[0].loc == ("nodes", 2, "type")


def test_more_than_fifty_nodes_is_too_complex() -> None:
    nodes = [node("t", "trigger")] + [node(f"n{i}", "indicator") for i in range(MAX_NODES)]
    violations = save_violations({"nodes": nodes, "edges": []})
    assert codes(violations) == ["STRATEGY_TOO_COMPLEX"]
    assert violations[0].loc == ("nodes",)


def test_exactly_fifty_nodes_and_a_hundred_edges_are_allowed() -> None:
    nodes = [node(f"n{i}", "indicator") for i in range(MAX_NODES)]
    edges = [edge(f"n{i % 49}", f"n{i % 49 + 1}") for i in range(MAX_EDGES)]
    assert save_violations({"nodes": nodes, "edges": edges}) == []


def test_more_than_a_hundred_edges_is_too_complex() -> None:
    edges = [edge("t", "a") for _ in range(MAX_EDGES + 1)]
    definition = {"nodes": [node("t", "trigger"), node("a", "action")], "edges": edges}
    violations = save_violations(definition)
    assert codes(violations) == ["STRATEGY_TOO_COMPLEX"]
    assert violations[0].loc == ("edges",)


def test_more_than_256_kib_of_json_is_too_complex() -> None:
    definition = runnable()
    definition["nodes"][0]["config"]["notes"] = "x" * MAX_DEFINITION_BYTES
    assert encoded_size(definition) > MAX_DEFINITION_BYTES
    assert codes(save_violations(definition)) == ["STRATEGY_TOO_COMPLEX"]


def test_the_size_limit_counts_utf8_bytes_not_characters() -> None:
    definition = runnable()
    filler = (MAX_DEFINITION_BYTES - encoded_size(definition)) // 2 + 100
    definition["nodes"][0]["config"]["notes"] = "é" * filler  # two bytes each
    characters = len(json.dumps(definition, separators=(",", ":"), ensure_ascii=False))
    assert characters < MAX_DEFINITION_BYTES < encoded_size(definition)
    assert codes(save_violations(definition)) == ["STRATEGY_TOO_COMPLEX"]


def test_saving_does_not_need_a_runnable_graph() -> None:
    draft = {"nodes": [node("i", "indicator"), node("j", "indicator")], "edges": [edge("i", "j")]}
    draft["edges"].append(edge("j", "i"))
    assert save_violations(draft) == []


def test_deploying_needs_a_trigger() -> None:
    definition = runnable()
    definition["nodes"][0]["type"] = "data_source"
    assert codes(deploy_violations(definition)) == ["NO_TRIGGER"]


def test_deploying_needs_exactly_one_trigger() -> None:
    definition = runnable()
    definition["nodes"].append(node("t2", "trigger"))
    definition["edges"].append(edge("t2", "d"))
    assert codes(deploy_violations(definition)) == ["MULTIPLE_TRIGGERS"]


def test_deploying_needs_an_action() -> None:
    definition = runnable()
    definition["nodes"][5]["type"] = "condition"
    assert codes(deploy_violations(definition)) == ["NO_ACTION_NODE"]


def test_deploying_refuses_a_cycle_and_shows_it() -> None:
    definition = runnable()
    definition["edges"].append(edge("c", "i"))
    violations = deploy_violations(definition)
    assert codes(violations) == ["CYCLE_DETECTED"]
    assert "i -> c -> i" in violations[0].message or "c -> i -> c" in violations[0].message


def test_a_self_loop_is_a_cycle() -> None:
    definition = runnable()
    definition["edges"].append(edge("a", "a"))
    assert codes(deploy_violations(definition)) == ["CYCLE_DETECTED"]


def test_deploying_allows_five_llm_nodes_but_not_six() -> None:
    definition = runnable()
    for index in range(MAX_LLM_NODES - 1):
        definition["nodes"].append(node(f"l{index}", "llm"))
    assert deploy_violations(definition) == []
    definition["nodes"].append(node("one-too-many", "llm"))
    assert codes(deploy_violations(definition)) == ["TOO_MANY_LLM_NODES"]


def test_every_violation_is_reported_at_once() -> None:
    definition = {
        "nodes": [
            node("x", "llm"),
            node("x", "teleport"),
            *[node(f"l{i}", "llm") for i in range(MAX_LLM_NODES)],
        ],
        "edges": [edge("x", "l0"), edge("l0", "x"), edge("x", "nowhere")],
    }
    found = set(codes(deploy_violations(definition)))
    assert found == {
        ViolationCode.DUPLICATE_NODE_ID,
        ViolationCode.UNKNOWN_NODE_TYPE,
        ViolationCode.INVALID_EDGE_REFERENCE,
        ViolationCode.NO_TRIGGER,
        ViolationCode.NO_ACTION_NODE,
        ViolationCode.CYCLE_DETECTED,
        ViolationCode.TOO_MANY_LLM_NODES,
    }


def test_two_triggers_no_action_and_too_big_are_reported_together() -> None:
    nodes = [node("t1", "trigger"), node("t2", "trigger")]
    nodes += [node(f"n{i}", "indicator") for i in range(MAX_NODES)]
    found = codes(deploy_violations({"nodes": nodes, "edges": []}))
    assert sorted(found) == ["MULTIPLE_TRIGGERS", "NO_ACTION_NODE", "STRATEGY_TOO_COMPLEX"]


def test_text_postgresql_cannot_store_makes_the_definition_invalid() -> None:
    with_nul = runnable()
    with_nul["nodes"][0]["config"]["note"] = "a\x00b"
    with_surrogate = runnable()
    with_surrogate["nodes"][1]["config"]["\ud800"] = 1
    assert codes(save_violations(with_nul)) == ["INVALID_DEFINITION"]
    assert codes(save_violations(with_surrogate)) == ["INVALID_DEFINITION"]


def test_a_number_json_cannot_hold_makes_the_definition_invalid() -> None:
    definition = runnable()
    definition["nodes"][0]["config"]["weight"] = float("nan")
    assert codes(save_violations(definition)) == ["INVALID_DEFINITION"]
