"""What the cooldown costs the default alert function, taken apart, on the real local stack.

`bench/alert_latency.py` finds the Java function's p99 rising with cooldown on at 7,000/s and
above while its state reads are served from the cache (`cooldown_state_reads` stays at the number
of distinct citizens). This run repeats cooldown off / on, alternating, at the same rates and with
the same drones and officer (alert_latency's), and measures beside the officers' p99, over the
same window:
- the CPU of every party, in cores: the machine, the broker (Pulsar standalone: it serves the
  state store too), the function's instance, the bench's drones and officer, the rest;
- the function's own figures from the worker's /metrics: alerts, state writes and their time
  (`cooldown_state_write_ms`, what each alert's acknowledgement waits for), `alert_delay_ms`
  (report published -> alert stored, the part before the officer's consumer);
- pulsar-perf's floor at each rate, once per round, as in alert_latency.
Writes bench/results/alert_cooldown_cost.{json,md}.
Usage: python -m bench.alert_cooldown_cost [--rates 7000 10000] [--rounds 2] [--window 20]
"""

from __future__ import annotations

import argparse
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench._common import machine, write_results
from bench.alert_latency import (
    TENANT,
    WARMUP_AFTER_DEPLOY_S,
    WARMUP_RATE,
    _apply,
    _drain,
    _instances,
    alert_path,
    console,
    floor,
    prepare,
)
from peacewatch.platform.alert_settings import DEFAULT_ALERT_RUNTIME
from peacewatch.platform.settings import Settings

COOLDOWN_S = 300.0


def _broker() -> psutil.Process:
    for p in psutil.process_iter(["cmdline"]):
        if "org.apache.pulsar.PulsarStandaloneStarter" in (p.info["cmdline"] or []):
            return p
    raise SystemExit("no Pulsar standalone running")


