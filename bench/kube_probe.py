"""Runs inside a pod of the peacewatch image (copied there by bench/kube.py): the drones and an
officer of one force, as bench/alert_latency.py's alert path, against the in-cluster broker.

The pod mounts the force's fleet and officer kits only; Settings come from the chart's env.
Prints one JSON line: the delays (ms) of the alerts whose report was published in the window.
Usage (in the pod): python kube_probe.py --tenant FORCE --rate 1000 --window 30
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.alert_latency as al
from peacewatch.platform.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--rate", type=int, required=True)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--year0", type=int, default=2200)
    args = parser.parse_args()
    al.TENANT = args.tenant  # the module's force; fork keeps it in the children
    settings = Settings()
    payloads = Path(tempfile.gettempdir()) / "reports.jsonl"
    if not payloads.exists():
        al._payload_file(payloads)
    ctx = mp.get_context("fork")
    stop, out, drone_out = ctx.Event(), ctx.Queue(), ctx.Queue()
    officer = ctx.Process(target=al._officer, args=(settings, stop, out))
    officer.start()
    time.sleep(3)
    drones = ctx.Process(
        target=al._drones,
        args=(settings, args.rate, args.warmup + args.window, payloads, args.year0, drone_out),
    )
    drones.start()
    time.sleep(args.warmup + 2)
    measured_from = time.time() * 1000
    time.sleep(args.window - 4)
    measured_to = time.time() * 1000
    sent = drone_out.get()
    drones.join()
    time.sleep(10)  # alerts of the window's last reports
    stop.set()
    seen = out.get()
    officer.join()
    delays = [d for published, d in seen if measured_from <= published < measured_to]
    print(json.dumps({"delays_ms": delays, "sent": sent["sent"], "seconds": sent["seconds"]}))


if __name__ == "__main__":
    main()
