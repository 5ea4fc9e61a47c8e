"""Every topic name in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass

from peacewatch.platform.errors import InvalidArgument

__all__ = ["LAKE_SUBSCRIPTION", "MAX_ENTRY_BYTES", "NAMESPACE", "TenantTopics", "validate_tenant_name"]

NAMESPACE = "drones"
# The Delta sinks' shared subscription; created with the topics, so nothing waits on a first sink.
LAKE_SUBSCRIPTION = "lake-sink"
# The largest entry (one message, or one producer batch) the reports and alerts topics take: a
# report at the contract's bound (64 KiB) or a batch of the clients' default 128 KiB of payloads
# with its metadata, with room. The broker refuses bigger ones at publish (the producer retries
# them forever: Pulsar's way), so what a sink's receive queue can hold is this times its length.
MAX_ENTRY_BYTES = 262_144
# Pulsar allows [-=:.\w] in tenant names; we are stricter so a tenant name is also a valid
# bucket prefix, SQL database name (after - -> _) and DNS label.
# fullmatch: `$` in a `match` lets a trailing newline through.
_TENANT_RE = re.compile(r"[a-z][a-z0-9-]{1,40}[a-z0-9]")


def validate_tenant_name(name: str) -> str:
    if not isinstance(name, str) or not _TENANT_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid tenant name {name!r}: use 3-42 lowercase letters, digits and '-', "
            "starting with a letter (e.g. north-precinct)"
        )
    return name


@dataclass(frozen=True, slots=True)
class TenantTopics:
    """The topics of one tenant (police force)."""

    tenant: str

    def __post_init__(self) -> None:
        validate_tenant_name(self.tenant)

    @property
    def namespace(self) -> str:
        return f"{self.tenant}/{NAMESPACE}"

    def _topic(self, name: str) -> str:
        return f"persistent://{self.namespace}/{name}"

    @property
    def reports(self) -> str:
        """Drone reports (partitioned, key = drone_id)."""
        return self._topic("reports")

    @property
    def alerts(self) -> str:
        return self._topic("alerts")

    @property
    def dlq(self) -> str:
        """Invalid reports: original bytes, reason in the `error` property."""
        return self._topic("reports-dlq")

    @property
    def alert_log(self) -> str:
        """The alert function's log topic: the officers' feed."""
        return self._topic("alert-log")

    @staticmethod
    def local_name(topic: str) -> str:
        """persistent://t/ns/name -> name (the form the admin REST paths take)."""
        return topic.rsplit("/", 1)[-1]
