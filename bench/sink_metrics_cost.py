"""What /metrics costs the sink: `peacewatch lake run --processes 1` draining the same backlog
with and without `--metrics-port`, scraped every second (harder than Prometheus' usual 15-30 s)
and probed on /healthz as the chart's kubelet does, in one run on the real local stack.

The machine is noisy (two drains of one configuration differ by several per cent), so the two
configurations alternate (without, with, with, without, without, with) on six forces holding the
same backlog, and each figure is the median of its three drains. The floor beside them is a plain
consumer (receive, touch, acknowledge) on a seventh copy.

Writes bench/results/sink_metrics_cost.json (keys reports_per_s_without_metrics,
reports_per_s_with_metrics, cost_pct, plain_consumer_reports_per_s) and a short table.
Usage: python -m bench.sink_metrics_cost [--reports 500000]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import pulsar
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, write_results
from bench.sink_throughput import _onboard, _publish, _rows, _wait_function, plain_consumer
from peacewatch.cli.output import RichProgress
from peacewatch.platform.clients import pulsar_client
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.topics import TenantTopics

console = Console()
PEACEWATCH = str(Path(sys.executable).parent / "peacewatch")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def drain(settings: Settings, tenant: str, expected: int, *, metrics: bool) -> dict[str, Any]:
    """`lake run --processes 1` until the backlog is in Delta; rows/s from its first commit."""
    port = _free_port()
    option = ["--metrics-port", str(port)] if metrics else []
    command = [PEACEWATCH, "lake", "run", "-t", tenant, "--name", "bench", "--processes", "1", *option]
    proc = subprocess.Popen(command, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stop = threading.Event()
    scrapes = 0

    def scrape() -> None:  # Prometheus and the kubelet, every second
        nonlocal scrapes
        with httpx.Client(timeout=5) as http:
            while not stop.wait(1.0):
                try:
                    http.get(f"http://127.0.0.1:{port}/metrics")
                    http.get(f"http://127.0.0.1:{port}/healthz")
                    scrapes += 1
                except httpx.HTTPError:
                    pass  # not serving yet

    scraper = threading.Thread(target=scrape, daemon=True)
    if metrics:
        scraper.start()
    first: tuple[float, int] | None = None
    label = f"lake run {'with' if metrics else 'without'} /metrics"
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as progress:  # fmt: skip
        task = progress.add_task("rows", total=expected)
        while (n := _rows(settings, tenant)) < expected:
            if n and first is None:
                first = (time.monotonic(), n)
            progress.update(task, completed=n)
            if proc.poll() is not None:
                raise RuntimeError(f"lake run exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.25)
    end = time.monotonic()
    stop.set()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert first is not None
    return {"metrics": metrics, "rows": expected, "per_s": round((expected - first[1]) / (end - first[0])),
            "scrapes": scrapes}  # fmt: skip


def scrape_cpu(tenant: str, *, seconds: float = 20.0, per_s: int = 20) -> dict[str, Any]:
    """CPU a scrape costs the sink, measured where the noise cannot hide it: an idle `lake run`
    (its force drained) for `seconds` unscraped, then scraped `per_s` times a second; the
    process's CPU time (psutil) per scrape is the difference over the scrapes."""
    port = _free_port()
    command = [PEACEWATCH, "lake", "run", "-t", tenant, "--name", "bench-idle", "--processes", "1",
               "--metrics-port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sink = psutil.Process(proc.pid)
    with httpx.Client(timeout=5) as http:
        while True:
            try:
                http.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        time.sleep(5)  # settled

        def cpu() -> float:
            times = sink.cpu_times()
            return float(times.user + times.system)

        start = cpu()
        time.sleep(seconds)
        idle = cpu() - start
        start, scrapes, t0 = cpu(), 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            http.get(f"http://127.0.0.1:{port}/metrics")
            scrapes += 1
            time.sleep(1 / per_s)
        scraped = cpu() - start
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    per_scrape_ms = 1000 * (scraped - idle) / scrapes
    return {"idle_cpu_s": round(idle, 3), "scraped_cpu_s": round(scraped, 3), "scrapes": scrapes,
            "cpu_ms_per_scrape": round(per_scrape_ms, 3),
            "core_pct_at_1s_interval": round(per_scrape_ms / 10, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=500_000)
    args = parser.parse_args()
    settings = Settings()
    Stack(settings=settings, progress=RichProgress(console)).up()
    run = uuid.uuid4().hex[:5]
    order = (False, True, True, False, False, True)
    forces = [f"bench-cost{i}-{run}" for i in range(len(order))]
    floor_force = f"bench-costf-{run}"
    for t in (*forces, floor_force):
        _onboard(settings, t)
    client = pulsar_client(settings)
    topics = TenantTopics(floor_force)
    client.subscribe(
        [topics.reports, topics.alerts], "bench-floor", consumer_type=pulsar.ConsumerType.Failover,
        initial_position=pulsar.InitialPosition.Earliest,
    ).close()  # fmt: skip
    client.close()
    console.print(f"publishing a backlog of {args.reports:,} reports to each of {len(forces) + 1} forces ...")
    sent = {t: _publish(settings, t, reports=args.reports, rate=None, seed=3) for t in (*forces, floor_force)}
    for t in (*forces, floor_force):
        _wait_function(settings, t)  # their alert functions are done: the sinks have the machine
    floor = plain_consumer(settings, floor_force, "bench-floor", sent[floor_force])
    console.print(f"plain consumer (floor): {floor['per_s']:,} messages/s")
    runs = []
    for force, metrics in zip(forces, order, strict=True):
        result = drain(settings, force, sent[force], metrics=metrics)
        console.print(f"  {'with' if metrics else 'without'} /metrics: {result['per_s']:,} reports/s")
        runs.append(result)
    cpu = scrape_cpu(forces[0])
    console.print(f"  one scrape: {cpu['cpu_ms_per_scrape']} ms of the sink's CPU")
    without = statistics.median(r["per_s"] for r in runs if not r["metrics"])
    with_metrics = statistics.median(r["per_s"] for r in runs if r["metrics"])
    spread = {m: [r["per_s"] for r in runs if r["metrics"] == m] for m in (False, True)}
    data = {
        "benchmark": "sink_metrics_cost",
        "machine": machine(),
        "command": "peacewatch lake run -t FORCE --processes 1 [--metrics-port PORT]",
        "backlog_reports": args.reports,
        "reports_per_s_without_metrics": round(without),
        "reports_per_s_with_metrics": round(with_metrics),
        "cost_pct": round(100 * (without - with_metrics) / without, 1),
        "plain_consumer_reports_per_s": floor["per_s"],
        "scrape_interval_s": 1.0,
        "spread_pct_without": round(100 * (max(spread[False]) - min(spread[False])) / without, 1),
        "spread_pct_with": round(100 * (max(spread[True]) - min(spread[True])) / with_metrics, 1),
        "runs": runs,
        "scrape_cpu": cpu,
        "scrape_cpu_ms": cpu["cpu_ms_per_scrape"],
        "scrape_core_pct_at_1s": cpu["core_pct_at_1s_interval"],
        "target_cost_pct": 2.0,
    }
    table = (
        "| lake run --processes 1 | reports/s |\n| --- | --- |\n"
        f"| without /metrics (median of 3; spread {data['spread_pct_without']} %) | "
        f"{data['reports_per_s_without_metrics']:,} |\n"
        f"| with /metrics scraped every 1 s (median of 3; spread {data['spread_pct_with']} %) | "
        f"{data['reports_per_s_with_metrics']:,} |\n"
        f"| cost | {data['cost_pct']} % (target < 2 %) |\n"
        f"| one scrape, the sink's CPU (idle sink, 20 scrapes/s) | {cpu['cpu_ms_per_scrape']} ms "
        f"({cpu['core_pct_at_1s_interval']} % of a core at one scrape a second) |\n"
        f"| floor: plain consumer | {floor['per_s']:,} messages/s |\n"
    )
    write_results("sink_metrics_cost", data, table)
    console.print(table)


if __name__ == "__main__":
    main()
