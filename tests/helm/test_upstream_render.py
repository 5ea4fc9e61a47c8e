"""Our chart rendered together with the real upstream charts it depends on: every Secret (and key),
ConfigMap, ServiceAccount, Service and port our workloads reference exists in the combined render
or is created by a named hook, for the default, small and all-on values.

CI cannot fetch charts: this runs only when PEACEWATCH_UPSTREAM_CHARTS points at a folder holding
the unpacked `pulsar` (apache/pulsar-helm-chart, tag pulsar-4.7.0) and `minio` (MinIO's chart 5.4.0)
charts, brought there by hand; test_chart.py keeps checking the facts verified here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from peacewatch.platform.kube.release import assemble_chart

from .test_chart import ALL_ON, EXAMPLE, RELEASE, WORKLOADS, _by_kind, _helm, _pod_spec, render

UPSTREAM = os.environ.get("PEACEWATCH_UPSTREAM_CHARTS")
pytestmark = pytest.mark.skipif(
    not UPSTREAM,
    reason="set PEACEWATCH_UPSTREAM_CHARTS to a folder with the unpacked pulsar and minio charts",
)


@pytest.fixture(scope="module")
def combined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert UPSTREAM
    return assemble_chart(upstream=Path(UPSTREAM), into=tmp_path_factory.mktemp("combined"))


def _named(docs: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    return [d for d in _by_kind(docs, kind) if d["metadata"]["name"] == name]


def _hook_secrets(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Secrets the Pulsar chart's jwt-secret-init hook creates with kubectl, and their keys."""
    made: dict[str, set[str]] = {}
    for job in _by_kind(docs, "Job"):
        for c in _pod_spec(job)["containers"]:
            script = " ".join(c.get("args", []) + c.get("command", []))
            for name, key in re.findall(r'create_secret "([^"]+)" --from-file="([A-Z]+)=', script):
                made.setdefault(name, set()).add(key)
    return made


