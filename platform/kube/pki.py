"""The single node's PKI (openssl): a CA, the service-account key pair, one certificate per
component identity and a kubeconfig for each client. Made once per cluster folder."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from peacewatch.platform.errors import InstallError

__all__ = ["CLIENTS", "ensure_pki"]

# name -> (CN, O): the identities RBAC and the Node authorizer know.
_CERTS = {
    "admin": ("kubernetes-admin", "system:masters"),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "kube-proxy": ("system:kube-proxy", ""),
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


def ensure_pki(pki: Path, *, node_name: str, node_ip: str, service_ip: str, api_port: int) -> Path:
    """The PKI in `pki` (made the first time, ~2 s); the folder."""
    if (pki / "admin.kubeconfig").exists():
        return pki
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    _openssl("genrsa", "-out", "ca.key", "2048", cwd=pki)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-key",
        "ca.key",
        "-subj",
        "/CN=peacewatch-kube-ca",
        "-days",
        "3650",
        "-out",
        "ca.crt",
        cwd=pki,
    )
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
    _certificate(pki, "apiserver", "kube-apiserver", "", f"{names},IP:127.0.0.1,IP:{service_ip},IP:{node_ip}")
    _certificate(
        pki,
        "kubelet",
        f"system:node:{node_name}",
        "system:nodes",
        f"DNS:{node_name},IP:{node_ip},IP:127.0.0.1",
    )
    for name, (cn, org) in _CERTS.items():
        _certificate(pki, name, cn, org)
    for user in CLIENTS:
        _kubeconfig(pki, user, api_port=api_port)
    return pki
