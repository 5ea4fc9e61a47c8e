"""Against a real Kubernetes API server where the chart is installed (objects only: no kubelet is
needed): the onboarding Job's ServiceAccount, through RBAC, publishes and restores the forces'
kit Secrets and is refused every other Secret.

Runs only when PEACEWATCH_KUBE_API (https://host:port), PEACEWATCH_KUBE_TOKEN (an admin token)
and PEACEWATCH_KUBE_NAMESPACE (where release `pw` is installed) are set; see the README.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from peacewatch.platform.credentials import S3Credentials, kit_dir, write_kit_credentials, write_kit_token
from peacewatch.platform.errors import KubernetesUnavailable
from peacewatch.platform.settings import Settings
from peacewatch.tenants.kube_kits import KubeSecrets, publish_kits, restore_kits

API = os.environ.get("PEACEWATCH_KUBE_API")
ADMIN = os.environ.get("PEACEWATCH_KUBE_TOKEN", "")
NAMESPACE = os.environ.get("PEACEWATCH_KUBE_NAMESPACE", "police")
PREFIX = "pw-peacewatch"
pytestmark = pytest.mark.skipif(
    not API, reason="PEACEWATCH_KUBE_API: a real API server with the chart installed"
)


def _onboarding_token() -> str:
    """A short-lived token of the onboarding ServiceAccount (TokenRequest), as its pod would hold."""
    resp = httpx.post(
        f"{API}/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{PREFIX}-onboarding/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": 600}},
        headers={"Authorization": f"Bearer {ADMIN}"}, verify=False, timeout=30,
    )  # fmt: skip
    resp.raise_for_status()
    return str(resp.json()["status"]["token"])


@pytest.fixture
def as_onboarding(tmp_path: Path) -> KubeSecrets:
    # The API server's self-signed certificate: not verified here (a pod verifies its CA bundle).
    ca = tmp_path / "no-ca"
    return KubeSecrets(base_url=str(API), namespace=NAMESPACE, token=_onboarding_token(), ca_file=ca)


def test_the_onboarding_account_publishes_and_restores_kits_and_nothing_else(
    as_onboarding: KubeSecrets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx verifies against ca_file; the scratch API server's certificate is self-signed.
    monkeypatch.setattr(KubeSecrets, "_http", lambda self: httpx.Client(
        verify=False, headers={"Authorization": f"Bearer {self.token}"}, timeout=30.0))  # fmt: skip
    job = Settings(state_dir=tmp_path / "job")
    write_kit_token(job, "north-precinct", "fleet", "fleet-token")
    write_kit_credentials(job, "north-precinct", "lake", S3Credentials("north-precinct-lake", "s3cret"))
    first = publish_kits(job, as_onboarding, prefix=PREFIX, tenants=["north-precinct"], labels={})
    again = publish_kits(job, as_onboarding, prefix=PREFIX, tenants=["north-precinct"], labels={})
    assert {name for name, _ in first} == {f"{PREFIX}-north-precinct-fleet", f"{PREFIX}-north-precinct-lake"}
    assert {outcome for _, outcome in again} == {"updated"}

    later = Settings(state_dir=tmp_path / "next-run")  # the next upgrade's Job: a fresh emptyDir
    assert restore_kits(later, as_onboarding, prefix=PREFIX, tenants=["north-precinct"]) == 2
    assert (kit_dir(later, "north-precinct", "fleet") / "token").read_text() == "fleet-token"

    # RBAC: the platform's own Secrets and any name outside the kits are out of reach.
    for name in ("pw-minio", "peacewatch-offload", "sh.helm.release.v1.pw.v1"):
        with pytest.raises(KubernetesUnavailable, match="403"):
            as_onboarding.get(name)
    with pytest.raises(KubernetesUnavailable, match="403"):
        as_onboarding.get(f"{PREFIX}-north-precinct-alerting")  # not a published kit
