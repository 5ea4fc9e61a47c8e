"""Hypothesis strategies generated from the contract tree (platform.contract_tree).

`documents(model)` draws JSON documents the contract accepts: every optional field absent or
present, unicode text (quotes, backslashes, NUL, newlines, astral characters), boundary
values, 1 vs 1.0 for floats, UUIDs in every form pydantic reads, times with offsets;
`encodings` writes them compact or pretty, in any key order, ASCII-escaped or not.
`near_misses(model)` draws a valid document with exactly one rule broken, and the field the
refusal must name. Nothing here restates the contract: bounds, lengths, patterns, literals
and required fields are read off the tree.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from peacewatch.platform.contract_tree import FieldNode, ListNode, Node, RecordNode, ScalarNode, walk

# Lists are drawn short (fast examples); `max_lists=True` draws them at their maximum length.
_SHORT_LIST = 4
_DT_MIN, _DT_MAX = datetime(1, 1, 2), datetime(9999, 12, 30)


def _uuid_text(value: uuid.UUID, form: str) -> str:
    return {"lower": str(value), "upper": str(value).upper(), "hex": value.hex}[form]


def _datetime_text(naive: datetime, offset_min: int, zulu: bool) -> str:
    if offset_min == 0 and zulu:
        return naive.isoformat() + "Z"
    sign = "+" if offset_min >= 0 else "-"
    return f"{naive.isoformat()}{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"


@st.composite
def _datetimes(draw: st.DrawFn) -> str:
    naive = draw(
        st.one_of(
            st.datetimes(min_value=_DT_MIN, max_value=_DT_MAX),
            st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)),
        )
    )
    offset = draw(st.integers(-14 * 60, 14 * 60))
    return _datetime_text(naive, offset, draw(st.booleans()))


def _text(node: ScalarNode) -> st.SearchStrategy[str]:
    c = node.constraints
    if c.pattern:
        base = st.from_regex(c.pattern, fullmatch=True)
        longest = c.max_length or 64
        return st.one_of(base, base.map(lambda s: (s * longest)[:longest])).filter(
            lambda s: (c.min_length or 0) <= len(s) <= longest
        )
    # Any Unicode scalar value (no lone surrogates: they are not text), control characters included.
    alphabet = st.characters(codec="utf-8")
    return st.text(alphabet=alphabet, min_size=c.min_length or 0, max_size=min(c.max_length or 40, 40)) | (
        st.text(alphabet=alphabet, min_size=c.max_length, max_size=c.max_length)
        if c.max_length
        else st.nothing()
    )


def _scalar(node: ScalarNode) -> st.SearchStrategy[Any]:
    c = node.constraints
    if c.literal is not None:
        return st.sampled_from(c.literal)
    if node.kind == "str":
        return _text(node)
    if node.kind == "int":
        lo = int(c.ge) if c.ge is not None else -(2**31)
        hi = int(c.le) if c.le is not None else 2**31
        return st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi]))
    if node.kind == "float":
        lo = c.ge if c.ge is not None else -1e9
        hi = c.le if c.le is not None else 1e9
        return st.one_of(
            st.floats(lo, hi, allow_nan=False, allow_infinity=False),
            st.integers(math.ceil(lo), math.floor(hi)),  # JSON 1 as well as 1.0
            st.sampled_from([lo, hi]),
        )
    if node.kind == "bool":
        return st.booleans()
    if node.kind == "uuid":
        return st.builds(_uuid_text, st.uuids(), st.sampled_from(["lower", "upper", "hex"]))
    return _datetimes()


def value(node: Node, *, max_lists: bool = False) -> st.SearchStrategy[Any]:
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, ListNode):
        longest = node.constraints.max_length or _SHORT_LIST
        item = value(node.item, max_lists=max_lists)
        if max_lists:
            return st.lists(item, min_size=longest, max_size=longest)
        return st.lists(item, min_size=node.constraints.min_length or 0, max_size=min(longest, _SHORT_LIST))
    return record(node, max_lists=max_lists)


@st.composite
def record(draw: st.DrawFn, node: RecordNode, *, max_lists: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in node.fields:
        if not f.required and not max_lists and draw(st.booleans()):
            continue  # an optional field left out: the default applies
        if f.nullable and not max_lists and draw(st.booleans()):
            out[f.name] = None
            continue
        out[f.name] = draw(value(f.node, max_lists=max_lists))
    return out


def documents(model: type[BaseModel], *, max_lists: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    return record(walk(model), max_lists=max_lists)


@st.composite
def encodings(draw: st.DrawFn, doc: dict[str, Any]) -> bytes:
    """One JSON text of `doc`: key order shuffled at every level, compact or pretty, ASCII or UTF-8."""

    def shuffled(obj: Any) -> Any:
        if isinstance(obj, dict):
            keys = draw(st.permutations(list(obj)))
            return {k: shuffled(obj[k]) for k in keys}
        if isinstance(obj, list):
            return [shuffled(v) for v in obj]
        return obj

    indent = draw(st.sampled_from([None, 0, 2]))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    text = json.dumps(shuffled(doc), indent=indent, separators=separators, ensure_ascii=draw(st.booleans()))
    return text.encode()


def _largest(node: Node) -> Any:
    if isinstance(node, ScalarNode):
        c = node.constraints
        if c.literal is not None:
            return c.literal[-1]
        if node.kind == "str":
            # Four-byte characters where any text is allowed: the largest payload the rule permits.
            return ("z" if c.pattern else "\U0001f6a8") * (c.max_length or 64)
        if node.kind in ("int", "float"):
            return int(c.le) if c.le is not None else 2**31
        if node.kind == "uuid":
            return str(uuid.UUID(int=2**128 - 1))
        if node.kind == "bool":
            return True
        return "9999-12-30T23:59:59.999999+00:00"
    if isinstance(node, ListNode):
        return [_largest(node.item) for _ in range(node.constraints.max_length or _SHORT_LIST)]
    return {f.name: _largest(f.node) for f in node.fields}


def largest_document(model: type[BaseModel]) -> dict[str, Any]:
    """Every list at its maximum length, every string at its longest, every number at its bound:
    each field rule at its limit, so far over the bound on a message's bytes (MAX_REPORT_BYTES)."""
    return _largest(walk(model))  # type: ignore[no-any-return]


