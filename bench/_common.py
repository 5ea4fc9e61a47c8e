"""Shared bits of the benchmarks: percentiles and writing results (JSON + a short Markdown table)."""

from __future__ import annotations

import json
import platform as std_platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"


def percentiles(values_ms: list[float] | np.ndarray) -> dict[str, float | int | None]:
    arr = np.asarray(values_ms, dtype=float)
    if arr.size == 0:
        return {"n": 0, "p50": None, "p99": None, "p999": None, "max": None}
    return {
        "n": int(arr.size),
        "p50": round(float(np.percentile(arr, 50)), 2),
        "p99": round(float(np.percentile(arr, 99)), 2),
        "p999": round(float(np.percentile(arr, 99.9)), 2),
        "max": round(float(arr.max()), 2),
    }


def machine() -> dict[str, Any]:
    import os

    return {
        "cpus": os.cpu_count(),
        "python": std_platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_results(name: str, data: dict[str, Any], table: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    (RESULTS / f"{name}.md").write_text(table + "\n")
    return out
