"""Report -> alert delay and the sink's freshness inside the single-node cluster (`peacewatch kube
up`), beside the broker's floor measured in a pod of the same cluster.

- floor: `bin/pulsar-perf produce` + `consume` (1 KB messages, the superuser's token) in a pod of
  the pulsar-all image, on a scratch topic, through the broker's Service;
- alert path: bench/kube_probe.py in a pod of the peacewatch image holding the force's fleet and
  officer kits only: real reports at the rate (keyed by drone, the fleet's token) to the force's
  reports topic, through the force's alert function as the chart's onboarding Job deployed it (an
  instance pod of the functions worker's Kubernetes runtime), alerts received as the officer;
- freshness: for the reports of the measured windows, Delta's ingest_time - publish_time (when
  the sink's commit made the row visible, less when the drone published it), read with delta-rs
  from the in-cluster MinIO;
- bring-up: `peacewatch kube down` then `peacewatch kube up` with everything cached (warm), and
  the cold figure as measured by the last cold run (bench/results/kube_cold.json, if any).

The simulators are scaled to 0 while measuring. Writes bench/results/kube.json (+ .md).
Usage: python bench/kube.py [--window 30] [--rates 1000 3000] [--tenant north-precinct] [--bringup]
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import RESULTS, machine, percentiles, write_results
from bench.alert_latency import _achieved, _interval_latency
from peacewatch.cli.kube import NAMESPACE, RELEASE
from peacewatch.platform.kube.images import image_refs
from peacewatch.platform.kube.node import KubeNode
from peacewatch.platform.settings import Settings

PREFIX = f"{RELEASE}-peacewatch"
PEACEWATCH = str(Path(sys.executable).parent / "peacewatch")
POD_DIR = "/home/peacewatch/b"  # the probe pod user's home (the image's peacewatch user)


def _secret(node: KubeNode, name: str, key: str) -> str:
    out = node.kubectl("-n", NAMESPACE, "get", "secret", name, "-o", f"jsonpath={{.data.{key}}}").stdout
    return base64.b64decode(out).decode()


def _pod(node: KubeNode, name: str, spec: dict[str, Any]) -> None:
    node.kubectl("-n", NAMESPACE, "delete", "pod", name, "--ignore-not-found", "--wait=true", timeout=180)
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"restartPolicy": "Never", **spec},
    }
    node.kubectl("-n", NAMESPACE, "apply", "-f", "-", stdin=json.dumps(manifest))
    node.kubectl(
        "-n", NAMESPACE, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=300s", timeout=320
    )


def floor_pod(node: KubeNode, settings: Settings) -> None:
    refs = image_refs(settings, settings.kube)
    _pod(
        node,
        "bench-floor",
        {
            "containers": [
                {
                    "name": "perf",
                    "image": refs["pulsar"],
                    "command": ["sleep", "infinity"],
                    "env": [
                        {"name": "PULSAR_MEM", "value": "-Xms128m -Xmx256m -XX:MaxDirectMemorySize=256m"}
                    ],
                    "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
                }
            ]
        },
    )


def probe_pod(node: KubeNode, tenant: str) -> None:
    """The peacewatch image with the force's fleet and officer kits, env as the chart's pods have."""
    # The image the release runs (not recomputed from this tree, which may have changed since).
    image = node.kubectl(
        "-n",
        NAMESPACE,
        "get",
        f"deploy/{PREFIX}-sink-{tenant}",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ).stdout.strip()
    host = f"{RELEASE}-pulsar-broker"
    kits = ("fleet", "officer")
    _pod(
        node,
        "bench-probe",
        {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "command": ["sleep", "infinity"],
                    "env": [
                        {"name": "PEACEWATCH_PULSAR__HOST", "value": host},
                        {"name": "PEACEWATCH_STATE_DIR", "value": "/var/lib/peacewatch"},
                    ],
                    "volumeMounts": [{"name": "state", "mountPath": "/var/lib/peacewatch"}]
                    + [
                        {
                            "name": kit,
                            "mountPath": f"/var/lib/peacewatch/secrets/forces/{tenant}/{kit}",
                            "readOnly": True,
                        }
                        for kit in kits
                    ],
                    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                }
            ],
            "volumes": [{"name": "state", "emptyDir": {}}]
            + [{"name": kit, "secret": {"secretName": f"{PREFIX}-{tenant}-{kit}"}} for kit in kits],
        },
    )
    bench = Path(__file__).resolve().parent
    node.kubectl("-n", NAMESPACE, "exec", "bench-probe", "--", "mkdir", "-p", f"{POD_DIR}/bench")
    for name in ("__init__.py", "_common.py", "alert_latency.py", "kube_probe.py"):
        node.kubectl(
            "-n", NAMESPACE, "cp", str(bench / name), f"bench-probe:{POD_DIR}/bench/{name}", timeout=60
        )


def floor(node: KubeNode, token: str, rate: int, window: int) -> dict[str, Any]:
    """As bench/alert_latency.floor, inside the cluster: the median of three steady intervals."""
    auth = (
        "--auth-plugin org.apache.pulsar.client.impl.auth.AuthenticationToken "
        f"--auth-params token:{token} -u pulsar://{RELEASE}-pulsar-broker:6650"
    )
    topic = "persistent://public/default/bench-floor"
    script = (
        f"bin/pulsar-perf consume {topic} -ss floor -i {window // 2} -time {2 * window + 4} {auth}"
        " > logs/c.log 2>&1 & sleep 3;"
        f" bin/pulsar-perf produce {topic} -r {rate} -s 1024 -b 1 -time {2 * window + 2} {auth}"
        " > logs/p.log 2>&1; wait; cat logs/p.log; echo =====; cat logs/c.log"
    )
    out = node.kubectl(
        "-n", NAMESPACE, "exec", "bench-floor", "--", "sh", "-c", script, timeout=6 * window + 120
    )
    produced, consumed = out.stdout.split("=====", 1)
    steady = [_interval_latency(consumed, i) for i in (1, 2, 3)]
    p99s = sorted(x["p99"] for x in steady if x["p99"] is not None)
    p50s = sorted(x["p50"] for x in steady if x["p50"] is not None)
    return {
        "p50": p50s[len(p50s) // 2] if p50s else None,
        "p99": p99s[len(p99s) // 2] if p99s else None,
        "intervals_p99": [x["p99"] for x in steady],
        "achieved_rate": round(_achieved(produced, 2 * window + 2)),
    }


def alert_path(node: KubeNode, tenant: str, rate: int, window: int, year0: int) -> dict[str, Any]:
    out = node.kubectl(
        "-n",
        NAMESPACE,
        "exec",
        "bench-probe",
        "--",
        "python",
        f"{POD_DIR}/bench/kube_probe.py",
        "--tenant",
        tenant,
        "--rate",
        str(rate),
        "--window",
        str(window),
        "--year0",
        str(year0),
        timeout=4 * window + 300,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    latency = percentiles(result["delays_ms"])
    achieved = result["sent"] / result["seconds"]
    return {
        "achieved_rate": round(achieved),
        "alerts": latency["n"],
        "p50": latency["p50"],
        "p99": latency["p99"],
        "p999": latency["p999"],
        "published_from_ms": None,
    }


def freshness(node: KubeNode, tenant: str, since_ms: float) -> dict[str, Any]:
    """Delta's ingest_time - publish_time for rows published since `since_ms` (delta-rs, MinIO root)."""
    import pandas as pd
    from deltalake import DeltaTable

    user = _secret(node, f"{RELEASE}-minio", "rootUser")
    password = _secret(node, f"{RELEASE}-minio", "rootPassword")
    with node.port_forward(NAMESPACE, f"svc/{RELEASE}-minio", 9000) as port:
        table = DeltaTable(
            f"s3://peacewatch-{tenant}/lake/reports",
            storage_options={
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "AWS_ACCESS_KEY_ID": user,
                "AWS_SECRET_ACCESS_KEY": password,
                "AWS_REGION": "us-east-1",
                "AWS_ALLOW_HTTP": "true",
            },
        )
        t = table.to_pyarrow_table(columns=["publish_time", "ingest_time"]).to_pandas()
    published = pd.to_datetime(t["publish_time"], utc=True)
    ingested = pd.to_datetime(t["ingest_time"], utc=True)
    recent = published >= pd.Timestamp(since_ms, unit="ms", tz="UTC")
    lag = (ingested[recent] - published[recent]).dt.total_seconds() * 1000
    return percentiles(lag.to_numpy())


