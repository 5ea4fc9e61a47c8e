"""A single-node Kubernetes on this machine: containerd, etcd, the control plane, kubelet and
kube-proxy as processes of ours (no systemd here), CoreDNS and local storage in the cluster.

Everything lives in one folder (KubeSettings.state_dir); `down()` undoes what `up()` did to the
host and nothing else: processes by pid and start time, mounts under the folder (containerd keeps
the pods' network namespaces and runc's state there too), our bridge (KubeSettings.bridge), the
iptables rules and chains of our CNI network and CIDRs (`host_state`), our entries in the folders
the kubelet, libcni and containerd's shims share with any other runtime, the kubelet's cgroups,
and the kernel settings it changed (saved before the first start). The one containerd setting this
sandbox needs is `restrict_oom_score_adj` (the process may not lower oom_score_adj;
../shared/notes/kubernetes-here.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

from peacewatch.platform.errors import InstallError
from peacewatch.platform.kube.build import bin_dir
from peacewatch.platform.kube.host_state import cni_cache_entries, iptables_cleanup, shim_socket_names
from peacewatch.platform.kube.images import BuiltImage, image_refs
from peacewatch.platform.kube.pki import ENCRYPTION_CONFIG, ensure_pki
from peacewatch.platform.kube.settings import KubeSettings
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.process import ManagedProcess

__all__ = ["KubeNode", "NodeNotReady"]

# Kernel settings the node changes: ours (forwarding) and the kubelet's defaults. Restored on down.
_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "vm.overcommit_memory",
    "kernel.panic",
    "kernel.panic_on_oops",
)
_DAEMONS = (
    "kube-proxy",
    "kubelet",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
    "containerd",
)
# The pods' CNI network: its name marks the iptables rules and cache files that are ours.
CNI_NETWORK = "peacewatch-pods"
# Where libcni caches results and containerd's shims put their sockets, whatever their roots:
# shared with any other Kubernetes here, so only our entries go.
_CNI_RESULTS = Path("/var/lib/cni/results")
_SHIM_SOCKETS = Path("/run/containerd/s")
# The kubelet's device-plugin folder is fixed; it is removed only if it was not there before.
_DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")


class NodeNotReady(InstallError):
    """A component of the node did not come up in time (its log is named)."""


def _host_ip() -> str:
    out = subprocess.run(["ip", "-4", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=False)
    words = out.stdout.split()
    if "src" not in words:
        raise InstallError("cannot find this machine's IPv4 address (ip route get): is the network up?")
    return words[words.index("src") + 1]


class KubeNode:
    """The node's folder, its processes, and kubectl against it."""

    def __init__(self, settings: Settings, kube: KubeSettings, *, progress: Callable[[str], None]) -> None:
        self.settings = settings
        self.kube = kube
        self.root = kube.state_dir or settings.state_dir / "kube"
        self.bin = bin_dir(settings, kube)
        self.progress = progress
        self.pki = self.root / "pki"
        self.etc = self.root / "etc"
        self.run_dir = self.root / "state"
        self.logs = self.root / "logs"
        self.sock = self.run_dir / "containerd" / "containerd.sock"

    # -- kubectl ---------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.pki / "admin.kubeconfig"

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.bin / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            check=False,
            input=stdin,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise InstallError(f"kubectl {' '.join(args[:3])} failed: {proc.stderr.strip()[-400:]}")
        return proc

    @contextlib.contextmanager
    def port_forward(self, namespace: str, target: str, port: int) -> Iterator[int]:
        """`kubectl port-forward` to `target` (e.g. svc/NAME) on a local port kubectl picks; the port."""
        cmd = [str(self.bin / "kubectl"), "--kubeconfig", str(self.kubeconfig), "-n", namespace,
               "port-forward", target, f":{port}"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> port"
            if "127.0.0.1:" not in line:
                raise InstallError(f"kubectl port-forward {target} failed: {line.strip()}")
            yield int(line.split("127.0.0.1:")[1].split()[0])
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    def wait_rollouts(self, namespace: str, *, seconds: float) -> None:
        """Every StatefulSet and Deployment in `namespace` rolled out (NodeNotReady naming the first
        that did not)."""
        deadline = time.monotonic() + seconds
        for kind in ("statefulset", "deployment"):
            for name in self.kubectl("-n", namespace, "get", kind, "-o", "name").stdout.split():
                left = max(10, int(deadline - time.monotonic()))
                proc = self.kubectl(
                    "-n",
                    namespace,
                    "rollout",
                    "status",
                    name,
                    f"--timeout={left}s",
                    check=False,
                    timeout=left + 30,
                )
                if proc.returncode != 0:
                    raise NodeNotReady(f"{name} did not roll out: kubectl -n {namespace} describe {name}")

    def diagnosis(self, namespace: str, *, log_lines: int = 25) -> str:
        """What a failed install left behind: the pods, the warnings, and the last lines of every pod
        that is not running ready (a hook Job's pods above all) - so that a CI log says why."""
        parts = [self.kubectl("-n", namespace, "get", "pods", "-o", "wide", check=False).stdout]
        events = self.kubectl(
            "-n", namespace, "get", "events", "--field-selector=type=Warning",
            "--sort-by=.lastTimestamp", check=False,
        ).stdout.splitlines()  # fmt: skip
        parts.append("\n".join(events[-15:]))
        listing = self.kubectl("-n", namespace, "get", "pods", "-o", "json", check=False).stdout
        for pod in json.loads(listing or '{"items": []}')["items"]:
            status = pod.get("status", {})
            statuses = status.get("containerStatuses") or []
            if status.get("phase") == "Succeeded" or (statuses and all(s.get("ready") for s in statuses)):
                continue
            name = pod["metadata"]["name"]
            logs = self.kubectl(
                "-n", namespace, "logs", name, "--all-containers", f"--tail={log_lines}", check=False
            )  # fmt: skip
            parts.append(f"--- {name} ({status.get('phase')})\n{logs.stdout}{logs.stderr}")
        return "\n".join(p.rstrip() for p in parts if p.strip())

    def api_ready(self) -> bool:
        try:
            return self.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    # -- processes -------------------------------------------------------------------------------
    def _process(self, name: str) -> ManagedProcess:
        # Its pid file records the process's kernel start time: a recycled pid is never signalled.
        return ManagedProcess(name, self.run_dir, self.logs)

    def running(self, name: str) -> psutil.Process | None:
        pid = self._process(name).pid()
        return psutil.Process(pid) if pid is not None else None

    def _start(self, name: str, cmd: list[str]) -> None:
        process = self._process(name)
        if process.pid() is not None:
            return
        # Own session (ManagedProcess): the node outlives the command that started it; nice keeps
        # the shell usable.
        process.start(["nice", "-n", "5", *cmd], env=dict(os.environ), cwd=self.root)

    def _stop(self, name: str) -> None:
        self._process(name).stop(timeout_s=15)

    def _wait(self, what: str, check: Callable[[], bool], *, seconds: float, log: str) -> None:
        @retry(
            stop=stop_after_delay(seconds),
            wait=wait_fixed(1),
            retry=retry_if_result(lambda ok: not ok),
            retry_error_callback=lambda _: False,
        )
        def poll() -> bool:
            return check()

        if not poll():
            raise NodeNotReady(f"{what} not ready after {seconds:.0f} s: see {self.logs / log}")

    # -- configuration ---------------------------------------------------------------------------
    def _write_configs(self, node_ip: str) -> None:
        k = self.kube
        for d in (self.etc / "cni" / "net.d", self.etc / "manifests", self.run_dir / "containerd", self.logs):
            d.mkdir(parents=True, exist_ok=True)
        refs = image_refs(self.settings, k)
        c = self.run_dir / "containerd"
        (self.etc / "containerd.toml").write_text(f"""version = 2
root = "{c / "root"}"
state = "{c / "state"}"
[grpc]
  address = "{self.sock}"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{refs["pause"]}"
    # This sandbox's process may not lower oom_score_adj: without this no pod sandbox starts.
    restrict_oom_score_adj = true
    # Pods' network namespaces under our state, not /run/netns.
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          # runc's state under ours, not /run/containerd/runc, which any containerd shares.
          Root = "{c / "runc"}"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{self.etc / "cni" / "net.d"}"
""")
        (self.etc / "cni" / "net.d" / "10-bridge.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "0.4.0",
                    "name": CNI_NETWORK,
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": k.bridge,
                            "isGateway": True,
                            "ipMasq": True,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": k.pod_cidr}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(self.run_dir / "cni-ipam"),
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                },
                indent=2,
            )
        )
        (self.etc / "kubelet.yaml").write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {self.pki / "ca.crt"}}}
