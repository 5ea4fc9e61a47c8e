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
from typing import Any

import psutil

from peacewatch.platform.errors import StackError

__all__ = ["ManagedProcess", "busy_ports", "port_open"]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, kernel start time) of a pid, None when it is gone. The start time tells our process
    apart from a later one reusing its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces; fields after the closing paren are space separated.
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[19])


def _start_ticks(pid: int) -> int | None:
    stat = _stat(pid)
    return None if stat is None else stat[1]


def _running(pid: int) -> bool:
    """Alive and not a zombie: a process killed while another process is its parent stays listed
    until that parent reaps it, but it is stopped."""
    return _live(_stat(pid))


def _live(stat: tuple[str, int] | None) -> bool:
    return stat is not None and stat[0] not in ("Z", "X")


def port_open(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def busy_ports(ports: Sequence[tuple[str, str, int]]) -> list[str]:
    """The (label, host, port) entries something already listens on, as "label host:port"."""
    return [f"{label} {host}:{port}" for label, host, port in ports if port_open(host, port)]


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

    def _record(self) -> dict[str, Any] | None:
        """The pid file's record, None without one; StackError when it is not one we wrote."""
        try:
            text = self.pid_file.read_text()
        except FileNotFoundError:
            return None
        try:
            record = json.loads(text)
            int(record["pid"])
        except (ValueError, TypeError, KeyError) as exc:
            raise StackError(
                f"{self.name}: pid file {self.pid_file} is not one `stack up` wrote ({type(exc).__name__}); "
                f"if no {self.name} of this stack runs (`ps -ef | grep {self.name}`), "
                "delete the file and retry"
            ) from exc
        return dict(record)

    def pid(self) -> int | None:
        """Our live pid, or None (a stale pid file is removed unless the group left survivors)."""
        record = self._record()
        if record is None:
            return None
        pid = int(record["pid"])
        stat = _stat(pid)
        if stat is None or not _live(stat) or stat[1] != record.get("start_ticks"):
            if not self._survivors(record):
                self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def _survivors(self, record: dict[str, Any]) -> list[psutil.Process]:
        """Processes of the group we started whose leader is gone (say, killed -9): function
        instances and the like keep ports and files open until stopped too."""
        pgid = int(record["pid"])
        started = float(record.get("started_at", 0.0))
        found = []
        for proc in psutil.process_iter(["create_time"]):
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                # A recycled group id belongs to processes created before ours started.
                if os.getpgid(proc.pid) == pgid and proc.info["create_time"] >= started - 1:
                    found.append(proc)
        return found

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
        record = {
            "pid": proc.pid,
            "start_ticks": _start_ticks(proc.pid),
            "started_at": time.time(),
            "cmd": list(cmd),
        }
        self.pid_file.write_text(json.dumps(record))
        return proc.pid

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """SIGTERM the process group, SIGKILL after timeout. False if it was not running."""
        pid = self.pid()
        if pid is None:
            return self._stop_survivors(timeout_s=timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _running(pid):
            _reap(pid)
            time.sleep(0.2)
        if _running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            # A JVM with gigabytes mapped takes a few seconds to vanish even after SIGKILL.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _running(pid):
                _reap(pid)
                time.sleep(0.2)
        if _running(pid):
            raise StackError(f"{self.name} (pid {pid}) did not stop; kill it by hand")
        self.pid_file.unlink(missing_ok=True)
        return True

    def _stop_survivors(self, *, timeout_s: float) -> bool:
        record = self._record()
        survivors = self._survivors(record) if record else []
        for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
            for proc in _alive(survivors):
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(sig)
            deadline = time.monotonic() + wait_s
            while _alive(survivors) and time.monotonic() < deadline:
                time.sleep(0.2)
        if _alive(survivors):
            pids = ", ".join(str(p.pid) for p in _alive(survivors))
            raise StackError(f"{self.name}: processes {pids} did not stop; kill them by hand")
        self.pid_file.unlink(missing_ok=True)
        return bool(survivors)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Still running: a zombie has exited (its parent, not us, reaps it)."""
    alive = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def _reap(pid: int) -> None:
    # When this Python process is the parent (tests start and stop in one process) the child
    # stays a zombie - still listed in /proc - until waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