def bringup(node: KubeNode) -> float:
    """`peacewatch kube down`, then `kube up` with binaries and images cached: seconds to installed."""
    subprocess.run([PEACEWATCH, "kube", "down"], check=True, capture_output=True)
    t0 = time.monotonic()
    subprocess.run([PEACEWATCH, "kube", "up"], check=True, capture_output=True)
    return time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--rates", type=int, nargs="*", default=[1000, 3000])
    parser.add_argument("--tenant", default="north-precinct")
    parser.add_argument("--bringup", action="store_true", help="also measure a warm bring-up (down + up)")
    args = parser.parse_args()
    settings = Settings()
    node = KubeNode(settings, settings.kube, progress=print)
    warm = bringup(node) if args.bringup else None
    steps = node.root / "bringup.json"
    last_up = json.loads(steps.read_text()) if steps.exists() else None
    if warm is None and last_up and last_up.get("images_s", 0) > 5 and "installed_s" in last_up:
        warm = last_up["installed_s"]  # that up started a stopped node (it imported the images)
    for force in node.kubectl(
        "-n", NAMESPACE, "get", "deploy", "-l", "app.kubernetes.io/component=simulator", "-o", "name"
    ).stdout.split():
        node.kubectl("-n", NAMESPACE, "scale", force, "--replicas=0")
    token = _secret(node, f"{RELEASE}-token-admin", "TOKEN")
    floor_pod(node, settings)
    probe_pod(node, args.tenant)
    print("warm-up: 3,000/s for 30 s (not measured) ...")
    alert_path(node, args.tenant, 3000, 30, year0=2300 + int(time.time()) % 500)
    runs = []
    since = time.time() * 1000
    for n, rate in enumerate(args.rates):
        print(f"{rate:,}/s: floor (pulsar-perf in a pod) ...")
        f = floor(node, token, rate, args.window)
        print(f"{rate:,}/s: report -> alert ...")
        a = alert_path(node, args.tenant, rate, args.window, year0=2400 + 10 * n + int(time.time()) % 50)
        runs.append(
            {
                "rate": rate,
                "floor": f,
                "alert": a,
                "ratio_p99": round(a["p99"] / f["p99"], 2) if a["p99"] and f["p99"] else None,
            }
        )
        print(f"  floor p99 {f['p99']} ms, alert p50/p99 {a['p50']}/{a['p99']} ms ({a['alerts']} alerts)")
    time.sleep(15)  # the sink's last commit of the window
    fresh = freshness(node, args.tenant, since)
    cold_file = RESULTS / "kube_cold.json"
    cold = json.loads(cold_file.read_text()).get("cold_bringup_s") if cold_file.exists() else None
    by_rate = {r["rate"]: r for r in runs}

    def pick(rate: int, path: str) -> float | None:
        return by_rate[rate][path]["p99"] if rate in by_rate else None

    data = {
        "benchmark": "kube",
        "machine": machine(),
        "tenant": args.tenant,
        "window_s": args.window,
        "alert_p99_ms_at_1000": pick(1000, "alert"),
        "floor_p99_ms_at_1000": pick(1000, "floor"),
        "alert_p99_ms_at_3000": pick(3000, "alert"),
        "floor_p99_ms_at_3000": pick(3000, "floor"),
        "freshness_p99_ms": fresh["p99"],
        "freshness": fresh,
        "cold_bringup_s": cold,
        "warm_bringup_s": round(warm, 1) if warm is not None else None,
        # The last up's own steps (build_s: images rebuilt because the source changed before it).
        "bringup_steps_s": last_up,
        "runs": runs,
    }
    lines = ["| rate/s | floor p99 ms | alert p50 ms | alert p99 ms | ratio p99 |", "|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r['rate']:,} | {r['floor']['p99']} | {r['alert']['p50']} | {r['alert']['p99']} "
            f"| {r['ratio_p99']} |"
        )
    lines.append(
        f"\nfreshness p50/p99: {fresh['p50']}/{fresh['p99']} ms over {fresh['n']} rows; "
        f"bring-up warm {data['warm_bringup_s']} s, cold {cold} s"
    )
    table = "\n".join(lines)
    print(table)
    print(write_results("kube", data, table))
    for force in node.kubectl(
        "-n", NAMESPACE, "get", "deploy", "-l", "app.kubernetes.io/component=simulator", "-o", "name"
    ).stdout.split():
        node.kubectl("-n", NAMESPACE, "scale", force, "--replicas=1")


if __name__ == "__main__":
    main()
