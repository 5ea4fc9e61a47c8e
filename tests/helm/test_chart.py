"""The Helm chart with a real helm binary: lint, render, Kubernetes 1.30 schemas, values schema, wiring.

No chart repository is reachable here, so the chart is rendered with its dependencies (the Apache
Pulsar and MinIO charts) taken out; the values it hands them are checked as values.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from peacewatch.tenants.spec import TenantSpec

pytestmark = pytest.mark.slow

CHART = Path(__file__).parents[2] / "helm" / "peacewatch"
EXAMPLE = CHART / "examples" / "values-small.yaml"
PRODUCTION = CHART / "examples" / "values-production.yaml"
RELEASE = "pw"


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


@pytest.mark.parametrize(
    "values",
    [(), ("-f", str(EXAMPLE)), ("-f", str(PRODUCTION)), ALL_ON],
    ids=["defaults", "small", "production", "all-on"],
)
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


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "Pod":
        return dict(doc["spec"])
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return dict(doc["spec"]["template"]["spec"])


WORKLOADS = ("Deployment", "StatefulSet", "Job", "CronJob", "Pod")


def secrets_read(doc: dict[str, Any]) -> set[str]:
    """Every Secret a workload's pods can read: volumes (also projected), env and envFrom."""
    pod = _pod_spec(doc)
    names = set()
    for v in pod.get("volumes", []):
        if "secret" in v:
            names.add(v["secret"]["secretName"])
        for src in v.get("projected", {}).get("sources", []):
            if "secret" in src:
                names.add(src["secret"]["name"])
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for e in c.get("envFrom", []):
            if "secretRef" in e:
                names.add(e["secretRef"]["name"])
    return names


