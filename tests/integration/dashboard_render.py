"""The shipped Grafana dashboard's panels drawn from a real Prometheus' range queries (matplotlib):
the README's picture of it, without a Grafana server (its UI cannot be built here)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def render_dashboard(
    dashboard: Path, *, prometheus: str, tenant: str, start: float, end: float, out: Path
) -> Path:
    """Each panel of `dashboard`, its queries with $tenant = `tenant`, over [start, end]."""
    panels = json.loads(dashboard.read_text())["panels"]
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(15, 3.2 * rows), squeeze=False)
    step = max(1.0, (end - start) / 200)
    with httpx.Client(base_url=prometheus, timeout=30) as http:
        for ax, panel in zip(axes.flat, panels, strict=False):
            for target in panel["targets"]:
                query = target["expr"].replace("$tenant", tenant)
                params = {"query": query, "start": start, "end": end, "step": step}
                answer: dict[str, Any] = http.get("/api/v1/query_range", params=params).json()
                for series in answer["data"]["result"]:
                    xs = [float(t) - start for t, _ in series["values"]]
                    ys = [float(v) for _, v in series["values"]]
                    label = target["legendFormat"]
                    for key, value in series["metric"].items():
                        label = label.replace("{{" + key + "}}", value)
                    ax.plot(xs, ys, marker=".", markersize=3, label=label.replace(tenant, "force"))
            ax.set_title(panel["title"], fontsize=9)
            ax.set_xlabel("seconds", fontsize=8)
            ax.tick_params(labelsize=8)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(panels) :]:
            ax.axis("off")
    fig.suptitle("peacewatch: forces - the shipped dashboard's queries on a real Prometheus (test run)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
