"""Report -> alert delay against the broker's own floor, on the real local stack.

Per rate (1,000 ... 15,000 reports/s), in one run:
- floor: Pulsar's own `bin/pulsar-perf produce` + `consume` (1 KB messages, token auth) on a
  scratch topic: the broker's end-to-end latency with nothing of ours in the way;
- alert path: `pulsar-perf produce` publishing real report payloads (JSON lines, ~1% with a bad
  score) to the force's reports topic with the force's fleet token, through the force's alert
  function as `peacewatch tenants apply` deployed it, each alert received by a consumer holding
  the force's officer token; delay = alert received - report published (the alert carries the
  report's publish time, so no producer of ours sits in the measurement);
- the same with cooldown on (the state API path);
- the function instance's CPU per report, and whether the function kept up (flat backlog);
- all of it for each implementation of the alert function (`alerting.runtime`: python, java),
  against the same floors; after each (re)deploy the instance is warmed up at 5,000/s for 30 s
  before anything is measured (a cold JVM compiles through its first minute).

Writes bench/results/alert_latency.json (+ .md table, .png chart).
Usage: python bench/alert_latency.py [--window 30] [--rates 1000 3000 ...] [--parallelism 1]
       [--runtimes python java]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml
from rich.console import Console
from rich.table import Table

from bench._common import machine, percentiles, write_results
from peacewatch.functions.alert_deploy import ALERT_FUNCTION_NAME
from peacewatch.functions.alerting import REPORT_PUBLISHED_PROPERTY
from peacewatch.platform.auth import superuser_token
from peacewatch.platform.clients import kit_client, pulsar_admin
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.install import pulsar_home
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.topics import NAMESPACE, TenantTopics
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.fleet import FleetSimulator
from peacewatch.simulator.report_dict import encode_report

console = Console()
TENANT = "bench-alerts"
FLOOR_TOPIC = f"persistent://{TENANT}/{NAMESPACE}/perf-floor"
RATES = [1_000, 3_000, 7_000, 10_000, 15_000]
# pulsar-perf's JVMs share the machine with the broker: keep them small.
PERF_ENV = {"PULSAR_MEM": "-Xms128m -Xmx256m -XX:MaxDirectMemorySize=256m"}
_INTERVAL = re.compile(r"Throughput received:.*?msg/s.*?med: *([\d.]+).*?- 99pct: *([\d.]+)")
_THROUGHPUT = re.compile(r"Aggregated throughput stats --- (\d+) records sent --- ([\d.]+) msg/s")
WARMUP_RATE, WARMUP_AFTER_DEPLOY_S = 5_000, 30.0
WARMUP_S = 10.0  # JVMs (pulsar-perf's, the broker's paths) and the function warm up first; not measured


def _perf(settings: Settings, token: str, *args: str) -> list[str]:
    return [
        str(pulsar_home(settings) / "bin" / "pulsar-perf"), *args,
        "-u", settings.pulsar.service_url,
        "--auth-plugin", "org.apache.pulsar.client.impl.auth.AuthenticationToken",
        "--auth-params", f"token:{token}",
    ]  # fmt: skip


def _run_perf(cmd: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **PERF_ENV}
    )


def _interval_latency(output: str, index: int) -> dict[str, float | None]:
    """pulsar-perf consume's `index`-th interval line -> p50/p99 of end-to-end latency (ms)."""
    found = _INTERVAL.findall(output)
    if len(found) <= index:
        return {"p50": None, "p99": None}
    return {"p50": float(found[index][0]), "p99": float(found[index][1])}


def _achieved(output: str, seconds: float) -> float:
    """Reports per second pulsar-perf got acknowledged over its run (its own figure counts the
    shutdown too)."""
    m = _THROUGHPUT.search(output)
    return int(m.group(1)) / seconds if m else 0.0


