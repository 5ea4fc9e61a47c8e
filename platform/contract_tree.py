"""The contract as a tree: one walker over the pydantic models. Pure.

Everything that needs to know the contract's shape reads this tree instead of walking pydantic
on its own: the Avro form registered with the broker (schema_registry), the Arrow form of the
Delta tables (lakehouse.arrow_schema), the row builder (lakehouse.rows) and the tests'
generated reports. A new field in the contract reaches all of them at once.
"""

from __future__ import annotations

import types
import typing
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

__all__ = ["Constraints", "FieldNode", "ListNode", "Node", "RecordNode", "ScalarKind", "ScalarNode", "walk"]

ScalarKind = Literal["str", "int", "float", "bool", "uuid", "datetime"]
_SCALARS: tuple[tuple[type, ScalarKind], ...] = (
    # bool before int: bool is a subclass of int.
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "str"),
    (uuid.UUID, "uuid"),
    (datetime, "datetime"),
)


@dataclass(frozen=True)
class Constraints:
    """What pydantic checks beyond the type: lengths (strings and lists), bounds, pattern, literal."""

    min_length: int | None = None
    max_length: int | None = None
    ge: float | None = None
    le: float | None = None
    pattern: str | None = None
    literal: tuple[Any, ...] | None = None
    strict: bool = False

    def merged(self, metadata: list[Any]) -> Constraints:
        found: dict[str, Any] = {}
        for item in metadata:
            if isinstance(item, FieldInfo):  # Annotated[str, Field(...)] inside a list
                return self.merged(list(item.metadata))
            for name in ("min_length", "max_length", "ge", "le", "pattern", "strict"):
                value = getattr(item, name, None)
                if value is not None:
                    found[name] = value
        return Constraints(**{**self.__dict__, **found})


@dataclass(frozen=True)
class ScalarNode:
    kind: ScalarKind
    constraints: Constraints = field(default_factory=Constraints)


@dataclass(frozen=True)
class ListNode:
    item: Node
    constraints: Constraints = field(default_factory=Constraints)


@dataclass(frozen=True)
class RecordNode:
    model: type[BaseModel]
    fields: tuple[FieldNode, ...]

    @property
    def name(self) -> str:
        return self.model.__name__


@dataclass(frozen=True)
class FieldNode:
    name: str
    node: Node
    required: bool  # absent from the JSON is an error
    nullable: bool  # null is a valid value (Optional[...])


Node = ScalarNode | ListNode | RecordNode


def _node(annotation: Any, constraints: Constraints) -> tuple[Node, bool]:
    """(node, nullable) of an annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _node(args[0], constraints.merged(list(args[1:])))
    if origin is Literal:
        kind = _scalar_kind(type(args[0]))
        return ScalarNode(kind, Constraints(**{**constraints.__dict__, "literal": tuple(args)})), False
    if origin in (typing.Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) != 1:
            raise TypeError(f"unsupported union {annotation!r}: the contract allows only Optional[X]")
        inner, _ = _node(non_null[0], constraints)
        return inner, True
    if origin is list:
        item, item_nullable = _node(args[0], Constraints())
        if item_nullable:
            raise TypeError(f"unsupported list of optional items {annotation!r}")
        return ListNode(item, constraints), False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return walk(annotation), False
    if annotation is AwareDatetime:
        return ScalarNode("datetime", constraints), False
    return ScalarNode(_scalar_kind(annotation), constraints), False


def _scalar_kind(annotation: Any) -> ScalarKind:
    for py_type, kind in _SCALARS:
        if isinstance(annotation, type) and issubclass(annotation, py_type):
            return kind
    raise TypeError(f"no contract type for {annotation!r}")


@cache
def walk(model: type[BaseModel]) -> RecordNode:
    """The contract tree of a model (nested models become nested records). Cached per model."""
    fields = []
    for name, info in model.model_fields.items():
        node, nullable = _node(info.annotation, Constraints().merged(list(info.metadata)))
        fields.append(FieldNode(name=name, node=node, required=info.is_required(), nullable=nullable))
    return RecordNode(model=model, fields=tuple(fields))
