"""`metrics.k8s.io/v1beta1`: NodeMetrics and PodMetrics answered from the node agents' stats.

Like metrics-server, but inside every API server instead of beside it: a master asked for
metrics fetches `/stats/summary` from the node agents concerned (the nodes selected, or the nodes
the selected pods run on), in parallel, authenticated with the kubelet token, and keeps each
node's answer for `cache_seconds` (a few seconds: `kubectl top` and the HPA controller asking
together cost one fetch per node). Nothing is stored in Raft: metrics are recent measurements,
not state, and any master can answer. The node agents sample every few seconds and measure CPU
as a rate over their window (`minik8s.node.stats`); a pod appears once every one of its
containers has a CPU rate, a node once it has one — as metrics-server leaves out what it has no
two points for.

Nodes are not trusted: their address comes from the Node object through `logs.kubelet_url`
(parsed, never a URL a client wrote), connecting and answering are bounded by `CONNECT_TIMEOUT`,
`READ_TIMEOUT` and `TOTAL_TIMEOUT`, an answer is read up to `MAX_SUMMARY_BYTES` and decoded like a
request body
(`minik8s.api.decoding`), and every number in it is checked; a node that fails is left out of
the answer (its pods have no metrics), never an error of the whole request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import falcon
import requests

from minik8s.api import decoding, errors, selectors, tables
from minik8s.api.kinds import ResourceType, resolve
from minik8s.api.kinds.metrics import cpu_quantity, go_duration, memory_quantity
from minik8s.api.nodeendpoint import kubelet_url
from minik8s.api.timefmt import format_time

from .http import query_bool, send_json
from .registry import Registry

log = logging.getLogger(__name__)

Obj = dict[str, Any]
_NODES, _PODS = resolve("nodes"), resolve("pods")
CONNECT_TIMEOUT = 3.0  # seconds to connect to a node agent
READ_TIMEOUT = 5.0  # seconds for its answer to start, and between two reads
TOTAL_TIMEOUT = 10.0  # seconds for the whole answer (a node trickling bytes is cut off)
MAX_SUMMARY_BYTES = 16 << 20  # a node with 110 pods answers ~100 KiB
FETCH_THREADS = 8  # nodes fetched at once per master
_MAX_NUMBER = 1 << 62


@dataclass(frozen=True)
class Usage:
    """CPU (nanocores, measured over `window` seconds ending at `timestamp`) and memory working set."""

    nanocores: int
    memory: int
    timestamp: str
    window: float


@dataclass(frozen=True)
class PodUsage:
    """One pod's containers (name → usage) as its node reported them."""

    uid: str
    containers: dict[str, Usage]


@dataclass(frozen=True)
class NodeSummary:
    """What one node agent reported: its own usage (None without a CPU rate yet) and its pods'."""

    node: Usage | None
    pods: dict[tuple[str, str], PodUsage]  # (namespace, name) → usage, only pods whose containers all have rates


def _count(value: Any) -> int | None:
    """A non-negative integer from a node's answer, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_NUMBER:
        return None
    return value


def _usage(cpu: Any, memory: Any) -> Usage | None:
    """Usage from a summary's `cpu` and `memory` entries; None unless both are complete and sane."""
    if not isinstance(cpu, dict) or not isinstance(memory, dict):
        return None
    nanocores, working_set = _count(cpu.get("usageNanoCores")), _count(memory.get("workingSetBytes"))
    window, stamp = cpu.get("windowSeconds"), cpu.get("time")
    if nanocores is None or working_set is None or not isinstance(stamp, str) or len(stamp) > 40:
        return None
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 < window < 86400:
        return None
    return Usage(nanocores, working_set, stamp, float(window))


