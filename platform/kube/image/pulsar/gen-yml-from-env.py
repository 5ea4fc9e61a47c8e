#!/usr/bin/env python3
"""Set keys of a YAML config (functions_worker.yml) from `PF_` environment variables (the chart's
contract, as the apachepulsar image's script of this name keeps it): `PF_a_b=v` sets a.b; a few
keys are integers or comma-separated lists; PF_containerFactory keeps one runtime factory."""

import os
import sys

import yaml

INT_KEYS = {
    "workerPort",
    "numFunctionPackageReplicas",
    "failureCheckFreqMs",
    "rescheduleTimeoutMs",
    "initialBrokerReconnectMaxRetries",
    "assignmentWriteMaxRetries",
    "instanceLivenessCheckFreqMs",
}
LIST_KEYS = {
    "brokerInterceptors",
    "messagingProtocols",
    "tlsProtocols",
    "tlsCiphers",
    "authenticationProviders",
    "superUserRoles",
    "proxyRoles",
    "schemaRegistryCompatibilityCheckers",
    "brokerClientTlsCiphers",
    "brokerClientTlsProtocols",
}
FACTORIES = {
    "k8s": "kubernetesContainerFactory",
    "process": "processContainerFactory",
    "thread": "threadContainerFactory",
}


def main() -> None:
    for path in sys.argv[1:]:
        with open(path) as f:
            conf = yaml.safe_load(f) or {}
        for name in sorted(os.environ):
            if not name.startswith("PF_"):
                continue
            *parents, leaf = name[3:].split("_")
            node = conf
            for part in parents:
                node = node.setdefault(part, {})
            value = os.environ[name]
            node[leaf] = int(value) if leaf in INT_KEYS else value.split(",") if leaf in LIST_KEYS else value
        chosen = os.environ.get("PF_containerFactory")  # noqa: SIM112 - the contract's name
        conf.pop("containerFactory", None)
        if chosen in FACTORIES:
            for other in set(FACTORIES.values()) - {FACTORIES[chosen]}:
                conf.pop(other, None)
        with open(path, "w") as f:
            yaml.safe_dump(conf, f, default_flow_style=False)


if __name__ == "__main__":
    main()
