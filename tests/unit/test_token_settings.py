"""Token lifetimes and renewal are settings (issue 34): a test lives a season in minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from peacewatch.platform.auth import mint_token, token_needs_renewal
from peacewatch.platform.settings import Settings, TokenSettings


def test_lifetimes_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEACEWATCH_TOKENS__LAKE", "120")
    monkeypatch.setenv("PEACEWATCH_TOKENS__OFFICER", "P2D")
    monkeypatch.setenv("PEACEWATCH_TOKENS__RENEW_AFTER", "0.25")
    t = Settings().tokens
    assert (t.kit("lake"), t.kit("officer"), t.kit("fleet")) == (
        timedelta(seconds=120), timedelta(days=2), timedelta(days=90),
    )  # fmt: skip
    assert t.renew_after == 0.25


@pytest.mark.parametrize("bad", [{"lake": 5}, {"renew_after": 0.95}, {"renew_after": 0}])
def test_nonsense_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        TokenSettings(**bad)  # type: ignore[arg-type]


@given(life_s=st.integers(min_value=60, max_value=10**8), fraction=st.floats(min_value=0.05, max_value=0.9))
def test_a_fresh_token_is_not_due_and_one_past_its_point_is(life_s: int, fraction: float) -> None:
    life = timedelta(seconds=life_s)
    fresh = mint_token(b"k" * 32, role="r", expires_in=life)
    assert not token_needs_renewal(fresh, lifetime=life, renew_after=fraction)
    # Issued with only (1 - fraction) of its life left, minus a second: due.
    aged = mint_token(b"k" * 32, role="r", expires_in=life * (1 - fraction) - timedelta(seconds=1))
    assert token_needs_renewal(aged, lifetime=life, renew_after=fraction)
