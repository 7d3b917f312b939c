"""A pod's resolv.conf from dnsPolicy/dnsConfig (as the kubelet writes it) and dnsConfig validation (422)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from minik8s.api.errors import InvalidError
from minik8s.api.kinds import resolve
from minik8s.api.validation import validate
from minik8s.node.dns.podconf import PodDnsFiles, ResolvConf, parse_resolv_conf, pod_resolv_conf

HOST = parse_resolv_conf("# the node's\nnameserver 10.255.255.53\nnameserver 10.0.0.2\nsearch corp.example lab\n"
                         "options timeout:2 attempts:3\n")
CLUSTER = ["169.254.20.10"]


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "team", "uid": "u-1"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def conf(p: dict[str, Any], cluster: list[str] = CLUSTER) -> ResolvConf:
    return pod_resolv_conf(p, cluster_dns=cluster, domain="cluster.local", host=HOST)


def test_cluster_first_gets_the_cluster_search_path_then_the_hosts() -> None:
    got = conf(pod())
    assert got.render() == ("nameserver 169.254.20.10\n"
                            "search team.svc.cluster.local svc.cluster.local cluster.local corp.example lab\n"
                            "options ndots:5\n")
    assert conf(pod(dnsPolicy="ClusterFirstWithHostNet", hostNetwork=True)).nameservers == CLUSTER


def test_default_and_host_network_get_the_nodes_resolv_conf() -> None:
    for p in (pod(dnsPolicy="Default"), pod(hostNetwork=True)):
        got = conf(p)
        assert (got.nameservers, got.searches, got.options) == (
            ["10.255.255.53", "10.0.0.2"], ["corp.example", "lab"], ["timeout:2", "attempts:3"])
    assert conf(pod(), cluster=[]).nameservers == ["10.255.255.53", "10.0.0.2"]  # no cluster DNS: Default


def test_none_takes_only_dns_config_and_others_merge_it() -> None:
    none = conf(pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": ["a.example."],
                                                  "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}))
    assert none.render() == "nameserver 1.1.1.1\nsearch a.example\noptions ndots:2 edns0\n"
    merged = conf(pod(dnsConfig={"nameservers": ["169.254.20.10", "8.8.8.8", "9.9.9.9"], "searches": ["lab", "x.y"],
                                 "options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}]}))
    assert merged.nameservers == ["169.254.20.10", "8.8.8.8", "9.9.9.9"]
    assert merged.searches[-2:] == ["lab", "x.y"] and merged.searches.count("lab") == 1
    assert merged.options == ["ndots:1", "single-request"]


def test_hostile_dns_config_never_adds_a_line() -> None:
    got = conf(pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1\nnameserver 6.6.6.6", "2.2.2.2"],
                                                 "searches": ["a\nnameserver 6.6.6.6", "ok.example"],
                                                 "options": [{"name": "x\ny"}, {"name": "ndots", "value": "1 debug"}]}))
    assert got.render() == "nameserver 2.2.2.2\nsearch ok.example\noptions ndots\n"


def test_lists_are_cut_to_what_resolvers_read() -> None:
    got = conf(pod(dnsConfig={"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"],
                              "searches": [f"d{i}.example" for i in range(40)]}))
    assert len(got.nameservers) == 3 and len(got.searches) == 32


def test_pod_files_are_written_once_and_rewritten_when_changed(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 10.0.0.1\nsearch one.example\n")
    files = PodDnsFiles(str(tmp_path / "pods"), cluster_dns=CLUSTER, host_resolv_conf=str(host))
    path = files.path_for(pod())
    assert Path(path) == tmp_path / "pods" / "u-1" / "resolv.conf"
    assert "search team.svc.cluster.local svc.cluster.local cluster.local one.example\n" in Path(path).read_text()
    host.write_text("nameserver 10.0.0.1\nsearch two.example\n")
    assert "two.example" in Path(files.path_for(pod())).read_text()
    assert oct(Path(path).stat().st_mode & 0o777) == "0o644"


def causes(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    obj = copy.deepcopy(pod(**spec))
    try:
        validate(resolve("Pod"), obj)
    except InvalidError as err:
        assert err.code == 422
        return [(c["field"], c["reason"], c["message"]) for c in err.causes]
    return []


@pytest.mark.parametrize(("spec", "field", "reason", "message"), [
    ({"dnsPolicy": "None"}, "spec.dnsConfig", "FieldValueRequired", "must provide `dnsConfig` when `dnsPolicy` is None"),
    ({"dnsPolicy": "None", "dnsConfig": {}}, "spec.dnsConfig.nameservers", "FieldValueRequired",
     "must provide at least one DNS nameserver when `dnsPolicy` is None"),
    ({"dnsConfig": {"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]}}, "spec.dnsConfig.nameservers",
     "FieldValueInvalid", "must not have more than 3 nameservers"),
    ({"dnsConfig": {"nameservers": ["not-an-ip"]}}, "spec.dnsConfig.nameservers[0]", "FieldValueInvalid",
     "must be a valid IP address"),
    ({"dnsConfig": {"searches": [f"d{i}.example" for i in range(33)]}}, "spec.dnsConfig.searches",
     "FieldValueInvalid", "must not have more than 32 search paths"),
    ({"dnsConfig": {"searches": ["a" * 60 + f".d{i}.example" for i in range(30)]}}, "spec.dnsConfig.searches",
     "FieldValueInvalid", "must not have more than 2048 characters (including spaces) in the search list"),
    ({"dnsConfig": {"searches": ["Bad_Domain"]}}, "spec.dnsConfig.searches[0]", "FieldValueInvalid",
     "a lowercase RFC 1123 subdomain"),
    ({"dnsConfig": {"options": [{"value": "2"}]}}, "spec.dnsConfig.options[0]", "FieldValueRequired",
     "must not be empty"),
])
def test_dns_config_is_validated_like_kube_apiserver(spec: dict[str, Any], field: str, reason: str,
                                                     message: str) -> None:
    found = causes(spec)
    assert any(f == field and r == reason and message in m for f, r, m in found), found


def test_valid_dns_config_is_accepted() -> None:
    assert causes({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1", "2001:db8::1"],
                                                      "searches": ["a.example.", "b"],
                                                      "options": [{"name": "ndots", "value": "2"}]}}) == []
