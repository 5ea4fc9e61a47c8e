"""Prove the functions worker runs Python: deploy the smoke function, send, read its output."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pulsar

from peacewatch.functions.deploy.worker import FunctionSpec, deploy_function, wait_running
from peacewatch.platform.clients import pulsar_admin, pulsar_client
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.settings import Settings

__all__ = ["SmokeResult", "run_smoke"]

SMOKE_PACKAGE = Path(__file__).parents[1] / "runtime" / "smoke.py"


@dataclass(frozen=True)
class SmokeResult:
    sent: str
    received: str
    deploy_s: float
    roundtrip_ms: float


def run_smoke(settings: Settings, *, namespace: str = "public/default", keep: bool = False) -> SmokeResult:
    tenant, ns = namespace.split("/")
    run = uuid.uuid4().hex[:8]
    spec = FunctionSpec(
        tenant=tenant,
        namespace=ns,
        name=f"smoke-{run}",
        class_name="smoke.Smoke",
        inputs=[f"persistent://{namespace}/smoke-in-{run}"],
        output=f"persistent://{namespace}/smoke-out-{run}",
    )
    assert spec.output is not None
    with pulsar_admin(settings) as admin:
        t0 = time.monotonic()
        deploy_function(admin, spec, package=SMOKE_PACKAGE)
        try:
            wait_running(admin, spec)
            deploy_s = time.monotonic() - t0
            client = pulsar_client(settings)
            try:
                consumer = client.subscribe(
                    spec.output, "smoke-check", initial_position=pulsar.InitialPosition.Earliest
                )
                producer = client.create_producer(spec.inputs[0])
                sent = f"ping-{run}"
                t1 = time.monotonic()
                producer.send(sent.encode())
                try:
                    msg = consumer.receive(timeout_millis=30_000)
                except pulsar.Timeout:
                    raise PeacewatchError(
                        f"smoke function deployed but produced nothing on {spec.output} in 30s; "
                        f"see {settings.logs_dir / 'functions'}"
                    ) from None
                roundtrip_ms = (time.monotonic() - t1) * 1000
                consumer.acknowledge(msg)
                return SmokeResult(sent, msg.data().decode(), deploy_s, roundtrip_ms)
            finally:
                client.close()
        finally:
            if not keep:
                admin.delete_function(tenant, ns, spec.name)
