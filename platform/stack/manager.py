"""`peacewatch stack up | down | status`: the real local stack, as processes we own."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from peacewatch.platform.auth import rotate_secret_key
from peacewatch.platform.errors import StackError
from peacewatch.platform.progress import LOGGED, Progress
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.install import ensure_minio, ensure_pulsar, minio_binary, pulsar_home
from peacewatch.platform.stack.minio import MinioRunner, ensure_offload_identity
from peacewatch.platform.stack.process import ManagedProcess, busy_ports
from peacewatch.platform.stack.pulsar import PulsarRunner

__all__ = ["ComponentStatus", "Stack"]


class _Runner(Protocol):
    name: str
    process: ManagedProcess

    def start(self) -> int: ...
    def healthy(self) -> bool: ...
    def ports(self) -> list[tuple[str, str, int]]: ...


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    healthy: bool
    pid: int | None
    version: str | None
    ports: str
    detail: str


class Stack:
    def __init__(self, *, settings: Settings, progress: Progress = LOGGED) -> None:
        self.settings = settings
        self.progress = progress

    def _pulsar(self) -> PulsarRunner:
        return PulsarRunner(settings=self.settings, home=pulsar_home(self.settings))

    def _minio(self) -> MinioRunner:
        return MinioRunner(settings=self.settings, binary=minio_binary(self.settings))

    def install(self) -> None:
        ensure_pulsar(self.settings, progress=self.progress)
        ensure_minio(self.settings, progress=self.progress)

    def up(self) -> list[ComponentStatus]:
        """Idempotent: installs what is missing, starts what is not running, waits for health."""
        self.install()
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        minio = self._minio()
        pulsar = self._pulsar()
        m, p = self.settings.minio, self.settings.pulsar
        self.check_ports(minio, pulsar)  # all of them before anything starts
        self._start(minio)
        self._wait(minio, timeout_s=m.startup_timeout_s)
        # The broker offloads with an identity of its own, never with MinIO's root.
        ensure_offload_identity(self.settings)
        self._start(pulsar)
        self._wait(pulsar, timeout_s=p.startup_timeout_s)
        self.progress.note(f"Logs: {self.settings.logs_dir}")
        return self.status()

    def check_ports(self, *runners: _Runner) -> None:
        """StackError naming every port of a component not yet running that something else holds."""
        for runner in runners:
            if runner.process.pid() is not None:
                continue
            busy = busy_ports(runner.ports())
            if busy:
                raise StackError(
                    f"{runner.name}: {', '.join(busy)} already in use by a process this stack did not "
                    f"start; stop it or choose other ports (PEACEWATCH_{runner.name.upper()}__..._PORT)"
                )

    def _start(self, runner: _Runner) -> None:
        """Start unless running; the caller checked its ports (check_ports)."""
        if runner.process.pid() is not None:
            self.progress.note(f"{runner.name}: already running (pid {runner.process.pid()})")
            return
        pid = runner.start()
        self.progress.note(f"{runner.name}: started (pid {pid}), log {runner.process.log_file}")

    def _wait(self, runner: _Runner, *, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.progress.status(f"Waiting for {runner.name} to answer ..."):
            while time.monotonic() < deadline:
                if runner.healthy():
                    return
                if runner.process.pid() is None:
                    raise StackError(
                        f"{runner.name} exited during start-up; see {runner.process.log_file}:\n"
                        + runner.process.log_tail()
                    )
                time.sleep(1.0)
        raise StackError(
            f"{runner.name} did not become healthy in {timeout_s:.0f}s; see {runner.process.log_file}"
        )

    def rotate_key(self) -> None:
        """New signing key and superuser token, then the broker restarted on them (it reads the key
        at start only). Tokens signed with the old key are refused from then on; re-issuing the
        forces' tokens is onboarding's job."""
        pulsar = self._pulsar()
        was_running = pulsar.process.stop()
        rotate_secret_key(self.settings)
        self.progress.note("pulsar: new token signing key and superuser token written")
        if was_running:
            self.check_ports(pulsar)
            self._start(pulsar)
            self._wait(pulsar, timeout_s=self.settings.pulsar.startup_timeout_s)

    def down(self) -> list[str]:
        """Stops only what this stack started (pid files). Returns the names stopped."""
        stopped = []
        # Pulsar first: it may be offloading to MinIO.
        for runner in (self._pulsar(), self._minio()):
            if runner.process.stop():
                stopped.append(runner.name)
        return stopped

    def status(self) -> list[ComponentStatus]:
        p, m = self.settings.pulsar, self.settings.minio
        pulsar = self._pulsar()
        ph = pulsar.health()
        minio = self._minio()
        mh = minio.health()
        return [
            ComponentStatus(
                name="pulsar",
                healthy=bool(ph["broker"] and ph["worker"] and ph["state"]),
                pid=pulsar.process.pid(),
                version=ph["version"] or p.version,
                ports=f"broker {p.broker_port}, http {p.web_port}, state {p.stream_storage_port}",
                detail=f"broker {'up' if ph['broker'] else 'down'}, functions worker "
                f"{'up' if ph['worker'] else 'down'}, state store {'up' if ph['state'] else 'down'}",
            ),
            ComponentStatus(
                name="minio",
                healthy=bool(mh["live"]),
                pid=minio.process.pid(),
                version=m.module_version,
                ports=f"s3 {m.port}, console {m.console_port}",
                detail="live" if mh["live"] else "down",
            ),
        ]

    def require_up(self) -> None:
        """For commands that need the stack: a clear error instead of connection refusals."""
        down = [s.name for s in self.status() if not s.healthy]
        if down:
            raise StackError(f"{', '.join(down)} not running: start the stack with `peacewatch stack up`")