def _cpu(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
        return t.user + t.system
    except psutil.NoSuchProcess:
        return 0.0


_THREAD_NUMBER = re.compile(r"[-_ #.]*\d+")


def _threads(p: psutil.Process) -> dict[str, float]:
    """CPU seconds per thread name (numbers dropped: a pool's threads add up), e.g. the broker's
    `bookie-io`, `ZWorker`, `pulsar-io`; thread names are 15 characters at most (Linux's comm)."""
    out: dict[str, float] = {}
    try:
        threads = p.threads()
    except psutil.NoSuchProcess:
        return out
    for t in threads:
        try:
            name = Path(f"/proc/{p.pid}/task/{t.id}/comm").read_text().strip()
        except OSError:
            continue
        group = _THREAD_NUMBER.sub("", name) or name
        out[group] = out.get(group, 0.0) + t.user_time + t.system_time
    return out


class CpuSampler:
    """CPU seconds of each party, sampled once a second, so any window inside can be cut out."""

    def __init__(self, broker: psutil.Process, instances: list[psutil.Process]) -> None:
        self.broker, self.instances = broker, instances
        self.me = psutil.Process()
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.threads: list[tuple[float, dict[str, float]]] = []  # the broker's, per thread name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[str, float]:
        t = psutil.cpu_times()
        bench = _cpu(self.me)
        for child in self.me.children(recursive=True):
            bench += _cpu(child)
        return {
            "machine": t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0),
            "broker": _cpu(self.broker),
            "function": sum(_cpu(p) for p in self.instances),
            "bench": bench,
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time() * 1000
            self.samples.append((now, self._sample()))
            self.threads.append((now, _threads(self.broker)))
            self._stop.wait(1.0)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cores(self, from_ms: float, to_ms: float) -> dict[str, float]:
        """Cores busy per party between the first sample at/after from_ms and the last before to_ms."""
        inside = [(t, s) for t, s in self.samples if from_ms <= t <= to_ms]
        (t0, a), (t1, b) = inside[0], inside[-1]
        seconds = (t1 - t0) / 1000
        out = {k: round((b[k] - a[k]) / seconds, 3) for k in a}
        out["rest"] = round(out["machine"] - out["broker"] - out["function"] - out["bench"], 3)
        return out

    def broker_threads(self, from_ms: float, to_ms: float) -> dict[str, float]:
        """Cores per broker thread name over the window, busiest first."""
        inside = [(t, s) for t, s in self.threads if from_ms <= t <= to_ms]
        (t0, a), (t1, b) = inside[0], inside[-1]
        seconds = (t1 - t0) / 1000
        cores = {k: (b[k] - a.get(k, 0.0)) / seconds for k in b}
        return {k: round(v, 3) for k, v in sorted(cores.items(), key=lambda kv: -kv[1]) if v >= 0.005}


def _user_metrics(settings: Settings) -> dict[str, dict[str, float]]:
    """The force's function user metrics (sum and count per name), summed over instances."""
    text = httpx.get(f"{settings.pulsar.web_url}/metrics/", timeout=30.0).text
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "pulsar_function_user_metric_":
            continue
        for sample in family.samples:
            if sample.labels.get("tenant") != TENANT or not sample.name.endswith(("_sum", "_count")):
                continue
            kind = "sum" if sample.name.endswith("_sum") else "count"
            entry = out.setdefault(sample.labels["metric"], {"sum": 0.0, "count": 0.0})
            entry[kind] += sample.value
    return out


Sums = dict[str, dict[str, float]]


def _delta(after: Sums, before: Sums, name: str) -> dict[str, float]:
    a, b = after.get(name, {"sum": 0.0, "count": 0.0}), before.get(name, {"sum": 0.0, "count": 0.0})
    return {"sum": a["sum"] - b["sum"], "count": a["count"] - b["count"]}


def measure(settings: Settings, rate: int, window: float, payloads: Path, *, year0: int) -> dict[str, Any]:
    instances = _instances()
    with CpuSampler(_broker(), instances) as cpu:
        before = _user_metrics(settings)
        result = alert_path(settings, rate, window, payloads, year0=year0)
        after = _user_metrics(settings)
    # alert_path's measured window; the metrics' deltas span the whole call (warm-up, drain too):
    # means per event, not rates.
    cores = cpu.cores(result["measured_from_ms"], result["measured_to_ms"])
    threads = cpu.broker_threads(result["measured_from_ms"], result["measured_to_ms"])
    writes = _delta(after, before, "cooldown_state_write_ms")
    delay = _delta(after, before, "alert_delay_ms")
    reads = _delta(after, before, "cooldown_state_reads")
    reports = _delta(after, before, "reports")["sum"]
    return {
        **result,
        "cores": cores,
        "broker_thread_cores": threads,
        "reports": reports,
        "alerts_stored": delay["count"],
        "alert_stored_mean_ms": round(delay["sum"] / delay["count"], 2) if delay["count"] else None,
        "state_writes": writes["count"],
        "state_write_mean_ms": round(writes["sum"] / writes["count"], 2) if writes["count"] else None,
        "state_reads": reads["sum"],
        # Share of the function's one write thread spent waiting on the store, over the call.
        "state_write_busy_s": round(writes["sum"] / 1000, 2),
    }


def _median(values: list[Any]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=int, nargs="*", default=[7_000, 10_000])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--window", type=float, default=20.0)
    args = parser.parse_args()
    settings, payloads, epoch = prepare()
    passes = 0
    rows: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        # Alternating, and the order flipped every round: drift of the machine falls on both.
        for cooldown in (False, True) if round_ % 2 == 0 else (True, False):
            label = "on" if cooldown else "off"
            console.print(f"[bold]round {round_ + 1}/{args.rounds}: cooldown {label}[/]")
            _apply(settings, cooldown_s=COOLDOWN_S if cooldown else 0.0, parallelism=1,
                   runtime=DEFAULT_ALERT_RUNTIME)  # fmt: skip
            _drain(settings)
            alert_path(settings, WARMUP_RATE, WARMUP_AFTER_DEPLOY_S, payloads, year0=epoch + 10 * passes)
            passes += 1
            for rate in args.rates:
                first = cooldown == bool(round_ % 2)  # the round's first configuration takes the floor
                fl = floor(settings, rate, args.window) if first else None
                m = measure(settings, rate, args.window, payloads, year0=epoch + 10 * passes)
                passes += 1
                floor_p99 = (fl or {}).get("p99")
                rows.append({"round": round_ + 1, "cooldown": label, "rate": rate, "floor_p99_ms": floor_p99}
                            | m)  # fmt: skip
                console.print(
                    f"  {rate:,}/s cooldown {label}: p99 {m['p99']} ms, cores {m['cores']}, "
                    f"writes {m['state_writes']:.0f} x {m['state_write_mean_ms']} ms, "
                    f"stored mean {m['alert_stored_mean_ms']} ms"
                )
    summary = []
    for rate in args.rates:
        entry: dict[str, Any] = {"rate": rate}
        for label in ("off", "on"):
            mine = [r for r in rows if r["rate"] == rate and r["cooldown"] == label]
            entry[label] = {
                "alert_p99_ms": _median([r["p99"] for r in mine]),
                "alert_p99_ms_runs": [r["p99"] for r in mine],
                "alert_stored_mean_ms": _median([r["alert_stored_mean_ms"] for r in mine]),
                "sustained_runs": sum(r["sustained"] for r in mine),
                "cores": {k: _median([r["cores"][k] for r in mine]) for k in mine[0]["cores"]},
                "broker_thread_cores": {
                    k: _median([r["broker_thread_cores"].get(k, 0.0) for r in mine])
                    for k in {k for r in mine for k in r["broker_thread_cores"]}
                },
                "state_write_mean_ms": _median([r["state_write_mean_ms"] for r in mine]),
                "state_writes_per_alert": _median(
                    [r["state_writes"] / r["alerts_stored"] if r["alerts_stored"] else None for r in mine]
                ),
            }
        entry["floor_p99_ms"] = _median([r["floor_p99_ms"] for r in rows if r["rate"] == rate])
        summary.append(entry)
    data = {"benchmark": "alert_cooldown_cost", "machine": machine(), "runtime": DEFAULT_ALERT_RUNTIME,
            "window_s": args.window, "rounds": args.rounds, "cooldown_s": COOLDOWN_S,
            "rates": summary, "per_run": rows}  # fmt: skip
    lines = [
        f"# Cooldown off vs on, {DEFAULT_ALERT_RUNTIME} alert function, {args.rounds} rounds (medians)",
        "",
        "| rate/s | cooldown | alert p99 ms (runs) | alert stored, mean ms | cores: machine / broker / "
        "function / bench / rest | state write mean ms | floor p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in summary:
        for label in ("off", "on"):
            s = e[label]
            c = s["cores"]
            lines.append(
                f"| {e['rate']:,} | {label} | {s['alert_p99_ms']} {s['alert_p99_ms_runs']} | "
                f"{s['alert_stored_mean_ms']} | {c['machine']} / {c['broker']} / {c['function']} / "
                f"{c['bench']} / {c['rest']} | {s['state_write_mean_ms'] or '-'} | {e['floor_p99_ms']} |"
            )
    lines += ["", "Where the broker's extra CPU goes with cooldown on (cores per thread name, medians):", ""]
    lines += ["| rate/s | broker thread | off | on | on - off |", "|---|---|---|---|---|"]
    for e in summary:
        off, on = e["off"]["broker_thread_cores"], e["on"]["broker_thread_cores"]
        grew = sorted(set(off) | set(on), key=lambda k: -(on.get(k, 0.0) - off.get(k, 0.0)))
        for k in grew[:8]:
            lines.append(
                f"| {e['rate']:,} | {k} | {off.get(k, 0.0)} | {on.get(k, 0.0)} | "
                f"{round(on.get(k, 0.0) - off.get(k, 0.0), 3)} |"
            )
    table = "\n".join(lines)
    write_results("alert_cooldown_cost", data, table)
    console.print(table)


if __name__ == "__main__":
    main()
