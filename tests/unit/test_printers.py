"""Unit tests of the kubectl-identical CLI output: ages, pod status, columns, layout, serialization."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

from minik8s.api import kinds, tables
from minik8s.api.kinds.pod import pod_status
from minik8s.cli import printers

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(30), **extra}


def pod(name: str = "web", *, statuses: list[dict] | None = None, phase: str = "Running", **extra: Any) -> dict:
    obj = {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta(name),
        "spec": {"containers": [{"name": s["name"]} for s in statuses or [{"name": "c"}]]},
        "status": {"phase": phase, "containerStatuses": statuses or []},
    }
    for key, value in extra.items():
        obj[key] = {**obj.get(key, {}), **value}
    return obj


def running(name: str = "c", *, ready: bool = True, restarts: int = 0) -> dict:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(20)}}}


def in_state(state: str, name: str = "c", **details: Any) -> dict:
    """A container status in `state` (waiting or terminated) with those details."""
    return {"name": name, "state": {state: details}}


# -- AGE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(-5, "<invalid>", id="future"),
        pytest.param(-1, "0s", id="clock-skew"),
        pytest.param(0, "0s", id="zero"),
        pytest.param(5, "5s", id="seconds"),
        pytest.param(119, "119s", id="under-two-minutes"),
        pytest.param(120, "2m", id="two-minutes"),
        pytest.param(182, "3m2s", id="minutes-seconds"),
        pytest.param(600, "10m", id="ten-minutes"),
        pytest.param(125 * 60, "125m", id="minutes-up-to-three-hours"),
        pytest.param(3 * 3600 + 5 * 60, "3h5m", id="hours-minutes"),
        pytest.param(5 * 3600, "5h", id="whole-hours"),
        pytest.param(30 * 3600, "30h", id="under-two-days"),
        pytest.param(3 * 86400 + 4 * 3600, "3d4h", id="days-hours"),
        pytest.param(45 * 86400, "45d", id="days"),
        pytest.param(2 * 365 * 86400, "2y", id="years"),
        pytest.param((3 * 365 + 10) * 86400, "3y10d", id="years-days"),
        pytest.param(9 * 365 * 86400, "9y", id="many-years"),
    ],
)
def test_human_duration_matches_kubectl(seconds: int, expected: str) -> None:
    """Durations are shortened exactly like kubectl's duration.HumanDuration."""
    assert tables.human_duration(seconds) == expected


def test_age_of_missing_or_bad_timestamp_is_unknown() -> None:
    """A missing or unparseable creationTimestamp prints `<unknown>`."""
    assert tables.age(None, NOW) == "<unknown>"
    assert tables.age("yesterday", NOW) == "<unknown>"
    assert tables.age(ago(3 * 3600 + 300), NOW) == "3h5m"


