"""Names at the edge: validated with fullmatch, quoted into admin paths, specs' errors one line,
and a force's record refused unless the platform wrote it (issue 33)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from peacewatch.platform.auth import validate_role_name
from peacewatch.platform.errors import InvalidArgument, PeacewatchError, RecordNotAuthentic, UnsafeName
from peacewatch.platform.onboarded import (
    GENERATION_PROPERTY,
    MAC_PROPERTY,
    SPEC_PROPERTY,
    read_record,
    record_mac,
)
from peacewatch.platform.pulsar_admin import _ns, _q, _topic_path
from peacewatch.platform.topics import validate_tenant_name
from peacewatch.tenants.spec import TenantSpec, load_spec, spec_from_record
from tests.hostile_strings import hostile_text
from tests.hypothesis_budget import budget

pytestmark = pytest.mark.hostile

_names = st.one_of(hostile_text(), st.sampled_from(["north-precinct\n", "ab\n", "../x", "..", ".", "a/b"]))


@hsettings(max_examples=budget(300))
@given(_names)
def test_a_tenant_name_is_all_or_nothing(name: str) -> None:
    try:
        validate_tenant_name(name)
    except InvalidArgument:
        return
    assert name.isascii()
    assert all(c.islower() or c.isdigit() or c == "-" for c in name)


def test_a_trailing_newline_is_not_a_tenant_name() -> None:
    with pytest.raises(InvalidArgument):
        validate_tenant_name("north-precinct\n")


@hsettings(max_examples=budget(300))
@given(_names)
def test_a_role_name_never_reads_as_more_than_one_path_segment(name: str) -> None:
    try:
        validate_role_name(name)
    except InvalidArgument:
        return
    assert ".." not in name
    assert not set(name) & set("/?#%\\ \n")


@hsettings(max_examples=budget(300))
@given(hostile_text(), hostile_text())
def test_quoted_segments_stay_one_segment_each(role: str, sub: str) -> None:
    """Whatever a name holds, the broker sees the path we meant: same segments, no query, no fragment."""
    try:
        path = f"/admin/v2/namespaces/{_ns('a/b')}/permissions/{_q(role)}/{_q(sub)}"
    except UnsafeName:
        assert role in ("", ".", "..") or sub in ("", ".", "..")
        return
    url = httpx.URL("http://broker:8080" + path)
    assert url.query == b""
    assert url.fragment == ""
    segments = url.raw_path.decode().split("/")
    assert segments[:6] == ["", "admin", "v2", "namespaces", "a", "b"]
    assert len(segments) == 9
    assert not {".", ".."} & set(segments)


def test_the_traversal_seen_is_refused_or_quoted() -> None:
    seen = "../../../../../../v2/namespaces/OTHER/drones/permissions/x#"
    assert _q(seen).count("/") == 0
    assert "#" not in _q(seen)
    for bad in ("..", ".", ""):
        with pytest.raises(UnsafeName):
            _q(bad)
    with pytest.raises(UnsafeName):
        _ns("a/b/c")
    with pytest.raises(UnsafeName):
        _topic_path("persistent://a/b/../c/d")


def _spec(**roles: Any) -> dict[str, Any]:
    return {"name": "north-x", "display_name": "N", "roles": roles}


def test_spec_roles_are_validated_and_distinct() -> None:
    with pytest.raises(ValueError, match="invalid role name"):
        TenantSpec.model_validate(_spec(officer="../../../../v2/namespaces/OTHER/drones/permissions/x#"))
    with pytest.raises(ValueError, match="given twice"):
        TenantSpec.model_validate(_spec(officer="north-x-fleet"))  # the fleet's default name
    with pytest.raises(ValueError, match="platform's own"):
        TenantSpec.model_validate({**_spec(), "admin_roles": ["peacewatch-admin"]})
    with pytest.raises(ValueError, match="invalid role name"):
        TenantSpec.model_validate({**_spec(), "admin_roles": ["x\n"]})


@hsettings(max_examples=budget(200))
@given(st.binary(max_size=300))
def test_any_spec_file_is_a_spec_or_one_line(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("spec") / "s.yaml"
    path.write_bytes(raw)
    message = ""
    try:
        load_spec(path)
    except PeacewatchError as exc:
        message = str(exc)
    assert "\n" not in message


def test_spec_errors_name_the_fault(tmp_path: Path) -> None:
    cases = {
        b"name: a\xff\n": "not UTF-8",
        b"name: north-x\nname: y\ndisplay_name: z\n": "given twice",
        b"name: north-x\ndisplay_name: z\nroles: {officer: '../x#'}\n": "invalid role name",
        b'name: "north-x\\n"\ndisplay_name: z\n': "invalid tenant name",
    }
    for raw, why in cases.items():
        (tmp_path / "s.yaml").write_bytes(raw)
        with pytest.raises(PeacewatchError, match=why) as exc:
            load_spec(tmp_path / "s.yaml")
        assert "\n" not in str(exc.value)


class _Props:
    """The one admin call read_record makes: a namespace's properties."""

    def __init__(self, props: dict[str, str] | None) -> None:
        self.props = props

    def get_namespace_policy_or_none(self, _ns: str, _policy: str) -> dict[str, str] | None:
        return self.props


