"""MinIO server as a local process, and the buckets the platform needs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from minio import Minio

from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.process import ManagedProcess

__all__ = ["MinioRunner", "minio_client"]


def minio_client(settings: Settings) -> Minio:
    m = settings.minio
    return Minio(
        m.endpoint,
        access_key=m.access_key,
        secret_key=m.secret_key.get_secret_value(),
        secure=False,
        region=m.region,
    )


class MinioRunner:
    name = "minio"

    def __init__(self, *, settings: Settings, binary: Path) -> None:
        self.settings = settings
        self.binary = binary
        self.data_dir = settings.state_dir / "minio" / "data"
        self.process = ManagedProcess(self.name, settings.run_dir, settings.logs_dir)

    def start(self) -> int:
        m = self.settings.minio
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "MINIO_ROOT_USER": m.access_key,
            "MINIO_ROOT_PASSWORD": m.secret_key.get_secret_value(),
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

    def ensure_buckets(self, *names: str) -> list[str]:
        """Create missing buckets; returns the ones created."""
        client = minio_client(self.settings)
        created = []
        for name in names:
            if not client.bucket_exists(name):
                client.make_bucket(name)
                created.append(name)
        return created
