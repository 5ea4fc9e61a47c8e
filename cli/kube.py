"""`peacewatch kube up | down | status`: the platform on a single-node Kubernetes built here."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from peacewatch.cli.output import RichProgress
from peacewatch.platform.credentials import kit_dir
from peacewatch.platform.errors import InstallError
from peacewatch.platform.kube.build import ensure_coredns, ensure_kubernetes
from peacewatch.platform.kube.images import FUNCTION_TARGET, AppPayload, ensure_images, image_refs
from peacewatch.platform.kube.node import KubeNode
from peacewatch.platform.kube.release import (
    LOCAL_VALUES,
    UPSTREAM_ENV,
    assemble_chart,
    helm,
    image_values,
    upstream_charts,
)
from peacewatch.platform.settings import Settings

app = typer.Typer(
    help="The platform on a single-node Kubernetes built on this machine.", no_args_is_help=True
)

RELEASE = "pw"
NAMESPACE = "police"


def _app_payload(settings: Settings) -> AppPayload:
    """The peacewatch image's jars and function packages, from the packages that make them."""
    from peacewatch.functions.deploy.alerting import bake_alert_packages
    from peacewatch.lakehouse.query.spark import ensure_jars, jars_manifest_name

    return AppPayload(
        spark_jars=lambda progress: ensure_jars(settings, progress),
        jars_manifest=jars_manifest_name(settings),
        bake_functions=lambda cache: bake_alert_packages(settings, cache, target=FUNCTION_TARGET),
    )


def _node(settings: Settings, console: Console) -> KubeNode:
    return KubeNode(settings, settings.kube, progress=lambda step: console.log(step))


@app.command()
def up(
    ctx: typer.Context,
    install: bool = typer.Option(True, help="Install the chart (needs the upstream charts)"),
    values: list[Path] = typer.Option([], "--values", "-f", help="More values files, after the local ones"),
) -> None:
    """Build (first time) and start the node, then `helm upgrade --install` the platform onto it."""
    settings: Settings = ctx.obj
    console = Console()
    from peacewatch.platform.stack.install import ensure_helm, ensure_minio, ensure_pulsar

    t0 = time.monotonic()
    ensure_kubernetes(settings, settings.kube, progress=RichProgress(console))
    ensure_coredns(settings, settings.kube, progress=RichProgress(console))
    ensure_pulsar(settings, progress=RichProgress(console))
    ensure_minio(settings, progress=RichProgress(console))
    ensure_helm(settings, progress=RichProgress(console))
    refs = image_refs(settings, settings.kube)  # once: what is built is what is installed
    images = ensure_images(settings, settings.kube, refs=refs, payload=_app_payload(settings),
                           progress=RichProgress(console))  # fmt: skip
    built = time.monotonic() - t0
    node = _node(settings, console)
    marks = node.up(images)
    console.print(f"[green]node ready[/] ({', '.join(f'{k} {v:.0f}s' for k, v in marks.items())})")
    timings: dict[str, float] = {"build_s": built, **{f"{k}_s": v for k, v in marks.items()}}
    upstream = upstream_charts()
    if install and upstream is None:
        console.print(
            f"[yellow]chart not installed[/]: set {UPSTREAM_ENV} to a folder holding the unpacked "
            "pulsar and minio charts (no chart repository is reachable here)"
        )
    elif install:
        assert upstream is not None
        _recover_interrupted(settings, node)
        try:
            _install(settings, node, console, upstream=upstream, refs=refs, values=values)
        except InstallError:
            _report_failure(node, console)
            raise
        timings["installed_s"] = time.monotonic() - t0
        console.print(
            f"[green]platform installed[/] in namespace {NAMESPACE} ({timings['installed_s']:.0f}s)"
        )
        _print_access(node, console)
    timings["total_s"] = time.monotonic() - t0
    (node.root / "bringup.json").write_text(json.dumps(timings, indent=2))


