"""Kubernetes and CoreDNS built from the Go module proxy into the cache, once.

k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces its ~30 staging modules
(k8s.io/api, k8s.io/client-go, ...) with ./staging paths that the module zip does not hold. A
wrapper module that requires k8s.io/kubernetes and replaces each of them with its published
v0.X.Y release builds it (../shared/notes/kubernetes-here.md). The version ldflags matter:
without them every binary says v0.0.0 and charts with a `kubeVersion` refuse the cluster.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

from peacewatch.platform.errors import InstallError
from peacewatch.platform.kube.settings import KubeSettings
from peacewatch.platform.progress import Progress
from peacewatch.platform.settings import Settings

__all__ = ["BINARIES", "bin_dir", "ensure_coredns", "ensure_kubernetes"]

# What a single node runs, and the client to talk to it (never a kubectl the machine happens to have).
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl")
_REPLACE = re.compile(r"^\s*(k8s\.io/[a-z0-9-]+)\s+=>\s+\./staging/", re.MULTILINE)


def bin_dir(settings: Settings, kube: KubeSettings) -> Path:
    return settings.cache_dir / "kube" / kube.version / "bin"


def _go_env(settings: Settings) -> dict[str, str]:
    go_cache = settings.cache_dir / "go"
    return {
        **os.environ,
        "GOMODCACHE": str(go_cache / "mod"),
        "GOCACHE": str(go_cache / "build"),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod",
        "CGO_ENABLED": "0",
    }


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], what: str) -> None:
    # nice 19 and one package at a time: the build shares two cores with everything else here.
    proc = subprocess.run(["nice", "-n", "19", *cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)  # fmt: skip
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-12:])
        raise InstallError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def _staging_modules(settings: Settings, version: str) -> list[str]:
    """The modules k8s.io/kubernetes' go.mod points at ./staging, read from its .mod on the proxy
    (the module cache keeps it for offline runs)."""
    cached = settings.cache_dir / "go" / "mod" / "cache" / "download" / "k8s.io" / "kubernetes" / "@v"
    mod = cached / f"{version}.mod"
    if mod.exists():
        text = mod.read_text()
    else:
        proxy = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0]
        url = f"{proxy}/k8s.io/kubernetes/@v/{version}.mod"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - the Go module proxy
                text = resp.read().decode()
        except OSError as exc:
            raise InstallError(
                f"cannot read k8s.io/kubernetes {version}'s go.mod from the Go proxy: {exc}"
            ) from exc
    modules = _REPLACE.findall(text)
    if not modules:
        raise InstallError(f"k8s.io/kubernetes {version}: no staging replacements found in its go.mod")
    return modules


def _ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    sets = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        sets += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}"]
    sets += [
        "-X k8s.io/component-base/version.gitTreeState=clean",
        "-X k8s.io/component-base/version.buildDate=2025-01-01T00:00:00Z",
    ]
    return "-s -w " + " ".join(sets)


def ensure_kubernetes(settings: Settings, kube: KubeSettings, *, progress: Progress) -> Path:
    """The node's binaries in the cache (first time ~16-20 min on two busy cores); their folder."""
    out = bin_dir(settings, kube)
    missing = [name for name in BINARIES if not (out / name).exists()]
    if not missing:
        return out
    if shutil.which("go") is None:
        raise InstallError("Go is required to build Kubernetes from the Go module proxy: install Go 1.22+")
    version = kube.version
    staging_version = "v0" + version[version.index(".") :]  # v1.30.14 -> v0.30.14
    module = settings.cache_dir / "kube" / version / "module"
    module.mkdir(parents=True, exist_ok=True)
    env = _go_env(settings)
    if not (module / "go.sum").exists():
        replaces = "\n".join(f"\t{m} => {m} {staging_version}" for m in _staging_modules(settings, version))
        (module / "go.mod").write_text(
            f"module local/peacewatch-kube\n\ngo 1.22.0\n\nrequire k8s.io/kubernetes {version}\n\n"
            f"replace (\n{replaces}\n)\n"
        )
        imports = "\n".join(f'\t_ "k8s.io/kubernetes/cmd/{name}"' for name in BINARIES)
        (module / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
        with progress.status(f"Resolving Kubernetes {version}'s modules from the Go proxy (~1 GB, once) ..."):
            _run(["go", "mod", "tidy"], cwd=module, env=env, what="go mod tidy (Kubernetes)")
    out.mkdir(parents=True, exist_ok=True)
    for name in missing:
        with progress.status(f"Building {name} {version} (first time: minutes; cached after) ..."):
            target = out / f".{name}.partial"
            _run(["go", "build", "-p", "1", "-ldflags", _ldflags(version), "-o", str(target),
                  f"k8s.io/kubernetes/cmd/{name}"], cwd=module, env=env, what=f"building {name}")  # fmt: skip
            target.rename(out / name)
        progress.note(f"{name} {version} built")
    return out


def ensure_coredns(settings: Settings, kube: KubeSettings, *, progress: Progress) -> Path:
    """CoreDNS, `go install`ed from the Go module proxy into the cache."""
    binary = bin_dir(settings, kube) / f"coredns-{kube.coredns_version}"
    if binary.exists():
        return binary
    gobin = binary.parent / ".gobin"
    gobin.mkdir(parents=True, exist_ok=True)
    with progress.status(f"Building CoreDNS {kube.coredns_version} (first time: ~4 min) ..."):
        package = f"github.com/coredns/coredns@{kube.coredns_version}"
        env = {**_go_env(settings), "GOBIN": str(gobin)}
        _run(["go", "install", "-p", "1", "-ldflags", "-s -w", package], cwd=binary.parent, env=env,
             what="go install of CoreDNS")  # fmt: skip
    (gobin / "coredns").rename(binary)
    progress.note(f"coredns {kube.coredns_version} built")
    return binary
