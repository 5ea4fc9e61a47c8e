"""Processes the CLI starts and stops, tracked by pid files (never `pkill` by name)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from peacewatch.platform.errors import StackError

__all__ = ["ManagedProcess", "port_open"]


def _start_ticks(pid: int) -> int | None:
    """Kernel start time of a pid: tells our process apart from a later one reusing its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces; fields after the closing paren are space separated.
    return int(stat.rsplit(")", 1)[1].split()[19])


def port_open(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    run_dir: Path
    logs_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / f"{self.name}.out"

    def pid(self) -> int | None:
        """Our live pid, or None (a stale pid file is removed)."""
        try:
            record = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        pid = int(record["pid"])
        if _start_ticks(pid) != record.get("start_ticks"):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(self, cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(cmd),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: `stop` takes children (function instances) down with it,
                # and a Ctrl-C in the shell that ran `stack up` does not.
                start_new_session=True,
            )
        record = {"pid": proc.pid, "start_ticks": _start_ticks(proc.pid), "cmd": list(cmd)}
        self.pid_file.write_text(json.dumps(record))
        return proc.pid

    def exited_early(self) -> bool:
        return self.pid_file.exists() and self.pid() is None

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """SIGTERM the process group, SIGKILL after timeout. False if it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _start_ticks(pid) is not None:
            _reap(pid)
            time.sleep(0.2)
        if _start_ticks(pid) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            # A JVM with gigabytes mapped takes a few seconds to vanish even after SIGKILL.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _start_ticks(pid) is not None:
                _reap(pid)
                time.sleep(0.2)
        if _start_ticks(pid) is not None:
            raise StackError(f"{self.name} (pid {pid}) did not stop; kill it by hand")
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _reap(pid: int) -> None:
    # When this Python process is the parent (tests start and stop in one process) the child
    # stays a zombie - still listed in /proc - until waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
