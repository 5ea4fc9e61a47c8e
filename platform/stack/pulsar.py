"""Apache Pulsar standalone as a local process: rendered config, start, health."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from peacewatch.platform.auth import (
    SUPERUSER_ROLE,
    ensure_secret_key,
    secret_key_path,
    superuser_token,
    superuser_token_path,
)
from peacewatch.platform.errors import StackError
from peacewatch.platform.java_build import build_jar, lib_jar
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.minio import offload_credentials
from peacewatch.platform.stack.process import ManagedProcess, port_open
from peacewatch.platform.stack.sandbox import available as sandbox_unavailable
from peacewatch.platform.stack.sandbox import wrapper_script

# Class names, not secrets.
_TOKEN_PROVIDER = "org.apache.pulsar.broker.authentication.AuthenticationProviderToken"  # noqa: S105
_TOKEN_CLIENT = "org.apache.pulsar.client.impl.auth.AuthenticationToken"  # noqa: S105
# Pulsar's ClearTextFunctionTokenAuthProvider, handing instances their token as a file instead
# of on their command line (platform/stack/java).
_FUNCTION_AUTH = "peacewatch.stack.TokenFileAuthProvider"

# What TokenFileAuthProvider is compiled against (the broker's classpath has them all).
_FUNCTION_AUTH_JARS = ("pulsar-functions-runtime", "pulsar-functions-instance", "pulsar-functions-proto",
                       "pulsar-client-original", "pulsar-broker-common", "protobuf-java")  # fmt: skip

__all__ = ["PulsarRunner"]


def _override_properties(text: str, overrides: dict[str, str]) -> str:
    """Replace `key=value` lines of a Java properties file; append keys it lacks."""
    seen: set[str] = set()
    out = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in overrides:
            out.append(f"{key}={overrides[key]}")
            seen.add(key)
        else:
            out.append(line)
    out.extend(f"{k}={v}" for k, v in overrides.items() if k not in seen)
    return "\n".join(out) + "\n"


def real_java() -> Path:
    """The JDK's java (through the alternatives links): what the sandbox's `java` execs."""
    found = shutil.which("java")
    if found is None:
        raise StackError("Java 17+ is required for Pulsar: apt-get install openjdk-17-jre-headless")
    return Path(found).resolve()


class PulsarRunner:
    name = "pulsar"

    def __init__(self, *, settings: Settings, home: Path) -> None:
        self.settings = settings
        self.home = home
        self.dir = settings.state_dir / "pulsar"
        self.process = ManagedProcess(self.name, settings.run_dir, settings.logs_dir)

    @property
    def conf_dir(self) -> Path:
        return self.dir / "conf"

    def ports(self) -> list[tuple[str, str, int]]:
        """Every port standalone listens on: a clash with any of them fails minutes into start-up."""
        p = self.settings.pulsar
        return [
            ("broker", p.host, p.broker_port),
            ("web", p.host, p.web_port),
            ("bookie", p.host, p.bookie_port),
            ("metadata (ZooKeeper)", p.host, p.zookeeper_port),
            ("stream storage", p.host, p.stream_storage_port),
        ]

    def auth_overrides(self) -> dict[str, str]:
        """Token authentication and authorization; the broker's own clients use the superuser token."""
        return {
            "authenticationEnabled": "true",
            "authenticationProviders": _TOKEN_PROVIDER,
            "tokenSecretKey": f"file://{secret_key_path(self.settings)}",
            "authorizationEnabled": "true",
            "superUserRoles": SUPERUSER_ROLE,
            "brokerClientAuthenticationPlugin": _TOKEN_CLIENT,
            "brokerClientAuthenticationParameters": f"file://{superuser_token_path(self.settings)}",
        }

    def broker_overrides(self) -> dict[str, str]:
        p = self.settings.pulsar
        return {
            **self.auth_overrides(),
            "bindAddress": p.host,
            "advertisedAddress": p.host,
            "brokerServicePort": str(p.broker_port),
            "webServicePort": str(p.web_port),
            "numHttpServerThreads": str(p.http_threads),
            "numIOThreads": "2",
            # The in-process bookie reads this file too: keep it on loopback and a known port.
            "listeningInterface": "lo",
            "bookiePort": str(p.bookie_port),
            # Standalone takes its ZooKeeper port from here (its --zookeeper-port is ignored).
            "metadataStoreUrl": f"zk:{p.host}:{p.zookeeper_port}",
            "configurationMetadataStoreUrl": f"zk:{p.host}:{p.zookeeper_port}",
            "offloadersDirectory": str(self.home / "offloaders"),
            "narExtractionDirectory": str(self.dir / "nar"),
            # Topics are created by onboarding (partitioned reports); an auto-created
            # non-partitioned `reports` would hide a missing onboarding step.
            "allowAutoTopicCreationType": "non-partitioned",
            # `tenants remove --purge` deletes a force's namespace with its topics in one call.
            "forceDeleteNamespaceAllowed": "true",
            "forceDeleteTenantAllowed": "true",
            "managedLedgerMaxEntriesPerLedger": str(p.max_entries_per_ledger),
            "managedLedgerMinLedgerRolloverTimeMinutes": str(p.min_ledger_rollover_minutes),
        }

    def worker_overrides(self) -> dict[str, Any]:
        p = self.settings.pulsar
        return {
            "workerHostname": p.host,
            "workerPort": p.web_port,
            "pulsarServiceUrl": p.service_url,
            "pulsarWebServiceUrl": p.web_url,
            "downloadDirectory": str(self.dir / "download"),
            "narExtractionDirectory": str(self.dir / "nar"),
            "connectorsDirectory": str(self.dir / "connectors"),
            "functionsDirectory": str(self.dir / "functions"),
            # Standalone copies the broker's auth settings into the worker; stated here as well so
            # the worker (and the function instances it starts) never run without them.
            "authenticationEnabled": True,
            "authorizationEnabled": True,
            "authenticationProviders": [_TOKEN_PROVIDER],
            "superUserRoles": [SUPERUSER_ROLE],
            "properties": {"tokenSecretKey": f"file://{secret_key_path(self.settings)}"},
            "brokerClientAuthenticationPlugin": _TOKEN_CLIENT,
            "brokerClientAuthenticationParameters": f"file://{superuser_token_path(self.settings)}",
            # Instances authenticate with the token of whoever deployed the function (a force's
            # alerting role, a force admin), not with the worker's superuser token file.
            "functionAuthProviderClassName": _FUNCTION_AUTH,
        }

    def sandbox_dir(self) -> Path:
        return self.dir / "sandbox"

    def instance_tokens_dir(self) -> Path:
        """Where the worker keeps each instance's token, owner-only (TokenFileAuthProvider)."""
        return self.dir / "instance-tokens"

    def function_auth_jar(self) -> Path:
        lib = self.home / "lib"
        return build_jar(
            out_dir=self.settings.cache_dir / "functions", name="instance-auth",
            what="the function instances' token provider",
            sources=sorted((Path(__file__).parent / "java").rglob("*.java")),
            classpath=[lib_jar(lib, a) for a in _FUNCTION_AUTH_JARS],
        )  # fmt: skip

    def write_sandbox(self) -> Path | None:
        """The `python3` the worker starts instances with (None: sandbox turned off)."""
        if not self.settings.pulsar.function_sandbox:
            return None
        why = sandbox_unavailable()
        if why is not None:
            raise StackError(
                f"cannot sandbox function instances: {why}. Fix that, or set "
                "PEACEWATCH_PULSAR__FUNCTION_SANDBOX=false (then a force admin's function can read the "
                "platform's keys)"
            )
        state = self.settings.state_dir.resolve()
        # Every stack's state when they share a root (~/.local/state/peacewatch*), else this one.
        hide = [state.parent if state.parent.name == "state" else state]
        script = self.sandbox_dir() / "python3"
        script.parent.mkdir(parents=True, exist_ok=True)
        unshare = shutil.which("unshare") or "unshare"
        script.write_text(wrapper_script(python=Path(sys.executable), hide=hide, unshare=unshare))
        script.chmod(0o755)
        # Java instances (the default runtime) too: the worker starts them as `java` from PATH.
        java = self.sandbox_dir() / "java"
        java.write_text(wrapper_script(python=Path(sys.executable), hide=hide, unshare=unshare,
                                       java=real_java()))  # fmt: skip
        java.chmod(0o755)
        return script.parent

    def render_config(self) -> tuple[Path, Path]:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        ensure_secret_key(self.settings)
        broker = self.conf_dir / "standalone.conf"
        broker.write_text(
            _override_properties(
                (self.home / "conf" / "standalone.conf").read_text(), self.broker_overrides()
            )
        )
        worker_conf = yaml.safe_load((self.home / "conf" / "functions_worker.yml").read_text())
        worker_conf.update(self.worker_overrides())
        runtime_cfg = worker_conf.setdefault("functionRuntimeFactoryConfigs", {}) or {}
        runtime_cfg["logDirectory"] = str(self.settings.logs_dir / "functions")
        worker_conf["functionRuntimeFactoryConfigs"] = runtime_cfg
        worker = self.conf_dir / "functions_worker.yml"
        worker.write_text(yaml.safe_dump(worker_conf, sort_keys=False))
        return broker, worker

    def home_overlay(self) -> Path:
        """A per-stack PULSAR_HOME made of links into the cached distribution.

        bin/pulsar takes its home from its own path and `cd`s there, and standalone keeps
        ZooKeeper's data at the relative path data/standalone/zookeeper. Without an overlay
        every stack would write into - and share - the cache.
        """
        overlay = self.dir / "home"
        (overlay / "bin").mkdir(parents=True, exist_ok=True)
        for script in (self.home / "bin").iterdir():
            link = overlay / "bin" / script.name
            if not link.is_symlink():
                link.symlink_to(script)
        for entry in self.home.iterdir():
            link = overlay / entry.name
            if entry.name not in ("bin", "data", "logs") and not link.is_symlink():
                link.symlink_to(entry)
        return overlay

    def start(self) -> int:
        broker, worker = self.render_config()
        home = self.home_overlay()
        sandbox = self.write_sandbox()
        p = self.settings.pulsar
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env = {
            **os.environ,
            # The functions worker starts Python instances with `python3` from PATH: ours (the
            # sandbox wrapper around this project's interpreter, with pulsar-client installed).
            "PATH": f"{sandbox}{os.pathsep}{path}" if sandbox else path,
            # The broker's own JVM: bin/pulsar takes $JAVA_HOME/bin/java, not the sandbox's `java`.
            "JAVA_HOME": str(real_java().parent.parent),
            "PULSAR_LOG_DIR": str(self.settings.logs_dir),
            "PULSAR_EXTRA_CLASSPATH": str(self.function_auth_jar()),
            "PEACEWATCH_INSTANCE_TOKENS": str(self.instance_tokens_dir()),
            "PULSAR_MEM": f"-Xms256m -Xmx{p.heap} -XX:MaxDirectMemorySize={p.direct_memory}",
            "PULSAR_STANDALONE_CONF": str(broker),
            # ZooKeeper metadata: the BookKeeper table service (the state store of Python
            # functions) only runs with it; the RocksDB default would leave state disabled.
            "PULSAR_STANDALONE_USE_ZOOKEEPER": "1",
            # Tiered storage authenticates to MinIO from the environment, never from namespace
            # policies a tenant admin can read: the generic S3 driver reads ACCESS_KEY_*. It is
            # the offload identity's (forces' buckets, objects only), not MinIO's root.
            **self._offload_env(),
        }
        cmd = [
            str(home / "bin" / "pulsar"),
            "standalone",
            "--functions-worker-conf",
            str(worker),
            "--bookkeeper-dir",
            str(self.dir / "data" / "bookkeeper"),
            "--metadata-dir",
            str(self.dir / "data" / "metadata"),
            "--advertised-address",
            p.host,
            "--bookkeeper-port",
            str(p.bookie_port),
            "--stream-storage-port",
            str(p.stream_storage_port),
        ]
        return self.process.start(cmd, env=env, cwd=self.dir)

    def _offload_env(self) -> dict[str, str]:
        creds = offload_credentials(self.settings)
        if creds is None:
            return {}
        return {"ACCESS_KEY_ID": creds.access_key, "ACCESS_KEY_SECRET": creds.secret_key}

    def health(self) -> dict[str, Any]:
        """Broker admin API and functions worker both answering."""
        url = self.settings.pulsar.web_url
        result: dict[str, Any] = {"broker": False, "worker": False, "state": False, "version": None}
        try:
            token = superuser_token(self.settings)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            with httpx.Client(base_url=url, timeout=3.0, headers=headers) as http:
                result["broker"] = http.get("/admin/v2/clusters").status_code == 200
                if result["broker"]:
                    result["version"] = http.get("/admin/v2/brokers/version").text.strip()
                    workers = http.get("/admin/v2/worker/cluster")
                    # The worker answers 503 "Leader not yet ready" until a leader is elected.
                    leader = http.get("/admin/v2/worker/cluster/leader")
                    result["worker"] = (
                        workers.status_code == 200 and len(workers.json()) > 0 and leader.status_code == 200
                    )
        except httpx.HTTPError:
            pass
        # The table service keeps the alert function's cooldown state: without it the function
        # cannot start its instances.
        p = self.settings.pulsar
        result["state"] = port_open(p.host, p.stream_storage_port)
        return result

    def healthy(self) -> bool:
        h = self.health()
        return bool(h["broker"] and h["worker"] and h["state"])
