"""Delta sink throughput and freshness on the real local stack (Pulsar + MinIO).

One run:
1. publishes a backlog of N reports (default 1,000,000) to a bench tenant;
2. drains it with one sink process, then (fresh subscription, fresh bucket) with two;
3. appends the same rows as Arrow with raw delta-rs, in batches of the sink's commit size;
4. publishes at 7,000 reports/s for 60 s into a running sink and measures publish -> visible.
Usage: python -m bench.sink_throughput [--reports 1000000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import time
from datetime import UTC, datetime
from typing import Any

import pulsar
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from rich.console import Console
from rich.progress import Progress

from bench._common import machine, percentiles, write_results
from peacewatch.lakehouse.batching import BatchPolicy
from peacewatch.lakehouse.lake import lake_table
from peacewatch.lakehouse.sink import DeltaSink
from peacewatch.platform.clients import pulsar_admin, pulsar_client
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.stack.minio import minio_client
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.publisher import Publisher, run_simulation
from peacewatch.tenants.provisioning import provision_topics

console = Console()
TENANT = "bench-lake"


def _settings_for(bucket: str) -> Settings:
    """Settings whose bench tenant writes to a bucket of its own for this run ({bucket}-{tenant})."""
    settings = Settings(bucket_prefix=f"{bucket}-")
    client = minio_client(settings)
    if not client.bucket_exists(settings.tenant_bucket(TENANT)):
        client.make_bucket(settings.tenant_bucket(TENANT))
    return settings


def _rows(settings: Settings) -> int:
    t = lake_table(settings, tenant=TENANT, name="reports")
    try:
        return DeltaTable(t.uri, storage_options=t.storage_options).count()
    except Exception:
        return 0


def _sink_proc(bucket: str, name: str, subscription: str, stop: Any, out: Any) -> None:
    settings = Settings(bucket_prefix=f"{bucket}-")
    client = pulsar_client(settings, io_threads=2)
    sink = DeltaSink(settings, client, tenant=TENANT, name=name, subscription=subscription,
                     tables=("reports",), policy=BatchPolicy())  # fmt: skip
    stats = sink.run(until=stop.is_set)
    out.put({"written": stats.written, "commits": stats.commits, "freshness_ms": stats.freshness_ms})
    sink.close()
    client.close()


def _publish(settings: Settings, *, minutes: int, drones: int, speed: float | None) -> int:
    client = pulsar_client(settings, io_threads=2)
    publisher = Publisher(client, tenants=[TENANT], seed=2)
    stats = run_simulation(
        publisher, config=SimulationConfig(drones=drones, seed=8, flaky_drones=0), tenants=[TENANT],
        start=datetime(2026, 11, 9, tzinfo=UTC), minutes=minutes, speed=speed,
    )  # fmt: skip
    publisher.close()
    client.close()
    return stats.sent


def drain(bucket: str, processes: int, expected: int, subscription: str) -> dict[str, Any]:
    settings = _settings_for(bucket)
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_sink_proc, args=(bucket, f"bench-{i}", subscription, stop, out))
             for i in range(processes)]  # fmt: skip
    t0 = time.monotonic()
    for p in procs:
        p.start()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"draining with {processes} process(es)", total=expected)
        while (n := _rows(settings)) < expected:
            progress.update(task, completed=n)
            time.sleep(1)
    seconds = time.monotonic() - t0
    stop.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    return {
        "processes": processes,
        "rows": _rows(settings),
        "seconds": round(seconds, 1),
        "reports_per_s": round(expected / seconds),
        "commits": sum(r["commits"] for r in results),
        "per_process_written": [r["written"] for r in results],
    }


def raw_delta(source_bucket: str, target_bucket: str, batch_rows: int) -> dict[str, Any]:
    src = lake_table(Settings(bucket_prefix=f"{source_bucket}-"), tenant=TENANT, name="reports")
    data = pa.table(DeltaTable(src.uri, storage_options=src.storage_options).to_pyarrow_table())
    target = lake_table(_settings_for(target_bucket), tenant=TENANT, name="reports")
    t0 = time.monotonic()
    for start in range(0, data.num_rows, batch_rows):
        write_deltalake(target.uri, data.slice(start, batch_rows), mode="append", partition_by=["date"],
                        storage_options=target.storage_options)  # fmt: skip
    seconds = time.monotonic() - t0
    return {"rows": data.num_rows, "batch_rows": batch_rows, "seconds": round(seconds, 1),
            "rows_per_s": round(data.num_rows / seconds)}  # fmt: skip


def freshness(bucket: str, rate: int, seconds: int) -> dict[str, Any]:
    settings = _settings_for(bucket)
    # A new subscription positioned at the end: the sink sees only what is published from now
    # on, not the backlog of the drain runs.
    subscription = f"fresh-{bucket}"
    client = pulsar_client(settings)
    client.subscribe(f"persistent://{TENANT}/drones/reports", subscription,
                     initial_position=pulsar.InitialPosition.Latest).close()  # fmt: skip
    client.close()
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_sink_proc, args=(bucket, "bench-fresh", subscription, stop, out))
    proc.start()
    time.sleep(5)
    before = _rows(settings)
    drones = rate * 60 // 600  # speed 600: each drone-minute takes 0.1 s of wall time
    sent = _publish(settings, minutes=seconds * 600 // 60, drones=drones, speed=600.0)
    deadline = time.monotonic() + 60
    while _rows(settings) < before + sent and time.monotonic() < deadline:
        time.sleep(0.5)
    stop.set()
    try:
        result = out.get(timeout=60)
    except queue.Empty:
        result = {"freshness_ms": []}
    proc.join()
    return {
        "rate": rate,
        "seconds": seconds,
        "sent": sent,
        "freshness_ms": percentiles(result["freshness_ms"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--freshness-only", action="store_true", help="re-measure freshness, keep the rest")
    args = parser.parse_args()
    run = datetime.now(UTC).strftime("%H%M%S")
    if args.freshness_only:
        _refresh_freshness(f"bench-fresh-{run}")
        return
    base = Settings()
    Stack(settings=base, console=console).up()
    with pulsar_admin(base) as admin:
        provision_topics(admin, tenant=TENANT, partitions=4)
    # Subscriptions exist before the backlog is published, so both drains read all of it.
    warm = pulsar_client(base)
    for sub in (f"drain1-{run}", f"drain2-{run}"):
        warm.subscribe(f"persistent://{TENANT}/drones/reports", sub).close()
    warm.close()
    drones = 500
    console.print(f"publishing a backlog of {args.reports:,} reports ...")
    t0 = time.monotonic()
    sent = _publish(base, minutes=args.reports // drones, drones=drones, speed=None)
    console.print(f"  {sent:,} in {time.monotonic() - t0:.0f} s")

    one = drain(f"bench-1p-{run}", 1, sent, f"drain1-{run}")
    console.print(f"1 process: {one['reports_per_s']:,} reports/s ({one['commits']} commits)")
    two = drain(f"bench-2p-{run}", 2, sent, f"drain2-{run}")
    console.print(f"2 processes: {two['reports_per_s']:,} reports/s, split {two['per_process_written']}")
    raw = raw_delta(f"bench-1p-{run}", f"bench-raw-{run}", batch_rows=max(1, sent // max(1, one["commits"])))
    console.print(f"raw delta-rs: {raw['rows_per_s']:,} rows/s")
    fresh = freshness(f"bench-fresh-{run}", 7_000, 60)
    console.print(f"freshness at 7,000/s: {fresh['freshness_ms']}")

    data = {
        "benchmark": "sink_throughput",
        "machine": machine(),
        "backlog": sent,
        "one_process": one,
        "two_processes": two,
        "raw_delta_rs": raw,
        "ratio_sink_over_raw": round(one["reports_per_s"] / raw["rows_per_s"], 2),
        "scale_two_over_one": round(two["reports_per_s"] / one["reports_per_s"], 2),
        "freshness_at_7000": fresh,
        "targets": {
            "per_process": 25_000,
            "ratio_sink_over_raw": 0.5,
            "freshness_p99_ms": 10_000,
            "scale": 1.6,
        },
    }
    write_results("sink_throughput", data, _table(data))
    console.print(_table(data))


def _refresh_freshness(bucket: str) -> None:
    import json

    from bench._common import RESULTS

    data = json.loads((RESULTS / "sink_throughput.json").read_text())
    data["freshness_at_7000"] = freshness(bucket, 7_000, 60)
    write_results("sink_throughput", data, _table(data))
    console.print(_table(data))


def _table(data: dict[str, Any]) -> str:
    one, two, raw, sent = data["one_process"], data["two_processes"], data["raw_delta_rs"], data["backlog"]
    f = data["freshness_at_7000"]["freshness_ms"]
    return "\n".join([
        f"# Delta sink on MinIO ({sent:,}-report backlog)",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| 1 process, backlog drain | {one['reports_per_s']:,} reports/s | >= 25,000 |",
        f"| 2 processes | {two['reports_per_s']:,} reports/s ({data['scale_two_over_one']}x) | >= 1.6x |",
        f"| raw delta-rs append, same rows and batch size | {raw['rows_per_s']:,} rows/s | - |",
        f"| sink / raw | {data['ratio_sink_over_raw']} | >= 0.5 |",
        f"| freshness at 7,000/s p50 / p99 | {f['p50']} / {f['p99']} ms | p99 <= 10,000 ms |",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
