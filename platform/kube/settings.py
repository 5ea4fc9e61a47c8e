"""Where the single-node cluster of `./run kube` lives and what it runs."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["KubeSettings"]


class KubeSettings(BaseModel):
    """Versions and addresses of the local cluster (a Settings section: PEACEWATCH_KUBE__*)."""

    model_config = ConfigDict(frozen=True)

    version: str = Field(default="v1.30.14", description="Kubernetes, built from the Go module proxy")
    coredns_version: str = Field(default="v1.11.3")
    # MinIO's client for the MinIO chart's user/policy Job (the proxy lists only pseudo-versions).
    mc_version: str = Field(default="v0.0.0-20250313080218-cf909e1063a9")
    state_dir: Path | None = Field(default=None, description="Default: STATE_DIR/kube")
    node_name: str = "vm"
    pod_cidr: str = "10.244.0.0/24"
    cluster_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/16"
    api_port: int = 6443
    dns_ip: str = "10.96.0.10"
    api_service_ip: str = "10.96.0.1"
    # Ours by name: `down` deletes this bridge and no other (cni0 is every bridge plugin's default).
    bridge: str = Field(default="pw-cni0", pattern=r"^[a-z][a-z0-9-]{1,14}$")
    volumes: int = Field(
        default=8, ge=1, description="hostPath PersistentVolumes made for the charts' claims"
    )
