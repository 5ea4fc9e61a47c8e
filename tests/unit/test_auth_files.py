"""The signing key and the superuser token on disk: created once, renewed, never silently replaced."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest

from peacewatch.platform.auth import (
    SUPERUSER_ROLE,
    ensure_secret_key,
    mint_token,
    rotate_secret_key,
    secret_key_path,
    superuser_token,
    superuser_token_path,
    token_expiry,
)
from peacewatch.platform.errors import TokenError
from peacewatch.platform.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def test_first_start_makes_an_owner_only_key_and_an_expiring_superuser_token(settings: Settings) -> None:
    key = ensure_secret_key(settings)
    assert len(key) == 32
    for path in (secret_key_path(settings), superuser_token_path(settings)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token_expiry(superuser_token(settings) or "") is not None
    assert ensure_secret_key(settings) == key  # the second start keeps both
    assert superuser_token_path(settings).read_text()


def test_a_lost_key_beside_a_token_is_a_clear_error_pointing_to_rotation(settings: Settings) -> None:
    ensure_secret_key(settings)
    secret_key_path(settings).unlink()
    with pytest.raises(TokenError, match="stack rotate-key"):
        ensure_secret_key(settings)
    assert not secret_key_path(settings).exists()  # nothing generated behind the operator's back


def test_rotation_makes_a_new_key_and_a_token_signed_with_it(settings: Settings) -> None:
    old = ensure_secret_key(settings)
    old_token = superuser_token(settings)
    secret_key_path(settings).unlink()  # also the way out of a lost key
    new = rotate_secret_key(settings)
    assert new != old
    assert superuser_token(settings) != old_token
    assert ensure_secret_key(settings) == new  # accepted as is at the next start


def test_a_token_signed_with_another_key_is_replaced(settings: Settings) -> None:
    import jwt

    key = ensure_secret_key(settings)
    superuser_token_path(settings).write_text(
        mint_token(b"x" * 32, role="superuser", expires_in=timedelta(1))
    )
    ensure_secret_key(settings)
    assert jwt.decode(superuser_token(settings) or "", key, algorithms=["HS256"])["sub"] == SUPERUSER_ROLE