# -- pod STATUS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(pod(statuses=[running()]), "Running", id="running"),
        pytest.param(pod(phase="Pending"), "Pending", id="pending-unscheduled"),
        pytest.param(pod(phase="Pending", statuses=[in_state("waiting", reason="ContainerCreating")]),
                     "ContainerCreating", id="waiting-reason"),
        pytest.param(pod(statuses=[in_state("waiting", reason="CrashLoopBackOff")]),
                     "CrashLoopBackOff", id="crash-loop"),
        pytest.param(pod(phase="Succeeded", statuses=[in_state("terminated", reason="Completed")]),
                     "Completed", id="terminated-reason"),
        pytest.param(pod(phase="Failed", statuses=[in_state("terminated", exitCode=2)]),
                     "ExitCode:2", id="exit-code"),
        pytest.param(pod(phase="Failed", statuses=[in_state("terminated", exitCode=137, signal=9)]),
                     "Signal:9", id="signal"),
        pytest.param(pod(statuses=[running()], metadata={"deletionTimestamp": ago(1)}), "Terminating",
                     id="terminating"),
        pytest.param(pod(phase="Succeeded", statuses=[in_state("terminated", reason="Completed")],
                         metadata={"deletionTimestamp": ago(1)}), "Completed", id="terminal-phase-not-terminating"),
        pytest.param(pod(statuses=[running()], metadata={"deletionTimestamp": ago(1)}, status={"reason": "NodeLost"}),
                     "Unknown", id="node-lost"),
        pytest.param(pod(phase="Failed", status={"reason": "Evicted"}), "Evicted", id="pod-reason"),
        pytest.param(pod(statuses=[running("a"), in_state("terminated", "b", reason="Completed")],
                         status={"conditions": [{"type": "Ready", "status": "True"}]}),
                     "Running", id="completed-with-running-ready"),
        pytest.param(pod(statuses=[running("a"), in_state("terminated", "b", reason="Completed")]),
                     "NotReady", id="completed-with-running-not-ready"),
        pytest.param(pod(phase="Pending", status={"conditions": [{"type": "PodScheduled", "status": "False",
                                                                   "reason": "SchedulingGated"}]}),
                     "SchedulingGated", id="scheduling-gated"),
        pytest.param(pod(phase="Pending", spec={"initContainers": [{"name": "i"}]},
                         status={"initContainerStatuses": [{"name": "i", "state": {"running": {}}}]}),
                     "Init:0/1", id="init-running"),
        pytest.param(pod(phase="Pending", spec={"initContainers": [{"name": "i"}]},
                         status={"initContainerStatuses": [{"name": "i", "state": {"waiting": {
                             "reason": "CrashLoopBackOff"}}}]}),
                     "Init:CrashLoopBackOff", id="init-waiting"),
        pytest.param(pod(phase="Pending", spec={"initContainers": [{"name": "i"}]},
                         status={"initContainerStatuses": [{"name": "i", "state": {"terminated": {"exitCode": 3}}}]}),
                     "Init:ExitCode:3", id="init-failed"),
    ],
)
def test_pod_status_follows_kubectl_rules(obj: dict, expected: str) -> None:
    """STATUS is Terminating, a waiting/terminated reason, an Init: state, or the phase, like kubectl."""
    assert pod_status(obj) == expected


def test_pod_row_counts_ready_containers_and_recent_restarts() -> None:
    """READY counts ready running containers; RESTARTS shows the age of the last restart."""
    restarted = running("b", restarts=3)
    restarted["lastState"] = {"terminated": {"finishedAt": ago(300)}}
    obj = pod(statuses=[running("a"), restarted, in_state("waiting", reason="X")])
    cells = printers.rows_for(kinds.resolve("pods"), obj, now=NOW)
    assert cells[:4] == ["web", "2/3", "X", "3 (5m ago)"]
    assert cells[4] == "30s"


def test_pod_wide_row_has_ip_node_and_placeholders() -> None:
    """Wide pod rows add IP and NODE, with `<none>` for what is not set yet."""
    obj = pod(statuses=[running()], spec={"nodeName": "n1"}, status={"podIPs": [{"ip": "10.1.0.7"}]})
    assert printers.rows_for(kinds.resolve("po"), obj, True, now=NOW)[5:] == ["10.1.0.7", "n1", "<none>", "<none>"]
    bare = pod(phase="Pending")
    assert printers.rows_for(kinds.resolve("po"), bare, True, now=NOW)[5:] == ["<none>"] * 4


