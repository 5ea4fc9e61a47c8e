from __future__ import annotations

import os
from pathlib import Path

import pytest

from peacewatch.platform.resources import available_cpus


@pytest.mark.parametrize(
    ("cpu_max", "cap"),
    [("max 100000\n", None), ("150000 100000\n", 2), ("50000 100000\n", 1), ("garbage", None)],
)
def test_cpus_follow_the_affinity_and_a_cgroup_quota(tmp_path: Path, cpu_max: str, cap: int | None) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(cpu_max=path) == (affinity if cap is None else min(affinity, cap))
    assert available_cpus(cpu_max=tmp_path / "absent") == affinity
