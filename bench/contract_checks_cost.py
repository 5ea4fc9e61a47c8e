"""What the contract's checks cost a report on its way in, per report, in one run: the floor is a
plain `json.loads` of the same bytes; then pydantic's `model_validate_json` (the field rules), the
size bound alone (`check_size`, issue 33) and `parse_report` (rules + bound: what the sink and the
Python alert function call). Reports are the simulator's own, of 1 to 8 citizens.

Writes bench/results/contract_checks_cost.json (keys json_loads_us, validate_us, check_size_us,
parse_report_us, size_bound_pct) and a short table.
Usage: python -m bench.contract_checks_cost [--reports 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, write_results
from peacewatch.platform.contract import Citizen, Report, check_size, parse_report


def _reports(n: int) -> list[bytes]:
    return [
        Report(report_id=uuid.uuid4(), drone_id=f"d-{i}", ts=datetime.now(UTC), lat=48.85, lon=2.35,
               battery_pct=50.0, words=["calm", "market", "bread"][: 1 + i % 3],
               citizens=[Citizen(citizen_id=f"c-{i}-{j}", name=f"Citizen {j}", peacescore=60 + j)
                         for j in range(1 + i % 8)]).to_json()
        for i in range(n)
    ]  # fmt: skip


def _per_report_us(fn: object, reports: list[bytes], repeat: int) -> float:
    def run() -> None:
        for r in reports:
            fn(r)  # type: ignore[operator]

    return min(timeit.repeat(run, number=1, repeat=repeat)) / len(reports) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    reports = _reports(args.reports)
    figures = {
        "json_loads_us": _per_report_us(json.loads, reports, args.repeat),
        "validate_us": _per_report_us(Report.model_validate_json, reports, args.repeat),
        "check_size_us": _per_report_us(check_size, reports, args.repeat),
        "parse_report_us": _per_report_us(parse_report, reports, args.repeat),
    }
    figures["size_bound_pct"] = 100 * figures["check_size_us"] / figures["parse_report_us"]
    mean_bytes = sum(map(len, reports)) / len(reports)
    data = {**{k: round(v, 3) for k, v in figures.items()}, "reports": len(reports),
            "mean_bytes": round(mean_bytes), "machine": machine()}  # fmt: skip
    table = "\n".join([
        f"| per report ({len(reports)} reports, {mean_bytes:.0f} B mean) | µs |", "| --- | --- |",
        f"| floor: json.loads | {figures['json_loads_us']:.2f} |",
        f"| model_validate_json (field rules) | {figures['validate_us']:.2f} |",
        f"| check_size (the 64 KiB bound) | {figures['check_size_us']:.3f} |",
        f"| parse_report (rules + bound) | {figures['parse_report_us']:.2f} |",
        f"| the bound's share of parse_report | {figures['size_bound_pct']:.1f}% |",
    ])  # fmt: skip
    print(table)
    print(f"wrote {write_results('contract_checks_cost', data, table)}")


if __name__ == "__main__":
    main()
