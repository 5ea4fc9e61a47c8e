"""Token authentication: the broker's signing key, and the JWTs signed with it.

Pulsar's AuthenticationProviderToken checks HS256 tokens against a raw secret key; the `sub`
claim is the role. The key is generated at the first `stack up` (owner-only); only the
platform holds it. Every token expires:
- the platform's own (superuser) token is re-issued when `stack up` finds it past half its life;
- kit tokens (credentials module) are re-issued by `tenants apply` past half their life;
- tokens handed to people and drones (`tenants token`) carry the role's default lifetime.
A force's role names carry its onboarding generation (`north-precinct-officer.3fa9c1`): a
force removed and onboarded again gets a new generation, and tokens of the old one grant nothing.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from peacewatch.platform.credentials import secrets_dir, write_private
from peacewatch.platform.errors import InvalidArgument, TokenError
from peacewatch.platform.settings import Settings

__all__ = [
    "PERSON_LIFETIMES",
    "SUPERUSER_ROLE",
    "ensure_secret_key",
    "mint_token",
    "new_generation",
    "role_name",
    "rotate_secret_key",
    "secret_key",
    "secret_key_path",
    "superuser_token",
    "superuser_token_path",
    "token_expiry",
    "token_needs_renewal",
    "validate_role_name",
]

SUPERUSER_ROLE = "peacewatch-admin"
# Tokens printed for people and devices by `tenants token`.
PERSON_LIFETIMES: dict[str, timedelta] = {"fleet": timedelta(days=90), "officer": timedelta(hours=12)}


def secret_key_path(settings: Settings) -> Path:
    return secrets_dir(settings) / "pulsar-token-secret.key"


def superuser_token_path(settings: Settings) -> Path:
    return secrets_dir(settings) / "superuser.token"


def mint_token(key: bytes, *, role: str, expires_in: timedelta | None) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": role, "iat": int(now.timestamp())}
    if expires_in is not None:
        claims["exp"] = int((now + expires_in).timestamp())
    return jwt.encode(claims, key, algorithm="HS256")


def token_expiry(token: str) -> datetime | None:
    """When the token expires (None: never). Reads the claims only: no key needed."""
    claims = jwt.decode(token, options={"verify_signature": False})
    exp = claims.get("exp")
    return datetime.fromtimestamp(exp, tz=UTC) if exp else None


def token_needs_renewal(token: str, *, lifetime: timedelta, renew_after: float = 0.5) -> bool:
    """Past `renew_after` of its life (or without an expiry, or unreadable)."""
    try:
        expires = token_expiry(token)
    except jwt.PyJWTError:
        return True
    return expires is None or expires - datetime.now(UTC) < lifetime * (1 - renew_after)


def new_generation() -> str:
    return secrets.token_hex(3)


# A role is a token's subject and a segment of admin REST paths: letters, digits and `_.@-`,
# starting with a letter or digit, no `..` (quoted in paths anyway: platform.pulsar_admin).
_ROLE_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_@-]|\.(?!\.)){0,99}")


def validate_role_name(name: str) -> str:
    """`name` if it may be a role's (base) name, else InvalidArgument saying what is allowed."""
    if not isinstance(name, str) or not _ROLE_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid role name {name!r}: use 1-100 letters, digits and '_.@-', starting with a letter "
            "or digit (e.g. north-precinct-officer)"
        )
    if name == SUPERUSER_ROLE:
        raise InvalidArgument(f"role name {name!r} is the platform's own: choose another")
    return name


def role_name(base: str, generation: str) -> str:
    """A force's role as the broker knows it: its spec name plus the onboarding generation."""
    return f"{base}.{generation}" if generation else base


def ensure_secret_key(settings: Settings) -> bytes:
    """The broker's HS256 key (256 random bits), created on first use, and a current superuser token.

    A missing key beside an existing superuser token means the key was lost: every token in use
    was signed with it, so nothing is generated silently (the broker would answer 401 to
    everyone); TokenError says how to rotate instead."""
    path = secret_key_path(settings)
    token_path = superuser_token_path(settings)
    if not path.exists():
        if token_path.exists():
            raise TokenError(
                f"the token signing key {path} is missing but tokens signed with it are in use "
                f"({token_path}): run `peacewatch stack rotate-key` to make a new key and re-issue the "
                "platform's tokens (drones and officers then need new tokens: `peacewatch tenants token`)"
            )
        write_private(path, secrets.token_bytes(32))
    key = path.read_bytes()
    current = token_path.read_text().strip() if token_path.exists() else ""
    t = settings.tokens
    if (
        not current
        or not _signed_with(current, key)
        or token_needs_renewal(current, lifetime=t.superuser, renew_after=t.renew_after)
    ):
        # The broker's own client reads this file at every authentication: no restart needed.
        write_private(token_path, mint_token(key, role=SUPERUSER_ROLE, expires_in=t.superuser).encode())
    return key


def rotate_secret_key(settings: Settings) -> bytes:
    """A new signing key and a superuser token signed with it. Every token signed with the old key
    stops working once the broker restarts with the new one."""
    key = secrets.token_bytes(32)
    write_private(secret_key_path(settings), key)
    write_private(
        superuser_token_path(settings),
        mint_token(key, role=SUPERUSER_ROLE, expires_in=settings.tokens.superuser).encode(),
    )
    return key


def _signed_with(token: str, key: bytes) -> bool:
    try:
        jwt.decode(token, key, algorithms=["HS256"], options={"verify_exp": False})
    except jwt.PyJWTError:
        return False
    return True


def secret_key(settings: Settings) -> bytes:
    """The signing key, for the platform's own commands (onboarding, `tenants token`)."""
    path = secret_key_path(settings)
    if not path.exists():
        raise TokenError(
            f"no token signing key at {path}: this command needs the platform's key (start the stack once "
            "with `peacewatch stack up`, or run it where the key is mounted)"
        )
    return path.read_bytes()


def superuser_token(settings: Settings) -> str | None:
    """The platform's own token, or None before the stack first started (no auth yet)."""
    path = superuser_token_path(settings)
    return path.read_text().strip() if path.exists() else None
