"""Deploy the alert function of one tenant."""

from __future__ import annotations

from typing import Literal

from rich.console import Console

from peacewatch.functions.decision import AlertConfig
from peacewatch.functions.deploy import FunctionSpec, deploy_function, wait_running
from peacewatch.functions.packaging import build_function_zip
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.topic_identity import topic_identity
from peacewatch.platform.topics import NAMESPACE, TenantTopics

__all__ = ["ALERT_FUNCTION_NAME", "alert_function_spec", "deploy_alerting"]

ALERT_FUNCTION_NAME = "alerting"


def alert_function_spec(tenant: str, *, config: AlertConfig, parallelism: int = 1) -> FunctionSpec:
    topics = TenantTopics(tenant)
    return FunctionSpec(
        tenant=tenant,
        namespace=NAMESPACE,
        name=ALERT_FUNCTION_NAME,
        class_name="peacewatch.functions.alerting.AlertFunction",
        inputs=[topics.reports],
        input_serde="peacewatch.functions.raw_bytes.RawBytes",  # the reports' bytes as sent
        output=None,  # alerts go out through the function's own producer, several per report if need be
        # No log topic: the function writes the officers' alert lines to it itself (the runtime
        # would swap logging handlers around every message to serve a log topic).
        log_topic=None,
        user_config=config.user_config(),
        processing_guarantees="MANUAL",
        parallelism=parallelism,
        # Each partition in order at one instance: cooldown per partition and the dead-letter
        # queue's sequence ids (ordered per partition) rely on it.
        retain_ordering=True,
        subscription_name="alerting",
        # Reports that arrived before the first deploy still raise their alerts.
        subscription_position="Earliest",
    )


def deploy_alerting(
    settings: Settings,
    admin: PulsarAdmin,
    *,
    tenant: str,
    config: AlertConfig,
    parallelism: int = 1,
    wait: bool = True,
    console: Console | None = None,
    reregister: bool = False,
) -> Literal["created", "updated", "re-registered"]:
    if config.source_id is None:
        config = config.model_copy(update={"source_id": topic_identity(admin, TenantTopics(tenant).reports)})
    # Validated here, before anything reaches the worker: a bad value is one line now, not a
    # failing instance at the first report.
    AlertConfig.from_user_config(config.user_config())
    package = build_function_zip(settings, console=console)
    spec = alert_function_spec(tenant, config=config, parallelism=parallelism)
    outcome = deploy_function(admin, spec, package=package, reregister=reregister)
    if wait:
        wait_running(admin, spec)
    return outcome
