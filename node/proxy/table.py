"""The fixed part of the proxy's nftables table `ip minik8s`: hooks, dispatch maps, masquerading.

One table of its own, never touching anything else (other tables, iptables, Docker's rules run
beside it at their own priorities), laid out like kube-proxy's nftables mode:

- `nat-prerouting` and `nat-output` (priority dstnat, -100) jump to `services`: `ip daddr . meta
  l4proto . th dport vmap @service-ips`, and on this node's own addresses (`fib daddr type local`,
  not 127/8) `meta l4proto . th dport vmap @service-nodeports`;
- `nat-postrouting` (srcnat, 100) jumps to `masquerading`: packets marked by `mark-for-masquerade`
  (mark 0x4000, kube-proxy's bit) are masqueraded;
- `filter-input`, `filter-forward` and `filter-output` (filter, 0) send new connections to
  `endpoints-check` (reject — TCP reset, else ICMP port unreachable — or drop, as
  `@no-endpoint-services` / `@no-endpoint-nodeports` say) and, forward and output, to
  `cluster-ips-check` (reject traffic to a ClusterIP port no Service defines: it was not DNATed).

Pure: data and the nft text that creates it.
"""

from __future__ import annotations

from .rules import (CLUSTER_IPS, MARK_FOR_MASQUERADE, NO_ENDPOINT_NODEPORTS, NO_ENDPOINT_SERVICES, REJECT_CHAIN,
                    SERVICE_IPS, SERVICE_NODEPORTS)

FAMILY = "ip"
NAME = "minik8s"
TABLE = f"{FAMILY} {NAME}"
MASQUERADE_MARK = "0x00004000"  # kube-proxy's bit 14

SERVICES = "services"
MASQUERADING = "masquerading"
ENDPOINTS_CHECK = "endpoints-check"
CLUSTER_IPS_CHECK = "cluster-ips-check"
_NOT_LOOPBACK = "ip daddr != 127.0.0.0/8"

# (name, type, hook, priority): numbers, as nft accepts `dstnat` by name only in prerouting
FILTER, DSTNAT, SRCNAT = 0, -100, 100
BASE_CHAINS: tuple[tuple[str, str, str, int], ...] = (
    ("filter-input", "filter", "input", FILTER),
    ("filter-forward", "filter", "forward", FILTER),
    ("filter-output", "filter", "output", FILTER),
    ("nat-prerouting", "nat", "prerouting", DSTNAT),
    ("nat-output", "nat", "output", DSTNAT),
    ("nat-postrouting", "nat", "postrouting", SRCNAT),
)

# every fixed chain and its rules (base chains included), in the order they are written
FIXED_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("filter-input", (f"ct state new jump {ENDPOINTS_CHECK}",)),
    ("filter-forward", (f"ct state new jump {ENDPOINTS_CHECK}", f"ct state new jump {CLUSTER_IPS_CHECK}")),
    ("filter-output", (f"ct state new jump {ENDPOINTS_CHECK}", f"ct state new jump {CLUSTER_IPS_CHECK}")),
    ("nat-prerouting", (f"jump {SERVICES}",)),
    ("nat-output", (f"jump {SERVICES}",)),
    ("nat-postrouting", (f"jump {MASQUERADING}",)),
    (SERVICES, (f"ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}",
                f"fib daddr type local {_NOT_LOOPBACK} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}")),
    (MARK_FOR_MASQUERADE, (f"mark set mark or {MASQUERADE_MARK}",)),
    (MASQUERADING, (f"mark and {MASQUERADE_MARK} == 0 return", f"mark set mark xor {MASQUERADE_MARK}",
                    "masquerade fully-random")),
    (ENDPOINTS_CHECK, (f"ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}",
                       f"fib daddr type local {_NOT_LOOPBACK} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}")),
    (CLUSTER_IPS_CHECK, (f"ip daddr @{CLUSTER_IPS} goto {REJECT_CHAIN}",)),
    (REJECT_CHAIN, ("meta l4proto tcp reject with tcp reset", "reject")),
)

# (name, declaration) of the shared maps and sets
COLLECTIONS: tuple[tuple[str, str], ...] = (
    (SERVICE_IPS, 'type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP traffic"'),
    (SERVICE_NODEPORTS, 'type inet_proto . inet_service : verdict ; comment "NodePort traffic"'),
    (NO_ENDPOINT_SERVICES, "type ipv4_addr . inet_proto . inet_service : verdict ; "
                           'comment "ClusterIPs of Services without usable endpoints"'),
    (NO_ENDPOINT_NODEPORTS, 'type inet_proto . inet_service : verdict ; '
                            'comment "NodePorts of Services without usable endpoints"'),
    (CLUSTER_IPS, 'type ipv4_addr ; comment "every ClusterIP"'),
)
MAPS = frozenset(name for name, declaration in COLLECTIONS if ": verdict" in declaration)


def fixed_commands() -> list[str]:
    """nft commands creating (or resetting) the fixed part: the table, its fixed chains with their
    rules, and the shared maps and sets, emptied (a full sync refills them in the same transaction)."""
    base = {name: (kind, hook, priority) for name, kind, hook, priority in BASE_CHAINS}
    out = [f'add table {TABLE} {{ comment "minik8s node proxy: Services (ClusterIP, NodePort)" ; }}']
    for name, _ in FIXED_RULES:
        if name in base:
            kind, hook, priority = base[name]
            out.append(f"add chain {TABLE} {name} {{ type {kind} hook {hook} priority {priority} ; }}")
        else:
            out.append(f"add chain {TABLE} {name}")
        out.append(f"flush chain {TABLE} {name}")
    for name, declaration in COLLECTIONS:
        out.append(f"add {'map' if name in MAPS else 'set'} {TABLE} {name} {{ {declaration} ; }}")
        out.append(f"flush {'map' if name in MAPS else 'set'} {TABLE} {name}")
    for name, rules in FIXED_RULES:
        out += [f"add rule {TABLE} {name} {rule}" for rule in rules]
    return out