def _install(
    settings: Settings,
    node: KubeNode,
    console: Console,
    *,
    upstream: Path,
    refs: dict[str, str],
    values: list[Path],
) -> None:
    with tempfile.TemporaryDirectory() as tmp, console.status("helm upgrade --install (minutes) ..."):
        chart = assemble_chart(upstream=upstream, into=Path(tmp))
        images_file = Path(tmp) / "images.yaml"
        images_file.write_text(yaml.safe_dump(image_values(settings, refs=refs)))
        extra = [a for v in values for a in ("-f", str(v))]
        helm(
            settings,
            node.kubeconfig,
            "upgrade",
            "--install",
            RELEASE,
            str(chart),
            "-n",
            NAMESPACE,
            "--create-namespace",
            "-f",
            str(LOCAL_VALUES),
            "-f",
            str(images_file),
            *extra,
            # No --wait: helm would wait for our Deployments before the post-install Job that
            # makes the kits they mount. It waits for that Job; the rollouts are awaited below.
            "--timeout",
            "25m",
        )
    with console.status("waiting for every workload to roll out ..."):
        node.wait_rollouts(NAMESPACE, seconds=900)


def _report_failure(node: KubeNode, console: Console) -> None:
    """The pods and the logs of those not ready: kept in the node's folder, the end shown."""
    text = node.diagnosis(NAMESPACE)
    saved = node.root / "install-failure.txt"
    saved.write_text(text)
    console.print(f"[red]install failed[/]; what the cluster shows (all of it in {saved}):")
    console.print(escape(text[-6000:]), soft_wrap=True, highlight=False)


def _recover_interrupted(settings: Settings, node: KubeNode) -> None:
    """A release left pending by an interrupted `up` blocks every later helm command: an install
    that never finished (or failed) is removed, an upgrade rolled back."""
    try:
        info = json.loads(helm(settings, node.kubeconfig, "status", RELEASE, "-n", NAMESPACE, "-o", "json"))
    except InstallError:
        return  # no release yet
    state = info.get("info", {}).get("status", "")
    # A first install that failed has nothing to upgrade from ("has no deployed releases").
    if state == "pending-install" or (state == "failed" and info.get("version") == 1):
        helm(settings, node.kubeconfig, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m")
    elif state in ("pending-upgrade", "pending-rollback"):
        helm(settings, node.kubeconfig, "rollback", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "10m")


def _print_access(node: KubeNode, console: Console) -> None:
    out = node.kubectl(
        "-n",
        NAMESPACE,
        "get",
        "svc",
        "-l",
        "app.kubernetes.io/component=desk",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{'\\n'}{end}",
        check=False,
    ).stdout
    console.print(f"kubectl: {node.bin / 'kubectl'} --kubeconfig {node.kubeconfig}")
    for n, svc in enumerate(out.split()):
        console.print(f"  desk: kubectl -n {NAMESPACE} port-forward svc/{svc} {8765 + n}:80")
    # SQL as a force's analyst, from this machine: its kit from the Secret, MinIO through a
    # port-forward (19000: the local stack may hold 9000).
    kit = kit_dir(node.settings, "FORCE", "analyst")
    query = '"SELECT count(*) FROM reports"'
    console.print(
        f"  sql:  kubectl -n {NAMESPACE} port-forward svc/{RELEASE}-minio 19000:9000, then put "
        f"secret/{RELEASE}-peacewatch-FORCE-analyst's minio.json in {kit} (base64 -d) and run\n"
        f"        PEACEWATCH_MINIO__PORT=19000 peacewatch sql -t FORCE {query}"
    )


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the node and undo what it did to this machine (processes, mounts, rules, sysctls)."""
    settings: Settings = ctx.obj
    console = Console()
    _node(settings, console).down()
    console.print("[green]node down[/]")


@app.command()
def status(ctx: typer.Context) -> None:
    """Which of the node's processes run, and the pods."""
    settings: Settings = ctx.obj
    console = Console()
    node = _node(settings, console)
    for name in (
        "containerd",
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
    ):
        proc = node.running(name)
        console.print(f"{name:24} {'[green]running[/] pid ' + str(proc.pid) if proc else '[red]stopped[/]'}")
    if node.running("kube-apiserver") and node.api_ready():
        console.print(node.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout)
