"""Create a tenant's Pulsar resources: tenant, `drones` namespace, topics, registered schemas.

Idempotent: running it twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peacewatch.platform.contract import Alert, Report
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.schema_registry import schema_payload
from peacewatch.platform.topic_identity import TOPIC_ID_PROPERTY, ensure_topic_identity
from peacewatch.platform.topics import LAKE_SUBSCRIPTION, MAX_ENTRY_BYTES, TenantTopics

__all__ = ["ProvisionResult", "provision_topics"]


@dataclass
class ProvisionResult:
    tenant: str
    changes: list[str] = field(default_factory=list)


def provision_topics(
    admin: PulsarAdmin, *, tenant: str, partitions: int = 4, cluster: str = "standalone"
) -> ProvisionResult:
    topics = TenantTopics(tenant)
    result = ProvisionResult(tenant)
    if admin.get_tenant(tenant) is None:
        admin.create_tenant(tenant, admin_roles=[], clusters=[cluster])
        result.changes.append(f"tenant {tenant}")
    if admin.create_namespace(topics.namespace):
        result.changes.append(f"namespace {topics.namespace}")
    if admin.create_partitioned_topic(topics.reports, partitions=partitions):
        result.changes.append(f"topic {topics.reports} ({partitions} partitions)")
    for topic in (topics.alerts, topics.dlq, topics.alert_log):
        if admin.create_topic(topic):
            result.changes.append(f"topic {topic}")
    # No producer may register a schema of its own: the contract's are registered here.
    if admin.get_namespace_policy(topics.namespace, "isAllowAutoUpdateSchema") is not False:
        admin.set_namespace_policy(topics.namespace, "isAllowAutoUpdateSchema", False)
        result.changes.append(f"schema auto-update off on {topics.namespace}")
    for topic, model in ((topics.reports, Report), (topics.alerts, Alert)):
        wanted = schema_payload(model)
        current = admin.get_schema(topic)
        if current is None or current.get("data") != wanted["schema"]:
            admin.upload_schema(topic, wanted)
            result.changes.append(f"schema {model.__name__} on {topic}")
    # Identities: what the sink's recorded positions and the DLQs' sequence ids are keyed by.
    for topic in (topics.reports, topics.alerts):
        if TOPIC_ID_PROPERTY not in admin.topic_properties(topic):
            ensure_topic_identity(admin, topic)
            result.changes.append(f"identity of {topic}")
    # The lake's subscription exists from the start: from then on the broker keeps every report
    # until the lake has stored it, even if no sink has run yet (retention alone would not).
    for topic in (topics.reports, topics.alerts):
        if LAKE_SUBSCRIPTION not in admin.subscriptions(topic):
            admin.create_subscription(topic, LAKE_SUBSCRIPTION)
            result.changes.append(f"subscription {LAKE_SUBSCRIPTION} on {topic}")
    # Enforced per topic, where the contract applies: producers that do not declare it are
    # refused. The DLQ and the alert log carry raw bytes and text.
    for topic in (topics.reports, topics.alerts):
        if admin.get_topic_policy(topic, "schemaValidationEnforced") is not True:
            admin.set_topic_policy(topic, "schemaValidationEnforced", True)
            result.changes.append(f"schema validation enforced on {topic}")
        # Not the broker's default 5 MB: the sinks' memory is sized from this (a force admin may
        # change it on their own topics; the next apply sets it back).
        if admin.get_topic_policy(topic, "maxMessageSize") != MAX_ENTRY_BYTES:
            admin.set_topic_policy(topic, "maxMessageSize", MAX_ENTRY_BYTES)
            result.changes.append(f"entries of at most {MAX_ENTRY_BYTES} bytes on {topic}")
    return result
