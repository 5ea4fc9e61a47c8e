"""The desk's session logic and Host allow-list (pure; the broker's part is in
tests/integration/test_desk_access.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings

from peacewatch.functions.desk.access import Sessions, cookie_name, host_allowed, session_id, token_ends_at
from peacewatch.platform.auth import mint_token
from tests.hostile_strings import hostile_text
from tests.hypothesis_budget import budget

pytestmark = pytest.mark.hostile


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_at_its_time_and_is_rechecked_when_due() -> None:
    clock = Clock()
    sessions = Sessions(clock=clock)
    sid = sessions.open("t", ends_at=clock.now + 100)
    session = sessions.get(sid)
    assert session is not None
    assert not sessions.due(session, every_s=60)
    clock.now += 60
    assert sessions.due(session, every_s=60)
    sessions.checked(session)
    assert not sessions.due(session, every_s=60)
    clock.now += 40
    assert sessions.get(sid) is None  # its time is up, whatever the broker says
    assert len(sessions) == 0


def test_sessions_are_capped_oldest_first() -> None:
    sessions = Sessions(max_sessions=2)
    first = sessions.open("a", ends_at=1e12)
    sessions.open("b", ends_at=1e12)
    sessions.open("c", ends_at=1e12)
    assert sessions.get(first) is None
    assert len(sessions) == 2


def test_a_session_ends_no_later_than_its_token() -> None:
    clock = Clock()
    clock.now = 2_000_000_000.0
    token = mint_token(b"k" * 32, role="r", expires_in=None)
    assert token_ends_at(token, clock=clock, max_s=3600) == clock.now + 3600
    assert token_ends_at("not a token", clock=clock, max_s=10) == clock.now + 10


def test_hosts() -> None:
    allowed = frozenset({"localhost", "desk.police.svc"})
    for ok in ("localhost", "localhost:8765", "DESK.police.svc:80"):
        assert host_allowed(ok, allowed), ok
    for bad in (None, "", "evil.example", "localhost.evil.example", "evil.example:localhost", "[::1]:80"):
        assert not host_allowed(bad, allowed), bad


@hsettings(max_examples=budget(200))
@given(hostile_text(), hostile_text())
def test_hostile_headers_never_open_a_session(host: str, cookie: str) -> None:
    sessions = Sessions()
    assert sessions.get(session_id(cookie, tenant="north-x")) is None
    host_allowed(host, frozenset({"localhost"}))  # never raises


def test_cookie_names_differ_per_force() -> None:
    assert cookie_name("north-x") != cookie_name("south-x")