def payloads(model: type[BaseModel]) -> st.SearchStrategy[bytes]:
    return documents(model).flatmap(encodings)


# -- near misses ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NearMiss:
    payload: bytes
    rule: str
    field: str  # the path the refusal must name ('' when the document as a whole is broken)


def _breakers(node: Node) -> list[tuple[str, Any]]:
    """(rule, bad value) pairs for one field's node; each breaks exactly one rule."""
    out: list[tuple[str, Any]] = []
    if isinstance(node, ScalarNode):
        c = node.constraints
        if c.literal is not None:
            # Literals match by equality (schema_version 1.0 is 1): only another value breaks them.
            return [("literal", max(c.literal) + 98 if node.kind == "int" else "not-the-literal")]
        if node.kind == "str":
            out.append(("type", 12))
            if c.min_length:
                out.append(("min_length", ""))
            if c.max_length:
                out.append(("max_length", "a" * (c.max_length + 1)))
            if c.pattern:
                out.append(("pattern", "has space"))
        elif node.kind == "int":
            out += [("strict int: 1.0", 1.0), ("strict int: '1'", "1"), ("strict int: true", True)]
            if c.ge is not None:
                out.append(("ge", int(c.ge) - 1))
            if c.le is not None:
                out.append(("le", int(c.le) + 1))
        elif node.kind == "float":
            out += [("type", "north"), ("type: bool", True)]
            if c.ge is not None:
                out.append(("ge", c.ge - 1e-6))
            if c.le is not None:
                out.append(("le", c.le + 1e-6))
        elif node.kind == "uuid":
            out += [("uuid", "not-a-uuid"), ("uuid: too short", str(uuid.uuid4())[:-1])]
        elif node.kind == "datetime":
            out += [
                ("naive time", "2026-11-05T06:00:00"),
                ("date only", "2026-11-05"),
                ("epoch number", 1_700_000_000),
                ("out of range in UTC", "0001-01-01T00:30:00+01:00"),
                ("out of range in UTC", "9999-12-31T23:30:00-01:00"),
            ]
    elif isinstance(node, ListNode):
        out.append(("type: not a list", "x"))
        if node.constraints.max_length:
            out.append(("max_length", "__too_long__"))
    else:
        out += [("type: not an object", [1]), ("extra field", "__extra__")]
    return out


