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

Everything is repeated `--runs` times (3 by default: this machine is noisy); each figure is the
median with the spread (min-max) beside it. Writes bench/results/alert_latency.json (+ .md table,
.png chart) with `default_runtime`, `max_sustained_rate_default` and, per runtime per rate,
`floor_p99_ms`, `alert_p99_ms`, `ratio_p99`, `sustained`, and the same under `cooldown`.
Usage: python bench/alert_latency.py [--runs 3] [--window 20] [--rates 1000 7000 ...]
       [--parallelism 1] [--runtimes java python]
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
from peacewatch.cli.output import RichProgress
from peacewatch.functions.deploy.alerting import ALERT_FUNCTION_NAME
from peacewatch.functions.runtime.alerting import REPORT_PUBLISHED_PROPERTY
from peacewatch.platform.alert_settings import DEFAULT_ALERT_RUNTIME
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
RATES = [1_000, 7_000, 10_000, 15_000]
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
    reports = processed1 - processed0
    achieved = drones["sent"] / drones["seconds"]
    sustained = reports / (t1 - t0) >= 0.95 * rate and achieved >= 0.95 * rate
    if sustained:
        _drain(settings)
    else:
        # Behind: what is late stays late. Wait a little for the window's alerts, then drop the
        # backlog (draining a function that cannot keep up takes minutes and measures nothing).
        _drain(settings, timeout_s=20)
        with pulsar_admin(settings) as admin:
            admin.skip_all(TenantTopics(TENANT).reports, "alerting")
    time.sleep(2)
    stop.set()
    seen = out.get()
    officer.join()
    delays = [d for published, d in seen if measured_from <= published < measured_to]
    latency = percentiles(delays)
    return {
        "achieved_rate": round(achieved),
        "measured_from_ms": measured_from,
        "measured_to_ms": measured_to,
        "alerts": latency["n"],
        "p50": latency["p50"],
        "p99": latency["p99"],
        "p999": latency["p999"],
        "backlog_max": max(samples, default=0),
        # Kept up: over the measured window the function processed what the drones sent.
        "processed_rate": round(reports / (t1 - t0)),
        "sustained": sustained,
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
        [sys.executable, "-m", "peacewatch.cli.app", "tenants", "apply", f.name], check=True,
        env={**os.environ, "PEACEWATCH_STATE_DIR": str(settings.state_dir)},
    )  # fmt: skip
    os.unlink(f.name)


_NOT_RUN = {"p50": None, "p99": None, "sustained": False, "cpu_us_per_report": None, "not_run": True}


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def _spread(values: list[float | None]) -> list[float] | None:
    known = [v for v in values if v is not None]
    return [min(known), max(known)] if known else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _summary(runs: list[dict[str, Any]], runtime: str, rate: int) -> dict[str, Any]:
    """One runtime at one rate over the runs: medians, and the spread (min, max) beside each."""
    rows = [next(r for r in run["rates"] if r["rate"] == rate) for run in runs]
    floor = [r["floor"]["p99"] for r in rows]
    off = [r[runtime]["cooldown_off"] for r in rows]
    on = [r[runtime]["cooldown_on"] for r in rows]
    ratios = [_ratio(o["p99"], f) if o["sustained"] else None for o, f in zip(off, floor, strict=True)]
    ratios_on = [_ratio(o["p99"], f) if o["sustained"] else None for o, f in zip(on, floor, strict=True)]
    out: dict[str, Any] = {
        "rate": rate,
        "floor_p99_ms": _median(floor), "floor_p99_ms_runs": floor,
        "alert_p50_ms": _median([o["p50"] for o in off]),
        "alert_p99_ms": _median([o["p99"] for o in off]), "alert_p99_ms_runs": [o["p99"] for o in off],
        "ratio_p99": _median(ratios), "ratio_p99_runs": ratios, "ratio_p99_spread": _spread(ratios),
        # Sustained in every run (a function that falls behind once would fall behind at the peak).
        "sustained": all(o["sustained"] for o in off), "sustained_runs": sum(o["sustained"] for o in off),
        "cpu_us_per_report": _median([o["cpu_us_per_report"] for o in off]),
        "cooldown": {
            "alert_p50_ms": _median([o["p50"] for o in on]),
            "alert_p99_ms": _median([o["p99"] for o in on]), "alert_p99_ms_runs": [o["p99"] for o in on],
            "ratio_p99": _median(ratios_on), "ratio_p99_runs": ratios_on,
            "sustained": all(o["sustained"] for o in on), "sustained_runs": sum(o["sustained"] for o in on),
            "cpu_us_per_report": _median([o["cpu_us_per_report"] for o in on]),
        },
    }  # fmt: skip
    c = out["cooldown"]
    out["cooldown_cost_p99"] = _ratio(c["alert_p99_ms"], out["alert_p99_ms"]) if c["sustained"] else None
    out["cooldown_cost_cpu"] = _ratio(c["cpu_us_per_report"], out["cpu_us_per_report"])
    return out


