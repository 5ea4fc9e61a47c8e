"""The real local stack for integration tests: its own state dir and ports, so a running demo
stack is left alone. Started once per session; stopped at the end if this session started it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulsar
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from peacewatch.cli.output import RichProgress
from peacewatch.lakehouse.access import LakeAccess
from peacewatch.lakehouse.lake import lake_table
from peacewatch.platform.clients import pulsar_admin, pulsar_client
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import MinioSettings, PulsarSettings, Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.steps import apply_steps
from peacewatch.platform.topic_identity import source_identities
from peacewatch.tenants.onboarding import plan_steps
from peacewatch.tenants.spec import TenantSpec

TEST_STATE = Path(os.environ.get("PEACEWATCH_TEST_STATE_DIR", Path.home() / ".local/state/peacewatch-test"))


def test_settings() -> Settings:
    return Settings(
        state_dir=TEST_STATE,
        pulsar=PulsarSettings(
            broker_port=26650,
            web_port=28080,
            bookie_port=23181,
            stream_storage_port=24181,
            zookeeper_port=22181,
            # Ledgers roll over every 100 entries, so tiered storage has closed ledgers to offload.
            max_entries_per_ledger=100,
            min_ledger_rollover_minutes=0,
        ),
        minio=MinioSettings(port=29000, console_port=29001),
    )


@pytest.fixture(scope="session")
def settings() -> Settings:
    return test_settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Stack]:
    stack = Stack(settings=settings, progress=RichProgress())
    already_up = all(s.healthy for s in stack.status())
    if not already_up:
        stack.down()
        shutil.rmtree(settings.state_dir, ignore_errors=True)  # fresh broker data each session
        stack.up()
    yield stack
    if not already_up and not os.environ.get("PEACEWATCH_TEST_KEEP_STACK"):
        stack.down()


@pytest.fixture
def admin(stack: Stack, settings: Settings) -> Iterator[PulsarAdmin]:
    with pulsar_admin(settings) as client:
        yield client


@pytest.fixture
def client(stack: Stack, settings: Settings) -> Iterator[pulsar.Client]:
    c = pulsar_client(settings)
    yield c
    c.close()


@pytest.fixture
def tenant_names() -> tuple[str, str]:
    """Two fresh tenant names per test: runs never see each other's data."""
    run = uuid.uuid4().hex[:6]
    return f"it-{run}-north", f"it-{run}-south"


def onboard(
    settings: Settings, admin: PulsarAdmin, tenant: str, *, partitions: int = 4, with_function: bool = False,
    **spec: Any,
) -> TenantSpec:  # fmt: skip
    """Onboard a test tenant the way `peacewatch tenants add` does (topics, policies, permissions,
    bucket, MinIO user, tables); the alert function only when asked (its deploy takes ~10 s)."""
    full = TenantSpec(name=tenant, display_name=tenant, partitions=partitions, **spec)
    steps = plan_steps(settings, admin, LakeAccess(settings), full, with_function=with_function)
    apply_steps(steps)
    return full


def sources(settings: Settings, tenant: str) -> dict[str, str]:
    """The identities of a tenant's topics, as `lake run` reads them (DeltaSink's `sources`)."""
    with pulsar_admin(settings) as admin:
        return source_identities(admin, tenant)


def sink_process(
    settings: Settings, tenant: str, name: str, *, max_age: float = 1.0, max_rows: int = 20_000
) -> subprocess.Popen[bytes]:
    """A real `peacewatch lake run` process, its output in the test state's logs."""
    log = settings.logs_dir / f"test-sink-{tenant}-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "peacewatch.cli.app", "lake", "run", "-t", tenant, "--name", name,
         "--max-age", str(max_age), "--max-rows", str(max_rows), "--processes", "1"],
        env=cli_env(settings), stdout=subprocess.DEVNULL, stderr=log.open("ab"),
    )  # fmt: skip


def free_port() -> int:
    """A local TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lake_rows(settings: Settings, tenant: str) -> int:
    """Rows in the tenant's reports table (0 before it exists). Any other failure - MinIO away,
    credentials refused - is raised, never read as an empty table."""
    table = lake_table(settings, tenant=tenant, name="reports")
    try:
        return DeltaTable(table.uri, storage_options=table.storage_options).count()
    except TableNotFoundError:
        return 0


def wait_for_rows(
    settings: Settings, tenant: str, expected: int, timeout_s: float, *, allow_fewer: bool = False
) -> int:
    """Until the reports table holds `expected` rows; the rows it holds. Past `timeout_s` it fails
    the test, saying how many came (and the last error reading the table), unless `allow_fewer`
    (the caller explains a shortfall itself). MinIO being away meanwhile is waited out."""
    deadline = time.monotonic() + timeout_s
    n, error = 0, None
    while True:
        try:
            n, error = lake_rows(settings, tenant), None
        except OSError as exc:  # MinIO restarting: asked again
            error = exc
        if n >= expected:
            return n
        if time.monotonic() >= deadline:
            break
        time.sleep(1)
    if allow_fewer:
        return n
    raise AssertionError(
        f"{tenant}: {n} of {expected} rows after {timeout_s:.0f} s"
        + (f" (last error: {error})" if error else "")
    )


def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for a `peacewatch` subprocess talking to the test stack: every Pulsar and
    MinIO setting that differs from the defaults (a restart by the CLI must keep all ports)."""
    env = {**os.environ, "PEACEWATCH_STATE_DIR": str(settings.state_dir)}
    for section, defaults in (("pulsar", PulsarSettings()), ("minio", MinioSettings())):
        ours = getattr(settings, section)
        for name in type(ours).model_fields:
            value = getattr(ours, name)
            if value != getattr(defaults, name):
                env[f"PEACEWATCH_{section.upper()}__{name.upper()}"] = str(value)
    return env