def floor(settings: Settings, rate: int, window: float) -> dict[str, Any]:
    """pulsar-perf end to end on a scratch topic: the broker's floor at this rate. The consumer
    reports every window/2 seconds: the first interval is the warm-up; the figure is the median of
    the three steady intervals' percentiles (one GC pause neither flatters nor spoils the ratio)."""
    token = superuser_token(settings) or ""
    w = int(window)
    consume = _run_perf(
        _perf(
            settings,
            token,
            "consume",
            FLOOR_TOPIC,
            "-ss",
            "floor",
            "-i",
            str(w // 2),
            "-time",
            str(2 * w + 4),
        )
    )
    time.sleep(3)  # subscribed before the first message
    produce = _run_perf(
        _perf(settings, token, "produce", FLOOR_TOPIC, "-r", str(rate), "-s", "1024", "-b", "1",
              "-time", str(2 * w + 2))
    )  # fmt: skip
    # pulsar-perf's own CPU per message, past its start-up: the yardstick for our producer's.
    java = psutil.Process(produce.pid)
    time.sleep(w)
    cpu0, t0 = sum(java.cpu_times()[:2]), time.monotonic()
    time.sleep(w - 4)
    cpu1, t1 = sum(java.cpu_times()[:2]), time.monotonic()
    produced, _ = produce.communicate()
    consumed, _ = consume.communicate()
    steady = [_interval_latency(consumed, i) for i in (1, 2, 3)]
    latency = {
        key: (statistics.median(v) if len(v := [x[key] for x in steady if x[key] is not None]) == 3 else None)
        for key in ("p50", "p99")
    }
    if latency["p99"] is None:
        console.print(consumed[-2000:])
    return {
        **latency,
        "intervals_p99": [x["p99"] for x in steady],
        "achieved_rate": round(_achieved(produced, 2 * w + 2)),
        "producer_cpu_us_per_message": round((cpu1 - cpu0) / ((t1 - t0) * rate) * 1e6, 1),
    }


def _payload_file(path: Path, size: int = 50_000) -> int:
    """Real reports, one JSON per line (~1% with a bad score: the product's upper bound)."""
    fleet = FleetSimulator(
        SimulationConfig(drones=500, seed=3, bad_report_rate=0.01), tenant=TENANT,
        start=datetime(2026, 11, 3, tzinfo=UTC),
    )  # fmt: skip
    lines: list[bytes] = []
    bad = 0
    while len(lines) < size:
        for report in fleet.minute():
            lines.append(encode_report(report))  # type: ignore[arg-type]
            bad += any(c["peacescore"] < 20 for c in report["citizens"])  # type: ignore[index]
    path.write_bytes(b"\n".join(lines[:size]) + b"\n")
    return bad


def _officer(settings: Settings, stop: Any, out: Any) -> None:
    """The officers' side: alerts as the force's officer role receives them."""
    import pulsar

    client = kit_client(settings, tenant=TENANT, kit="officer", io_threads=1)
    consumer = client.subscribe(
        TenantTopics(TENANT).alerts, "bench-officer", consumer_type=pulsar.ConsumerType.Exclusive,
        initial_position=pulsar.InitialPosition.Latest,
    )  # fmt: skip
    seen: list[tuple[int, float]] = []  # (report published, delay) in ms
    while not stop.is_set():
        try:
            msg = consumer.receive(timeout_millis=200)
        except pulsar.Timeout:
            continue
        now_ms = time.time() * 1000
        published = msg.properties().get(REPORT_PUBLISHED_PROPERTY)
        if published:
            seen.append((int(published), now_ms - int(published)))
        consumer.acknowledge(msg)
    out.put(seen)
    client.close()


def _instances() -> list[psutil.Process]:
    """The alert function's instances, Python or Java (process runtime: children of the functions
    worker, started with the force's package from .../download/{tenant}/...)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        ours = f"/download/{TENANT}/" in " ".join(cmd)
        instance = any(a.endswith("python_instance_main.py") or a.endswith(".JavaInstanceMain") for a in cmd)
        if ours and instance:
            found.append(p)
    return found


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _backlog(settings: Settings) -> int:
    with pulsar_admin(settings) as admin:
        stats = admin.topic_stats(TenantTopics(TENANT).reports, partitioned=True)
    return int(stats.get("subscriptions", {}).get("alerting", {}).get("msgBacklog", 0))


def _processed(settings: Settings) -> int:
    with pulsar_admin(settings) as admin:
        status = admin.function_status(TENANT, NAMESPACE, ALERT_FUNCTION_NAME)
    return sum(int(i["status"]["numSuccessfullyProcessed"]) for i in status["instances"])


def _drain(settings: Settings, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while _backlog(settings) > 0 and time.monotonic() < deadline:
        time.sleep(2)


_ID_TAIL = slice(57, 69)  # the report_id's last 12 hex digits in orjson's output (schema_version first)


def _drones(settings: Settings, rate: int, seconds: float, payloads: Path, year0: int, out: Any) -> None:
    """The drones, as lean as a producer gets: reports encoded beforehand (a counter written into
    each report_id keeps them unique, and each pass over the pool moves the event times to a year
    of its own, so a cooldown never sees the same sighting twice), the fleet's token, keyed by
    drone. pulsar-perf cannot do this: the reports topic enforces its schema and it declares none."""
    import orjson
    import pulsar

    from peacewatch.platform.contract import Report
    from peacewatch.platform.schema_registry import ContractSchema

    lines = payloads.read_bytes().splitlines()
    pool = [(line, orjson.loads(line)["drone_id"]) for line in lines]
    assert lines[0].startswith(b'{"schema_version":1,"report_id":"')
    year = lines[0].index(b'"ts":"') + 6  # the same offset on every line (drone ids have one length)
    assert all(line.index(b'"ts":"') + 6 == year for line in lines)
    client = kit_client(settings, tenant=TENANT, kit="fleet", io_threads=1)
    producer = client.create_producer(
        TenantTopics(TENANT).reports, schema=ContractSchema(Report), batching_enabled=True,
        batching_max_publish_delay_ms=1, block_if_queue_full=True, max_pending_messages=20_000,
    )  # fmt: skip
    # The client's own message builder: the wrapper's argument checks cost more than the send.
    native, Builder = producer._producer, pulsar._pulsar.MessageBuilder

    def _sent(result: Any, msg_id: Any) -> None:
        pass

    me = psutil.Process()
    cpu0 = sum(me.cpu_times()[:2])
    start = time.monotonic()
    sent = 0
    n = len(pool)
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate) + 1
        while sent < due:
            line, drone = pool[sent % n]
            data = (
                line[: _ID_TAIL.start] + b"%012x" % sent + line[_ID_TAIL.stop : year]
                + b"%04d" % (year0 + sent // n) + line[year + 4 :]
            )  # fmt: skip
            native.send_async(Builder().content(data).partition_key(drone).build(), _sent)
            sent += 1
        time.sleep(0.005)  # 5 ms of reports per wake-up: cheaper than waking every ms
    producer.flush()
    cpu = sum(me.cpu_times()[:2]) - cpu0
    out.put(
        {"sent": sent, "seconds": time.monotonic() - start, "cpu_us_per_message": cpu / max(sent, 1) * 1e6}
    )
    client.close()


def alert_path(settings: Settings, rate: int, window: float, payloads: Path, *, year0: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    stop, out, drone_out = ctx.Event(), ctx.Queue(), ctx.Queue()
    officer = ctx.Process(target=_officer, args=(settings, stop, out))
    officer.start()
    time.sleep(3)
    procs = _instances()
    produce = ctx.Process(
        target=_drones, args=(settings, rate, WARMUP_S + window, payloads, year0, drone_out)
    )
    produce.start()
    time.sleep(WARMUP_S + 2)  # the JVM's start, then the warm-up
    measured_from = time.time() * 1000
    cpu0, processed0, t0 = _cpu_s(procs), _processed(settings), time.monotonic()
    samples = []
    # A fixed window inside the drones' steady sending (they send for WARMUP_S + window).
    while time.monotonic() < t0 + window - 4:
        time.sleep(2)
        samples.append(_backlog(settings))
    measured_to = time.time() * 1000
    cpu1, processed1, t1 = _cpu_s(procs), _processed(settings), time.monotonic()
    drones = drone_out.get()
    produce.join()
    _drain(settings)
    time.sleep(2)
    stop.set()
    seen = out.get()
    officer.join()
    delays = [d for published, d in seen if measured_from <= published < measured_to]
    achieved = drones["sent"] / drones["seconds"]
    latency = percentiles(delays)
    backlog_max = max(samples, default=0)
    reports = processed1 - processed0
    return {
        "achieved_rate": round(achieved),
        "alerts": latency["n"],
        "p50": latency["p50"],
        "p99": latency["p99"],
        "p999": latency["p999"],
        "backlog_max": backlog_max,
        # Kept up: over the measured window the function processed what the drones sent.
        "processed_rate": round(reports / (t1 - t0)),
        "sustained": reports / (t1 - t0) >= 0.95 * rate and achieved >= 0.95 * rate,
        "cpu_us_per_report": round((cpu1 - cpu0) / reports * 1e6, 1) if reports > 0 else None,
        "producer_cpu_us_per_report": round(drones["cpu_us_per_message"], 1),
    }


def _apply(settings: Settings, *, cooldown_s: float, parallelism: int, runtime: str) -> None:
    """Onboard (or update) the bench force exactly as users do: `peacewatch tenants apply`."""
    spec = {
        "name": TENANT, "display_name": "alert latency bench", "partitions": 4,
        "alerting": {
            "threshold": 20, "cooldown_s": cooldown_s, "parallelism": parallelism, "runtime": runtime,
        },
    }  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(spec, f)
    subprocess.run(
        [sys.executable, "-m", "peacewatch.platform.cli", "tenants", "apply", f.name], check=True,
        env={**os.environ, "PEACEWATCH_STATE_DIR": str(settings.state_dir)},
    )  # fmt: skip
    os.unlink(f.name)


def _rows(runs: list[dict[str, Any]], runtime: str) -> list[dict[str, Any]]:
    out = []
    for row in runs:
        fl, off, on = row["floor"], row[runtime]["cooldown_off"], row[runtime]["cooldown_on"]
        ratio = round(off["p99"] / fl["p99"], 2) if off["p99"] and fl["p99"] else None
        out.append({
            "rate": row["rate"],
            "floor_p50_ms": fl["p50"], "floor_p99_ms": fl["p99"], "floor_achieved_rate": fl["achieved_rate"],
            "alert_p50_ms": off["p50"], "alert_p99_ms": off["p99"], "ratio_p99": ratio,
            "sustained": off["sustained"], "achieved_rate": off["achieved_rate"], "alerts": off["alerts"],
            "processed_rate": off.get("processed_rate"),
            "backlog_max": off["backlog_max"], "cpu_us_per_report": off["cpu_us_per_report"],
            "producer_cpu_us_per_report": off["producer_cpu_us_per_report"],
            "pulsar_perf_cpu_us_per_message": fl["producer_cpu_us_per_message"],
            "cooldown_alert_p50_ms": on["p50"], "cooldown_alert_p99_ms": on["p99"],
            "cooldown_sustained": on["sustained"], "cooldown_cpu_us_per_report": on["cpu_us_per_report"],
            "cooldown_cost": round(on["cpu_us_per_report"] / off["cpu_us_per_report"], 2)
            if on["cpu_us_per_report"] and off["cpu_us_per_report"] else None,
        })  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=float, default=20.0, help="measured seconds per rate and path")
    parser.add_argument("--rates", type=int, nargs="*", default=RATES)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--cooldown-s", type=float, default=300.0, help="the cooldown-on runs' window")
    parser.add_argument("--runtimes", nargs="*", default=["python", "java"], choices=["python", "java"])
    args = parser.parse_args()
    settings = Settings()
    Stack(settings=settings, console=console).up()
    payloads = Path(tempfile.gettempdir()) / "peacewatch-bench-reports.jsonl"
    bad = _payload_file(payloads)
    console.print(f"payloads: {payloads} (50,000 reports, {bad} with a bad score)")

    runs: list[dict[str, Any]] = [{"rate": rate} for rate in args.rates]
    # Event times of this invocation's reports start in a century of their own: the cooldown
    # state of earlier invocations never suppresses them.
    epoch = 2100 + 100 * (int(time.time()) % 70)
    passes = 0
    for runtime in args.runtimes:
        for cooldown in (False, True):
            console.print(f"[bold]alert function ({runtime}), cooldown {'on' if cooldown else 'off'}[/]")
            _apply(settings, cooldown_s=args.cooldown_s if cooldown else 0.0, parallelism=args.parallelism,
                   runtime=runtime)  # fmt: skip
            _drain(settings)
            # A fresh instance (each apply restarts it) is warmed up before any rate is measured:
            # a JVM's JIT would otherwise put its compilation into the first rates' tails.
            console.print(
                f"  warm-up: {WARMUP_RATE:,}/s for {WARMUP_AFTER_DEPLOY_S:.0f} s (not measured) ..."
            )
            alert_path(settings, WARMUP_RATE, WARMUP_AFTER_DEPLOY_S, payloads, year0=epoch + 10 * passes)
            passes += 1
            for row in runs:
                rate = row["rate"]
                if "floor" not in row:
                    console.print(f"  {rate:,}/s: floor (pulsar-perf) ...")
                    row["floor"] = floor(settings, rate, args.window)
                console.print(f"  {rate:,}/s: report -> alert ...")
                result = alert_path(settings, rate, args.window, payloads, year0=epoch + 10 * passes)
                passes += 1
                row.setdefault(runtime, {})["cooldown_on" if cooldown else "cooldown_off"] = result
                console.print(
                    f"    floor p99 {row['floor']['p99']} ms, "
                    f"alert p50/p99 {result['p50']}/{result['p99']} ms, "
                    f"{result['cpu_us_per_report']} us CPU/report, "
                    f"{'sustained' if result['sustained'] else 'NOT sustained'}"
                )

    by_runtime = {}
    for runtime in args.runtimes:
        rows = _rows(runs, runtime)
        by_runtime[runtime] = {
            "runs": rows, "max_sustained_rate": max((r["rate"] for r in rows if r["sustained"]), default=0)
        }  # fmt: skip
    default = args.runtimes[0]
    data = {
        "benchmark": "alert_latency",
        "machine": machine(),
        "window_s": args.window,
        "parallelism": args.parallelism,
        "cooldown_s": args.cooldown_s,
        # The top-level runs are the first runtime's (python, the default); every runtime's are below.
        "runtime": default,
        "runs": by_runtime[default]["runs"],
        "max_sustained_rate": by_runtime[default]["max_sustained_rate"],
        "runtimes": by_runtime,
        "targets": {"ratio_p99_at_1000": 2.0, "ratio_p99_at_7000": 3.0, "max_sustained_rate": 15_000,
                    "cooldown_cost": 1.5},
    }  # fmt: skip
    _report(data)


def _report(data: dict[str, Any]) -> None:
    head = ["rate/s", "floor p50/p99 ms", "alert p50/p99 ms", "p99 ratio", "sustained", "CPU us/report",
            "cooldown p50/p99 ms", "cooldown CPU us/report"]  # fmt: skip
    lines = [
        f"# Report -> alert delay vs the broker's floor (pulsar-perf), parallelism {data['parallelism']}, "
        f"{data['window_s']:.0f} s per rate",
    ]
    for runtime, result in data["runtimes"].items():
        table = Table(*head, title=f"alert function: {runtime}")
        lines += ["", f"## {runtime} runtime", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in result["runs"]:
            cells = [
                f"{r['rate']:,}", f"{r['floor_p50_ms']} / {r['floor_p99_ms']}",
                f"{r['alert_p50_ms']} / {r['alert_p99_ms']}",
                f"{r['ratio_p99']}x", "yes" if r["sustained"] else "no",
                str(r["cpu_us_per_report"]), f"{r['cooldown_alert_p50_ms']} / {r['cooldown_alert_p99_ms']}",
                str(r["cooldown_cpu_us_per_report"]),
            ]  # fmt: skip
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"Highest rate sustained ({runtime}): {result['max_sustained_rate']:,}/s."]
        console.print(table)
    lines += [
        "",
        "Sustained: over the measured window the function processed >= 95% of the rate sent.",
        "CPU per report: the function instance's CPU time / reports it processed. The floors are shared: "
        "measured once per rate in the same run.",
    ]
    name = "alert_latency" if data["parallelism"] == 1 else f"alert_latency_p{data['parallelism']}"
    path = write_results(name, data, "\n".join(lines))
    _chart(data, path.with_suffix(".png"))
    console.print(f"results: {path}")


def _chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = data["runs"]
    rates = [r["rate"] for r in runs]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    floors = [r["floor_p99_ms"] for r in runs]
    ax.plot(rates, floors, "k--", marker="o", label="broker floor p99 (pulsar-perf)")
    colours = {"python": "tab:blue", "java": "tab:orange"}
    width = 0.8 / max(1, len(data["runtimes"]))
    for i, (runtime, result) in enumerate(data["runtimes"].items()):
        rows = result["runs"]
        colour = colours.get(runtime, "tab:green")
        for key, label, style in (
            ("alert_p99_ms", "p99", "-"),
            ("cooldown_alert_p99_ms", "p99, cooldown on", ":"),
        ):
            ax.plot(rates, [r[key] if r[key] is not None else float("nan") for r in rows], style,
                    color=colour, marker="o", label=f"{runtime}: report -> alert {label}")  # fmt: skip
        ax2.bar([j + (i - (len(data["runtimes"]) - 1) / 2) * width for j in range(len(rows))],
                [r["ratio_p99"] or 0 for r in rows], width, color=colour, label=runtime)  # fmt: skip
    ax.set_xlabel("reports per second")
    ax.set_ylabel("delay (ms, log scale)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title("delay")
    ax2.set_xticks(range(len(rates)), [f"{r:,}" for r in rates])
    ax2.axhline(2, color="grey", linestyle=":", label="target at 1,000/s (2x)")
    ax2.axhline(3, color="grey", linestyle="--", label="target at 7,000/s (3x)")
    ax2.set_xlabel("reports per second")
    ax2.set_ylabel("alert p99 / floor p99 (log scale)")
    ax2.set_yscale("log")
    ax2.set_title("ratio to the broker's floor")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