@st.composite
def near_misses(draw: st.DrawFn, model: type[BaseModel]) -> NearMiss:
    tree = walk(model)
    doc = draw(documents(model))
    kind = draw(st.sampled_from(["field", "missing", "extra", "json", "nested"]))
    if kind == "json":
        text = json.dumps(doc).encode()
        cut = draw(st.integers(1, len(text) - 1))
        return NearMiss(text[:cut], "not JSON", "")
    if kind == "extra":
        doc["not_in_contract"] = 1
        return NearMiss(json.dumps(doc).encode(), "extra field", "not_in_contract")
    if kind == "missing":
        required = [f for f in tree.fields if f.required]
        f = draw(st.sampled_from(required))
        doc.pop(f.name, None)
        return NearMiss(json.dumps(doc).encode(), "required", f.name)
    if kind == "nested":
        # A rule of a record inside a list (citizens.N.peacescore ...).
        nested = [
            f for f in tree.fields if isinstance(f.node, ListNode) and isinstance(f.node.item, RecordNode)
        ]
        if nested:
            f = draw(st.sampled_from(nested))
            assert isinstance(f.node, ListNode)
            assert isinstance(f.node.item, RecordNode)
            inner = draw(record(f.node.item))
            sub = draw(st.sampled_from([g for g in f.node.item.fields if _breakers(g.node)]))
            rule, bad = draw(st.sampled_from(_breakers(sub.node)))
            inner[sub.name] = bad
            doc[f.name] = [inner]
            return NearMiss(
                json.dumps(doc).encode(), f"{f.name}[].{sub.name}: {rule}", f"{f.name}.0.{sub.name}"
            )
    f = draw(st.sampled_from([f for f in tree.fields if _breakers(f.node)]))
    rule, bad = draw(st.sampled_from(_breakers(f.node)))
    doc[f.name] = _apply(f, bad, draw)
    path = f.name
    return NearMiss(json.dumps(doc).encode(), f"{f.name}: {rule}", path)


def _apply(f: FieldNode, bad: Any, draw: st.DrawFn) -> Any:
    if bad == "__too_long__" and isinstance(f.node, ListNode):
        longest = f.node.constraints.max_length or 0
        item = draw(value(f.node.item))
        return [item] * (longest + 1)
    if bad == "__extra__":
        return {"x": 1}
    return bad


def report_of_bytes(size: int) -> bytes:
    """A report valid by every field rule whose compact JSON is exactly `size` bytes (words pad it)."""
    doc: dict[str, Any] = {
        "report_id": str(uuid.UUID(int=7)), "drone_id": "d-bound", "ts": "2026-12-07T08:00:00+00:00",
        "lat": 1.5, "lon": 2.5, "battery_pct": 50.0,
        "citizens": [{"citizen_id": "c1", "name": "At The Bound", "peacescore": 3}], "words": [""],
    }  # fmt: skip

    def length() -> int:
        return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())

    if length() > size:
        raise ValueError(f"no report is as small as {size} bytes")
    while (rest := size - length()) > 100:  # a word adds its characters, two quotes and a comma
        doc["words"].insert(0, "x" * min(100, rest - 3))
    doc["words"][-1] = "y" * (size - length())  # the rest in the last word: one byte a character
    payload = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(payload) == size
    return payload


def utc_now_text() -> str:
    return (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
