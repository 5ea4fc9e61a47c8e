"""Credential kits: what each process of a force holds, and nothing more.

A kit is a directory of files under STATE/secrets/forces/FORCE/KIT/:
- `token`: a JWT for the kit's Pulsar role (expiring; re-issued by `peacewatch tenants apply`
  before it runs out);
- `minio.json`: an access/secret key pair of the kit's MinIO user.

| kit      | Pulsar role may                                  | MinIO user may                  |
|----------|--------------------------------------------------|---------------------------------|
| lake     | consume reports and alerts, produce dead letters | read and write the force's lake |
| analyst  | -                                                | read the force's lake           |
| upkeep   | -                                                | read, write and delete the lake |
| fleet    | produce reports                                  | -                               |
| officer  | consume alerts and the alert log                 | -                               |
| alerting | run the alert function (reports in, alerts out)  | -                               |

Processes only read kits; the platform writes them at onboarding. On Kubernetes every kit is a
Secret mounted at the same path, so the code is the same there. Token files are read again
whenever the client re-authenticates (`token_supplier`): renewal needs no restart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from peacewatch.platform.errors import TokenError
from peacewatch.platform.settings import Settings

__all__ = [
    "KITS",
    "MINIO_KITS",
    "TOKEN_KITS",
    "Kit",
    "S3Credentials",
    "kit_dir",
    "minio_root_path",
    "platform_minio",
    "read_kit_credentials",
    "read_kit_token",
    "secrets_dir",
    "token_supplier",
    "write_kit_credentials",
    "write_kit_token",
    "write_private",
]

Kit = Literal["lake", "analyst", "upkeep", "fleet", "officer", "alerting"]
KITS: tuple[Kit, ...] = get_args(Kit)
TOKEN_KITS: tuple[Kit, ...] = ("lake", "fleet", "officer", "alerting")
MINIO_KITS: tuple[Kit, ...] = ("lake", "analyst", "upkeep")


@dataclass(frozen=True, repr=False)
class S3Credentials:
    """Who reads or writes on MinIO: the platform (root) or one of a force's users."""

    access_key: str
    secret_key: str

    def __repr__(self) -> str:
        return f"S3Credentials(access_key={self.access_key!r}, secret_key=***)"


def secrets_dir(settings: Settings) -> Path:
    return settings.state_dir / "secrets"


def kit_dir(settings: Settings, tenant: str, kit: Kit) -> Path:
    return secrets_dir(settings) / "forces" / tenant / kit


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (created 0600, never world-readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)  # readers see the old file or the new one, never half of one


def _missing(settings: Settings, tenant: str, kit: Kit, what: str) -> TokenError:
    return TokenError(
        f"no {what} for {tenant}'s {kit} kit in {kit_dir(settings, tenant, kit)}: onboard the force "
        f"(`peacewatch tenants apply` / `tenants add {tenant}`), or mount its {kit} Secret there"
    )


def read_kit_token(settings: Settings, tenant: str, kit: Kit) -> str:
    path = kit_dir(settings, tenant, kit) / "token"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise _missing(settings, tenant, kit, "token") from None


def token_supplier(settings: Settings, tenant: str, kit: Kit) -> Callable[[], str]:
    """A token source the Pulsar client calls on every (re)authentication: the file as it is now."""
    read_kit_token(settings, tenant, kit)  # fail now, with the fix, rather than at the first reconnect
    return lambda: read_kit_token(settings, tenant, kit)


def read_kit_credentials(settings: Settings, tenant: str, kit: Kit) -> S3Credentials:
    path = kit_dir(settings, tenant, kit) / "minio.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise _missing(settings, tenant, kit, "MinIO credentials") from None
    return S3Credentials(access_key=data["access_key"], secret_key=data["secret_key"])


def minio_root_path(settings: Settings) -> Path:
    return secrets_dir(settings) / "minio-root.json"


def platform_minio(settings: Settings) -> S3Credentials:
    """MinIO's root user: the platform's alone (onboarding creates the forces' users with it)."""
    m = settings.minio
    if m.secret_key is not None:
        return S3Credentials(access_key=m.access_key, secret_key=m.secret_key.get_secret_value())
    try:
        data = json.loads(minio_root_path(settings).read_text())
    except FileNotFoundError:
        raise TokenError(
            f"no MinIO root credentials: none set (PEACEWATCH_MINIO__SECRET_KEY) and none generated yet at "
            f"{minio_root_path(settings)} - start the stack once (`peacewatch stack up`)"
        ) from None
    return S3Credentials(access_key=data["access_key"], secret_key=data["secret_key"])


def write_kit_token(settings: Settings, tenant: str, kit: Kit, token: str) -> None:
    write_private(kit_dir(settings, tenant, kit) / "token", token.encode())


def write_kit_credentials(settings: Settings, tenant: str, kit: Kit, credentials: S3Credentials) -> None:
    body = {"access_key": credentials.access_key, "secret_key": credentials.secret_key}
    write_private(kit_dir(settings, tenant, kit) / "minio.json", json.dumps(body).encode())
