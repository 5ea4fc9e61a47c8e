"""The contract as a Pulsar JSON schema.

Pulsar's JSON schema type carries an Avro record definition. We derive it from the pydantic
models, so the contract is written once; the broker then refuses producers declaring another
schema (with schemaValidationEnforced).
"""

from __future__ import annotations

import json
import types
import typing
import uuid
from datetime import datetime
from typing import Any, Literal

import _pulsar
from pulsar.schema import Schema
from pydantic import AwareDatetime, BaseModel

__all__ = ["ContractSchema", "avro_definition", "schema_payload"]

_PRIMITIVES: dict[Any, str] = {
    str: "string",
    int: "int",
    float: "double",
    bool: "boolean",
    uuid.UUID: "string",
    datetime: "string",  # ISO-8601 on the wire
    AwareDatetime: "string",
}


def _avro_type(annotation: Any, namespace: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _avro_type(args[0], namespace)
    if origin is Literal:
        return _avro_type(type(args[0]), namespace)
    if origin in (typing.Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        return ["null", _avro_type(non_null[0], namespace)]
    if origin is list:
        return {"type": "array", "items": _avro_type(args[0], namespace)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return avro_definition(annotation, namespace=namespace)
    for py_type, avro in _PRIMITIVES.items():
        if isinstance(annotation, type) and issubclass(annotation, py_type):
            return avro
    raise TypeError(f"no Avro type for {annotation!r}")


def avro_definition(model: type[BaseModel], *, namespace: str = "peacewatch") -> dict[str, Any]:
    """Avro record definition of a pydantic model (nested models become nested records)."""
    fields = []
    for name, info in model.model_fields.items():
        field: dict[str, Any] = {"name": name, "type": _avro_type(info.annotation, namespace)}
        if isinstance(field["type"], list):  # optional
            field["default"] = None
        fields.append(field)
    return {"type": "record", "name": model.__name__, "namespace": namespace, "fields": fields}


def _definition_text(model: type[BaseModel]) -> str:
    # Exactly the text the Python client sends (json.dumps(..., indent=True)), so the admin
    # registration and every producer present byte-identical schemas.
    return json.dumps(avro_definition(model), indent=True)


def schema_payload(model: type[BaseModel]) -> dict[str, Any]:
    """Body for POST /admin/v2/schemas/{tenant}/{ns}/{topic}/schema."""
    return {"type": "JSON", "schema": _definition_text(model), "properties": {}}


class ContractSchema(Schema):  # type: ignore[misc]
    """Declares the contract's JSON schema to the broker but passes payload bytes through.

    Producers serialise with pydantic themselves (and a test may send malformed bytes on
    purpose: the broker checks the declared schema, not each payload).
    """

    def __init__(self, model: type[BaseModel]) -> None:
        super().__init__(bytes, _pulsar.SchemaType.JSON, avro_definition(model), "JSON")

    def encode(self, obj: bytes) -> bytes:
        return obj

    def decode(self, data: bytes) -> bytes:
        return data