# -- headers and rows per kind ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "narrow", "wide_extra"),
    [
        ("pods", "NAME READY STATUS RESTARTS AGE", "IP NODE NOMINATED NODE READINESS GATES"),
        ("nodes", "NAME STATUS ROLES AGE VERSION", "INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME"),
        ("namespaces", "NAME STATUS AGE", ""),
        ("services", "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", "SELECTOR"),
        ("replicasets", "NAME DESIRED CURRENT READY AGE", "CONTAINERS IMAGES SELECTOR"),
        ("deployments", "NAME READY UP-TO-DATE AVAILABLE AGE", "CONTAINERS IMAGES SELECTOR"),
        ("endpoints", "NAME ENDPOINTS AGE", ""),
        ("configmaps", "NAME DATA AGE", ""),
        ("leases", "NAME HOLDER AGE", ""),
        ("hpa", "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE", ""),
        ("ingresses", "NAME CLASS HOSTS ADDRESS PORTS AGE", ""),
        ("fn", "NAME READY MIN MAX CONCURRENCY AGE", ""),
    ],
)
def test_headers_match_kubectl(resource: str, narrow: str, wide_extra: str) -> None:
    """Headers are kubectl's, wide columns appended only with -o wide."""
    rt = kinds.resolve(resource)
    assert " ".join(printers.headers_for(rt)) == narrow
    assert " ".join(printers.headers_for(rt, True)) == f"{narrow} {wide_extra}".strip()
    assert len(printers.cells_for(rt, {"metadata": {"name": "x"}}, now=NOW)) == len(printers.columns_for(rt))


def test_event_headers_put_message_last_unless_wide() -> None:
    """Events print LAST SEEN TYPE REASON OBJECT MESSAGE; wide adds kubectl's extra columns."""
    rt = kinds.resolve("events")
    assert printers.headers_for(rt) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert printers.headers_for(rt, True) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE",
                                              "MESSAGE", "FIRST SEEN", "COUNT", "NAME"]


ROW_CASES = [
    pytest.param("nodes", {
        "metadata": meta("n1", labels={"node-role.kubernetes.io/control-plane": "", "x": "y"}),
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.32.0"},
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
    }, True, ["n1", "Ready,SchedulingDisabled", "control-plane", "30s", "v1.32.0", "10.0.0.1", "<none>",
              "<unknown>", "<unknown>", "<unknown>"], id="node"),
    pytest.param("nodes", {"metadata": meta("n2"), "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}},
                 False, ["n2", "NotReady", "<none>", "30s", ""], id="node-not-ready"),
    pytest.param("namespaces", {"metadata": meta("prod"), "status": {"phase": "Active"}}, False,
                 ["prod", "Active", "30s"], id="namespace"),
    pytest.param("services", {
        "metadata": meta("web"),
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "selector": {"app": "web", "tier": "fe"},
                 "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]},
    }, True, ["web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53/UDP", "30s", "app=web,tier=fe"],
        id="service-nodeport"),
    pytest.param("services", {"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.2"]}},
                 False, ["lb", "LoadBalancer", "10.96.0.2", "<pending>", "<none>", "30s"], id="service-lb-pending"),
    pytest.param("replicasets", {
        "metadata": meta("web-abc"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [{"name": "a", "image": "nginx"},
                                                      {"name": "b", "image": "redis"}]}}},
        "status": {"replicas": 3, "readyReplicas": 2},
    }, True, ["web-abc", "3", "3", "2", "30s", "a,b", "nginx,redis", "app=web"], id="replicaset"),
    pytest.param("deployments", {
        "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": {"matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]}, {"key": "canary", "operator": "DoesNotExist"}]},
            "template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}},
        "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1},
    }, True, ["web", "1/3", "2", "1", "30s", "a", "nginx", "!canary,tier in (be,fe)"], id="deployment"),
    pytest.param("endpoints", {
        "metadata": meta("web"),
        "subsets": [{"addresses": [{"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}], "ports": [{"port": 80}, {"port": 443}]}],
    }, False, ["web", "10.1.0.1:80,10.1.0.2:80,10.1.0.1:443 + 1 more...", "30s"], id="endpoints-more"),
    pytest.param("endpoints", {"metadata": meta("none")}, False, ["none", "<none>", "30s"], id="endpoints-none"),
    pytest.param("configmaps", {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}},
                 False, ["cfg", "3", "30s"], id="configmap"),
    pytest.param("events", {
        "metadata": meta("web.1"), "type": "Warning", "reason": "BackOff", "count": 5,
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{c}"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(10), "message": " Back-off restarting \n",
        "source": {"component": "kubelet", "host": "n1"},
    }, True, ["10s", "Warning", "BackOff", "pod/web", "spec.containers{c}", "kubelet, n1", "Back-off restarting",
              "10m", "5", "web.1"], id="event"),
    pytest.param("leases", {"metadata": meta("n1"), "spec": {"holderIdentity": "n1"}}, False, ["n1", "n1", "30s"],
                 id="lease"),
    pytest.param("hpa", {
        "metadata": meta("web"),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 10, "minReplicas": 2,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 80}}},
                             {"type": "Pods", "pods": {"target": {"averageValue": "100"}}},
                             {"type": "Resource", "resource": {"name": "memory", "target": {"averageValue": "1Gi"}}}]},
        "status": {"currentReplicas": 3, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 42}}}]},
    }, False, ["web", "Deployment/web", "cpu: 42%/80%, <unknown>/100 + 1 more...", "2", "10", "3", "30s"], id="hpa"),
    pytest.param("hpa", {"metadata": meta("bare"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"},
                                                            "maxReplicas": 3}},
                 False, ["bare", "Deployment/x", "<none>", "<unset>", "3", "0", "30s"], id="hpa-no-metrics"),
    pytest.param("ingresses", {
        "metadata": meta("web"),
        "spec": {"ingressClassName": "nginx", "tls": [{}],
                 "rules": [{"host": "a.example"}, {"host": "b.example"}, {}, {"host": "c.example"}, {"host": "d"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}]}},
    }, False, ["web", "nginx", "a.example,b.example,c.example + 2 more...", "10.0.0.9", "80, 443", "30s"],
        id="ingress"),
    pytest.param("ingresses", {"metadata": meta("any")}, False, ["any", "<none>", "*", "", "80", "30s"],
                 id="ingress-defaults"),
]


