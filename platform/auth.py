"""Token authentication: the broker's secret key, and JWTs signed with it for every role.

Pulsar's AuthenticationProviderToken checks HS256 tokens against a raw secret key whose `sub`
claim is the role. The key is generated on the first `stack up` and kept owner-only in the state
directory; the platform itself uses the superuser role's token.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args

import jwt

from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.settings import Settings

__all__ = [
    "SUPERUSER_ROLE",
    "TenantRole",
    "ensure_secret_key",
    "mint_token",
    "role_name",
    "role_token",
    "secret_key_path",
    "superuser_token",
    "superuser_token_path",
    "write_private",
]

SUPERUSER_ROLE = "peacewatch-admin"
# fleet: the force's drones (produce reports); officer: follow alerts; analyst: the lake only;
# lake: the force's Delta sink (consume reports and alerts, dead-letter bad ones).
TenantRole = Literal["fleet", "officer", "analyst", "lake"]
TENANT_ROLES: tuple[str, ...] = get_args(TenantRole)


def secrets_dir(settings: Settings) -> Path:
    return settings.state_dir / "secrets"


def secret_key_path(settings: Settings) -> Path:
    return secrets_dir(settings) / "pulsar-token-secret.key"


def superuser_token_path(settings: Settings) -> Path:
    return secrets_dir(settings) / "superuser.token"


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (created 0600, never world-readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def ensure_secret_key(settings: Settings) -> bytes:
    """The broker's HS256 key (256 random bits), created on first use."""
    path = secret_key_path(settings)
    if not path.exists():
        write_private(path, secrets.token_bytes(32))
    key = path.read_bytes()
    if not superuser_token_path(settings).exists():
        write_private(superuser_token_path(settings), mint_token(key, role=SUPERUSER_ROLE).encode())
    return key


def mint_token(key: bytes, *, role: str, expires_in: timedelta | None = None) -> str:
    claims: dict[str, object] = {"sub": role}
    if expires_in is not None:
        claims["exp"] = int((datetime.now(UTC) + expires_in).timestamp())
    return jwt.encode(claims, key, algorithm="HS256")


def role_name(tenant: str, role: TenantRole) -> str:
    return f"{tenant}-{role}"


def _key(settings: Settings) -> bytes:
    path = secret_key_path(settings)
    if not path.exists():
        raise PeacewatchError(
            f"no token secret key at {path}: start the stack once (`peacewatch stack up`) with this state dir"
        )
    return path.read_bytes()


def role_token(
    settings: Settings, *, tenant: str, role: TenantRole, expires_in: timedelta | None = None
) -> str:
    if role not in TENANT_ROLES:
        raise PeacewatchError(f"unknown role {role!r}: choose one of {', '.join(TENANT_ROLES)}")
    return mint_token(_key(settings), role=role_name(tenant, role), expires_in=expires_in)


def superuser_token(settings: Settings) -> str | None:
    """The platform's own token, or None before the stack first started (no auth yet)."""
    path = superuser_token_path(settings)
    return path.read_text().strip() if path.exists() else None
