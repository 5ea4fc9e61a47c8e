"""Alert latency and throughput of the alert function on the real local stack.

One run measures, side by side on the same broker:
- the floor: publish -> receive delay of a plain consumer on the reports topic;
- the alert path: report publish -> alert received from the alerts topic;
at fixed rates (1,000/s and 7,000/s, 60 s each), then rising rates until the function's
backlog grows, to find the highest rate sustained with a flat backlog.

Producer and consumers run in separate processes (one GIL would distort the figures).
Usage: python bench/alert_latency.py [--parallelism 1] [--window 60] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench._common import machine, percentiles, write_results
from peacewatch.functions.alert_deploy import deploy_alerting
from peacewatch.functions.decision import AlertConfig
from peacewatch.platform.clients import pulsar_admin, pulsar_client
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.topics import TenantTopics
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.fleet import FleetSimulator
from peacewatch.simulator.report_dict import encode_report
from peacewatch.tenants.provisioning import provision_topics

console = Console()
TENANT = "bench-alerts"
SENT_PROP = "bench-sent-ns"


def _pool(size: int) -> list[dict[str, Any]]:
    """Simulated reports with ~1% holding a bad score (the product's upper bound)."""
    fleet = FleetSimulator(
        SimulationConfig(drones=500, seed=3, bad_report_rate=0.01),
        tenant=TENANT,
        start=datetime(2026, 11, 3, tzinfo=UTC),
    )
    pool: list[dict[str, Any]] = []
    while len(pool) < size:
        pool.extend(fleet.minute())  # type: ignore[arg-type]
    return pool[:size]


def _producer(settings: Settings, rate: int, seconds: float, out: Any) -> None:
    from peacewatch.platform.contract import Report
    from peacewatch.platform.schema_registry import ContractSchema

    pool = _pool(min(int(rate * seconds), 200_000))
    client = pulsar_client(settings, io_threads=2)
    producer = client.create_producer(
        TenantTopics(TENANT).reports,
        schema=ContractSchema(Report),
        batching_enabled=True,
        batching_max_publish_delay_ms=1,
        block_if_queue_full=True,
        max_pending_messages=50_000,
    )
    alert_sent: dict[str, int] = {}
    tick = 0.01
    per_tick = rate * tick
    start = time.monotonic()
    sent = 0
    i = 0
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            break
        due = int(elapsed / tick * per_tick) + int(per_tick)
        while sent < due:
            r = pool[i % len(pool)]
            i += 1
            rid = uuid.uuid4()
            r["report_id"] = rid
            now_ns = time.time_ns()
            if any(c["peacescore"] < 20 for c in r["citizens"]):
                alert_sent[str(rid)] = now_ns
            producer.send_async(
                encode_report(r),  # type: ignore[arg-type]
                None,
                partition_key=r["drone_id"],
                properties={SENT_PROP: str(now_ns)},
            )
            sent += 1
        sleep = start + (sent / rate) - time.monotonic()
        if sleep > 0:
            time.sleep(min(sleep, tick))
    producer.flush()
    out.put({"sent": sent, "seconds": time.monotonic() - start, "alert_sent": alert_sent})
    client.close()


def _floor_consumer(settings: Settings, stop: Any, out: Any) -> None:
    import pulsar

    client = pulsar_client(settings, io_threads=2)
    consumer = client.subscribe(
        TenantTopics(TENANT).reports, "bench-floor", consumer_type=pulsar.ConsumerType.Shared,
        receiver_queue_size=5000,
    )  # fmt: skip
    delays: list[float] = []
    while not stop.is_set():
        try:
            msg = consumer.receive(timeout_millis=200)
        except pulsar.Timeout:
            continue
        now = time.time_ns()
        consumer.acknowledge(msg)
        sent = msg.properties().get(SENT_PROP)
        if sent:
            delays.append((now - int(sent)) / 1e6)
    out.put(delays)
    client.close()


def _alert_consumer(settings: Settings, stop: Any, out: Any) -> None:
    import pulsar

    client = pulsar_client(settings, io_threads=2)
    consumer = client.subscribe(TenantTopics(TENANT).alerts, "bench-alerts", receiver_queue_size=5000)
    arrivals: dict[str, int] = {}
    while not stop.is_set():
        try:
            msg = consumer.receive(timeout_millis=200)
        except pulsar.Timeout:
            continue
        arrivals.setdefault(msg.properties()["report_id"], time.time_ns())
        consumer.acknowledge(msg)
    out.put(arrivals)
    client.close()


def _backlog(settings: Settings) -> int:
    with pulsar_admin(settings) as admin:
        stats = admin.topic_stats(TenantTopics(TENANT).reports, partitioned=True)
    return int(stats.get("subscriptions", {}).get("alerting", {}).get("msgBacklog", 0))


def run_rate(settings: Settings, rate: int, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    q_prod, q_floor, q_alert = ctx.Queue(), ctx.Queue(), ctx.Queue()
    consumers = [
        ctx.Process(target=_floor_consumer, args=(settings, stop, q_floor)),
        ctx.Process(target=_alert_consumer, args=(settings, stop, q_alert)),
    ]
    for p in consumers:
        p.start()
    time.sleep(3)  # consumers connected before the first report
    backlog_start = _backlog(settings)
    producer = ctx.Process(target=_producer, args=(settings, rate, seconds, q_prod))
    producer.start()
    backlog_samples = []
    # Read the result while sampling: a child cannot exit before its queued data is read.
    while True:
        try:
            prod = q_prod.get(timeout=5)
            break
        except queue.Empty:
            backlog_samples.append(_backlog(settings))
    producer.join()
    backlog_end = _backlog(settings)
    # Let in-flight alerts land, then stop the consumers.
    time.sleep(5)
    stop.set()
    floor = q_floor.get()
    arrivals = q_alert.get()
    for p in consumers:
        p.join()
    alert_delays = [
        (arrivals[rid] - sent) / 1e6 for rid, sent in prod["alert_sent"].items() if rid in arrivals
    ]
    achieved = prod["sent"] / prod["seconds"]
    # Flat: sampled every 5 s, the function never had more than a quarter second of input
    # waiting (a growing backlog shows up here long before it shows at the end).
    backlog_max = max([backlog_end, *backlog_samples])
    flat = backlog_max <= 0.25 * rate and achieved >= 0.95 * rate
    return {
        "rate": rate,
        "seconds": round(prod["seconds"], 1),
        "achieved_rate": round(achieved),
        "reports": prod["sent"],
        "alert_reports": len(prod["alert_sent"]),
        "alerts_received": sum(1 for rid in prod["alert_sent"] if rid in arrivals),
        "floor_ms": percentiles(floor),
        "alert_ms": percentiles(alert_delays),
        "backlog_start": backlog_start,
        "backlog_end": backlog_end,
        "backlog_max": backlog_max,
        "backlog_samples": backlog_samples,
        "flat_backlog": flat,
    }


def _drain(settings: Settings, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while _backlog(settings) > 0 and time.monotonic() < deadline:
        time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--window", type=float, default=60.0, help="seconds per rate")
    parser.add_argument("--rising", type=int, nargs="*", default=[10_000, 15_000, 20_000, 25_000])
    parser.add_argument("--quick", action="store_true", help="10 s windows (smoke run, not for figures)")
    args = parser.parse_args()
    window = 10.0 if args.quick else args.window

    settings = Settings()
    Stack(settings=settings, console=console).up()
    with pulsar_admin(settings) as admin:
        provision_topics(admin, tenant=TENANT, partitions=4)
        console.print(f"deploying the alert function (parallelism {args.parallelism}) ...")
        deploy_alerting(
            settings, admin, tenant=TENANT, config=AlertConfig(threshold=20), parallelism=args.parallelism
        )
    _drain(settings)

    runs = []
    for rate in [1_000, 7_000, *args.rising]:
        console.print(f"[bold]{rate:,} reports/s for {window:.0f} s[/]")
        result = run_rate(settings, rate, window)
        runs.append(result)
        console.print(
            f"  achieved {result['achieved_rate']:,}/s, floor p99 {result['floor_ms']['p99']} ms, "
            f"alert p99 {result['alert_ms']['p99']} ms, backlog max {result['backlog_max']:,} "
            f"({'flat' if result['flat_backlog'] else 'GROWING'})"
        )
        _drain(settings)
        if rate in args.rising and not result["flat_backlog"]:
            break

    sustained = max((r["rate"] for r in runs if r["flat_backlog"]), default=0)
    at_7k = next(r for r in runs if r["rate"] == 7_000)
    ratio = (
        round(at_7k["alert_ms"]["p99"] / at_7k["floor_ms"]["p99"], 2)
        if at_7k["alert_ms"]["p99"] and at_7k["floor_ms"]["p99"]
        else None
    )
    data = {
        "benchmark": "alert_latency",
        "machine": machine(),
        "parallelism": args.parallelism,
        "window_s": window,
        "runs": runs,
        "sustained_rate_flat_backlog": sustained,
        "p99_ratio_function_over_floor_at_7000": ratio,
        "targets": {"p99_ms_at_7000": 25, "sustained_rate": 20_000, "p99_ratio": 2.0},
    }
    table = Table(
        "rate/s", "achieved", "floor p50/p99/p99.9 ms", "alert p50/p99/p99.9 ms", "alerts", "backlog"
    )
    lines = [
        f"# alert latency (parallelism {args.parallelism}, {window:.0f} s per rate)",
        "",
        "| rate/s | achieved | floor p50 / p99 / p99.9 ms | alert p50 / p99 / p99.9 ms | alerts "
        "| backlog max |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        f, a = r["floor_ms"], r["alert_ms"]
        cells = [
            f"{r['rate']:,}", f"{r['achieved_rate']:,}", f"{f['p50']} / {f['p99']} / {f['p999']}",
            f"{a['p50']} / {a['p99']} / {a['p999']}", f"{r['alerts_received']}/{r['alert_reports']}",
            f"{r['backlog_max']:,}" + ("" if r["flat_backlog"] else " (growing)"),
        ]  # fmt: skip
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Highest rate sustained with a flat backlog: {sustained:,}/s.",
              f"Function p99 / floor p99 at 7,000/s: {ratio}x."]  # fmt: skip
    console.print(table)
    console.print("\n".join(lines[-2:]))
    path = write_results(f"alert_latency_p{args.parallelism}", data, "\n".join(lines))
    _chart(runs, path.with_suffix(".png"), args.parallelism)
    console.print(f"results: {path}")


def _chart(runs: list[dict[str, Any]], path: Any, parallelism: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [r["rate"] for r in runs]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, label, style in (
        ("floor_ms", "plain consumer (floor)", "--"),
        ("alert_ms", "alert function", "-"),
    ):
        for pct, marker in (("p50", "o"), ("p99", "s")):
            ys = [r[key][pct] if r[key][pct] is not None else np.nan for r in runs]
            ax.plot(rates, ys, style, marker=marker, label=f"{label} {pct}")
    ax.axhline(25, color="grey", linewidth=0.8, linestyle=":", label="target p99 (25 ms at 7,000/s)")
    ax.set_xlabel("reports per second")
    ax.set_ylabel("delay (ms, log scale)")
    ax.set_yscale("log")
    ax.set_title(f"Report -> alert delay, alert function parallelism {parallelism}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
