"""Workloads that record histories through the real HTTP API of several masters.

- `RegisterWorkload`: `clients` threads, each its own client to the masters (failing over between
  them), doing a seeded random mix of create, read, update with `resourceVersion` compare-and-set
  and delete on `keys` ConfigMaps in one namespace. Every operation is recorded as a
  `history.Op` with its invocation and completion times; an answer that never came (a timeout, a
  write that may have been received) is recorded with the outcome "unknown". Values are unique per
  write (`p<process>-<n>`), so a value names its write.
- `WatchWorkload`: `watchers` threads that each list and then long-poll watch the namespace,
  reconnecting to another master after an error and recording every event and every
  (re)connection (`watchcheck.WatchEvent`, `watchcheck.Resume`); a 410 Gone makes it list again.

Both are bounded in count and time: they stop at `stop()` or after `max_ops` operations per client.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient

from .history import Op
from .watchcheck import Resume, WatchEvent, WatcherLog

NAMESPACE = "chaos"
OP_TIMEOUT = 5.0  # seconds a client waits for one answer (then the outcome is unknown)
KINDS = (("read", 40), ("update", 30), ("create", 15), ("delete", 15))


def key_name(index: int) -> str:
    return f"reg-{index}"


def configmap(name: str, value: str, version: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if version is not None:
        meta["resourceVersion"] = version
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}


def ensure_namespace(client: ApiClient) -> None:
    try:
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    except errors.AlreadyExistsError:
        pass


class RegisterWorkload:
    """Per-key registers on ConfigMaps (see the module docstring)."""

    def __init__(self, servers: list[str], token: str, *, clients: int = 6, keys: int = 3, seed: int = 0,
                 max_ops: int = 100_000, think: float = 0.0, first_process: int = 0,
                 op_timeout: float = OP_TIMEOUT) -> None:
        self.servers, self.token = servers, token
        self.clients, self.keys, self.seed, self.max_ops, self.think = clients, keys, seed, max_ops, think
        self.first_process = first_process  # process numbers (and so values) distinct from another workload's
        self.op_timeout = op_timeout
        self.history: list[Op] = []
        self.unanswered_reads: dict[str, int] = {}  # error -> reads left out of the history (refused or timed out)
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.clock = time.monotonic

    def start(self) -> None:
        for process in range(self.first_process, self.first_process + self.clients):
            thread = threading.Thread(target=self._run, args=(process,), name=f"register-{process}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.op_timeout * 3)

    def _count_unanswered(self, error: str) -> None:
        with self._lock:
            self.unanswered_reads[error] = self.unanswered_reads.get(error, 0) + 1

    def _record(self, **fields: Any) -> None:
        with self._lock:
            self.history.append(Op(id=next(self._ids), **fields))

    def _run(self, process: int) -> None:
        rng = random.Random(self.seed * 1000 + process)
        servers = self.servers[process % len(self.servers):] + self.servers[:process % len(self.servers)]
        client = ApiClient(servers, token=self.token, timeout=self.op_timeout)
        last_seen: dict[str, str] = {}  # key -> the last resourceVersion this client saw (for CAS)
        try:
            for n in range(self.max_ops):
                if self._stop.is_set():
                    return
                key = key_name(rng.randrange(self.keys))
                kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
                self._one(client, process, n, key, kind, last_seen, rng)
                if self.think:
                    time.sleep(rng.uniform(0, self.think))
        finally:
            client.close()

    def _one(self, client: ApiClient, process: int, n: int, key: str, kind: str, last_seen: dict[str, str],
             rng: random.Random) -> None:
        value = f"p{process}-{n}" if kind in ("create", "update") else None
        expect = last_seen.get(key) if kind in ("update", "delete") else None
        if kind == "delete" and rng.random() < 0.3:
            expect = None  # some deletes are unconditional
        invoke = self.clock()
        outcome, result_version, read_value, error = "ok", None, value, None
        try:
            if kind == "read":
                obj = client.get("configmaps", key, namespace=NAMESPACE)
                read_value, result_version = (obj.get("data") or {}).get("v"), obj["metadata"]["resourceVersion"]
            elif kind == "create":
                obj = client.create(configmap(key, value or ""))
                result_version = obj["metadata"]["resourceVersion"]
            elif kind == "update":
                if expect is None:
                    kind, read_value = "read", None  # nothing to compare against yet: read instead
                    obj = client.get("configmaps", key, namespace=NAMESPACE)
                    read_value, result_version = (obj.get("data") or {}).get("v"), obj["metadata"]["resourceVersion"]
                else:
                    obj = client.replace(configmap(key, value or "", expect))
                    result_version = obj["metadata"]["resourceVersion"]
            else:
                answer = client.delete("configmaps", key, namespace=NAMESPACE, resource_version=expect)
                # the removed object, stamped with the revision of the removal (what a watch shows)
                result_version = ((answer or {}).get("metadata") or {}).get("resourceVersion")
        except errors.NotFoundError:
            outcome, error = "fail", "NotFound"
            if kind == "read":
                outcome, read_value = "ok", None  # a read that finds nothing is an answer
        except errors.AlreadyExistsError:
            outcome, error = "fail", "AlreadyExists"
        except errors.ConflictError:
            outcome, error = "fail", "Conflict"
        except (errors.ServiceUnavailableError, errors.TooManyRequestsError) as exc:
            # every master refused it before proposing (503, 429) or never got it (connection refused):
            # the client sends a write elsewhere only then, so it was not applied anywhere
            outcome, error = "fail", type(exc).__name__
            if kind == "read":
                self._count_unanswered(error)
                return
        except errors.ApiError as exc:  # no answer (a timeout after it may have been received), or a 5xx
            outcome, error = ("fail" if kind == "read" else "unknown"), type(exc).__name__
            if kind == "read":
                self._count_unanswered(error)
                return  # a read without an answer says nothing: it is left out of the history
        complete = self.clock() if outcome != "unknown" else None
        if kind == "delete" and outcome == "ok":
            last_seen.pop(key, None)
        elif result_version is not None:
            last_seen[key] = result_version
        elif kind == "read" and read_value is None and outcome == "ok":
            last_seen.pop(key, None)
        self._record(process=process, key=key, kind=kind, value=read_value if kind == "read" else value,
                     expect_version=expect, invoke=invoke, complete=complete, outcome=outcome,
                     result_version=result_version, error=error)


class WatchWorkload:
    """Long-poll watchers of the namespace (see the module docstring)."""

    def __init__(self, servers: list[str], token: str, *, watchers: int = 2, seed: int = 0) -> None:
        self.servers, self.token, self.watchers, self.seed = servers, token, watchers, seed
        self.logs = [WatcherLog(watcher=f"w{i}", selector="*", entries=[]) for i in range(watchers)]  # whole namespace
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index, log in enumerate(self.logs):
            thread = threading.Thread(target=self._run, args=(index, log), name=f"watch-{index}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, index: int, log: WatcherLog) -> None:
        rng = random.Random(self.seed * 7919 + index)
        revision, relist = 0, True
        while not self._stop.is_set():
            server = rng.choice(self.servers)
            client = ApiClient([server], token=self.token, timeout=OP_TIMEOUT)
            try:
                if relist:
                    listing = client.list("configmaps", namespace=NAMESPACE)
                    revision = int(listing["metadata"]["resourceVersion"])
                    log.entries.append(Resume(from_revision=revision, relisted=True, master=server))
                    relist = False
                else:
                    log.entries.append(Resume(from_revision=revision, relisted=False, master=server))
                while not self._stop.is_set():
                    events, next_version = client.watch_poll("configmaps", namespace=NAMESPACE,
                                                             resource_version=str(revision), timeout_seconds=2)
                    for event in events:
                        obj = event["object"]
                        rv = int(obj["metadata"]["resourceVersion"])
                        value = None if event["type"] == "DELETED" else (obj.get("data") or {}).get("v")
                        log.entries.append(WatchEvent(type=event["type"], key=obj["metadata"]["name"], revision=rv,
                                                      value=value))
                    last = max([revision, *(int(e["object"]["metadata"]["resourceVersion"]) for e in events)])
                    progress = int(next_version or last)
                    if progress > last:  # the answer says nothing else happened up to `progress`
                        log.entries.append(WatchEvent(type="BOOKMARK", key="", revision=progress, value=None))
                    revision = max(last, progress)
            except errors.ExpiredError:
                relist = True
            except (errors.ApiError, ValueError, KeyError):
                self._stop.wait(0.2)  # this master is down or paused: another one next
            finally:
                client.close()
