"""Deploy the alert function of one tenant."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from peacewatch.functions.deploy.java_package import JAVA_ALERT_CLASS, build_function_jar
from peacewatch.functions.deploy.packaging import build_function_zip
from peacewatch.functions.deploy.worker import FunctionSpec, deploy_function, wait_running
from peacewatch.functions.runtime.decision import AlertConfig
from peacewatch.platform.alert_settings import DEFAULT_ALERT_RUNTIME, AlertRuntime
from peacewatch.platform.progress import LOGGED, Progress
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import FunctionPackageSettings, Settings
from peacewatch.platform.topic_identity import topic_identity
from peacewatch.platform.topics import NAMESPACE, TenantTopics

__all__ = [
    "ALERT_FUNCTION_NAME",
    "DEFAULT_ALERT_RUNTIME",
    "JAVA_INSTANCE_FLAGS",
    "AlertRuntime",
    "alert_function_spec",
    "bake_alert_packages",
    "deploy_alerting",
]

ALERT_FUNCTION_NAME = "alerting"
# The Java instance's JVM (the worker puts a function's runtimeFlags on the instance's command
# line, in the process and the Kubernetes runtime alike; its own -Xmx, from the function's RAM
# resource - 1 GiB by default - comes after them and wins, so none is given here).
# bench/alert_jvm_flags.py at 1,000 reports/s measured no tail difference from the JVM's defaults
# (p99 1.51x vs 1.49x the floor, CPU per report within the noise): these are kept for the small
# node, not for speed - one GC thread rather than G1's parallel and concurrent ones competing for
# two cores, the heap committed and touched at start, no hsperfdata file in /tmp.
JAVA_INSTANCE_FLAGS = "-Xms256m -XX:+UseSerialGC -XX:+AlwaysPreTouch -XX:+PerfDisableSharedMem"


def alert_function_spec(
    tenant: str,
    *,
    config: AlertConfig,
    parallelism: int = 1,
    runtime: AlertRuntime = DEFAULT_ALERT_RUNTIME,
    runtime_flags: str | None = None,
) -> FunctionSpec:
    """`runtime_flags`: the instance's JVM options (default JAVA_INSTANCE_FLAGS; Java only)."""
    topics = TenantTopics(tenant)
    java = runtime == "java"
    return FunctionSpec(
        tenant=tenant,
        namespace=NAMESPACE,
        name=ALERT_FUNCTION_NAME,
        runtime="JAVA" if java else "PYTHON",
        class_name=JAVA_ALERT_CLASS if java else "peacewatch.functions.runtime.alerting.AlertFunction",
        inputs=[topics.reports],
        # The reports' bytes as sent (the Java function takes byte[]: the runtime's bytes as they are).
        input_serde=None if java else "peacewatch.functions.runtime.raw_bytes.RawBytes",
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
        runtime_flags=(runtime_flags if runtime_flags is not None else JAVA_INSTANCE_FLAGS) if java else None,
    )


def deploy_alerting(
    settings: Settings,
    admin: PulsarAdmin,
    *,
    tenant: str,
    config: AlertConfig,
    parallelism: int = 1,
    wait: bool = True,
    progress: Progress = LOGGED,
    reregister: bool = False,
    runtime: AlertRuntime = DEFAULT_ALERT_RUNTIME,
    runtime_flags: str | None = None,
) -> Literal["created", "updated", "re-registered"]:
    if config.source_id is None:
        config = config.model_copy(update={"source_id": topic_identity(admin, TenantTopics(tenant).reports)})
    # Validated here, before anything reaches the worker: a bad value is one line now, not a
    # failing instance at the first report.
    AlertConfig.from_user_config(config.user_config())
    if runtime == "java":
        package = build_function_jar(settings, progress=progress)
    else:
        package = build_function_zip(settings, progress=progress)
    spec = alert_function_spec(
        tenant, config=config, parallelism=parallelism, runtime=runtime, runtime_flags=runtime_flags
    )
    outcome = deploy_function(admin, spec, package=package, reregister=reregister)
    if wait:
        wait_running(admin, spec)
    return outcome


def bake_alert_packages(settings: Settings, cache: Path, *, target: FunctionPackageSettings) -> None:
    """The alert function's packages as built here - dependency wheels for `target` (the functions
    image's Python) and the Java jar - copied into `cache` (an image's), so a Job there deploys
    without a package index or a JDK."""
    build_function_zip(settings.model_copy(update={"function_package": target}))
    jar = build_function_jar(settings)
    for folder in ("functions", "function-deps"):
        shutil.copytree(settings.cache_dir / folder, cache / folder, dirs_exist_ok=True)
    # Only the jar of this source: older builds stay out of the image.
    for old in (cache / "functions").glob("alerting-*.jar"):
        if old.name != jar.name:
            old.unlink()
