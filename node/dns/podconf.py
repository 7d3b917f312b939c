"""A pod's resolv.conf from its `dnsPolicy` and `dnsConfig`, as the kubelet writes it.

After the kubelet's pkg/kubelet/network/dns:
- `ClusterFirst` (the default): the cluster DNS address, `search <ns>.svc.<domain> svc.<domain>
  <domain>` followed by the node's own search domains, `options ndots:5`; for a pod on the host
  network it means `Default`;
- `ClusterFirstWithHostNet`: the cluster's, also on the host network;
- `Default`: the node's resolv.conf (its nameservers, search and options);
- `None`: only what `dnsConfig` gives.
Then `dnsConfig` is merged in: its nameservers and searches appended (duplicates dropped), its
options replace those of the same name. Without a cluster DNS address, cluster policies fall back
to `Default`, like the kubelet without `--cluster-dns`. Over-long lists are cut to what resolvers
read (3 nameservers, 32 search domains, 2048 characters), as the kubelet does.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

MAX_NAMESERVERS = 3
MAX_SEARCHES = 32
MAX_SEARCH_CHARS = 2048
DEFAULT_OPTIONS = ("ndots:5",)


@dataclass
class ResolvConf:
    """The three parts of a resolv.conf."""

    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The file's text."""
        lines = [f"nameserver {ns}" for ns in self.nameservers]
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "\n".join(lines) + "\n"


def parse_resolv_conf(text: str) -> ResolvConf:
    """The nameservers, search domains (the last `search`/`domain` line wins) and options of a resolv.conf."""
    conf = ResolvConf()
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            conf.nameservers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            conf.searches = [d for d in fields[1:] if d != "."]
        elif fields[0] == "options":
            conf.options = _merge_options(conf.options, fields[1:])
    return conf


def read_host_conf(path: str) -> ResolvConf:
    """The node's resolv.conf (empty when there is none)."""
    try:
        with open(path) as f:
            return parse_resolv_conf(f.read(65536))
    except OSError:
        return ResolvConf()


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _merge_options(existing: list[str], added: list[str]) -> list[str]:
    """Options by name, a later one replacing an earlier one of the same name (in its place)."""
    merged: dict[str, str] = {}
    for option in [*existing, *added]:
        merged[option.split(":", 1)[0]] = option
    return list(merged.values())


def _fit(conf: ResolvConf) -> ResolvConf:
    nameservers = conf.nameservers[:MAX_NAMESERVERS]
    searches: list[str] = []
    for domain in conf.searches[:MAX_SEARCHES]:
        if len(" ".join([*searches, domain])) > MAX_SEARCH_CHARS:
            break
        searches.append(domain)
    return ResolvConf(nameservers, searches, conf.options)


def policy_of(pod: Obj, cluster_dns: list[str]) -> str:
    """What the pod gets: "cluster", "host" or "none" (the kubelet's getPodDNSType)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        return "none"
    host_network = bool(spec.get("hostNetwork"))
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host_network):
        return "cluster" if cluster_dns else "host"
    return "host"


def pod_resolv_conf(pod: Obj, *, cluster_dns: list[str], domain: str, host: ResolvConf) -> ResolvConf:
    """The resolv.conf of `pod` (see the module docstring)."""
    kind = policy_of(pod, cluster_dns)
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    if kind == "cluster":
        conf = ResolvConf(list(cluster_dns),
                          _unique([f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host.searches]),
                          list(DEFAULT_OPTIONS))
    elif kind == "host":
        conf = ResolvConf(list(host.nameservers), list(host.searches), list(host.options))
    else:
        conf = ResolvConf()
    extra = (pod.get("spec") or {}).get("dnsConfig")
    if isinstance(extra, dict):
        servers = [s for s in extra.get("nameservers") or [] if isinstance(s, str) and _is_ip(s)]
        searches = [s.rstrip(".") for s in extra.get("searches") or [] if isinstance(s, str) and _is_word(s)]
        options = []
        for option in extra.get("options") or []:
            name = option.get("name") if isinstance(option, dict) else None
            value = option.get("value") if isinstance(option, dict) else None
            if isinstance(name, str) and _is_word(name):
                options.append(f"{name}:{value}" if isinstance(value, str) and value and _is_word(value) else name)
        conf = ResolvConf(_unique([*conf.nameservers, *servers]), _unique([*conf.searches, *searches]),
                          _merge_options(conf.options, options))
    return _fit(conf)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _is_word(text: str) -> bool:
    """No whitespace or comment characters: nothing that could add a line or a field to the file."""
    return bool(text) and not any(ch.isspace() or ch in "#;" for ch in text)


class PodDnsFiles:
    """Writes each pod's resolv.conf under its pod directory, for the runtime to mount on /etc/resolv.conf."""

    def __init__(self, pods_dir: str, *, cluster_dns: list[str], domain: str = "cluster.local",
                 host_resolv_conf: str = "/etc/resolv.conf") -> None:
        self.pods_dir = pods_dir
        self.cluster_dns = list(cluster_dns)
        self.domain = domain
        self.host_resolv_conf = host_resolv_conf

    def path_for(self, pod: Obj) -> str:
        """The host path of `pod`'s resolv.conf, written (atomically) when it is new or changed."""
        conf = pod_resolv_conf(pod, cluster_dns=self.cluster_dns, domain=self.domain,
                               host=read_host_conf(self.host_resolv_conf))
        text = conf.render()
        directory = os.path.join(self.pods_dir, pod["metadata"]["uid"])
        path = os.path.join(directory, "resolv.conf")
        try:
            with open(path) as f:
                if f.read() == text:
                    return path
        except OSError:
            pass
        os.makedirs(directory, exist_ok=True)
        temporary = f"{path}.tmp"
        with open(temporary, "w") as f:
            f.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
        return path