def prepare() -> tuple[Settings, Path, int]:
    """The stack up, the payload file written, and this invocation's first event year: its
    reports' times start in a century of their own, so the cooldown state of earlier invocations
    never suppresses them."""
    settings = Settings()
    Stack(settings=settings, progress=RichProgress(console)).up()
    payloads = Path(tempfile.gettempdir()) / "peacewatch-bench-reports.jsonl"
    bad = _payload_file(payloads)
    console.print(f"payloads: {payloads} (50,000 reports, {bad} with a bad score)")
    return settings, payloads, 2100 + 100 * (int(time.time()) % 70)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=float, default=20.0, help="measured seconds per rate and path")
    parser.add_argument("--rates", type=int, nargs="*", default=RATES)
    parser.add_argument("--runs", type=int, default=3, help="repeat everything; medians and spread reported")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--cooldown-s", type=float, default=300.0, help="the cooldown-on runs' window")
    parser.add_argument("--runtimes", nargs="*", default=["java", "python"], choices=["python", "java"])
    args = parser.parse_args()
    settings, payloads, epoch = prepare()
    passes = 0
    runs: list[dict[str, Any]] = []
    for run in range(args.runs):
        rows: list[dict[str, Any]] = [{"rate": rate} for rate in args.rates]
        runs.append({"run": run + 1, "rates": rows})
        for runtime in args.runtimes:
            for cooldown in (False, True):
                console.print(
                    f"[bold]run {run + 1}/{args.runs}: alert function ({runtime}), "
                    f"cooldown {'on' if cooldown else 'off'}[/]"
                )
                window_s = args.cooldown_s if cooldown else 0.0
                _apply(settings, cooldown_s=window_s, parallelism=args.parallelism, runtime=runtime)
                _drain(settings)
                # A fresh instance (each apply restarts it) is warmed up before any rate is
                # measured: a JVM's JIT would otherwise put its compilation into the first tails.
                console.print(
                    f"  warm-up: {WARMUP_RATE:,}/s for {WARMUP_AFTER_DEPLOY_S:.0f} s (not measured) ..."
                )
                alert_path(settings, WARMUP_RATE, WARMUP_AFTER_DEPLOY_S, payloads, year0=epoch + 10 * passes)
                passes += 1
                behind = False
                for row in rows:
                    rate = row["rate"]
                    if "floor" not in row:
                        console.print(f"  {rate:,}/s: floor (pulsar-perf) ...")
                        row["floor"] = floor(settings, rate, args.window)
                    key = "cooldown_on" if cooldown else "cooldown_off"
                    if behind:  # fell behind at a lower rate: it cannot keep up with this one
                        row.setdefault(runtime, {})[key] = dict(_NOT_RUN)
                        continue
                    console.print(f"  {rate:,}/s: report -> alert ...")
                    result = alert_path(settings, rate, args.window, payloads, year0=epoch + 10 * passes)
                    passes += 1
                    behind = not result["sustained"]
                    row.setdefault(runtime, {})[key] = result
                    console.print(
                        f"    floor p99 {row['floor']['p99']} ms, "
                        f"alert p50/p99 {result['p50']}/{result['p99']} ms, "
                        f"{result['cpu_us_per_report']} us CPU/report, "
                        f"{'sustained' if result['sustained'] else 'NOT sustained'}"
                    )

    by_runtime = {}
    for runtime in args.runtimes:
        summary = [_summary(runs, runtime, rate) for rate in args.rates]
        by_runtime[runtime] = {
            "rates": summary,
            "max_sustained_rate": max((r["rate"] for r in summary if r["sustained"]), default=0),
        }
    default = DEFAULT_ALERT_RUNTIME if DEFAULT_ALERT_RUNTIME in by_runtime else args.runtimes[0]
    at = {r["rate"]: r for r in by_runtime[default]["rates"]}
    targets = {"ratio_p99_at_1000": 2.0, "ratio_p99_at_7000": 3.0, "max_sustained_rate": 10_000,
               "max_sustained_rate_stretch": 15_000, "cooldown_cost": 1.5}  # fmt: skip

    def met(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    data = {
        "benchmark": "alert_latency",
        "machine": machine(),
        "window_s": args.window,
        "runs_per_rate": args.runs,
        "parallelism": args.parallelism,
        "cooldown_s": args.cooldown_s,
        "default_runtime": default,
        "max_sustained_rate_default": by_runtime[default]["max_sustained_rate"],
        "runtimes": by_runtime,
        "targets": targets,
        "met": {
            "ratio_p99_at_1000": met((at.get(1_000) or {}).get("ratio_p99"), 2.0),
            "ratio_p99_at_7000": met((at.get(7_000) or {}).get("ratio_p99"), 3.0),
            "max_sustained_rate": by_runtime[default]["max_sustained_rate"] >= 10_000,
            "max_sustained_rate_stretch": by_runtime[default]["max_sustained_rate"] >= 15_000,
            "cooldown_cost_p99": all(
                (r["cooldown_cost_p99"] or 99) <= 1.5 for r in by_runtime[default]["rates"] if r["sustained"]
            ),
            "cooldown_cost_cpu": all(
                (r["cooldown_cost_cpu"] or 99) <= 1.5 for r in by_runtime[default]["rates"] if r["sustained"]
            ),
        },
        "per_run": runs,
    }
    _report(data)


def _cell(values: list[Any] | None, median: float | None, *, suffix: str = "") -> str:
    if median is None:
        return "-"
    known = [v for v in values or [] if v is not None]
    spread = f" ({min(known)}-{max(known)})" if len(known) > 1 else ""
    return f"{median}{suffix}{spread}"


def _report(data: dict[str, Any]) -> None:
    head = ["rate/s", "floor p99 ms", "alert p50 / p99 ms", "p99 ratio", "sustained", "CPU us/report",
            "cooldown p99 ms", "cooldown ratio", "cooldown sustained", "cooldown cost p99 / CPU"]  # fmt: skip
    lines = [
        f"# Report -> alert delay vs the broker's floor (pulsar-perf), parallelism {data['parallelism']}, "
        f"{data['window_s']:.0f} s per rate, {data['runs_per_rate']} runs: median (min-max)",
    ]
    for runtime, result in data["runtimes"].items():
        title = f"{runtime} runtime" + (" (the default)" if runtime == data["default_runtime"] else "")
        table = Table(*head, title=f"alert function: {title}")
        lines += ["", f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in result["rates"]:
            c = r["cooldown"]
            cells = [
                f"{r['rate']:,}", _cell(r["floor_p99_ms_runs"], r["floor_p99_ms"]),
                f"{r['alert_p50_ms']} / " + _cell(r["alert_p99_ms_runs"], r["alert_p99_ms"]),
                _cell(r["ratio_p99_runs"], r["ratio_p99"], suffix="x"),
                f"{r['sustained_runs']}/{data['runs_per_rate']}", str(r["cpu_us_per_report"]),
                _cell(c["alert_p99_ms_runs"], c["alert_p99_ms"]),
                _cell(c["ratio_p99_runs"], c["ratio_p99"], suffix="x"),
                f"{c['sustained_runs']}/{data['runs_per_rate']}",
                f"{r['cooldown_cost_p99'] or '-'} / {r['cooldown_cost_cpu'] or '-'}",
            ]  # fmt: skip
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"Highest rate sustained in every run ({runtime}): {result['max_sustained_rate']:,}/s."]
        console.print(table)
    lines += [
        "",
        f"Default runtime: {data['default_runtime']}; highest rate it sustained in every run: "
        f"{data['max_sustained_rate_default']:,}/s. Targets met: "
        + ", ".join(f"{k} {'yes' if v else 'no' if v is not None else '-'}" for k, v in data["met"].items()),
        "",
        "Sustained: over the measured window the function processed >= 95% of the rate sent (runs of "
        f"{data['runs_per_rate']}). A rate above one the function fell behind at is not run (counted "
        "not sustained). Ratios are per run (alert p99 / that run's floor p99), then the median; only "
        "for sustained runs. CPU per report: the function instance's CPU time / reports it processed. "
        "Cooldown cost: cooldown-on p99 (and CPU) / cooldown-off, medians.",
    ]
    name = "alert_latency" if data["parallelism"] == 1 else f"alert_latency_p{data['parallelism']}"
    path = write_results(name, data, "\n".join(lines))
    _chart(data, path.with_suffix(".png"))
    console.print(f"results: {path}")


def _chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    first = next(iter(data["runtimes"].values()))["rates"]
    rates = [r["rate"] for r in first]
    floors = [r["floor_p99_ms"] for r in first]
    ax.plot(rates, floors, "k--", marker="o", label="broker floor p99 (pulsar-perf)")
    colours = {"python": "tab:blue", "java": "tab:orange"}
    width = 0.8 / max(1, len(data["runtimes"]))

    def span(values: list[Any], median: float | None) -> tuple[float, float]:
        known = [v for v in values if v is not None]
        if median is None or not known:
            return (0.0, 0.0)
        return (median - min(known), max(known) - median)

    for i, (runtime, result) in enumerate(data["runtimes"].items()):
        rows = result["rates"]
        colour = colours.get(runtime, "tab:green")
        for label, get, style in (
            ("p99", lambda r: (r["alert_p99_ms"], r["alert_p99_ms_runs"], r["sustained"]), "-"),
            ("p99, cooldown on", lambda r: (r["cooldown"]["alert_p99_ms"], r["cooldown"]["alert_p99_ms_runs"],
                                            r["cooldown"]["sustained"]), ":"),
        ):  # fmt: skip
            points = [(r["rate"], *get(r)) for r in rows]
            kept = [(x, m, v) for x, m, v, ok in points if ok and m is not None]
            if kept:
                errs = list(zip(*[span(v, m) for _, m, v in kept], strict=True))
                ax.errorbar([x for x, _, _ in kept], [m for _, m, _ in kept], yerr=errs, fmt=style + "o",
                            color=colour, capsize=3, label=f"{runtime}: report -> alert {label}")  # fmt: skip
        ratios = [r["ratio_p99"] or 0 for r in rows]
        errs = list(zip(*[span(r["ratio_p99_runs"], r["ratio_p99"]) for r in rows], strict=True))
        ax2.bar([j + (i - (len(data["runtimes"]) - 1) / 2) * width for j in range(len(rows))], ratios, width,
                yerr=errs, capsize=3, color=colour, label=runtime)  # fmt: skip
    ax.set_xlabel("reports per second")
    ax.set_ylabel("delay (ms, log scale); sustained rates only")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title(f"delay: median of {data['runs_per_rate']} runs, bars min-max")
    ax2.set_xticks(range(len(rates)), [f"{r:,}" for r in rates])
    ax2.axhline(2, color="grey", linestyle=":", label="target at 1,000/s (2x)")
    ax2.axhline(3, color="grey", linestyle="--", label="target at 7,000/s (3x)")
    ax2.set_xlabel("reports per second")
    ax2.set_ylabel("alert p99 / floor p99 (log scale; 0: not sustained)")
    ax2.set_yscale("log")
    ax2.set_title("ratio to the broker's floor")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