def _ours(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    def ours(d: dict[str, Any]) -> bool:
        return d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "peacewatch"

    return {d["metadata"]["name"]: d for d in docs if d["kind"] in WORKLOADS and ours(d)}


PREFIX = f"{RELEASE}-peacewatch"
PLATFORM_SECRETS = {f"{RELEASE}-token-symmetric-key", f"{RELEASE}-token-admin", f"{RELEASE}-minio"}


def _per_force(docs: list[dict[str, Any]], component: str) -> dict[str, dict[str, Any]]:
    """The Deployments of one component, by force."""
    return {
        d["metadata"]["labels"]["peacewatch/tenant"]: d
        for d in _by_kind(docs, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    }


def test_one_sink_per_force_with_that_forces_lake_kit_only(helm: str, chart: Path) -> None:
    docs = render(helm, chart, "-f", str(EXAMPLE))
    sinks = _per_force(docs, "sink")
    assert set(sinks) == {"north-precinct", "south-precinct"}
    pod = sinks["north-precinct"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:4] == ["lake", "run", "--tenant", "north-precinct"]
    # one sink process per pod unless asked: `lake run` alone would start one per node CPU
    assert container["args"][container["args"].index("--processes") + 1] == "1"
    env = _env(container)
    assert env["PEACEWATCH_MINIO__HOST"] == f"{RELEASE}-minio"
    assert env["PEACEWATCH_PULSAR__HOST"] == f"{RELEASE}-pulsar-broker"
    assert not any("KEY" in name or "TOKEN" in name for name in env)  # credentials come from the kit only
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "/var/lib/peacewatch/secrets/forces/north-precinct/lake" in mounts
    assert secrets_read(sinks["north-precinct"]) == {f"{PREFIX}-north-precinct-lake"}
    assert pod["automountServiceAccountToken"] is False
    # Health from progress: a GET on the sink's own /healthz (no process spawned per probe).
    args = container["args"]
    assert args[args.index("--metrics-port") + 1] == "9464"
    assert args[args.index("--metrics-host") + 1] == "0.0.0.0"
    assert args[args.index("--stall-after") + 1] == "120"
    assert container["ports"] == [{"name": "metrics", "containerPort": 9464}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def test_one_alert_desk_per_force_as_its_officer_only(helm: str, chart: Path) -> None:
    docs = render(helm, chart, "-f", str(EXAMPLE))
    desks = _per_force(docs, "desk")
    assert set(desks) == {"north-precinct", "south-precinct"}
    pod = desks["south-precinct"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:3] == ["desk", "--tenant", "south-precinct"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert secrets_read(desks["south-precinct"]) == {f"{PREFIX}-south-precinct-officer"}
    assert pod["automountServiceAccountToken"] is False
    services = {d["metadata"]["name"] for d in _by_kind(docs, "Service")}
    assert desks["south-precinct"]["metadata"]["name"] in services


def test_only_the_onboarding_job_holds_the_platforms_keys(helm: str, chart: Path) -> None:
    docs = render(helm, chart, "-f", str(EXAMPLE), *ALL_ON)
    workloads = _ours(docs)
    holders = {name for name, d in workloads.items() if secrets_read(d) & PLATFORM_SECRETS}
    # The onboarding role: its Job at install/upgrade and its renewal CronJob.
    assert holders == {f"{PREFIX}-tenants-1", f"{PREFIX}-renew-kits"}
    for holder in holders:
        assert secrets_read(workloads[holder]) == PLATFORM_SECRETS
    # Everyone else: exactly one kit of exactly one force, the one its job needs.
    wanted = {
        "sink": "lake",
        "maintenance": "upkeep",
        "analysis": "analyst",
        "simulator": "fleet",
        "desk": "officer",
        "test": "analyst",
    }
    seen = set()
    for name, d in workloads.items():
        component = d["metadata"]["labels"]["app.kubernetes.io/component"]
        if component == "onboarding":
            continue
        force = d["metadata"]["labels"]["peacewatch/tenant"]
        assert secrets_read(d) == {f"{PREFIX}-{force}-{wanted[component]}"}, name
        assert _pod_spec(d)["automountServiceAccountToken"] is False, name
        seen.add(component)
    assert seen == set(wanted)


def test_the_onboarding_role_reaches_only_the_forces_kit_secrets(helm: str, chart: Path) -> None:
    docs = render(helm, chart, "-f", str(EXAMPLE))
    (role,) = _by_kind(docs, "Role")
    (binding,) = _by_kind(docs, "RoleBinding")
    by_verbs = {tuple(r["verbs"]): r for r in role["rules"]}
    assert set(by_verbs) == {("create",), ("get", "update")}
    assert all(r["resources"] == ["secrets"] for r in role["rules"])
    kits = ("lake", "analyst", "upkeep", "fleet", "officer")
    assert sorted(by_verbs[("get", "update")]["resourceNames"]) == sorted(
        f"{PREFIX}-{force}-{kit}" for force in ("north-precinct", "south-precinct") for kit in kits
    )
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{PREFIX}-onboarding", "namespace": "police"}
    ]
    (job,) = [j for j in _by_kind(docs, "Job") if "tenants" in j["metadata"]["name"]]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == f"{PREFIX}-onboarding"
    plain = [sa for sa in _by_kind(docs, "ServiceAccount") if sa["metadata"]["name"] == PREFIX]
    assert plain[0]["automountServiceAccountToken"] is False


def test_onboarding_job_restores_applies_and_publishes_every_force(helm: str, chart: Path) -> None:
    docs = render(helm, chart, "-f", str(EXAMPLE))
    (job,) = [j for j in _by_kind(docs, "Job") if "tenants" in j["metadata"]["name"]]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    script = [line.strip() for line in container["args"][0].splitlines()]
    specs = "/etc/peacewatch/tenants"
    # The platform's keys are copied (0600) into the state folder the CLI reads them from: mounted
    # there, they would make its secrets/ folder root's, and the non-root Job could not add kits.
    assert (
        "install -m 600 /etc/peacewatch/platform/pulsar-token-secret.key"
        " /etc/peacewatch/platform/superuser.token /var/lib/peacewatch/secrets/" in script
    )
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert not any(m.startswith("/var/lib/peacewatch/secrets") for m in mounts), mounts
    assert [line for line in script if line.startswith("peacewatch ")] == [
        f"peacewatch tenants restore-kits --secret-prefix {PREFIX} north-precinct south-precinct",
        f"peacewatch tenants apply {specs}/north-precinct.yaml {specs}/south-precinct.yaml",
        f"peacewatch tenants publish-kits --secret-prefix {PREFIX} north-precinct south-precinct",
    ]
    env = _env(container)
    assert env["PEACEWATCH_MINIO__ACCESS_KEY"] == {
        "secretKeyRef": {"name": f"{RELEASE}-minio", "key": "rootUser"}
    }
    assert env["PEACEWATCH_FUNCTION_PACKAGE__PLATFORM"] == "musllinux_1_1_x86_64"
    assert env["PEACEWATCH_FUNCTION_PACKAGE__PYTHON"] == "3.12"
    (config,) = [c for c in _by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-tenants")]
    # What the Job reads is a valid TenantSpec, as `peacewatch tenants apply` will load it.
    south = TenantSpec.model_validate(yaml.safe_load(config["data"]["south-precinct.yaml"]))
    assert (south.alerting.threshold, south.alerting.cooldown_s) == (25, 600)
    tests = _by_kind(docs, "Pod")
    assert {p["metadata"]["annotations"]["helm.sh/hook"] for p in tests} == {"test"}
    assert len(tests) == 2
    crons = {
        c["metadata"]["labels"]["peacewatch/tenant"]: c
        for c in _by_kind(docs, "CronJob")
        if "peacewatch/tenant" in c["metadata"]["labels"]
    }
    args = crons["south-precinct"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["lake", "maintain", "--tenant", "south-precinct"]


def test_the_renewal_cronjob_renews_as_the_onboarding_role_with_the_lifetimes_given(
    helm: str, chart: Path
) -> None:
    """Issue 34: nothing in the cluster renewed the kits' tokens (desks stopped after a week)."""
    docs = render(helm, chart, "-f", str(EXAMPLE), "--set", "tokens.officer=600",
                  "--set", "tokens.renewAfter=0.4", "--set", "renewal.schedule=*/2 * * * *")  # fmt: skip
    (cron,) = [c for c in _by_kind(docs, "CronJob") if c["metadata"]["name"] == f"{PREFIX}-renew-kits"]
    assert cron["spec"]["schedule"] == "*/2 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"{PREFIX}-onboarding"
    script = [line.strip() for line in pod["containers"][0]["args"][0].splitlines()]
    assert [line for line in script if line.startswith("peacewatch ")] == [
        f"peacewatch tenants restore-kits --secret-prefix {PREFIX} north-precinct south-precinct",
        "peacewatch tenants renew north-precinct south-precinct",
        f"peacewatch tenants publish-kits --secret-prefix {PREFIX} north-precinct south-precinct",
    ]
    env = _env(pod["containers"][0])
    assert env["PEACEWATCH_TOKENS__OFFICER"] == "600"
    assert env["PEACEWATCH_TOKENS__RENEW_AFTER"] == "0.4"
    assert "PEACEWATCH_TOKENS__LAKE" not in env  # empty: peacewatch's default
    (job,) = [j for j in _by_kind(docs, "Job") if "tenants" in j["metadata"]["name"]]
    assert _env(job["spec"]["template"]["spec"]["containers"][0])["PEACEWATCH_TOKENS__OFFICER"] == "600"
    off = render(helm, chart, "-f", str(EXAMPLE), "--set", "renewal.enabled=false")
    assert f"{PREFIX}-renew-kits" not in {c["metadata"]["name"] for c in _by_kind(off, "CronJob")}


def test_the_offload_secret_is_generated_not_shipped(helm: str, chart: Path) -> None:
    first = [
        s for s in _by_kind(render(helm, chart), "Secret") if s["metadata"]["name"] == "peacewatch-offload"
    ]
    second = [
        s for s in _by_kind(render(helm, chart), "Secret") if s["metadata"]["name"] == "peacewatch-offload"
    ]
    assert (
        first[0]["data"]["ACCESS_KEY_SECRET"] != second[0]["data"]["ACCESS_KEY_SECRET"]
    )  # random per install
    assert first[0]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


# What we verified in the real upstream charts (apache/pulsar-helm-chart pulsar-4.7.0, MinIO 5.4.0),
# written down so CI, which cannot fetch them, keeps checking our side of the contract.
UPSTREAM = {
    "jwt switch": ("auth", "authentication", "jwt", "enabled"),
    "secret-key tokens": ("auth", "authentication", "jwt", "usingSecretKey"),
    "generated key and tokens": ("auth", "authentication", "jwt", "generateSecrets", "enabled"),
    "authorization": ("auth", "authorization", "enabled"),
    "function state": ("functions", "useBookieAsStateStore"),
}
# Secrets the Pulsar chart's pre-install hook (jwt-secret-init) creates: <release>-token-symmetric-key
# (key SECRETKEY) and <release>-token-<superUsers.x> (key TOKEN).
UPSTREAM_TOKEN_KEY = ("{release}-token-symmetric-key", "SECRETKEY")
UPSTREAM_SUPERUSER = ("{release}-token-{client}", "TOKEN")
# Offload: the broker renders keys only for aws-s3, google-cloud-storage, azureblob, filesystem; we
# set none broker-wide and give the brokers the generic S3 driver's variables via broker.extraEnvs.
UPSTREAM_MINIO_ROOT = ("{release}-minio", "rootUser", "rootPassword")


def test_pulsar_and_minio_values_match_the_upstream_contract() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    pulsar, minio = values["pulsar"], values["minio"]
    for what, path in UPSTREAM.items():
        node: Any = pulsar
        for key in path:
            node = node[key]
        assert node is True, what
    assert "provider" not in pulsar["auth"]["authentication"]  # chart 4.7 ignores it
    assert pulsar["components"]["functions"] is True
    assert pulsar["images"]["functions"]["repository"] == "apachepulsar/pulsar-all"
    assert pulsar["victoria-metrics-k8s-stack"]["enabled"] is False
    assert "storageOffload" not in pulsar["broker"]
    offload = values["offload"]["secretName"]
    envs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in pulsar["broker"]["extraEnvs"]}
    assert envs == {
        "ACCESS_KEY_ID": {"name": offload, "key": "ACCESS_KEY_ID"},
        "ACCESS_KEY_SECRET": {"name": offload, "key": "ACCESS_KEY_SECRET"},
    }
    assert pulsar["broker"]["configData"]["PF_functionAuthProviderClassName"].endswith(
        "KubernetesSecretsTokenAuthProvider"
    )
    # MinIO: no fixed root password, no default users, the offload user from our Secret.
    assert minio["rootUser"] == minio["rootPassword"] == ""
    (user,) = minio["users"]
    assert user == {"accessKey": values["offload"]["accessKey"], "existingSecret": offload,
                    "existingSecretKey": "ACCESS_KEY_SECRET", "policy": "peacewatch-offload"}  # fmt: skip
    assert not any("secretKey" in u for u in minio["users"])
    conn = values["connections"]
    assert (conn["pulsarAuth"]["secretKeyKey"], conn["pulsarAuth"]["superuserTokenKey"]) == (
        UPSTREAM_TOKEN_KEY[1], UPSTREAM_SUPERUSER[1])  # fmt: skip
    assert (
        conn["minioCredentials"]["userKey"],
        conn["minioCredentials"]["passwordKey"],
    ) == UPSTREAM_MINIO_ROOT[1:]
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    deps = {d["name"]: d for d in meta["dependencies"]}
    assert (deps["pulsar"]["repository"], deps["pulsar"]["version"]) == (
        "https://pulsar.apache.org/charts",
        "4.7.0",
    )
    assert deps["minio"]["version"] == "5.4.0"


def test_the_platform_secrets_default_to_the_upstream_names(helm: str, chart: Path) -> None:
    docs = render(helm, chart)
    (job,) = [j for j in _by_kind(docs, "Job") if "tenants" in j["metadata"]["name"]]
    volumes = {v["name"]: v["secret"] for v in job["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    assert volumes["token-key"]["secretName"] == UPSTREAM_TOKEN_KEY[0].format(release=RELEASE)
    assert volumes["token-key"]["items"][0]["key"] == UPSTREAM_TOKEN_KEY[1]
    assert volumes["superuser-token"]["secretName"] == UPSTREAM_SUPERUSER[0].format(
        release=RELEASE, client="admin"
    )


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (("--set", "sink.replicas=-1"), "sink.replicas"),
        (("--set", "tenants[0].name=Bad_Name", "--set", "tenants[0].display_name=x"), "tenants.0.name"),
        (("--set", "tenants[0].alerting.threshold=500"), "tenants.0.alerting.threshold"),
        # python and java are the runtimes: anything else is refused here, not in a failing Job.
        (("--set", "tenants[0].alerting.runtime=scala"), "tenants.0.alerting.runtime"),
        (("--set", "image.pullPolicy=Sometimes"), "image.pullPolicy"),
        (("--set", "maintenance.retentionHours=0"), "maintenance.retentionHours"),
    ],
)
def test_bad_values_fail_with_the_field_named(
    helm: str, chart: Path, bad: tuple[str, ...], says: str
) -> None:
    proc = _helm(helm, "template", RELEASE, str(chart), *bad)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert says in proc.stderr.replace("/", ".")


def test_production_values_spread_each_forces_sinks_and_drain_them_one_at_a_time(
    helm: str, chart: Path
) -> None:
    docs = render(helm, chart, "-f", str(PRODUCTION))
    forces = {t["name"] for t in yaml.safe_load(PRODUCTION.read_text())["tenants"]}
    sinks = {
        d["metadata"]["labels"]["peacewatch/tenant"]: d
        for d in _by_kind(docs, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "sink"
    }
    budgets = {
        d["metadata"]["labels"]["peacewatch/tenant"]: d
        for d in _by_kind(docs, "PodDisruptionBudget")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "sink"
    }
    assert set(sinks) == set(budgets) == forces
    for force, sink in sinks.items():
        pod_labels = sink["spec"]["template"]["metadata"]["labels"]
        assert sink["spec"]["replicas"] == 3
        # Each budget and anti-affinity term selects exactly its own force's sink pods.
        assert budgets[force]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert budgets[force]["spec"]["maxUnavailable"] == 1
        (term,) = sink["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        selector = term["podAffinityTerm"]["labelSelector"]["matchLabels"]
        assert selector.items() <= pod_labels.items()
        assert selector["peacewatch/tenant"] == force
    # Off by default: a single node stays schedulable.
    assert not _by_kind(render(helm, chart), "PodDisruptionBudget")


def test_operators_get_scrape_annotations_pod_scrapes_and_a_dashboard(helm: str, chart: Path) -> None:
    docs = render(helm, chart, "-f", str(EXAMPLE))
    for component, port in (("sink", "9464"), ("desk", "9464")):
        for deployment in _per_force(docs, component).values():
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": port,
                                   "prometheus.io/path": "/metrics"}  # fmt: skip
    assert not [d for d in docs if d["kind"] in ("PodMonitor", "VMPodScrape")]  # no CRDs assumed
    on = ("--set", "monitoring.podMonitor.enabled=true", "--set", "monitoring.dashboard.enabled=true")
    docs = render(helm, chart, "-f", str(EXAMPLE), *on)
    monitors = {d["metadata"]["name"]: d for d in _by_kind(docs, "PodMonitor")}
    assert set(monitors) == {f"{PREFIX}-sink", f"{PREFIX}-desk"}
    sink_pods = _per_force(docs, "sink")["north-precinct"]["spec"]["template"]["metadata"]["labels"]
    assert monitors[f"{PREFIX}-sink"]["spec"]["selector"]["matchLabels"].items() <= sink_pods.items()
    assert monitors[f"{PREFIX}-sink"]["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert monitors[f"{PREFIX}-desk"]["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"  # not the page's
    # With the Pulsar chart's own monitoring stack (VictoriaMetrics), its operator's kind.
    vm = render(
        helm, chart, "-f", str(EXAMPLE), *on, "--set", "pulsar.victoria-metrics-k8s-stack.enabled=true"
    )
    assert len(_by_kind(vm, "VMPodScrape")) == 2
    assert "relabelConfigs" in _by_kind(vm, "VMPodScrape")[0]["spec"]["podMetricsEndpoints"][0]
    (board,) = [d for d in _by_kind(docs, "ConfigMap") if d["metadata"]["name"] == f"{PREFIX}-dashboard"]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(board["data"]["peacewatch.json"])
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    for metric in (
        "peacewatch_sink_backlog_messages",
        "peacewatch_sink_commit_freshness_seconds",
        "peacewatch_sink_rows_written_total",
        "peacewatch_sink_dead_letters_total",
        "alert_delay_ms",
    ):
        assert any(metric in e for e in exprs), metric  # fmt: skip