def parse_summary(raw: Any) -> NodeSummary:
    """The node's and its pods' usage from a `/stats/summary` answer; malformed parts are left out."""
    raw = raw if isinstance(raw, dict) else {}
    node = raw.get("node") if isinstance(raw.get("node"), dict) else {}
    pods: dict[tuple[str, str], PodUsage] = {}
    for entry in raw.get("pods") if isinstance(raw.get("pods"), list) else []:
        ref = entry.get("podRef") if isinstance(entry, dict) else None
        if not isinstance(ref, dict) or not all(isinstance(ref.get(k), str) for k in ("namespace", "name")):
            continue
        containers: dict[str, Usage] = {}
        complete = isinstance(entry.get("containers"), list) and bool(entry["containers"])
        for container in entry.get("containers") or []:
            name = container.get("name") if isinstance(container, dict) else None
            usage = _usage(container.get("cpu"), container.get("memory")) if isinstance(name, str) else None
            if usage is None:
                complete = False
                break
            containers[name] = usage
        if complete:
            uid = ref.get("uid") if isinstance(ref.get("uid"), str) else ""
            pods[(ref["namespace"], ref["name"])] = PodUsage(uid, containers)
    return NodeSummary(_usage(node.get("cpu"), node.get("memory")), pods)


class NodeStatsCache:
    """Node agents' summaries, fetched on demand and kept `cache_seconds` per node.

    `fetch(node)` (the Node object) returns the parsed summary or raises; the default fetches it
    over HTTP with the kubelet token. A node that failed is remembered as failed for the same time,
    so a dead node costs one timeout per `cache_seconds`, not one per request.
    """

    def __init__(self, kubelet_token: str | None, *, cache_seconds: float = 3.0,
                 clock: Callable[[], float] = time.monotonic, fetch: Callable[[Obj], NodeSummary] | None = None,
                 total_timeout: float = TOTAL_TIMEOUT) -> None:
        self.kubelet_token = kubelet_token
        self.cache_seconds = cache_seconds
        self.total_timeout = total_timeout
        self.clock = clock
        self._fetch = fetch or self._fetch_http
        self._session = requests.Session()
        self._session.trust_env = False
        self._cache: dict[str, tuple[float, NodeSummary | None]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="node-stats")

    def summaries(self, nodes: list[Obj]) -> dict[str, NodeSummary]:
        """Node name → summary, for the nodes that answered (fetched in parallel where not cached)."""
        names = [n["metadata"]["name"] for n in nodes]
        answers = self._pool.map(self._summary, nodes) if len(nodes) > 1 else map(self._summary, nodes)
        return {name: summary for name, summary in zip(names, answers) if summary is not None}

    def _summary(self, node: Obj) -> NodeSummary | None:
        name = node["metadata"]["name"]
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # one fetch per node at a time; the others wait for its answer
            cached = self._cache.get(name)
            if cached is not None and self.clock() - cached[0] < self.cache_seconds:
                return cached[1]
            try:
                summary: NodeSummary | None = self._fetch(node)
            except (errors.ApiError, requests.RequestException, decoding.DecodeError, ValueError) as exc:
                log.info("no stats from node %s: %s", name, getattr(exc, "message", None) or exc)
                summary = None
            self._cache[name] = (self.clock(), summary)
            return summary

    def _fetch_http(self, node: Obj) -> NodeSummary:
        if not self.kubelet_token:
            raise errors.ServiceUnavailableError("this master has no --kubelet-token-file: it cannot reach nodes")
        with self._session.get(f"{kubelet_url(node)}/stats/summary", stream=True, allow_redirects=False,
                               timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                               headers={"Authorization": f"Bearer {self.kubelet_token}"}) as answer:
            if answer.status_code != 200:
                raise ValueError(f"answered {answer.status_code}")
            body, deadline = bytearray(), time.monotonic() + self.total_timeout
            for chunk in answer.iter_content(chunk_size=64 << 10):
                body += chunk
                if len(body) > MAX_SUMMARY_BYTES:
                    raise ValueError(f"answered more than {MAX_SUMMARY_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise ValueError(f"took more than {self.total_timeout:g}s to answer")
        return parse_summary(decoding.decode_json(bytes(body), limit=4 * MAX_SUMMARY_BYTES))

    def close(self) -> None:
        """Stop the fetch threads and close the connections."""
        self._pool.shutdown(wait=False)
        self._session.close()


class MetricsApi:
    """Answers get and list of NodeMetrics and PodMetrics (no watch: metrics are not versioned)."""

    def __init__(self, registry: Registry, cache: NodeStatsCache, *, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.cache = cache
        self.clock = clock

    def get(self, req: falcon.Request, resp: falcon.Response, rt: ResourceType, namespace: str | None,
            name: str | None) -> None:
        """Answer a GET of a metrics collection or object (JSON or a Table)."""
        if query_bool(req, "watch"):
            raise errors.MethodNotAllowedError(f"watch is not supported on {rt.group_plural}: metrics are not "
                                               "versioned; list again instead")
        label_sel = selectors.parse_label_selector(req.get_param("labelSelector") or "")
        field_sel = selectors.parse_field_selector(req.get_param("fieldSelector") or "", rt.strategy.field_paths())
        if rt.kind == "NodeMetrics":
            items = self.node_metrics(label_sel, name)
        else:
            items = self.pod_metrics(namespace, label_sel, name)
        items = [item for item in items if field_sel.matches(item)]
        if name is not None and not items:
            raise errors.NotFoundError(f'{rt.group_plural} "{name}" not found', name=name, kind=rt.plural,
                                       group=rt.group)
        table_version = tables.table_version(req.get_header("Accept", default=""))
        if table_version:
            include = req.get_param("includeObject") or "Metadata"
            if include not in tables.INCLUDE_OBJECT:
                raise errors.BadRequestError(f"includeObject must be one of {', '.join(tables.INCLUDE_OBJECT)}")
            send_json(resp, tables.table(rt, items, resource_version="", include_object=include,
                                         version=table_version))
        elif name is not None:
            send_json(resp, items[0])
        else:
            send_json(resp, {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": {}, "items": items})

    def node_metrics(self, label_sel: selectors.LabelSelector, name: str | None = None) -> list[Obj]:
        """NodeMetrics of the nodes matching `label_sel` (and `name`) whose agents report usage."""
        nodes = [n for n in self.registry.list(_NODES, None)[0]
                 if (name is None or n["metadata"]["name"] == name) and label_sel.matches(_labels(n))]
        summaries = self.cache.summaries(nodes)
        items = []
        for node in nodes:
            summary = summaries.get(node["metadata"]["name"])
            if summary is None or summary.node is None:
                continue
            usage = summary.node
            items.append({"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                          "metadata": self._metadata(node), "timestamp": usage.timestamp,
                          "window": go_duration(usage.window),
                          "usage": {"cpu": cpu_quantity(usage.nanocores), "memory": memory_quantity(usage.memory)}})
        return items

    def pod_metrics(self, namespace: str | None, label_sel: selectors.LabelSelector,
                    name: str | None = None) -> list[Obj]:
        """PodMetrics of the pods (of `namespace`, or all) matching `label_sel` (and `name`) that run
        on a node whose agent reports every one of their containers."""
        pods = [p for p in self.registry.list(_PODS, namespace)[0]
                if (name is None or p["metadata"]["name"] == name) and label_sel.matches(_labels(p))
                and (p.get("spec") or {}).get("nodeName")]
        wanted = {p["spec"]["nodeName"] for p in pods}
        nodes = [n for n in self.registry.list(_NODES, None)[0] if n["metadata"]["name"] in wanted]
        summaries = self.cache.summaries(nodes)
        items = []
        for pod in sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"])):
            meta = pod["metadata"]
            summary = summaries.get(pod["spec"]["nodeName"])
            usage = summary.pods.get((meta.get("namespace", ""), meta["name"])) if summary else None
            if usage is None or (usage.uid and meta.get("uid") and usage.uid != meta["uid"]):
                continue
            first = min(usage.containers.values(), key=lambda u: u.window)
            items.append({
                "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {**self._metadata(pod), "namespace": meta.get("namespace")},
                "timestamp": max(u.timestamp for u in usage.containers.values()),
                "window": go_duration(first.window),
                "containers": [{"name": cname, "usage": {"cpu": cpu_quantity(u.nanocores),
                                                         "memory": memory_quantity(u.memory)}}
                               for cname, u in sorted(usage.containers.items())],
            })
        return items

    def _metadata(self, obj: Obj) -> Obj:
        """As metrics-server writes it: the object's name and labels, created now."""
        meta: Obj = {"name": obj["metadata"]["name"], "creationTimestamp": format_time(self.clock())}
        if _labels(obj):
            meta["labels"] = dict(_labels(obj))
        return meta


def _labels(obj: Obj) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}
