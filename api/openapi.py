"""The OpenAPI 3.1 document, generated from the registry's endpoints and their pydantic models
(JSON Schema 2020-12, which OpenAPI 3.1 uses as is). Nothing here is written by hand per route."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.problems import ProblemBody
from api.registry import Access, Endpoint

REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": "#/components/schemas/ProblemBody"}
Mode = Literal["validation", "serialization"]


def _models(endpoints: Sequence[Endpoint]) -> list[tuple[type[BaseModel], Mode]]:
    wanted: dict[tuple[type[BaseModel], Mode], None] = {(ProblemBody, "serialization"): None}
    for endpoint in endpoints:
        if endpoint.body is not None:
            wanted[(endpoint.body, "validation")] = None
        if endpoint.query is not None:
            wanted[(endpoint.query, "validation")] = None
        if endpoint.response is not None:
            wanted[(endpoint.response, "serialization")] = None
    return list(wanted)


def _parameters(endpoint: Endpoint, schemas: dict[str, Any], refs: dict[Any, Any]) -> list[Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": adapter.json_schema()}
        for name, adapter in endpoint.path_params.items()
    ]
    if endpoint.query is not None:
        reference = refs[(endpoint.query, "validation")]["$ref"].rsplit("/", 1)[-1]
        schema = schemas[reference]
        required = set(schema.get("required", []))
        for name, property_schema in schema.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": property_schema,
                }
            )
    return parameters


def _responses(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    problem = {"content": {"application/problem+json": {"schema": PROBLEM_REF}}}
    responses: dict[str, Any] = {}
    if endpoint.response is not None:
        schema = refs[(endpoint.response, "serialization")]
        responses[str(endpoint.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": schema}},
        }
    elif endpoint.raw_response:
        responses[str(endpoint.status)] = {"description": "OK"}
    else:
        responses[str(endpoint.status)] = {"description": "No content"}
    errors = {"422": "Invalid request", "429": "Rate limited", "503": "Unavailable"}
    if endpoint.body is not None:
        errors |= {"400": "Malformed body", "413": "Body too large"}
    if endpoint.access is not Access.PUBLIC:
        errors |= {"401": "Not authenticated", "403": "Not allowed", "404": "Not found"}
    for status, description in errors.items():
        responses.setdefault(status, {"description": description, **problem})
    responses["default"] = {"description": "Error", **problem}
    return responses


def _operation_ids(endpoints: Sequence[Endpoint]) -> list[str]:
    """OpenAPI wants operation ids unique in the document, but a handler's name is unique only
    in its module: a name two areas share (list_strategies) is prefixed with each one's tag."""
    counts = Counter(endpoint.operation_id for endpoint in endpoints)
    return [
        endpoint.operation_id
        if counts[endpoint.operation_id] == 1
        else f"{endpoint.tag}_{endpoint.operation_id}"
        for endpoint in endpoints
    ]


def _operation(
    endpoint: Endpoint, operation_id: str, schemas: dict[str, Any], refs: dict[Any, Any]
) -> Any:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": _parameters(endpoint, schemas, refs),
        "responses": _responses(endpoint, refs),
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.access is not Access.PUBLIC:
        operation["security"] = [{"bearer": []}]
    if endpoint.idempotent:
        operation["parameters"].append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
        }
    return operation


def build_document(endpoints: Sequence[Endpoint], *, prefix: str, version: str) -> dict[str, Any]:
    refs, definitions = models_json_schema(_models(endpoints), ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for endpoint, operation_id in zip(endpoints, _operation_ids(endpoints), strict=True):
        path = paths.setdefault(prefix + endpoint.path, {})
        path[endpoint.method.lower()] = _operation(endpoint, operation_id, schemas, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gr8d API",
            "version": version,
            "description": "Users, strategies, credits and settlements of gr8diy.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
