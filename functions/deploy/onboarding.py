"""The alert function's onboarding step: deployed as the force's alerting role, with the config
its spec gives, redeployed when that config, its runtime or its token changes."""

from __future__ import annotations

from enum import StrEnum
from functools import partial

from peacewatch.functions.deploy.alerting import (
    ALERT_FUNCTION_NAME,
    DEFAULT_ALERT_RUNTIME,
    JAVA_INSTANCE_FLAGS,
    deploy_alerting,
)
from peacewatch.functions.deploy.alerting_spec import AlertingSpec
from peacewatch.functions.runtime.decision import AlertConfig
from peacewatch.platform.alert_settings import AlertRuntime
from peacewatch.platform.clients import kit_admin
from peacewatch.platform.progress import LOGGED, Progress
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.steps import Step, StepKey
from peacewatch.platform.topic_identity import recorded_identity
from peacewatch.platform.topics import NAMESPACE, TenantTopics

__all__ = ["FunctionResource", "alert_function_step"]


class FunctionResource(StrEnum):
    ALERT_FUNCTION = "alert function"


def alert_function_step(
    settings: Settings,
    admin: PulsarAdmin,
    *,
    tenant: str,
    alerting: AlertingSpec,
    ns_exists: bool,
    token_current: bool,
    progress: Progress = LOGGED,
) -> Step:
    """`token_current`: whether the alerting kit's token stays as it is (a renewed one reaches
    the instances only through a new registration)."""
    fn = admin.get_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME) if ns_exists else None
    a = alerting
    current_fn = None if fn is None else {
        "userConfig": fn.get("userConfig"), "parallelism": fn.get("parallelism"),
        "retainOrdering": fn.get("retainOrdering"), "logTopic": fn.get("logTopic"),
        "runtime": str(fn.get("runtime", "PYTHON")).lower(),
        "runtimeFlags": fn.get("runtimeFlags") or None,
        "token": "current" if token_current else "renewed",
    }  # fmt: skip
    reports = TenantTopics(tenant).reports
    # The function keys its dead letters by the reports topic's identity: a recreated topic
    # means a redeploy (unknown before the topic exists: the function is deployed then anyway).
    identity = recorded_identity(admin, reports) if ns_exists else None
    wanted_fn = {
        "userConfig": a.function_config(source_id=identity).user_config(),
        "parallelism": a.parallelism,
        "retainOrdering": True,
        "logTopic": None,
        "runtime": a.runtime,
        "runtimeFlags": JAVA_INSTANCE_FLAGS if a.runtime == "java" else None,
        "token": "current",
    }
    # The worker refuses to change a function's runtime in place: a switch is a new registration
    # (the `alerting` subscription stays, so the other implementation resumes where this one was).
    switched = current_fn is not None and current_fn["runtime"] != a.runtime
    return Step(
        StepKey(FunctionResource.ALERT_FUNCTION),
        f"alert function ({a.runtime}, threshold {a.threshold}, cooldown {a.cooldown_s:g}s, "
        f"parallelism {a.parallelism})",
        current_fn, wanted_fn,
        partial(_deploy_as_alerting, settings, tenant, a.parallelism, progress, a.function_config(),
                reregister=current_fn is not None and (not token_current or switched), runtime=a.runtime),
    )  # fmt: skip


def _deploy_as_alerting(
    settings: Settings, tenant: str, parallelism: int, progress: Progress, config: AlertConfig,
    *, reregister: bool = False, runtime: AlertRuntime = DEFAULT_ALERT_RUNTIME,
) -> None:  # fmt: skip
    # Deployed with the force's alerting token, not the platform's: the worker hands the
    # deployer's token to the function's instances, which then hold that role's rights only.
    with kit_admin(settings, tenant=tenant, kit="alerting") as as_force:
        deploy_alerting(
            settings,
            as_force,
            tenant=tenant,
            parallelism=parallelism,
            progress=progress,
            config=config,
            reregister=reregister,  # a new token reaches the instances only through a new registration
            runtime=runtime,
        )