@pytest.mark.parametrize(("resource", "obj", "wide", "expected"), ROW_CASES)
def test_rows_match_kubectl(resource: str, obj: dict, wide: bool, expected: list[str]) -> None:
    """Each kind's cells are computed as kubectl's printers compute them."""
    assert printers.rows_for(kinds.resolve(resource), obj, wide, now=NOW) == expected


def test_unlisted_kind_prints_name_and_age() -> None:
    """A resource without its own printer gets kubectl's NAME AGE."""
    custom = kinds.ResourceType("minik8s.io", "v1", "functions", "Function", True)
    assert printers.headers_for(custom, True) == ["NAME", "AGE"]
    assert printers.rows_for(custom, {"metadata": meta("f")}, now=NOW) == ["f", "30s"]


# -- layout ----------------------------------------------------------------------------------


def test_table_columns_are_padded_by_three_with_minimum_six() -> None:
    """Cells are left-aligned, 3 spaces after the widest cell, at least 6 wide; the last column is not padded."""
    assert printers.format_rows([["NAME", "IP", "AGE"], ["web-1", "a", "5s"]]) == [
        "NAME    IP    AGE",
        "web-1   a     5s",
    ]


def test_print_table_matches_kubectl_output(capsys: pytest.CaptureFixture[str]) -> None:
    """A pod table reads exactly like kubectl's."""
    pods = [pod("web-1", statuses=[running()]), pod("db", phase="Pending")]
    printers.print_table(kinds.resolve("pods"), pods, now=NOW)
    assert capsys.readouterr().out.splitlines() == [
        "NAME    READY   STATUS    RESTARTS   AGE",
        "web-1   1/1     Running   0          30s",
        "db      0/1     Pending   0          30s",
    ]


