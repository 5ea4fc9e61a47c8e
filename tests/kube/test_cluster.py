"""The platform on a real single-node Kubernetes built here (`peacewatch kube up`, as `./run kube`
runs it): our chart with the real apache/pulsar-helm-chart and MinIO charts, images built here.

Two forces from values.tenants are onboarded by the chart's Job; the simulator Deployments
publish; each force's alert function runs as pods of the functions worker's Kubernetes runtime
(north on the python runtime, south on java); the sinks write Delta to the in-cluster MinIO.
While reports flow, a sink pod is deleted, a force's sinks are scaled 1 -> 3 -> 1, and the broker
and MinIO pods are deleted. Then the simulators stop, and every report on each force's topic is
in its Delta table exactly once - read with delta-rs directly, not through our code.

Runs when PEACEWATCH_UPSTREAM_CHARTS names the unpacked upstream charts (see the README) and this
process may run a node (root); the node stays up for a look afterwards with
PEACEWATCH_TEST_KEEP_CLUSTER=1.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pulsar
import pytest

from peacewatch.platform.kube.cli import NAMESPACE, RELEASE
from peacewatch.platform.kube.node import KubeNode
from peacewatch.platform.kube.release import UPSTREAM_ENV, upstream_charts
from peacewatch.platform.settings import Settings

pytestmark = [pytest.mark.kube, pytest.mark.slow, pytest.mark.timeout(3600)]
if not os.environ.get(UPSTREAM_ENV):
    # One line for the whole module, saying how to enable it.
    pytest.skip(
        f"the Kubernetes test: set {UPSTREAM_ENV} to a folder with the unpacked pulsar and minio charts",
        allow_module_level=True,
    )
if os.geteuid() != 0:
    pytest.skip("the Kubernetes test: a node (containerd, kubelet) needs root", allow_module_level=True)

PEACEWATCH = str(Path(sys.executable).parent / "peacewatch")
FORCES = ("north-precinct", "south-precinct")
PREFIX = f"{RELEASE}-peacewatch"


@pytest.fixture(scope="module")
def node() -> Iterator[KubeNode]:
    assert upstream_charts() is not None
    settings = Settings()
    proc = subprocess.run([PEACEWATCH, "kube", "up"], capture_output=True, text=True, check=False)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    yield KubeNode(settings, settings.kube, progress=print)
    if not os.environ.get("PEACEWATCH_TEST_KEEP_CLUSTER"):
        subprocess.run([PEACEWATCH, "kube", "down"], capture_output=True, check=False)


def secret(node: KubeNode, name: str, key: str) -> str:
    out = node.kubectl("-n", NAMESPACE, "get", "secret", name, "-o", f"jsonpath={{.data.{key}}}").stdout
    return base64.b64decode(out).decode()


def wait_until(what: str, check: Callable[[], bool], *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(3)
    pytest.fail(f"{what}: not within {seconds:.0f} s")


def rollout(node: KubeNode, deployment: str) -> None:
    node.kubectl("-n", NAMESPACE, "rollout", "status", f"deploy/{deployment}", "--timeout=600s", timeout=620)


def test_the_job_onboarded_both_forces_and_published_their_kits(node: KubeNode) -> None:
    jobs = node.kubectl(
        "-n",
        NAMESPACE,
        "get",
        "jobs",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.succeeded}{'\\n'}{end}",
    ).stdout
    assert any(line.startswith(f"{PREFIX}-tenants-") and line.endswith("=1") for line in jobs.split()), jobs
    names = node.kubectl("-n", NAMESPACE, "get", "secrets", "-o", "name").stdout.split()
    for force in FORCES:
        for kit in ("fleet", "lake", "analyst"):
            assert f"secret/{PREFIX}-{force}-{kit}" in names, (force, kit, names)


def test_each_alert_function_runs_as_pods_of_the_kubernetes_runtime(node: KubeNode) -> None:
    def running() -> dict[str, str]:
        out = node.kubectl(
            "-n",
            NAMESPACE,
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.phase}{'\\n'}{end}",
        ).stdout
        return dict(line.split("=", 1) for line in out.split() if line.startswith("pf-"))

    wait_until(
        "both forces' alert function pods Running",
        lambda: sum(1 for f in FORCES for n, ph in running().items() if f in n and ph == "Running") >= 2,
        seconds=600,
    )
    print(running())


def test_every_published_report_is_stored_exactly_once_through_pod_faults(node: KubeNode) -> None:
    for force in FORCES:
        rollout(node, f"{PREFIX}-sink-{force}")
        rollout(node, f"{PREFIX}-simulator-{force}")
    north_sink = f"{PREFIX}-sink-north-precinct"
    node.kubectl("-n", NAMESPACE, "delete", "pod", "-l", "app.kubernetes.io/component=sink", "--wait=false")
    time.sleep(20)
    node.kubectl("-n", NAMESPACE, "scale", f"deploy/{north_sink}", "--replicas=3")
    rollout(node, north_sink)
    time.sleep(20)
    node.kubectl("-n", NAMESPACE, "scale", f"deploy/{north_sink}", "--replicas=1")
    node.kubectl("-n", NAMESPACE, "delete", "pod", f"{RELEASE}-pulsar-broker-0", "--wait=false")
    time.sleep(30)
    node.kubectl("-n", NAMESPACE, "delete", "pod", "-l", "app=minio", "--wait=false")
    node.kubectl(
        "-n", NAMESPACE, "rollout", "status", f"sts/{RELEASE}-pulsar-broker", "--timeout=600s", timeout=620
    )
    rollout(node, f"{RELEASE}-minio")
    time.sleep(30)  # reports flow again after the faults
    for force in FORCES:
        node.kubectl("-n", NAMESPACE, "scale", f"deploy/{PREFIX}-simulator-{force}", "--replicas=0")
    wait_until(
        "simulators stopped",
        lambda: (
            not node.kubectl(
                "-n", NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=simulator", "-o", "name"
            ).stdout.strip()
        ),
        seconds=120,
    )

    token = secret(node, f"{RELEASE}-token-admin", "TOKEN")
    root_user = secret(node, f"{RELEASE}-minio", "rootUser")
    root_password = secret(node, f"{RELEASE}-minio", "rootPassword")
    with (
        node.port_forward(NAMESPACE, f"svc/{RELEASE}-pulsar-proxy", 6650) as broker,
        node.port_forward(NAMESPACE, f"svc/{RELEASE}-minio", 9000) as minio,
    ):
        for force in FORCES:
            published = _topic_message_ids(f"pulsar://127.0.0.1:{broker}", token, force)
            assert published, f"{force}: nothing published"

            def stored(force: str = force) -> Counter[str]:
                return _delta_message_ids(f"http://127.0.0.1:{minio}", root_user, root_password, force)

            wait_until(
                f"{force}: every published report in Delta",
                lambda force=force, published=published: set(stored(force)) >= published,
                seconds=600,
            )
            counts = stored(force)
            duplicated = {m: c for m, c in counts.items() if c > 1}
            rows = sum(counts.values())
            print(f"{force}: {len(published)} published, {rows} rows, {len(duplicated)} duplicated")
            assert not duplicated, list(duplicated.items())[:5]
            assert set(counts) == published


def _topic_message_ids(url: str, token: str, force: str) -> set[str]:
    """Every message on the force's reports topic, read from the start with a reader."""
    client = pulsar.Client(
        url, authentication=pulsar.AuthenticationToken(token), operation_timeout_seconds=60
    )
    try:
        topic = f"persistent://{force}/drones/reports"
        ids: set[str] = set()
        for partition in client.get_topic_partitions(topic):
            reader = client.create_reader(partition, pulsar.MessageId.earliest)
            while reader.has_message_available():
                ids.add(str(reader.read_next(timeout_millis=30_000).message_id()))
            reader.close()
        return ids
    finally:
        client.close()


def _delta_message_ids(endpoint: str, user: str, password: str, force: str) -> Counter[str]:
    from deltalake import DeltaTable

    table = DeltaTable(
        f"s3://peacewatch-{force}/lake/reports",
        storage_options={
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": user,
            "AWS_SECRET_ACCESS_KEY": password,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        },
    )
    return Counter(table.to_pyarrow_table(columns=["message_id"]).column("message_id").to_pylist())


def test_helm_test_passes(node: KubeNode) -> None:
    from peacewatch.platform.kube.release import helm

    out = helm(Settings(), node.kubeconfig, "test", RELEASE, "-n", NAMESPACE, "--timeout", "10m")
    print(out)
    assert out.count("Succeeded") >= len(FORCES), out
