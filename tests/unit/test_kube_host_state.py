"""What `kube down` takes as ours among the host's shared state (platform/kube/host_state.py):
generated mixes of our and foreign iptables rules, cache files and sockets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from peacewatch.platform.kube.host_state import (
    KUBELET_CHAINS,
    cni_cache_entries,
    iptables_cleanup,
    shim_socket_names,
)

OURS = "peacewatch-pods"
CIDRS = ["10.244.0.0/24", "10.244.0.0/16", "10.96.0.0/16"]
hexes = st.text(alphabet="0123456789abcdef", min_size=24, max_size=24)
networks = st.from_regex(r"[a-z][a-z0-9-]{2,20}", fullmatch=True).filter(lambda n: n != OURS)


def _cni_rule(chain: str, network: str, ip: str, cid: str) -> str:
    return (
        f'-A POSTROUTING -s {ip}/32 -m comment --comment "name: \\"{network}\\" id: \\"{cid}\\"" -j {chain}'
    )


@given(
    ours=st.lists(hexes, unique=True, max_size=6),
    foreign=st.lists(st.tuples(hexes, networks), max_size=6),
    foreign_kube=st.lists(st.from_regex(r"KUBE-[A-Z]{3,12}", fullmatch=True), unique=True, max_size=3),
)
def test_only_our_networks_rules_and_chains_go(
    ours: list[str], foreign: list[tuple[str, str]], foreign_kube: list[str]
) -> None:
    foreign = [(h, n) for h, n in foreign if h not in ours]
    chains = [f"CNI-{h}" for h in ours] + [f"CNI-{h}" for h, _ in foreign] + foreign_kube
    lines = [":POSTROUTING ACCEPT [0:0]", *(f":{c} - [0:0]" for c in dict.fromkeys(chains))]
    for i, h in enumerate(ours):
        lines.append(_cni_rule(f"CNI-{h}", OURS, f"10.244.0.{i + 2}", h * 2))
        lines.append(f'-A CNI-{h} -d 10.244.0.0/24 -m comment --comment "name: \\"{OURS}\\"" -j ACCEPT')
    for i, (h, network) in enumerate(foreign):
        lines.append(_cni_rule(f"CNI-{h}", network, f"172.16.0.{i + 2}", h * 2))
        lines.append(f"-A CNI-{h} -d 172.16.0.0/24 -j ACCEPT")
    for chain in foreign_kube:
        lines.append(f"-A POSTROUTING -j {chain}")
    plan = iptables_cleanup("\n".join(lines), network=OURS, cidrs=CIDRS, kubelet=True)
    assert set(plan.chains) == {f"CNI-{h}" for h in ours}
    assert all(OURS in rule for rule in plan.rules)
    assert len(plan.rules) == len(ours)  # the jumps in; the chains' own rules go with the chains


def test_a_chain_another_network_also_jumps_to_stays() -> None:
    dump = "\n".join([
        ":POSTROUTING ACCEPT [0:0]", ":CNI-shared - [0:0]",
        _cni_rule("CNI-shared", OURS, "10.244.0.2", "a" * 64),
        _cni_rule("CNI-shared", "other", "172.16.0.2", "b" * 64),
    ])  # fmt: skip
    plan = iptables_cleanup(dump, network=OURS, cidrs=CIDRS, kubelet=False)
    assert plan.chains == []
    assert len(plan.rules) == 1


def test_the_kubelets_chains_go_with_the_rules_into_them() -> None:
    dump = "\n".join([
        ":INPUT ACCEPT [0:0]", ":KUBE-FIREWALL - [0:0]", ":KUBE-OTHER - [0:0]",
        "-A INPUT -j KUBE-FIREWALL", "-A INPUT -j KUBE-OTHER",
        "-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP",
    ])  # fmt: skip
    plan = iptables_cleanup(dump, network=OURS, cidrs=CIDRS, kubelet=True)
    assert plan.chains == ["KUBE-FIREWALL"]
    assert plan.rules == ["-A INPUT -j KUBE-FIREWALL"]
    assert set(KUBELET_CHAINS) >= set(plan.chains)


def test_shim_sockets_are_named_as_containerd_names_them() -> None:
    # Seen on this machine's node (containerd 1.6.20): /run/containerd/s/7caa72cb... was the shim of
    # sandbox 07e73a0e... on the socket below.
    names = shim_socket_names(
        address="/root/.local/state/peacewatch/kube/state/containerd/containerd.sock",
        namespace="k8s.io",
        container_ids=["07e73a0ee4d3a95b597e0e3ef09ec9f54efa2e0984d0bfb07f2ac40f4e6dafaf"],
    )
    assert names == {"7caa72cbe25e2474185fd55936c9e974abed5cc47df553ead3dd224db7f11592"}


@given(network=networks, cid=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
def test_only_our_cache_results_go(network: str, cid: str) -> None:
    ours_cid = "c" * 64
    names = [f"{OURS}-{ours_cid}-eth0", f"cni-loopback-{ours_cid}-lo", f"{network}-{cid}-eth0",
             f"cni-loopback-{cid}-lo", f"{OURS}-other-{cid}-eth0"]  # fmt: skip
    found = cni_cache_entries(names, network=OURS, container_ids=[ours_cid])
    expected = {f"{OURS}-{ours_cid}-eth0", f"cni-loopback-{ours_cid}-lo"}
    if cid == ours_cid:
        expected |= {f"cni-loopback-{cid}-lo"}
    assert set(found) == expected
