"""The Helm chart with a real helm binary: lint, render, Kubernetes 1.30 schemas, values schema, wiring.

No chart repository is reachable here, so the chart is rendered with its dependencies (the Apache
Pulsar and MinIO charts) taken out; the values it hands them are checked as values.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from rich.console import Console

from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.install import ensure_helm
from peacewatch.tenants.spec import TenantSpec

pytestmark = pytest.mark.slow

CHART = Path(__file__).parents[2] / "helm" / "peacewatch"
EXAMPLE = CHART / "examples" / "values-small.yaml"
RELEASE = "pw"


@pytest.fixture(scope="module")
def helm() -> str:
    return str(ensure_helm(Settings(), console=Console(stderr=True)))


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart without its dependencies (they need a chart repository)."""
    copy = tmp_path_factory.mktemp("chart") / "peacewatch"
    shutil.copytree(CHART, copy)
    meta = yaml.safe_load((copy / "Chart.yaml").read_text())
    assert {d["name"] for d in meta.pop("dependencies")} == {"pulsar", "minio"}
    (copy / "Chart.yaml").write_text(yaml.safe_dump(meta))
    return copy


def _helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120, check=False)


def render(helm: str, chart: Path, *args: str) -> list[dict[str, Any]]:
    proc = _helm(
        helm, "template", RELEASE, str(chart), "--namespace", "police", "--kube-version", "1.30.0", *args
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


ALL_ON = ("--set", "analysis.enabled=true", "--set", "simulator.enabled=true")


@pytest.mark.parametrize("values", [(), ("-f", str(EXAMPLE)), ALL_ON], ids=["defaults", "small", "all-on"])
def test_chart_lints_and_renders_valid_kubernetes_130(
    helm: str, chart: Path, values: tuple[str, ...]
) -> None:
    lint = _helm(helm, "lint", str(chart), "--strict", "--kube-version", "1.30.0", *values)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    docs = render(helm, chart, *values)
    kinds = {d["kind"] for d in docs}
    assert {"ConfigMap", "ServiceAccount", "Deployment", "Job", "CronJob", "Pod"} <= kinds
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)  # raises with the path of the fault


def test_one_sink_per_force_wired_to_minio_pulsar_and_tokens(helm: str, chart: Path) -> None:
    docs = render(helm, chart, "-f", str(EXAMPLE))
    sinks = {d["metadata"]["labels"]["peacewatch/tenant"]: d for d in _by_kind(docs, "Deployment")
             if d["metadata"]["labels"].get("app.kubernetes.io/component") == "sink"}  # fmt: skip
    assert set(sinks) == {"north-precinct", "south-precinct"}
    pod = sinks["north-precinct"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:4] == ["lake", "run", "--tenant", "north-precinct"]
    env = _env(container)
    assert env["PEACEWATCH_MINIO__HOST"] == f"{RELEASE}-minio"
    assert env["PEACEWATCH_PULSAR__HOST"] == f"{RELEASE}-pulsar-broker"
    assert env["PEACEWATCH_MINIO__ACCESS_KEY"] == {
        "secretKeyRef": {"name": f"{RELEASE}-minio", "key": "rootUser"}
    }
    assert env["PEACEWATCH_MINIO__SECRET_KEY"]["secretKeyRef"]["key"] == "rootPassword"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "/var/lib/peacewatch/secrets/superuser.token" in mounts
    assert "/var/lib/peacewatch/secrets/pulsar-token-secret.key" in mounts
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["pulsar-superuser-token"]["secret"]["secretName"] == f"{RELEASE}-pulsar-token-admin"
    assert container["livenessProbe"]["exec"]["command"][:3] == ["peacewatch", "lake", "status"]
    assert container["readinessProbe"]["exec"]["command"][-1] == "north-precinct"


def test_onboarding_job_applies_every_tenant_spec(helm: str, chart: Path) -> None:
    docs = render(helm, chart, "-f", str(EXAMPLE))
    (job,) = [j for j in _by_kind(docs, "Job") if "tenants" in j["metadata"]["name"]]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    specs = "/etc/peacewatch/tenants"
    assert container["args"] == [
        "tenants",
        "apply",
        f"{specs}/north-precinct.yaml",
        f"{specs}/south-precinct.yaml",
    ]
    assert _env(container)["PEACEWATCH_MINIO__HOST"] == f"{RELEASE}-minio"
    (config,) = [c for c in _by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-tenants")]
    # What the Job reads is a valid TenantSpec, as `peacewatch tenants apply` will load it.
    south = TenantSpec.model_validate(yaml.safe_load(config["data"]["south-precinct.yaml"]))
    assert (south.alerting.threshold, south.alerting.cooldown_s) == (25, 600)
    (test_pod,) = _by_kind(docs, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert "north-precinct" in test_pod["spec"]["containers"][0]["args"][0]
    (cron,) = _by_kind(docs, "CronJob")
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][:2] == [
        "lake",
        "maintain",
    ]


def test_pulsar_values_wire_functions_auth_and_offload_to_minio() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    pulsar = values["pulsar"]
    assert pulsar["components"]["functions"] is True
    assert pulsar["images"]["broker"]["repository"] == "apachepulsar/pulsar-all"
    assert pulsar["auth"]["authentication"]["enabled"] is True
    assert (
        pulsar["auth"]["authentication"]["jwt"]["usingSecretKey"] is True
    )  # HS256, like peacewatch's tokens
    assert pulsar["auth"]["authorization"]["enabled"] is True
    config = pulsar["broker"]["configData"]
    # Rendered by hand: the upstream chart drops storageOffload.serviceEndpoint.
    assert config["s3ManagedLedgerOffloadServiceEndpoint"].startswith("http://")
    assert config["s3ManagedLedgerOffloadServiceEndpoint"].endswith(":9000")
    small = yaml.safe_load(EXAMPLE.read_text())["pulsar"]
    assert small["broker"]["configData"]["managedLedgerDefaultAckQuorum"] == "1"
    assert {small[c]["replicaCount"] for c in ("zookeeper", "bookkeeper", "broker", "proxy")} == {1}
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    deps = {d["name"]: d for d in meta["dependencies"]}
    assert deps["pulsar"]["repository"] == "https://pulsar.apache.org/charts"
    assert deps["pulsar"]["version"].startswith("4.")
    assert deps["pulsar"]["condition"] == "pulsar.enabled"
    assert deps["minio"]["condition"] == "minio.enabled"


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (("--set", "sink.replicas=-1"), "sink.replicas"),
        (("--set", "tenants[0].name=Bad_Name", "--set", "tenants[0].display_name=x"), "tenants.0.name"),
        (("--set", "tenants[0].alerting.threshold=500"), "tenants.0.alerting.threshold"),
        (("--set", "image.pullPolicy=Sometimes"), "image.pullPolicy"),
    ],
)
def test_bad_values_fail_with_the_field_named(
    helm: str, chart: Path, bad: tuple[str, ...], says: str
) -> None:
    proc = _helm(helm, "template", RELEASE, str(chart), *bad)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert says in proc.stderr.replace("/", ".")