def test_print_table_namespace_and_kind_columns(capsys: pytest.CaptureFixture[str]) -> None:
    """-A puts NAMESPACE first; mixed kinds print `kind.group/name`."""
    deploy = {"metadata": meta("web"), "spec": {"replicas": 1}, "status": {}}
    printers.print_table(kinds.resolve("deploy"), [deploy], show_namespace=True, show_kind=True, now=NOW)
    assert capsys.readouterr().out.splitlines() == [
        "NAMESPACE   NAME                  READY   UP-TO-DATE   AVAILABLE   AGE",
        "default     deployment.apps/web   0/1     0            0           30s",
    ]


def test_print_table_no_headers_and_cluster_scoped_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    """--no-headers drops the header row; cluster-scoped kinds never get a NAMESPACE column."""
    printers.print_table(kinds.resolve("ns"), [{"metadata": meta("a"), "status": {"phase": "Active"}}],
                         show_namespace=True, no_headers=True, now=NOW)
    assert capsys.readouterr().out.splitlines() == ["a     Active   30s"]


@pytest.mark.parametrize(("namespace", "message"), [
    ("default", "No resources found in default namespace."),
    (None, "No resources found"),
])
def test_print_table_empty_goes_to_stderr(capsys: pytest.CaptureFixture[str], namespace: str | None,
                                          message: str) -> None:
    """An empty result prints kubectl's message on stderr and nothing on stdout."""
    printers.print_table(kinds.resolve("pods"), [], namespace=namespace)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", message + "\n")


def test_table_printer_remembers_widths_for_watch_rows() -> None:
    """Rows printed later (watch events) keep earlier widths and only ever widen them."""
    table = printers.TablePrinter(kinds.resolve("cm"))
    first = table.lines([{"metadata": meta("a"), "data": {}}], now=NOW)
    assert first == ["NAME   DATA   AGE", "a      0      30s"]
    assert table.lines([{"metadata": meta("a-long-name"), "data": {}}], now=NOW) == ["a-long-name   0      30s"]
    assert table.lines([{"metadata": meta("b"), "data": {}}], now=NOW) == ["b             0      30s"]


def test_tabwriter_aligns_blocks_separately() -> None:
    """Like Go's tabwriter, a line without a cell in a column ends that column's block."""
    writer = printers.TabWriter(minwidth=0, padding=2)
    assert writer.format(["Name:\tx", "Namespace:\tdefault", "Containers:", "  c:", "    Image:\tnginx",
                          "      Started:\tnow", "    Ready:\tTrue"]) == [
        "Name:       x",
        "Namespace:  default",
        "Containers:",
        "  c:",
        "    Image:      nginx",
        "      Started:  now",
        "    Ready:      True",
    ]


# -- names, YAML, JSON -----------------------------------------------------------------------


def test_names_use_kind_and_group() -> None:
    """-o name prints `pod/x`, `deployment.apps/y`, like kubectl."""
    assert printers.names(kinds.resolve("po"), [{"metadata": {"name": "x"}}]) == ["pod/x"]
    assert printers.names(kinds.resolve("deploy"), [{"metadata": {"name": "y"}}]) == ["deployment.apps/y"]
    assert printers.names(kinds.resolve("hpa"), [{"metadata": {"name": "z"}}]) == [
        "horizontalpodautoscaler.autoscaling/z"]


