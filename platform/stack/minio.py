"""MinIO server as a local process; its root user (generated at the first start, owner-only) and
the identity tiered storage writes with."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import httpx
from minio import Minio
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException
from minio.minioadmin import MinioAdmin

from peacewatch.platform.credentials import (
    S3Credentials,
    minio_root_path,
    platform_minio,
    secrets_dir,
    write_private,
)
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.process import ManagedProcess

__all__ = [
    "OFFLOAD_USER",
    "MinioRunner",
    "ensure_offload_identity",
    "minio_admin",
    "minio_client",
    "offload_credentials",
]

OFFLOAD_USER = "peacewatch-offload"


def minio_client(settings: Settings) -> Minio:
    m = settings.minio
    root = platform_minio(settings)
    return Minio(
        m.endpoint, access_key=root.access_key, secret_key=root.secret_key, secure=False, region=m.region
    )


def minio_admin(settings: Settings) -> MinioAdmin:
    m = settings.minio
    root = platform_minio(settings)
    return MinioAdmin(
        endpoint=m.endpoint, credentials=StaticProvider(root.access_key, root.secret_key), region=m.region,
        secure=False,
    )  # fmt: skip


def _offload_path(settings: Settings) -> Path:
    return secrets_dir(settings) / "offload.json"


def offload_credentials(settings: Settings) -> S3Credentials | None:
    try:
        data = json.loads(_offload_path(settings).read_text())
    except FileNotFoundError:
        return None
    return S3Credentials(access_key=data["access_key"], secret_key=data["secret_key"])


def offload_policy(bucket_prefix: str) -> dict[str, Any]:
    """Tiered storage: objects in the forces' buckets, nothing else (no bucket admin, no users)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow",
             "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
             "Resource": [f"arn:aws:s3:::{bucket_prefix}*"]},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                           "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
             "Resource": [f"arn:aws:s3:::{bucket_prefix}*/*"]},
        ],
    }  # fmt: skip


def ensure_offload_identity(settings: Settings) -> S3Credentials:
    """The MinIO user the broker offloads ledgers with (created once, its keys kept owner-only)."""
    admin = minio_admin(settings)
    admin.policy_add(OFFLOAD_USER, policy=offload_policy(settings.bucket_prefix))
    known = offload_credentials(settings)
    try:
        exists = known is not None and bool(json.loads(admin.user_info(OFFLOAD_USER)))
    except MinioAdminException:
        exists = False
    if known is None or not exists:
        known = S3Credentials(access_key=OFFLOAD_USER, secret_key=secrets.token_urlsafe(30))
        admin.user_add(OFFLOAD_USER, known.secret_key)
        body = {"access_key": known.access_key, "secret_key": known.secret_key}
        write_private(_offload_path(settings), json.dumps(body).encode())
    admin.policy_set(OFFLOAD_USER, user=OFFLOAD_USER)
    return known


class MinioRunner:
    name = "minio"

    def __init__(self, *, settings: Settings, binary: Path) -> None:
        self.settings = settings
        self.binary = binary
        self.data_dir = settings.state_dir / "minio" / "data"
        self.process = ManagedProcess(self.name, settings.run_dir, settings.logs_dir)

    def ports(self) -> list[tuple[str, str, int]]:
        m = self.settings.minio
        return [("s3", m.host, m.port), ("console", m.host, m.console_port)]

    def root(self) -> S3Credentials:
        """The root user: the one set in the settings, else the one generated at the first start."""
        m = self.settings.minio
        if m.secret_key is None and not minio_root_path(self.settings).exists():
            body = {"access_key": m.access_key, "secret_key": secrets.token_urlsafe(30)}
            write_private(minio_root_path(self.settings), json.dumps(body).encode())
        return platform_minio(self.settings)

    def start(self) -> int:
        m = self.settings.minio
        root = self.root()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)  # every force's lake is in here
        env = {
            **os.environ,
            "MINIO_ROOT_USER": root.access_key,
            "MINIO_ROOT_PASSWORD": root.secret_key,
            "MINIO_REGION": m.region,
            "MINIO_UPDATE": "off",
        }
        cmd = [
            str(self.binary),
            "server",
            str(self.data_dir),
            "--address",
            m.endpoint,
            "--console-address",
            f"{m.host}:{m.console_port}",
            "--quiet",
        ]
        return self.process.start(cmd, env=env, cwd=self.data_dir.parent)

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = {"live": False, "version": self.settings.minio.module_version}
        try:
            resp = httpx.get(f"{self.settings.minio.url}/minio/health/live", timeout=3.0)
            result["live"] = resp.status_code == 200
        except httpx.HTTPError:
            pass
        return result

    def healthy(self) -> bool:
        return bool(self.health()["live"])
