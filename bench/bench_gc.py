"""Cascading deletion: from the DELETE of an owner to the end of its cascade, on 3 durable masters.

Starts three `minik8s master` processes on loopback (see `cluster.py`) with their control loops,
waits until one holds the controller-manager Lease, then runs one row per scenario, each in its
own namespace: an owner ConfigMap with `--dependents` ConfigMaps that reference it
(`blockOwnerDeletion: true`), created 16 at a time and not timed. The clock starts just before the
owner's DELETE and stops at the watch event that ends the cascade, followed with one long-poll
watch on the namespace's ConfigMaps from the revision after the creates:

- Background: the owner goes at once; ends with the last dependent's DELETED event;
- Foreground: ends with the owner's DELETED event (after every dependent's);
- Orphan: ends with the owner's DELETED event (after every dependent lost its reference);
- namespace: `kubectl delete ns`-style DELETE of a namespace holding `--dependents` ConfigMaps;
  ends with the namespace's DELETED event.

Columns: scenario, objects, seconds, objects/s. The work is done by the garbage collector and the
namespace controller of the Lease holder (each write is a Raft round, so they write in parallel).

    .venv/bin/python bench/bench_gc.py [--dependents 500]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cluster import ClusterError, exit_on_sigterm, start_minik8s
from report import format_table

from minik8s.api.client import ApiClient

HEADERS = ("scenario", "objects", "seconds", "objects/s")
LEASE = ("kube-system", "minik8s-controller-manager")
Obj = dict[str, Any]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dependents", type=int, default=500)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="give up on a row after this long")
    return parser.parse_args()


def configmap(name: str, namespace: str, owner: Obj | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def wait_for_controllers(client: ApiClient, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if client.get("leases.coordination.k8s.io", LEASE[1], namespace=LEASE[0])["spec"].get("holderIdentity"):
                return
        except Exception:  # noqa: BLE001 - not yet created
            pass
        time.sleep(0.2)
    raise ClusterError("no master took the controller-manager Lease")


def follow(client: ApiClient, resource: str, namespace: str | None, revision: str, done: Callable[[Obj], bool],
           deadline: float) -> float:
    """Follow a watch from `revision` until an event makes `done` true; the monotonic time it arrived."""
    while time.monotonic() < deadline:
        events, revision = client.watch_poll(resource, namespace=namespace, resource_version=revision,
                                             timeout_seconds=5)
        now = time.monotonic()
        if any(done(event) for event in events):
            return now
    raise ClusterError(f"the cascade did not end within the deadline ({resource} in {namespace})")


def cascade(client: ApiClient, policy: str, count: int, max_seconds: float) -> list[object]:
    namespace = f"bench-{policy.lower()}"
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    owner = client.create(configmap("owner", namespace))
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(client.create, [configmap(f"d{i}", namespace, owner) for i in range(count)]))
    revision = client.list("configmaps", namespace=namespace)["metadata"]["resourceVersion"]
    deleted: set[str] = set()

    def done(event: Obj) -> bool:
        name = event["object"]["metadata"]["name"]
        if event["type"] == "DELETED":
            deleted.add(name)
        if policy == "Background":
            return len(deleted - {"owner"}) == count
        return "owner" in deleted

    started = time.monotonic()
    client.delete("configmaps", "owner", namespace=namespace, propagation_policy=policy)
    ended = follow(client, "configmaps", namespace, revision, done, started + max_seconds)
    if policy == "Orphan":
        left = client.list("configmaps", namespace=namespace)["items"]
        assert len(left) == count and not any(o["metadata"].get("ownerReferences") for o in left)
    seconds = ended - started
    return [policy, count, seconds, count / seconds]


def namespace_deletion(client: ApiClient, count: int, max_seconds: float) -> list[object]:
    namespace = "bench-namespace"
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(client.create, [configmap(f"c{i}", namespace) for i in range(count)]))
    revision = client.list("namespaces")["metadata"]["resourceVersion"]
    started = time.monotonic()
    client.delete("namespaces", namespace)
    ended = follow(client, "namespaces", None, revision,
                   lambda e: e["type"] == "DELETED" and e["object"]["metadata"]["name"] == namespace,
                   started + max_seconds)
    seconds = ended - started
    return ["namespace", count, seconds, count / seconds]


def main() -> int:
    args = parse_args()
    exit_on_sigterm()
    try:
        with start_minik8s(3) as cluster:
            client = ApiClient(cluster.urls, token=cluster.token, timeout=30)
            wait_for_controllers(client, time.monotonic() + 60)
            rows = [cascade(client, policy, args.dependents, args.max_seconds)
                    for policy in ("Background", "Foreground", "Orphan")]
            rows.append(namespace_deletion(client, args.dependents, args.max_seconds))
            print(format_table(HEADERS, rows))
            print("seconds: from the owner's DELETE to the watch event ending the cascade; 3 masters on loopback")
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