authorization: {{mode: Webhook}}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://{self.sock}
clusterDNS: [{k.dns_ip}]
clusterDomain: cluster.local
tlsCertFile: {self.pki / "kubelet.crt"}
tlsPrivateKeyFile: {self.pki / "kubelet.key"}
failSwapOn: false
podCIDR: {k.pod_cidr}
staticPodPath: {self.etc / "manifests"}
resolvConf: /etc/resolv.conf
maxPods: 110
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: "200Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
""")
        # conntrack and route_localnet left alone: kube-proxy changes no other host setting.
        (self.etc / "kube-proxy.yaml").write_text(f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: {self.pki / "kube-proxy.kubeconfig"}}}
mode: iptables
clusterCIDR: {k.cluster_cidr}
hostnameOverride: {k.node_name}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack: {{maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}}
iptables: {{localhostNodePorts: false}}
""")

    def _save_sysctls(self) -> None:
        saved = self.root / "sysctl-before.json"
        if saved.exists():
            return
        values = {}
        for key in _SYSCTLS:
            path = Path("/proc/sys") / key.replace(".", "/")
            if path.exists():
                values[key] = path.read_text().strip()
        saved.write_text(json.dumps(values))

    def _sysctl(self, key: str, value: str) -> None:
        path = Path("/proc/sys") / key.replace(".", "/")
        if path.exists():
            path.write_text(value)

    # -- images ----------------------------------------------------------------------------------
    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "-a", str(self.sock), "-n", "k8s.io", *args], capture_output=True, text=True, check=False
        )

    def import_images(self, images: list[BuiltImage]) -> None:
        # A tar rebuilt under the same name (pulsar-all:4.0.8 after a base change) is imported again.
        stamps_file = self.run_dir / "imported.json"
        stamps = json.loads(stamps_file.read_text()) if stamps_file.exists() else {}
        known = set(self._ctr("images", "ls", "-q").stdout.split())
        for image in images:
            stamp = f"{image.tar.stat().st_mtime_ns}:{image.tar.stat().st_size}"
            if image.ref in known and stamps.get(image.ref) == stamp:
                continue
            self.progress(f"importing image {image.ref}")
            proc = self._ctr("images", "import", "--no-unpack", str(image.tar))
            if proc.returncode != 0:
                raise InstallError(f"ctr image import {image.tar.name} failed: {proc.stderr.strip()[-300:]}")
            stamps[image.ref] = stamp
            stamps_file.write_text(json.dumps(stamps))

    # -- up / down -------------------------------------------------------------------------------
    def up(self, images: list[BuiltImage]) -> dict[str, float]:
        """Start (or keep) every part of the node; seconds each step took."""
        k = self.kube
        t0 = time.monotonic()
        marks: dict[str, float] = {}
        node_ip = _host_ip()
        ensure_pki(
            self.pki, node_name=k.node_name, node_ip=node_ip, service_ip=k.api_service_ip, api_port=k.api_port
        )
        self._write_configs(node_ip)
        self._save_sysctls()
        self._save_host_record()
        self._sysctl("net.ipv4.ip_forward", "1")
        self._sysctl("net.bridge.bridge-nf-call-iptables", "1")
        self.progress("containerd")
        self._start("containerd", ["containerd", "--config", str(self.etc / "containerd.toml")])
        self._wait(
            "containerd", lambda: self._ctr("version").returncode == 0, seconds=30, log="containerd.out"
        )
        self.import_images(images)
        marks["images"] = time.monotonic() - t0
        self.progress("etcd and the control plane")
        etcd = self.run_dir / "etcd"
        p = self.pki
        tls = [
            *(f"--{side}trusted-ca-file={p / 'ca.crt'}" for side in ("", "peer-")),
            *(f"--{side}cert-file={p / 'etcd.crt'}" for side in ("", "peer-")),
            *(f"--{side}key-file={p / 'etcd.key'}" for side in ("", "peer-")),
        ]
        self._start(
            "etcd",
            [
                "etcd",
                "--name",
                "node0",
                "--data-dir",
                str(etcd),
                # TLS both ways, and no client without a certificate of our CA: the API server's.
                *tls,
                "--client-cert-auth",
                "--peer-client-cert-auth",
                "--listen-client-urls",
                "https://127.0.0.1:2379",
                "--advertise-client-urls",
                "https://127.0.0.1:2379",
                "--listen-peer-urls",
                "https://127.0.0.1:2380",
                "--initial-advertise-peer-urls",
                "https://127.0.0.1:2380",
                "--initial-cluster",
                "node0=https://127.0.0.1:2380",
            ],
        )
        self._start(
            "kube-apiserver",
            [
                str(self.bin / "kube-apiserver"),
                "--etcd-servers=https://127.0.0.1:2379",
                f"--etcd-cafile={p / 'ca.crt'}",
                f"--etcd-certfile={p / 'apiserver-etcd-client.crt'}",
                f"--etcd-keyfile={p / 'apiserver-etcd-client.key'}",
                f"--encryption-provider-config={p / ENCRYPTION_CONFIG}",
                # Every request names who makes it (probes and health checks use certificates too).
                "--anonymous-auth=false",
                "--bind-address=0.0.0.0",
                f"--secure-port={k.api_port}",
                f"--advertise-address={node_ip}",
                f"--service-cluster-ip-range={k.service_cidr}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--allow-privileged=true",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
            ],
        )
        self._wait("the API server", self.api_ready, seconds=120, log="kube-apiserver.out")
        marks["apiserver"] = time.monotonic() - t0
        cm = str(p / "controller-manager.kubeconfig")
        self._start(
            "kube-controller-manager",
            [
                str(self.bin / "kube-controller-manager"),
                f"--kubeconfig={cm}",
                f"--authentication-kubeconfig={cm}",
                f"--authorization-kubeconfig={cm}",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--cluster-signing-cert-file={p / 'ca.crt'}",
                f"--cluster-signing-key-file={p / 'ca.key'}",
                "--use-service-account-credentials=true",
                "--allocate-node-cidrs=true",
                f"--cluster-cidr={k.cluster_cidr}",
                "--node-cidr-mask-size=24",
                f"--service-cluster-ip-range={k.service_cidr}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
            ],
        )
        sched = str(p / "scheduler.kubeconfig")
        self._start(
            "kube-scheduler",
            [
                str(self.bin / "kube-scheduler"),
                f"--kubeconfig={sched}",
                f"--authentication-kubeconfig={sched}",
                f"--authorization-kubeconfig={sched}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
            ],
        )
        self.progress("kubelet and kube-proxy")
        self._start(
            "kubelet",
            [
                str(self.bin / "kubelet"),
                f"--config={self.etc / 'kubelet.yaml'}",
                f"--kubeconfig={p / 'kubelet.kubeconfig'}",
                f"--root-dir={self.run_dir / 'kubelet'}",
                f"--hostname-override={k.node_name}",
                f"--node-ip={node_ip}",
            ],
        )
        self._start("kube-proxy", [str(self.bin / "kube-proxy"), f"--config={self.etc / 'kube-proxy.yaml'}"])
        self._wait(
            "the node",
            lambda: (
                self.kubectl(
                    "get",
                    "node",
                    k.node_name,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                    check=False,
                ).stdout
                == "True"
            ),
            seconds=180,
            log="kubelet.out",
        )
        marks["node"] = time.monotonic() - t0
        self.progress("CoreDNS and storage")
        self._wait(
            "the default ServiceAccount",
            lambda: self.kubectl("get", "sa", "default", check=False).returncode == 0,
            seconds=60,
            log="kube-controller-manager.out",
        )
        self.kubectl("apply", "-f", "-", stdin=self._addons())
        self._wait(
            "CoreDNS",
            lambda: (
                self.kubectl(
                    "-n", "kube-system", "rollout", "status", "deploy/coredns", "--timeout=5s", check=False
                ).returncode
                == 0
            ),
            seconds=180,
            log="kubelet.out",
        )
        marks["dns"] = time.monotonic() - t0
        return marks

    def _addons(self) -> str:
        """CoreDNS, and the default StorageClass with hostPath volumes under the node's folder."""
        # Beside this file, not importlib.resources: a fresh editable install makes this namespace
        # package's path a MultiplexedPath with the finder's hook in it, which cannot be read.
        text = (Path(__file__).parent / "addons.yaml").read_text()
        refs = image_refs(self.settings, self.kube)
        volumes = []
        for n in range(self.kube.volumes):
            # `local` volumes (unlike hostPath) get the pod's fsGroup: the charts' non-root users write.
            path = self.run_dir / "volumes" / f"pv{n}"
            path.mkdir(parents=True, exist_ok=True)
            volumes.append(
                f"---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: peacewatch-pv{n}}}\n"
                f"spec:\n  capacity: {{storage: 20Gi}}\n  accessModes: [ReadWriteOnce]\n"
                f"  persistentVolumeReclaimPolicy: Retain\n  storageClassName: local-static\n"
                f"  local: {{path: {path}}}\n"
                f"  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n"
                f"        - matchExpressions:\n"
                f"            - key: kubernetes.io/hostname\n              operator: In\n"
                f"              values: [{self.kube.node_name}]\n"
            )
        return text.replace("COREDNS_IMAGE", refs["coredns"]).replace("DNS_IP", self.kube.dns_ip) + "".join(
            volumes
        )

    def down(self) -> None:
        """Stop the node and undo its changes to the host (idempotent), leaving what is not ours:
        another bridge, other CNI networks' rules, other containerds' sockets and pods' logs."""
        # Our containers' ids, while containerd still answers: they name our shims' sockets, our
        # loopback results and our pods' log links.
        ours = (
            set(self._ctr("containers", "ls", "-q").stdout.split()) if self.running("containerd") else set()
        )
        if self.running("kube-apiserver") and self.api_ready():
            # The kubelet tears pods down through CRI first: containers, CNI DEL, volume unmounts.
            self.progress("deleting pods")
            self.kubectl("delete", "deploy,sts,ds,job,rs,cronjob", "--all", "-A", "--wait=false", check=False)
            self.kubectl("delete", "pods", "--all", "-A", "--grace-period=1", "--wait=false", check=False)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self._ctr("tasks", "ls", "-q").stdout.strip():
                time.sleep(1)
        self.progress("stopping processes")
        for name in _DAEMONS:
            if name == "containerd":
                for task in self._ctr("tasks", "ls", "-q").stdout.split():
                    self._ctr("tasks", "kill", "-s", "SIGKILL", task)
                time.sleep(1)
                for task in self._ctr("tasks", "ls", "-q").stdout.split():
                    self._ctr("tasks", "rm", "-f", task)
            self._stop(name)
            if name == "kube-proxy" and (self.bin / "kube-proxy").exists():
                subprocess.run([str(self.bin / "kube-proxy"), "--cleanup"], capture_output=True, check=False)
        # containerd's shims outlive it: any process still running from our folder goes too.
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "containerd-shim" in cmd and str(self.run_dir) in cmd:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        self.progress("mounts, network, cgroups, kernel settings")
        self._unmount()
        subprocess.run(["ip", "link", "del", self.kube.bridge], capture_output=True, check=False)
        self._drop_chains()
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for top in ("kubepods", "k8s.io"):
                tree = hierarchy / top
                if tree.is_dir():
                    # cgroup folders go deepest first; one still in use stays (and says so by failing).
                    for d in sorted((p for p in tree.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                        with contextlib.suppress(OSError):
                            d.rmdir()
                    with contextlib.suppress(OSError):
                        tree.rmdir()
        saved = self.root / "sysctl-before.json"
        if saved.exists():
            for key, value in json.loads(saved.read_text()).items():
                self._sysctl(key, value)
            saved.unlink()
        self._drop_host_files(ours)
        # etcd's and containerd's state go with the node: a second `up` starts a fresh cluster.
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def _drop_host_files(self, ours: set[str]) -> None:
        """Our entries in the host's shared folders, then each folder if we made it and it is empty."""
        if _CNI_RESULTS.is_dir():
            names = [p.name for p in _CNI_RESULTS.iterdir()]
            for name in cni_cache_entries(names, network=CNI_NETWORK, container_ids=ours):
                (_CNI_RESULTS / name).unlink(missing_ok=True)
        if _SHIM_SOCKETS.is_dir():
            for name in shim_socket_names(address=str(self.sock), namespace="k8s.io", container_ids=ours):
                (_SHIM_SOCKETS / name).unlink(missing_ok=True)
        runc = Path("/run/containerd/runc/k8s.io")  # nodes made before runc's root was ours
        for cid in ours:
            shutil.rmtree(runc / cid, ignore_errors=True)
        links = Path("/var/log/containers")
        for link in links.glob("*.log") if links.is_dir() else []:
            # POD_NAMESPACE_CONTAINER-ID.log -> /var/log/pods/NAMESPACE_POD_UID/CONTAINER/N.log
            if link.stem.rsplit("-", 1)[-1] in ours:
                with contextlib.suppress(OSError):
                    shutil.rmtree(Path(os.readlink(link)).parent.parent, ignore_errors=True)
                link.unlink(missing_ok=True)
        record = self._host_record()
        before = json.loads(record.read_text()) if record.exists() else {}
        folders = [_CNI_RESULTS, _CNI_RESULTS.parent, _SHIM_SOCKETS, runc, runc.parent, runc.parent.parent]
        if not before.get("device_plugins_existed", True):
            for entry in ("kubelet.sock", "kubelet_internal_checkpoint"):
                (_DEVICE_PLUGINS / entry).unlink(missing_ok=True)
            folders = [_DEVICE_PLUGINS, _DEVICE_PLUGINS.parent, *folders]
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: what another runtime keeps there stays
        record.unlink(missing_ok=True)

    def _host_record(self) -> Path:
        return self.root / "host-before.json"

    def _save_host_record(self) -> None:
        if not self._host_record().exists():
            self._host_record().write_text(json.dumps({"device_plugins_existed": _DEVICE_PLUGINS.exists()}))

    def _unmount(self) -> None:
        """Mounts under our folder only (containerd keeps rootfs, shm and the pods' network
        namespaces under its state there)."""
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        ours = [m for m in mounts if m.startswith(str(self.root) + "/")]
        for mount in sorted(set(ours), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)

    def _drop_chains(self) -> None:
        """Rules and chains our CNI network and the kubelet left (kube-proxy --cleanup did its own):
        found by our network's name and CIDRs, never by the CNI-/KUBE- prefix alone."""
        k = self.kube
        cidrs = [k.pod_cidr, k.cluster_cidr, k.service_cidr]
        for tool in ("iptables", "ip6tables"):
            for table in ("nat", "filter", "mangle"):
                dump = subprocess.run(
                    [f"{tool}-save", "-t", table], capture_output=True, text=True, check=False
                )
                plan = iptables_cleanup(dump.stdout, network=CNI_NETWORK, cidrs=cidrs, kubelet=True)
                for rule in plan.rules:
                    subprocess.run(
                        [tool, "-t", table, "-D", *shlex.split(rule[3:])], capture_output=True, check=False
                    )
                for flag in ("-F", "-X"):
                    for chain in plan.chains:
                        subprocess.run([tool, "-t", table, flag, chain], capture_output=True, check=False)
