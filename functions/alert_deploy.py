"""Deploy the alert function of one tenant."""

from __future__ import annotations

from typing import Literal

from rich.console import Console

from peacewatch.functions.decision import AlertConfig
from peacewatch.functions.deploy import FunctionSpec, deploy_function, wait_running
from peacewatch.functions.java_package import JAVA_ALERT_CLASS, build_function_jar
from peacewatch.functions.packaging import build_function_zip
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.topic_identity import topic_identity
from peacewatch.platform.topics import NAMESPACE, TenantTopics

__all__ = ["ALERT_FUNCTION_NAME", "AlertRuntime", "alert_function_spec", "deploy_alerting"]

ALERT_FUNCTION_NAME = "alerting"
# Which of the two implementations runs: functions/alerting.py or functions/java (same contract,
# same test vectors, same topics and state).
AlertRuntime = Literal["python", "java"]


def alert_function_spec(
    tenant: str, *, config: AlertConfig, parallelism: int = 1, runtime: AlertRuntime = "python"
) -> FunctionSpec:
    topics = TenantTopics(tenant)
    java = runtime == "java"
    return FunctionSpec(
        tenant=tenant,
        namespace=NAMESPACE,
        name=ALERT_FUNCTION_NAME,
        runtime="JAVA" if java else "PYTHON",
        class_name=JAVA_ALERT_CLASS if java else "peacewatch.functions.alerting.AlertFunction",
        inputs=[topics.reports],
        # The reports' bytes as sent (the Java function takes byte[]: the runtime's bytes as they are).
        input_serde=None if java else "peacewatch.functions.raw_bytes.RawBytes",
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
    runtime: AlertRuntime = "python",
) -> Literal["created", "updated", "re-registered"]:
    if config.source_id is None:
        config = config.model_copy(update={"source_id": topic_identity(admin, TenantTopics(tenant).reports)})
    # Validated here, before anything reaches the worker: a bad value is one line now, not a
    # failing instance at the first report.
    AlertConfig.from_user_config(config.user_config())
    if runtime == "java":
        package = build_function_jar(settings, console=console)
    else:
        package = build_function_zip(settings, console=console)
    spec = alert_function_spec(tenant, config=config, parallelism=parallelism, runtime=runtime)
    outcome = deploy_function(admin, spec, package=package, reregister=reregister)
    if wait:
        wait_running(admin, spec)
    return outcome
