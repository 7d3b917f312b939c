"""A stand-in for the Deployment controller in HPA tests: keeps `spec.replicas` pods of one Deployment.

The HPA scales a Deployment through its `scale` subresource; without a Deployment controller nothing
would create the pods. `ReplicaStub` polls the Deployment and creates or deletes pods from its
template (newest deleted first) until their number matches, and copies the count into the
Deployment's status. `deployment_controller_acts` tells whether a real Deployment controller runs, so
the acceptance test uses the stub only where that controller is absent.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient

Obj = dict[str, Any]


def deployment_controller_acts(client: ApiClient, name: str, namespace: str = "default",
                               timeout: float = 15.0) -> bool:
    """Whether something observes the Deployment (its `status.observedGeneration` is set) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("deployments", name, namespace=namespace).get("status") or {}
        if status.get("observedGeneration"):
            return True
        time.sleep(0.5)
    return False


class ReplicaStub:
    """Keeps the pods of one Deployment at its `spec.replicas` until `stop()`."""

    def __init__(self, client: ApiClient, name: str, namespace: str = "default", interval: float = 0.5) -> None:
        self.client, self.name, self.namespace, self.interval = client, name, namespace, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"replica-stub-{name}", daemon=True)
        self._serial = 0

    def start(self) -> ReplicaStub:
        """Start keeping the pods on a thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop (the pods stay)."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sync()
            except errors.ApiError:
                pass  # a master away for a moment: try again

    def _sync(self) -> None:
        deployment = self.client.get("deployments", self.name, namespace=self.namespace)
        spec = deployment.get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        pods = [p for p in self.client.list("pods", namespace=self.namespace, label_selector=selector)["items"]
                if not p["metadata"].get("deletionTimestamp")]
        wanted = int(spec.get("replicas") or 0)
        pods.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""))
        for pod in pods[wanted:]:
            self.client.delete("pods", pod["metadata"]["name"], namespace=self.namespace, grace_period_seconds=0)
        for _ in range(wanted - len(pods)):
            self._serial += 1
            template = copy.deepcopy(spec.get("template") or {})
            meta = {**(template.get("metadata") or {}), "generateName": f"{self.name}-stub-"}
            self.client.create({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec")},
                               namespace=self.namespace)
        status = deployment.get("status") or {}
        if status.get("replicas") != wanted:
            deployment["status"] = {**status, "replicas": wanted}
            try:
                self.client.update_status(deployment)
            except errors.ConflictError:
                pass
