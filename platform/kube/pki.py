"""The single node's PKI (openssl): a CA, the service-account key pair, one certificate per
component identity (etcd's server and its one client, the API server, included), a kubeconfig for
each client, and the key that encrypts Secrets at rest. Each part is made once per cluster folder,
the first time it is missing."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import tempfile
from pathlib import Path

from peacewatch.platform.errors import InstallError

__all__ = ["CLIENTS", "ENCRYPTION_CONFIG", "ensure_pki"]

ENCRYPTION_CONFIG = "encryption.yaml"

# name -> (CN, O): the identities RBAC and the Node authorizer know.
_CERTS = {
    "admin": ("kubernetes-admin", "system:masters"),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "kube-proxy": ("system:kube-proxy", ""),
    # etcd takes no client without a certificate of this CA: the API server is its only one.
    "apiserver-etcd-client": ("kube-apiserver-etcd-client", ""),
}
CLIENTS = ("admin", "kubelet", "controller-manager", "scheduler", "kube-proxy")


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InstallError(f"openssl {args[0]} failed: {proc.stderr.strip()[-300:]}")


def _certificate(pki: Path, name: str, cn: str, org: str, sans: str = "") -> None:
    _openssl("genrsa", "-out", f"{name}.key", "2048", cwd=pki)
    subject = (f"/O={org}" if org else "") + f"/CN={cn}"
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=pki)
    ext = (
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
    )
    if sans:
        ext += f"subjectAltName={sans}\n"
    with tempfile.NamedTemporaryFile("w", suffix=".ext", dir=pki) as f:
        f.write(ext)
        f.flush()
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-out",
            f"{name}.crt",
            "-extfile",
            f.name,
            cwd=pki,
        )
    (pki / f"{name}.csr").unlink()


def _kubeconfig(pki: Path, user: str, *, api_port: int) -> None:
    (pki / f"{user}.kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: local\n  cluster:\n    server: https://127.0.0.1:{api_port}\n"
        f"    certificate-authority: {pki / 'ca.crt'}\n"
        f"users:\n- name: {user}\n  user:\n    client-certificate: {pki / (user + '.crt')}\n"
        f"    client-key: {pki / (user + '.key')}\n"
        f"contexts:\n- name: local\n  context: {{cluster: local, user: {user}}}\ncurrent-context: local\n"
    )


def _encryption_config(pki: Path) -> None:
    """Secrets encrypted at rest in etcd (aescbc, a key of this cluster's); `identity` last, so
    what was stored before this existed stays readable."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    path = pki / ENCRYPTION_CONFIG
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
            "  - resources: [secrets]\n    providers:\n"
            f"      - aescbc:\n          keys:\n            - name: key1\n              secret: {key}\n"
            "      - identity: {}\n"
        )


def ensure_pki(pki: Path, *, node_name: str, node_ip: str, service_ip: str, api_port: int) -> Path:
    """The PKI in `pki` (what is missing made, ~2 s the first time); the folder."""
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    if not (pki / "ca.crt").exists():
        _openssl("genrsa", "-out", "ca.key", "2048", cwd=pki)
        _openssl("req", "-x509", "-new", "-nodes", "-key", "ca.key", "-subj", "/CN=peacewatch-kube-ca",
                 "-days", "3650", "-out", "ca.crt", cwd=pki)  # fmt: skip
    if not (pki / "sa.pub").exists():
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    names = ",".join(
        f"DNS:{n}"
        for n in (
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
        )
    )
    wanted = {
        "apiserver": ("kube-apiserver", "", f"{names},IP:127.0.0.1,IP:{service_ip},IP:{node_ip}"),
        "kubelet": (f"system:node:{node_name}", "system:nodes", f"DNS:{node_name},IP:{node_ip},IP:127.0.0.1"),
        "etcd": ("etcd", "", "DNS:localhost,IP:127.0.0.1"),
        **{name: (cn, org, "") for name, (cn, org) in _CERTS.items()},
    }
    for name, (cn, org, sans) in wanted.items():
        if not (pki / f"{name}.crt").exists():
            _certificate(pki, name, cn, org, sans)
    for user in CLIENTS:
        if not (pki / f"{user}.kubeconfig").exists():
            _kubeconfig(pki, user, api_port=api_port)
    if not (pki / ENCRYPTION_CONFIG).exists():
        _encryption_config(pki)
    return pki