def test_json_is_indented_by_four_and_lists_are_v1_lists() -> None:
    """-o json uses a 4-space indent and wraps several objects in a `v1` `List`."""
    item = printers.with_type(kinds.resolve("cm"), {"metadata": {"name": "a"}})
    text = printers.to_json(printers.as_list([item]))
    assert text.splitlines()[1] == '    "apiVersion": "v1",'
    assert json.loads(text) == {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                                "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}]}


def test_yaml_sorts_keys_and_quotes_like_kubectl() -> None:
    """-o yaml sorts keys, double-quotes ambiguous strings and keeps multi-line text as a block."""
    obj = {"metadata": {"resourceVersion": "8", "name": "a"}, "kind": "ConfigMap", "apiVersion": "v1",
           "data": {"script": "echo 1\necho 2\n"}}
    text = printers.to_yaml(obj)
    assert text == ('apiVersion: v1\ndata:\n  script: |\n    echo 1\n    echo 2\nkind: ConfigMap\n'
                    'metadata:\n  name: a\n  resourceVersion: "8"\n')
    assert yaml.safe_load(text) == obj


# -- describe --------------------------------------------------------------------------------


def test_describe_pod_shows_containers_conditions_and_events() -> None:
    """describe pod lists node, status, IP, container state and conditions, then the events."""
    obj = pod(statuses=[running(restarts=1)], spec={"nodeName": "n1", "containers": [
        {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]},
        status={"podIP": "10.1.0.3", "hostIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]})
    event = {"type": "Normal", "reason": "Started", "count": 2, "firstTimestamp": ago(120),
             "lastTimestamp": ago(60), "source": {"component": "kubelet"}, "message": "Started container c"}
    lines = printers.describe(kinds.resolve("po"), obj, [event], now=NOW).splitlines()
    assert lines[0].split() == ["Name:", "web"]
    assert ["Node:", "n1/10.0.0.1"] in [line.split() for line in lines]
    for expected in ("    Image:          nginx", "    State:          Running", "    Ready:          True",
                     "    Restart Count:  1", "Conditions:", "Events:",
                     "  Normal  Started  60s (x2 over 2m)  kubelet  Started container c"):
        assert expected in lines
    conditions = lines.index("Conditions:")
    assert [line.split() for line in lines[conditions + 1:conditions + 3]] == [["Type", "Status"], ["Ready", "True"]]


def test_describe_pod_shows_init_containers_probes_and_env_sources() -> None:
    """Init containers get their own section; probes and env sources print as kubectl describe prints them."""
    app = {"name": "app", "image": "busybox",
           "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5,
                             "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
           "readinessProbe": {"httpGet": {"port": "http", "path": "/ready", "scheme": "HTTP"}},
           "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "APP_"}],
           "env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
                   {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                   {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
    obj = pod(spec={"containers": [app], "initContainers": [{"name": "setup", "image": "busybox"}]},
              status={"initContainerStatuses": [{"name": "setup", "ready": True, "restartCount": 0, "state": {
                  "terminated": {"exitCode": 0, "reason": "Completed"}}}]})
    text = printers.describe(kinds.resolve("po"), obj, [], now=NOW)
    assert text.index("Init Containers:") < text.index("  setup:") < text.index("Containers:\n  app:")
    for expected in ("Liveness:  exec [cat /tmp/healthy] delay=5s timeout=1s period=5s #success=1 #failure=3",
                     "Readiness:  http-get http://:http/ready delay=0s timeout=1s period=10s #success=1 #failure=3",
                     "settings  ConfigMap  with prefix 'APP_'  Optional: false",
                     "GREETING:  <set to the key 'greeting' of config map 'settings'>  Optional: false",
                     "PASSWORD:  <set to the key 'password' in secret 'creds'>  Optional: false",
                     "POD:  (v1:metadata.name)", "Reason:  Completed"):
        assert any(" ".join(expected.split()) == " ".join(line.split()) for line in text.splitlines()), expected


def test_describe_without_events_says_none() -> None:
    """With no events the section reads `Events: <none>`; labels print one per line."""
    obj = {"metadata": meta("cfg", labels={"b": "2", "a": "1"}), "data": {"k": "v"}}
    text = printers.describe(kinds.resolve("cm"), obj, [], now=NOW)
    lines = text.splitlines()
    assert lines[-1].split() == ["Events:", "<none>"]
    labels = lines.index(next(line for line in lines if line.startswith("Labels:")))
    assert lines[labels].split() == ["Labels:", "a=1"] and lines[labels + 1].split() == ["b=2"]
    assert "k:\n----\nv\n" in text