KEY = b"k" * 32


def _record(
    tenant: str, spec: dict[str, Any], generation: str = "abc123", key: bytes = KEY
) -> dict[str, str]:
    spec_json = json.dumps(spec)
    mac = record_mac(key, tenant=tenant, generation=generation, spec_json=spec_json)
    return {SPEC_PROPERTY: spec_json, GENERATION_PROPERTY: generation, MAC_PROPERTY: mac}


def test_a_record_the_platform_wrote_is_read() -> None:
    record = read_record(_Props(_record("north-x", _spec())), "north-x", signing_key=KEY)  # type: ignore[arg-type]
    assert record is not None
    assert record.generation == "abc123"
    assert spec_from_record(record.spec, tenant="north-x").name == "north-x"


@pytest.mark.parametrize(
    "change",
    [
        lambda p: {**p, GENERATION_PROPERTY: "def456"},  # another force's generation, say
        lambda p: {**p, SPEC_PROPERTY: p[SPEC_PROPERTY].replace("north-x-", "south-x-")},
        lambda p: {k: v for k, v in p.items() if k != MAC_PROPERTY},  # the MAC dropped
        lambda p: {
            **p,
            MAC_PROPERTY: record_mac(
                b"x" * 32, tenant="north-x", generation="abc123", spec_json=p[SPEC_PROPERTY]
            ),
        },
    ],
)
def test_a_record_changed_by_a_force_is_refused(change: Any) -> None:
    props = change(_record("north-x", _spec(officer="north-x-desk")))
    with pytest.raises(RecordNotAuthentic):
        read_record(_Props(props), "north-x", signing_key=KEY)  # type: ignore[arg-type]


def test_a_record_moved_from_another_tenant_is_refused() -> None:
    # south-x's genuine record copied onto north-x's namespace: bound to its tenant, it fails.
    props = _record("south-x", {**_spec(), "name": "south-x"})
    with pytest.raises(RecordNotAuthentic):
        read_record(_Props(props), "north-x", signing_key=KEY)  # type: ignore[arg-type]
    # ... and a record naming another tenant is refused even where its MAC is good.
    props = _record("north-x", {**_spec(), "name": "south-x"})
    with pytest.raises(RecordNotAuthentic):
        read_record(_Props(props), "north-x", signing_key=KEY)  # type: ignore[arg-type]
    with pytest.raises(RecordNotAuthentic):
        spec_from_record({**_spec(), "name": "south-x"}, tenant="north-x")


def test_an_unsigned_record_is_taken_only_when_asked() -> None:
    props = {k: v for k, v in _record("north-x", _spec()).items() if k != MAC_PROPERTY}
    record = read_record(_Props(props), "north-x", signing_key=KEY, allow_unsigned=True)  # type: ignore[arg-type]
    assert record is not None
    assert record.generation == "abc123"
    assert read_record(_Props(None), "north-x", signing_key=KEY) is None  # type: ignore[arg-type]
