"""A force's credential kits as Kubernetes Secrets, for its workloads to mount.

The onboarding Job is the only workload that holds the platform's keys. It writes each force's
kits to its own (emptyDir) state as locally, then publishes them here as Secrets named
`{prefix}-{force}-{kit}`, keys `token` and/or `minio.json`: mounted at the kit's directory, a
sink or a maintenance job reads them as it reads them on the local stack. The Job's Role may
create Secrets and update only these names.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from peacewatch.platform.credentials import Kit, kit_dir, write_private
from peacewatch.platform.errors import KubernetesUnavailable
from peacewatch.platform.settings import Settings

__all__ = [
    "PUBLISHED_KITS",
    "KubeSecrets",
    "kit_secret",
    "kit_secret_name",
    "publish_kits",
    "restore_kits",
]

# The alerting kit stays with the Job: the worker keeps the deployer's token for the function.
PUBLISHED_KITS: tuple[Kit, ...] = ("lake", "analyst", "upkeep", "fleet", "officer")
_SA = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def kit_secret_name(prefix: str, tenant: str, kit: Kit) -> str:
    return f"{prefix}-{tenant}-{kit}"


def kit_secret(
    settings: Settings, *, prefix: str, tenant: str, kit: Kit, labels: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """The Secret manifest of one kit from its files, or None when the kit has none."""
    files = {p.name: p.read_bytes() for p in sorted(kit_dir(settings, tenant, kit).glob("*")) if p.is_file()}
    if not files:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": kit_secret_name(prefix, tenant, kit),
            "labels": {**(labels or {}), "peacewatch/tenant": tenant, "peacewatch/kit": kit},
        },
        "data": {name: base64.b64encode(body).decode() for name, body in files.items()},
    }


@dataclass(frozen=True)
class KubeSecrets:
    """Secrets of one namespace through the API server, as the pod's service account."""

    base_url: str
    namespace: str
    token: str
    ca_file: Path

    @classmethod
    def in_cluster(cls) -> KubeSecrets:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
        if not host or not port or not (_SA / "token").exists():
            raise KubernetesUnavailable(
                "not running in a Kubernetes pod with a service account token: publishing kits as "
                "Secrets is the onboarding Job's step (locally the kits stay under the state dir)"
            )
        return cls(
            base_url=f"https://{host}:{port}",
            namespace=(_SA / "namespace").read_text().strip(),
            token=(_SA / "token").read_text().strip(),
            ca_file=_SA / "ca.crt",
        )

    def _http(self) -> httpx.Client:
        return httpx.Client(
            verify=str(self.ca_file), headers={"Authorization": f"Bearer {self.token}"}, timeout=30.0
        )

    def get(self, name: str) -> dict[str, Any] | None:
        """The Secret's data (decoded), or None when it does not exist."""
        with self._http() as http:
            resp = http.get(f"{self.base_url}/api/v1/namespaces/{self.namespace}/secrets/{name}")
        if resp.status_code == 404:
            return None
        if resp.status_code >= 300:
            raise KubernetesUnavailable(f"the API server refused reading Secret {name}: {resp.status_code}")
        return {k: base64.b64decode(v) for k, v in (resp.json().get("data") or {}).items()}

    def put(self, manifest: dict[str, Any]) -> str:
        """Create the Secret, or replace it when it exists. Returns "created" or "updated"."""
        name = manifest["metadata"]["name"]
        base = f"{self.base_url}/api/v1/namespaces/{self.namespace}/secrets"
        with self._http() as http:
            resp = http.post(base, json=manifest)
            if resp.status_code == 409:
                resp = http.put(f"{base}/{name}", json=manifest)
                outcome = "updated"
            else:
                outcome = "created"
        if resp.status_code >= 300:
            raise KubernetesUnavailable(
                f"the API server refused Secret {name}: {resp.status_code} {resp.text[:200]} "
                "(does the onboarding Role list this force? `helm upgrade` after adding it to values.tenants)"
            )
        return outcome


def restore_kits(settings: Settings, secrets: KubeSecrets, *, prefix: str, tenants: Iterable[str]) -> int:
    """Kits published by an earlier run back into this Job's (fresh) state, so onboarding keeps
    the forces' MinIO keys and tokens instead of issuing new ones at every upgrade. Returns the
    number of kits restored."""
    restored = 0
    for tenant in tenants:
        for kit in PUBLISHED_KITS:
            data = secrets.get(kit_secret_name(prefix, tenant, kit))
            if not data:
                continue
            for name, body in data.items():
                if name in ("token", "minio.json"):
                    write_private(kit_dir(settings, tenant, kit) / name, body)
            restored += 1
    return restored


def publish_kits(
    settings: Settings, secrets: KubeSecrets, *, prefix: str, tenants: Iterable[str], labels: dict[str, str]
) -> list[tuple[str, str]]:
    """Every published kit of each force as a Secret; (secret name, created|updated) per kit."""
    done = []
    for tenant in tenants:
        for kit in PUBLISHED_KITS:
            manifest = kit_secret(settings, prefix=prefix, tenant=tenant, kit=kit, labels=labels)
            if manifest is not None:
                done.append((manifest["metadata"]["name"], secrets.put(manifest)))
    return done
