"""Create, update, watch and delete Pulsar Functions through the admin REST API v3."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from peacewatch.platform.errors import PeacewatchError, PulsarAdminError
from peacewatch.platform.pulsar_admin import PulsarAdmin

__all__ = ["FunctionSpec", "deploy_function", "wait_running"]

_STALE_PACKAGE = re.compile(r"Package '(function://[^']+)' metadata already exists")


class FunctionSpec(BaseModel):
    """What the worker needs to run a function (maps onto Pulsar's FunctionConfig)."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    namespace: str
    name: str
    class_name: str = Field(description="module.Class (Python) or package.Class (Java) inside the package")
    runtime: Literal["PYTHON", "JAVA"] = "PYTHON"
    inputs: list[str]
    input_serde: str | None = Field(
        default=None, description="module.Class of the inputs' SerDe (default: the runtime's IdentitySerDe)"
    )
    output: str | None = None
    log_topic: str | None = None
    user_config: dict[str, Any] = Field(default_factory=dict)
    processing_guarantees: Literal["ATLEAST_ONCE", "ATMOST_ONCE", "EFFECTIVELY_ONCE", "MANUAL"] = (
        "ATLEAST_ONCE"
    )
    parallelism: int = Field(default=1, ge=1, le=64)
    retain_ordering: bool = Field(
        default=False, description="Failover subscription: each partition in order at one instance."
    )
    subscription_name: str | None = None
    subscription_position: Literal["Latest", "Earliest"] = "Latest"
    cpu: float | None = None
    runtime_flags: str | None = Field(
        default=None, description="Put on the instance's command line before its main class (JVM options)"
    )

    def function_config(self, *, package: Path) -> dict[str, Any]:
        config: dict[str, Any] = {
            "tenant": self.tenant,
            "namespace": self.namespace,
            "name": self.name,
            "className": self.class_name,
            "runtime": self.runtime,
            "py" if self.runtime == "PYTHON" else "jar": package.name,
            "userConfig": self.user_config,
            "processingGuarantees": self.processing_guarantees,
            "parallelism": self.parallelism,
            "autoAck": True,
            "cleanupSubscription": False,
            "subscriptionPosition": self.subscription_position,
            "retainOrdering": self.retain_ordering,
        }
        if self.input_serde:
            config["customSerdeInputs"] = dict.fromkeys(self.inputs, self.input_serde)
        else:
            config["inputs"] = self.inputs
        if self.output:
            config["output"] = self.output
        if self.log_topic:
            config["logTopic"] = self.log_topic
        if self.subscription_name:
            config["subName"] = self.subscription_name
        if self.cpu:
            config["resources"] = {"cpu": self.cpu}
        if self.runtime_flags:
            config["runtimeFlags"] = self.runtime_flags
        return config


def deploy_function(
    admin: PulsarAdmin, spec: FunctionSpec, *, package: Path, reregister: bool = False
) -> Literal["created", "updated", "re-registered"]:
    """Create the function, or update it in place if it exists. `reregister` deletes and creates
    it instead: the only way the process runtime takes the deployer's new token (its
    `update-auth-data` changes the token only for externally managed runtimes such as
    Kubernetes; seen on 4.0.8). The subscription outlives the gap (cleanupSubscription false)."""
    if not package.is_file():
        raise PeacewatchError(f"function package {package} not found")
    exists = admin.get_function(spec.tenant, spec.namespace, spec.name) is not None
    config = spec.function_config(package=package)
    if exists and reregister:
        admin.delete_function(spec.tenant, spec.namespace, spec.name)
        _create_when_gone(admin, config, package=package)
        return "re-registered"
    try:
        admin.put_function(config, package=package, update=exists)
    except PulsarAdminError as exc:
        stale = _STALE_PACKAGE.search(exc.reason)
        if exists or stale is None:
            raise
        # A registration that timed out earlier left its package behind; the function itself
        # was never created, so the package is garbage.
        admin.delete_package(stale.group(1))
        admin.put_function(config, package=package, update=False)
    return "updated" if exists else "created"


@retry(
    retry=retry_if_exception_type(PulsarAdminError),
    stop=stop_after_delay(60),
    wait=wait_fixed(1),
    reraise=True,
)
def _create_when_gone(admin: PulsarAdmin, config: dict[str, Any], *, package: Path) -> None:
    # The worker applies a delete asynchronously: "already exists" until its metadata catches up.
    admin.put_function(config, package=package, update=False)


def wait_running(admin: PulsarAdmin, spec: FunctionSpec, *, timeout_s: float = 90.0) -> dict[str, Any]:
    """Block until every instance reports running; raise with the worker's own error otherwise."""
    deadline = time.monotonic() + timeout_s
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = admin.function_status(spec.tenant, spec.namespace, spec.name)
        except PulsarAdminError:
            status = {}
        if status.get("numRunning", 0) >= spec.parallelism:
            return status
        time.sleep(0.5)
    errors = [i.get("status", {}).get("error") for i in status.get("instances", [])]
    raise PeacewatchError(
        f"function {spec.tenant}/{spec.namespace}/{spec.name} not running after {timeout_s:.0f}s "
        f"(running {status.get('numRunning', 0)}/{spec.parallelism}; errors: {[e for e in errors if e]})"
    )