def _kit_secrets(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Kit Secrets our onboarding Job writes (the names its Role may update); keys by kit."""
    (role,) = [r for r in _by_kind(docs, "Role") if r["metadata"]["name"].endswith("-onboarding")]
    names = next(r["resourceNames"] for r in role["rules"] if "update" in r["verbs"])
    return {n: ({"token"} if n.endswith(("-fleet", "-officer")) else {"minio.json"} | (
        {"token"} if n.endswith("-lake") else set())) for n in names}  # fmt: skip


def _references(doc: dict[str, Any]) -> dict[str, set[tuple[str, str | None]]]:
    """(name, key) per kind of object a workload's pod spec refers to."""
    pod = _pod_spec(doc)
    refs: dict[str, set[tuple[str, str | None]]] = {
        "Secret": set(),
        "ConfigMap": set(),
        "ServiceAccount": set(),
    }
    if pod.get("serviceAccountName"):
        refs["ServiceAccount"].add((pod["serviceAccountName"], None))
    for v in pod.get("volumes") or []:
        for kind, field, name_key in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
            if field in v:
                items = v[field].get("items") or [{"key": None}]
                refs[kind] |= {(v[field][name_key], i["key"]) for i in items}
    for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
        for e in c.get("env") or []:
            src = e.get("valueFrom", {})
            if "secretKeyRef" in src:
                refs["Secret"].add((src["secretKeyRef"]["name"], src["secretKeyRef"]["key"]))
            if "configMapKeyRef" in src:
                refs["ConfigMap"].add((src["configMapKeyRef"]["name"], src["configMapKeyRef"]["key"]))
        for e in c.get("envFrom") or []:
            if "configMapRef" in e:
                refs["ConfigMap"].add((e["configMapRef"]["name"], None))
            if "secretRef" in e:
                refs["Secret"].add((e["secretRef"]["name"], None))
    return refs


@pytest.mark.parametrize("values", [(), ("-f", str(EXAMPLE)), ("-f", str(EXAMPLE), *ALL_ON)],
                         ids=["defaults", "small", "all-on"])  # fmt: skip
def test_every_reference_resolves_in_the_combined_render(
    helm: str, combined: Path, values: tuple[str, ...]
) -> None:
    docs = render(helm, combined, *values)
    kinds = {d["kind"] for d in docs}
    # Nothing that needs CRDs a plain cluster lacks (the monitoring stack is off).
    assert kinds <= {"ConfigMap", "CronJob", "Deployment", "Job", "PersistentVolumeClaim", "Pod",
                     "PodDisruptionBudget", "Role", "RoleBinding", "Secret", "Service", "ServiceAccount",
                     "StatefulSet"}, kinds  # fmt: skip
    secrets: dict[str, set[str]] = {s["metadata"]["name"]: set(s.get("data", {}) | s.get("stringData", {}))
                                    for s in _by_kind(docs, "Secret")}  # fmt: skip
    secrets |= _hook_secrets(docs) | _kit_secrets(docs)
    config_maps = {c["metadata"]["name"]: set(c.get("data", {})) for c in _by_kind(docs, "ConfigMap")}
    accounts = {a["metadata"]["name"] for a in _by_kind(docs, "ServiceAccount")} | {"default"}
    missing = []
    for doc in (d for d in docs if d["kind"] in WORKLOADS):
        where = f"{doc['kind']} {doc['metadata']['name']}"
        refs = _references(doc)
        for name, key in refs["Secret"]:
            if name not in secrets or (key is not None and key not in secrets[name]):
                missing.append(f"{where}: Secret {name} key {key}")
        for name, key in refs["ConfigMap"]:
            if name not in config_maps or (key is not None and key not in config_maps[name]):
                missing.append(f"{where}: ConfigMap {name} key {key}")
        for name, _ in refs["ServiceAccount"]:
            if name not in accounts:
                missing.append(f"{where}: ServiceAccount {name}")
    assert missing == []

    # The hook makes the signing key and the superuser token our onboarding Job mounts.
    assert secrets[f"{RELEASE}-token-symmetric-key"] == {"SECRETKEY"}
    assert secrets[f"{RELEASE}-token-admin"] == {"TOKEN"}

    # Where our containers connect: Services that exist, with those ports.
    services = {s["metadata"]["name"]: s for s in _by_kind(docs, "Service")}
    ports = {n: {p["port"] for p in s["spec"].get("ports", [])} for n, s in services.items()}
    (job,) = [j for j in _by_kind(docs, "Job") if j["metadata"]["name"] == f"{RELEASE}-peacewatch-tenants-1"]
    env = {e["name"]: e.get("value") for e in _pod_spec(job)["containers"][0]["env"]}
    assert {6650, 8080} <= ports[env["PEACEWATCH_PULSAR__HOST"]]
    assert int(env["PEACEWATCH_MINIO__PORT"]) in ports[env["PEACEWATCH_MINIO__HOST"]]

    # The broker as the upstream chart renders it from our values.
    (broker,) = [
        c for c in _by_kind(docs, "ConfigMap") if c["metadata"]["name"] == f"{RELEASE}-pulsar-broker"
    ]
    conf = broker["data"]
    assert conf["authenticationEnabled"] == "true"
    assert conf["authenticationProviders"].endswith("AuthenticationProviderToken")
    assert conf["tokenSecretKey"].startswith("file://")
    assert conf["authorizationEnabled"] == "true"
    assert "admin" in conf["superUserRoles"].split(",")
    assert conf["functionsWorkerEnabled"] == "true"
    assert conf["PF_functionAuthProviderClassName"].endswith("KubernetesSecretsTokenAuthProvider")
    state = re.fullmatch(r"bk://([^:]+):(\d+)", conf["PF_stateStorageServiceUrl"])
    assert state is not None
    bookie = services[state.group(1)]
    assert bookie["spec"].get("clusterIP") == "None"  # headless: the state port is reachable on the pods
    (bookie_conf,) = [
        c for c in _by_kind(docs, "ConfigMap") if c["metadata"]["name"] == f"{RELEASE}-pulsar-bookie"
    ]
    assert bookie_conf["data"]["extraServerComponents"].endswith("StreamStorageLifecycleComponent")
    assert not any(k.startswith(("managedLedgerOffloadDriver", "s3ManagedLedgerOffload")) for k in conf)
    # The brokers offload with the identity from our generated Secret; MinIO creates that user.
    (brokers,) = [
        s for s in _by_kind(docs, "StatefulSet") if s["metadata"]["name"] == f"{RELEASE}-pulsar-broker"
    ]
    broker_env = {e["name"]: e for e in _pod_spec(brokers)["containers"][0].get("env", [])}
    assert broker_env["ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "peacewatch-offload"
    minio_jobs = [j for j in _by_kind(docs, "Job") if "minio" in j["metadata"]["name"]]
    assert any("peacewatch-offload" in yaml.safe_dump(j) for j in minio_jobs)
    assert "console123" not in yaml.safe_dump_all(docs)  # the MinIO chart's default user is gone


def test_the_combined_chart_lints(helm: str, combined: Path) -> None:
    proc = _helm(helm, "lint", str(combined), "--kube-version", "1.30.0", "-f", str(EXAMPLE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
