"""The Java alert instance's JVM options, measured at 1,000 reports/s (issue 24): the JVM's own
defaults (G1, a quarter of the machine's memory) against the options the deploy sets
(functions.alert_deploy.JAVA_INSTANCE_FLAGS), alternating, each round beside a pulsar-perf
floor from the same minute. The force is onboarded with `peacewatch tenants apply` and only its
function's runtimeFlags change between candidates (deployed as the force's alerting role, as
onboarding does).

Writes bench/results/alert_jvm_flags.json (+ .md). Usage: python bench/alert_jvm_flags.py
[--rounds 3] [--rate 1000] [--window 20]
"""

from __future__ import annotations

import argparse
from typing import Any

from bench._common import machine, write_results
from bench.alert_latency import (
    TENANT,
    WARMUP_AFTER_DEPLOY_S,
    WARMUP_RATE,
    _apply,
    _drain,
    alert_path,
    console,
    floor,
    prepare,
)
from peacewatch.cli.output import RichProgress
from peacewatch.functions.deploy.alerting import JAVA_INSTANCE_FLAGS, deploy_alerting
from peacewatch.functions.runtime.decision import AlertConfig
from peacewatch.platform.clients import kit_admin
from peacewatch.platform.settings import Settings

# "" = no runtimeFlags: the JVM's defaults.
CANDIDATES = {"jvm defaults": "", "shipped": JAVA_INSTANCE_FLAGS}


def _deploy(settings: Settings, flags: str) -> None:
    with kit_admin(settings, tenant=TENANT, kit="alerting") as as_force:
        deploy_alerting(
            settings, as_force, tenant=TENANT, config=AlertConfig(threshold=20), runtime="java",
            runtime_flags=flags, progress=RichProgress(console),
            # A new registration: an update would keep the previous runtimeFlags where none are given.
            reregister=True,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--window", type=float, default=20.0)
    args = parser.parse_args()
    settings, payloads, epoch = prepare()
    _apply(settings, cooldown_s=0.0, parallelism=1, runtime="java")
    passes = 0
    rounds: list[dict[str, Any]] = []
    for i in range(args.rounds):
        row: dict[str, Any] = {"round": i + 1, "floor": floor(settings, args.rate, args.window)}
        for name, flags in CANDIDATES.items():
            console.print(f"[bold]round {i + 1}: {name}[/] ({flags or 'no runtimeFlags'})")
            _deploy(settings, flags)
            _drain(settings)
            alert_path(settings, WARMUP_RATE, WARMUP_AFTER_DEPLOY_S, payloads, year0=epoch + passes)
            passes += 1
            row[name] = alert_path(settings, args.rate, args.window, payloads, year0=epoch + passes)
            passes += 1
            console.print(f"  floor p99 {row['floor']['p99']} ms, alert p99 {row[name]['p99']} ms")
        rounds.append(row)
    _deploy(settings, JAVA_INSTANCE_FLAGS)  # the force as onboarding leaves it
    summary = {}
    for name, flags in CANDIDATES.items():
        ratios = [
            round(r[name]["p99"] / r["floor"]["p99"], 2)
            for r in rounds
            if r[name]["p99"] and r["floor"]["p99"]
        ]
        p99s = [r[name]["p99"] for r in rounds]
        summary[name] = {
            "flags": flags, "alert_p99_ms_runs": p99s, "ratio_p99_runs": ratios,
            "ratio_p99": sorted(ratios)[len(ratios) // 2] if ratios else None,
            "cpu_us_per_report_runs": [r[name]["cpu_us_per_report"] for r in rounds],
        }  # fmt: skip
    data = {"benchmark": "alert_jvm_flags", "machine": machine(), "rate": args.rate, "window_s": args.window,
            "candidates": summary, "rounds": rounds}  # fmt: skip
    lines = [
        f"# Java alert instance JVM options at {args.rate:,} reports/s ({args.rounds} rounds, alternating)",
        "",
        "| options | alert p99 ms per round | ratio to floor p99 per round | median ratio | CPU us/report |",
        "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, s in summary.items():
        lines.append(
            f"| {name}: `{s['flags'] or '(none)'}` | {s['alert_p99_ms_runs']} | {s['ratio_p99_runs']} | "
            f"{s['ratio_p99']}x | {s['cpu_us_per_report_runs']} |"
        )
    lines += ["", f"Floors p99 (ms) per round: {[r['floor']['p99'] for r in rounds]}"]
    path = write_results("alert_jvm_flags", data, "\n".join(lines))
    console.print("\n".join(lines))
    console.print(f"results: {path}")


if __name__ == "__main__":
    main()
