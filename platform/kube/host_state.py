"""Which of the host's shared state the node made, told by what it made (pure logic).

The CNI plugins, the kubelet and containerd write into places every Kubernetes on a host shares:
iptables chains named CNI-*/KUBE-*, /var/lib/cni, /run/containerd. `down` removes only what these
functions recognise as ours: rules carrying our CNI network's name or our CIDRs, the chains only
those rules lead to, cache files and shim sockets named after our containers."""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["KUBELET_CHAINS", "IptablesCleanup", "cni_cache_entries", "iptables_cleanup", "shim_socket_names"]

# Made by the kubelet itself (kube-proxy --cleanup removes kube-proxy's): no other name of the
# KUBE- prefix is touched.
KUBELET_CHAINS = ("KUBE-KUBELET-CANARY", "KUBE-FIREWALL", "KUBE-IPTABLES-HINT")
_BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}


@dataclass
class IptablesCleanup:
    """For one table: rules to delete (as `-A CHAIN ...` lines of iptables-save), then chains to
    flush and delete."""

    rules: list[str] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)


def _words(rule: str) -> list[str]:
    try:
        return shlex.split(rule)
    except ValueError:
        return rule.split()


def _target(words: Sequence[str]) -> str | None:
    for flag in ("-j", "-g"):
        if flag in words[:-1]:
            return words[words.index(flag) + 1]
    return None


def _ours(words: Sequence[str], *, network: str, cidrs: Sequence[str]) -> bool:
    for i, word in enumerate(words[:-1]):
        if word == "--comment" and f'name: "{network}"' in words[i + 1]:
            return True
        if word in ("-s", "-d", "--source", "--destination") and words[i + 1] in cidrs:
            return True
    return False


def iptables_cleanup(dump: str, *, network: str, cidrs: Sequence[str], kubelet: bool) -> IptablesCleanup:
    """What of one table's `iptables-save` dump is ours: rules naming our CNI network (the bridge
    plugin comments each with `name: "NETWORK" id: ...`) or one of our CIDRs exactly, the chains
    that only such rules jump to (transitively), and - `kubelet` - the kubelet's own chains."""
    chains: set[str] = set()
    rules: list[tuple[str, str, str | None, bool]] = []  # (line, its chain, its target, ours)
    for line in dump.splitlines():
        if line.startswith(":"):
            chains.add(line[1:].split()[0])
        elif line.startswith("-A "):
            words = _words(line)
            chains.add(words[1])
            rules.append((line, words[1], _target(words), _ours(words, network=network, cidrs=cidrs)))
    jumpers: dict[str, set[str]] = {}
    for line, _, target, _ in rules:
        if target in chains and target not in _BUILTIN:
            jumpers.setdefault(target, set()).add(line)
    ours_rules = {line for line, _, _, ours in rules if ours}
    dropped: set[str] = {c for c in KUBELET_CHAINS if c in chains} if kubelet else set()
    while True:
        # A CNI- chain is ours when something of ours jumps to it and nothing else does.
        gone = ours_rules | {line for line, chain, _, _ in rules if chain in dropped}
        more = {
            c for c, lines in jumpers.items() if c not in dropped and c.startswith("CNI-") and lines <= gone
        }
        if not more:
            break
        dropped |= more
    # Rules into dropped chains from elsewhere (INPUT -j KUBE-FIREWALL) go with them; the dropped
    # chains' own rules go when they are flushed.
    return IptablesCleanup(
        rules=[
            line
            for line, chain, target, ours in rules
            if (ours or target in dropped) and chain not in dropped
        ],
        chains=sorted(dropped),
    )


def shim_socket_names(*, address: str, namespace: str, container_ids: Iterable[str]) -> set[str]:
    """The names under /run/containerd/s of our containers' shims: containerd (1.6/1.7) names each
    after sha256(join(its grpc address, namespace, container id))."""
    return {
        hashlib.sha256(posixpath.join(address, namespace, cid).encode()).hexdigest() for cid in container_ids
    }


def cni_cache_entries(names: Iterable[str], *, network: str, container_ids: Iterable[str]) -> list[str]:
    """The files of libcni's result cache (/var/lib/cni/results, NETWORK-ID-IFNAME) that are ours:
    our network's, and the loopback results of our containers."""
    ids = "|".join(re.escape(i) for i in container_ids) or "(?!)"
    result = re.compile(rf"{re.escape(network)}-[0-9a-f]{{64}}-[^-/]+")
    loopback = re.compile(rf"cni-loopback-(?:{ids})-lo")
    return [name for name in names if result.fullmatch(name) or loopback.fullmatch(name)]
