"""The sandbox a function instance runs in on the local stack, Python or Java.

The functions worker starts each instance as a child process: by default it would inherit the
broker's environment and see every file the broker sees - the token signing key, the
platform's tokens, MinIO's data (every force's lake), BookKeeper's ledgers. A force admin may
deploy functions, so that would hand them everything. The worker finds `python3` and `java` on
its PATH; ours are wrappers (`wrapper_script`) that start the real runtime through this module
inside new mount and PID namespaces (util-linux `unshare`), with:
- an empty environment but for PATH and LANG;
- tmpfs over the state directories (all stacks' state, so secrets, data and logs of every
  force), with only what the instance needs bound back: its own package directory, its own log
  directory, the runtime's code and logging config (for Java: the instance jar and its
  dependencies, Pulsar's conf and lib, the NAR extraction folder) and the one file holding its
  token (TokenFileAuthProvider keeps tokens off command lines), read off its command line;
- its own /proc (other instances and the broker stay out of sight) and a working directory
  outside the hidden tree (a cwd would otherwise keep reaching under the tmpfs).
It fails closed: if the namespaces cannot be made, the instance does not start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["available", "main", "wrapper_script"]


def wrapper_script(*, python: Path, hide: list[Path], unshare: str, java: Path | None = None) -> str:
    """The `python3` (or, given `java`, the `java`) the worker runs: unshare, clean environment,
    then this module, which execs the real runtime."""
    user_ns = "" if os.geteuid() == 0 else "--user --map-root-user "
    hidden = ":".join(str(p) for p in hide)
    runtime = f' --java "{java}"' if java is not None else ""
    return (
        "#!/bin/sh\n"
        f"# peacewatch: {'Java' if java else 'Python'} function instances run sandboxed "
        "(platform/stack/sandbox.py)\n"
        f"exec {unshare} {user_ns}--mount --pid --fork --kill-child --mount-proc --propagation private -- "
        f'/usr/bin/env -i PATH="{python.parent}:/usr/bin:/bin" LANG=C.UTF-8 PYTHONUNBUFFERED=1 '
        f'"{python}" -m peacewatch.platform.stack.sandbox --hide "{hidden}"{runtime} -- "$@"\n'
    )


def _arg(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def token_file(args: list[str]) -> Path | None:
    """The instance's token file (`--client_auth_params file://PATH`), if it was given one."""
    params = (_arg(args, "--client_auth_params") or "").strip("'\"")
    return Path(params.removeprefix("file://")) if params.startswith("file:///") else None


def _kept(args: list[str]) -> list[Path]:
    """What the instance needs from under the hidden directories, read off its command line."""
    keep: list[Path] = []
    if args and args[0].endswith(".py"):
        keep.append(Path(args[0]).parent)  # the runtime's code (python_instance_main.py and its modules)
    for flag in ("--py", "--logging_config_file"):
        value = _arg(args, flag)
        if value:
            keep.append(Path(value).parent)
    log_dir, details = _arg(args, "--logging_directory"), _arg(args, "--function_details")
    if log_dir and details:
        d = json.loads(details.strip("'"))  # the worker quotes it, as python_instance_main expects
        keep.append(Path(log_dir) / d["tenant"] / d["namespace"] / d["name"])
    return keep


def _java_kept(args: list[str]) -> list[Path]:
    """What a Java instance needs, read off the worker's `java` command line (RuntimeUtils)."""
    keep: list[Path] = []

    def classpath(value: str) -> None:
        for entry in value.split(":"):
            entry = entry.removesuffix("*").rstrip("/")
            if entry:
                path = Path(entry)
                keep.append(path if path.is_dir() else path.parent)

    cp = _arg(args, "-cp") or _arg(args, "-classpath")
    if cp:
        classpath(cp)
    for arg in args:
        name, _, value = arg.partition("=")
        if name == "-Dpulsar.functions.instance.classpath":
            classpath(value)
        elif name == "-Dlog4j.configurationFile":
            keep.append(Path(value).parent)
        elif name in ("-Dpulsar.function.log.dir", "-Dpulsar.functions.extra.dependencies.dir"):
            keep.append(Path(value))
    jar = _arg(args, "--jar")
    if jar:
        keep.append(Path(jar).parent)
    nar = _arg(args, "--nar_extraction_directory")
    if nar:
        keep.append(Path(nar))
    return list(dict.fromkeys(keep))


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="peacewatch-sandbox")
    parser.add_argument("--hide", required=True)
    parser.add_argument("--java", help="The real java: the instance is a Java one")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)
    args = opts.rest[1:] if opts.rest[:1] == ["--"] else opts.rest
    hide = [Path(p) for p in opts.hide.split(":") if p]
    keep = [p.absolute() for p in (_java_kept(args) if opts.java else _kept(args))]
    for path in keep:
        path.mkdir(parents=True, exist_ok=True)
    token = token_file(args)
    if token is not None:
        keep.append(token.absolute())  # a file: bound on its own, never its folder
    # Stage what is kept on a private tmpfs, hide the state trees, then bind the kept paths back.
    # Inside our own mount namespace: the tmpfs mounted here is private to this instance.
    stage = Path("/tmp") / f"peacewatch-sandbox-{os.getpid()}"  # noqa: S108
    stage.mkdir(exist_ok=True)
    _mount("-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(stage))
    staged = []
    for i, path in enumerate(keep):
        target = stage / str(i)
        if path.is_file():
            target.touch()
        else:
            target.mkdir()
        # Through symlinks (PULSAR_HOME is an overlay of links): the mount lands on the real
        # directory, and goes back below onto the path the runtime uses.
        _mount("--bind", str(path.resolve()), str(target))
        staged.append((target, path))
    for root in hide:
        if root.is_dir():
            _mount("-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(root))
    for target, path in staged:
        if target.is_dir():
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        _mount("--bind", str(target), str(path))
    # Off the hidden tree: a working directory inside it would keep reaching under the tmpfs.
    if opts.java:
        jar = _arg(args, "--jar")
        os.chdir(Path(jar).parent if jar else "/")
        os.execv(opts.java, [opts.java, *args])  # noqa: S606 - the runtime's own command line
    package = _arg(args, "--py")
    os.chdir(Path(package).parent if package else "/")
    python = sys.executable
    os.execv(python, [python, *args])  # noqa: S606 - the runtime's own command line, unchanged


def available() -> str | None:
    """Why sandboxes cannot be made here (None: they can)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "the `unshare` command (util-linux) is not installed"
    user_ns = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    probe = subprocess.run(
        [unshare, *user_ns, "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
         "sh", "-c", "mount -t tmpfs tmpfs /tmp && true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        return f"mount/pid namespaces are not allowed here: {probe.stderr.strip()[:200]}"
    return None


if __name__ == "__main__":
    main()
