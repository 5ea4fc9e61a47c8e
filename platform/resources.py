"""What this process may use of the machine."""

from __future__ import annotations

import ctypes
import math
import os
import signal
from pathlib import Path

__all__ = ["available_cpus", "stop_with_parent"]

_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(*, cpu_max: Path = _CGROUP_CPU_MAX) -> int:
    """CPUs this process may run on: its affinity, capped by a cgroup v2 CPU quota where one is set
    (a Kubernetes CPU limit of 1.5 gives 2: a second process still gets half a core)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit readable: the affinity decides
    return cpus


_PR_SET_PDEATHSIG = 1


def stop_with_parent() -> None:
    """In a child, before exec (Popen's preexec_fn): SIGTERM when the parent dies, even by
    kill -9 - a supervisor's workers must not outlive it and keep consuming. Linux only."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
