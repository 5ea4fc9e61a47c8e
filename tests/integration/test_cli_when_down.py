"""Every command says, in one line, which component is down and how to start it.

Run against ports where nothing listens (both down), and against the real test stack with only
MinIO pointed at a dead port (MinIO down, Pulsar up): never a traceback, never a 30 s wait.
"""

from __future__ import annotations

import subprocess
import sys
from itertools import takewhile
from pathlib import Path

import pytest

from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack

from .conftest import cli_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC = Path(__file__).parents[2] / "tenants" / "examples" / "north-precinct.yaml"
NEEDS_PULSAR = [
    ["tenants", "list"],
    ["tenants", "add", "north-precinct"],
    ["tenants", "apply", str(SPEC)],
    ["tenants", "plan", str(SPEC)],
    ["tenants", "show", "north-precinct"],
    ["tenants", "remove", "north-precinct"],
    ["tenants", "token", "north-precinct", "--role", "fleet"],
    ["functions", "deploy", "-t", "north-precinct"],
    ["functions", "status", "-t", "north-precinct"],
    ["functions", "delete", "-t", "north-precinct"],
    ["alerts", "tail", "-t", "north-precinct"],
    ["lake", "run", "-t", "north-precinct"],
    ["lake", "adopt-topic", "-t", "north-precinct"],
    ["simulate", "-t", "north-precinct", "--minutes", "1"],
]
NEEDS_MINIO = [
    ["lake", "status", "-t", "north-precinct"],
    ["lake", "maintain", "-t", "north-precinct"],
    ["sql", "-t", "north-precinct", "SELECT 1"],
    ["analyze", "-t", "north-precinct"],
]


def _run(env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peacewatch.cli.app", *args],
        env={**env, "COLUMNS": "300"}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _one_line(proc: subprocess.CompletedProcess[str], *, names: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert names in lines[0], lines[0]
    assert "peacewatch stack up" in lines[0], lines[0]


@pytest.mark.parametrize("args", NEEDS_PULSAR + NEEDS_MINIO, ids=lambda a: " ".join(a[:2]))
def test_with_the_stack_down(args: list[str], tmp_path: Path) -> None:
    down = Settings(state_dir=tmp_path, pulsar={"broker_port": 1, "web_port": 2}, minio={"port": 3})
    env = {**cli_env(down), "PEACEWATCH_STATE_DIR": str(tmp_path)}
    _one_line(_run(env, args), names="Pulsar" if args in NEEDS_PULSAR else "MinIO")


@pytest.mark.parametrize(
    "args",
    [*NEEDS_MINIO, ["lake", "run", "-t", "north-precinct"], ["tenants", "add", "north-precinct"]],
    ids=lambda a: " ".join(a[:2]),
)
def test_with_minio_down_and_pulsar_up(stack: Stack, settings: Settings, args: list[str]) -> None:
    env = {**cli_env(settings), "PEACEWATCH_MINIO__PORT": "3"}
    _one_line(_run(env, args), names="MinIO is not answering")


@pytest.mark.parametrize("args", NEEDS_PULSAR + NEEDS_MINIO, ids=lambda a: " ".join(a[:2]))
def test_help_needs_no_stack(args: list[str], tmp_path: Path) -> None:
    down = Settings(state_dir=tmp_path, pulsar={"broker_port": 1, "web_port": 2}, minio={"port": 3})
    env = {**cli_env(down), "PEACEWATCH_STATE_DIR": str(tmp_path)}
    command = list(takewhile(lambda a: a.isalpha() or "-" in a[1:], args))[:2]  # the command's words
    proc = _run(env, [*command, "--help"])
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
