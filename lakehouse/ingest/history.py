"""Simulated history written straight into a tenant's reports table (no broker in between).

For analysis data sets of millions of reports - the notebooks' sample, the analysis tests and
the 10M-report benchmark - where pushing the history through Pulsar would only measure the
broker again. Rows are built by the sink's own code (`to_table`), so the table is exactly what
the sink would have written; `message_id` says where each row came from.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from deltalake import write_deltalake

from peacewatch.lakehouse.ingest.rows import to_table
from peacewatch.lakehouse.lake import LakeTable
from peacewatch.platform.contract import Report
from peacewatch.platform.contract_data import parse_report_data
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.fleet import FleetSimulator
from peacewatch.simulator.report_dict import encode_report

__all__ = ["write_history"]


def write_history(
    table: LakeTable,
    *,
    config: SimulationConfig,
    start: datetime,
    minutes: int,
    rows_per_commit: int = 500_000,
    on_progress: Callable[[int], None] = lambda _n: None,
) -> int:
    """Append `minutes` simulated minutes of `table.tenant`'s fleet; returns the rows written."""
    fleet = FleetSimulator(config, tenant=table.tenant, start=start)
    payloads: list[dict[str, Any]] = []
    times: list[int] = []
    written = 0

    def commit() -> None:
        nonlocal written
        if not payloads:
            return
        ids = [f"history:{table.tenant}:{written + i}" for i in range(len(payloads))]
        data = to_table(Report, payloads, times, ids)
        write_deltalake(table.uri, data, mode="append", partition_by=["date"], schema_mode="merge",
                        storage_options=table.storage_options)  # fmt: skip
        written += len(payloads)
        on_progress(len(payloads))
        payloads.clear()
        times.clear()

    for _ in range(minutes):
        for report in fleet.minute():
            payloads.append(dict(parse_report_data(encode_report(report))))
            times.append(int(report["ts"].timestamp() * 1000))
        if len(payloads) >= rows_per_commit:
            commit()
    commit()
    return written
