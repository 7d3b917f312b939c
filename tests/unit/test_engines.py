"""The per-node Docker engines and the cluster registry of `minik8s up --runtime docker` (pure parts)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from minik8s.cli.engines import Engine, dockerd_argv, engine_for
from minik8s.cli.hosts import Host, HostNet
from minik8s.cli.registry import ClusterRegistry
from minik8s.node.runtime.base import RegistryAuth

NET = HostNet.named("a1b2c3", ipaddress.ip_network("10.200.7.0/24"))
HOST = Host("node-0", "mka1b2c3-node-0", "10.200.7.10", "mka1b2c3h0")


def test_engine_paths_are_per_node_and_the_socket_path_fits() -> None:
    """Data root under the cluster's data dir, exec root under /run/mk<id>/<node> (a unix socket path has
    at most 107 bytes)."""
    engine = engine_for(HOST, NET, Path("/tmp/data"))
    assert engine.data_root == "/tmp/data/engines/node-0"
    assert engine.exec_root == "/run/mka1b2c3/node-0"
    assert engine.url == "unix:///run/mka1b2c3/node-0/docker.sock" and len(engine.socket) < 108
    assert Engine.from_json(engine.to_json()) == engine


def test_dockerd_runs_in_the_node_netns_without_touching_its_network() -> None:
    """nsenter into the node's namespace (not `ip netns exec`, which hides the cgroup mounts), its own
    mount namespace for resolv.conf, no bridge, iptables, forwarding or masquerade; the registry mirror
    and the hosts network as insecure registries."""
    engine = engine_for(HOST, NET, Path("/tmp/data"))
    argv = dockerd_argv(engine, mirror="http://10.200.7.1:5000", insecure=["10.200.7.0/24"])
    assert argv[:4] == ["unshare", "--mount", "--propagation", "slave"]
    assert argv[argv.index("nsenter") + 1] == "--net=/var/run/netns/mka1b2c3-node-0"
    assert argv[argv.index("nsenter") + 2] == "dockerd"
    assert engine.resolv_conf in argv
    for flag in ("--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false"):
        assert flag in argv
    options = dict(zip(argv, argv[1:]))
    assert options["--data-root"] == "/tmp/data/engines/node-0/data"
    assert options["--exec-root"] == "/run/mka1b2c3/node-0"
    assert options["--host"] == engine.url
    assert options["--registry-mirror"] == "http://10.200.7.1:5000"
    assert options["--insecure-registry"] == "10.200.7.0/24"
    assert options["--containerd-namespace"] == "minik8s-mka1b2c3-node-0"


def test_registry_config_with_and_without_a_password() -> None:
    """Storage under the data dir, listening on the given address only; htpasswd auth when asked."""
    plain = ClusterRegistry("10.200.7.1:5000", Path("/tmp/data"))
    assert "rootdirectory: /tmp/data/registry\n" in plain.config() and "addr: 10.200.7.1:5000\n" in plain.config()
    assert "auth:" not in plain.config()
    locked = ClusterRegistry("10.200.7.1:5001", Path("/tmp/r"), htpasswd=Path("/tmp/r/htpasswd"))
    assert "auth:\n  htpasswd:\n    realm: minik8s\n    path: /tmp/r/htpasswd\n" in locked.config()


def test_registry_auth_never_shows_its_password() -> None:
    auth = RegistryAuth(username="u", password="s3cret-value", server="reg:5000")
    assert "s3cret-value" not in repr(auth) and "s3cret-value" not in str(auth)
