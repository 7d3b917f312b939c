"""The Function controller: a Function's code in a ConfigMap, its instances in a Deployment.

For a Function `<name>` it keeps (both owned by the Function, so deleting it removes them):

- the ConfigMap `fn-<name>`: the inline source as `<module>.py` (the module the handler names) and
  the instance server `_funcserver.py` (`minik8s.serverless.funcserver`); for a zip source, the
  archive as `binaryData` `source.zip` and the archive checks `_funczip.py` (`minik8s.api.funczip`,
  stdlib only), with which the instance server unpacks it at start (`MINIK8S_FUNCTION_ZIP`);
- the Deployment `fn-<name>`: pods labelled `minik8s.io/function=<name>` that run
  `python3 _funcserver.py` with the ConfigMap mounted at `FUNCTION_DIR`, a readiness probe on
  `/healthz`, a grace period longer than a call may take (an instance being removed finishes its
  calls), and a pod-template annotation with the code's hash, so new code rolls the instances.

Replicas: a new Deployment starts at `scale.minScale` (0 by default: the function starts at zero
and its first call wakes it, see `router.py`); afterwards the controller leaves `spec.replicas` to
the routers and the autoscaler and only keeps it within `[minScale, maxScale]`.

Status: `readyInstances` and `desiredInstances` from the Deployment, the `url` to call, and a
Ready condition (True once the Deployment exists: a function at zero still takes calls).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from minik8s.api import errors, funczip
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer, object_key
from minik8s.api.kinds.function import FUNCTION_LABEL
from minik8s.api.kinds.pod import PYTHON_ZYGOTE_ANNOTATION
from minik8s.api.reconcile import Controller, Result
from minik8s.api.timefmt import format_time

from . import funcserver
from .router import DEFAULT_TIMEOUT, INSTANCE_PORT, deployment_name

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FUNCTION_DIR = "/var/run/minik8s/function"
SERVER_FILE = "_funcserver.py"
HELPER_FILE = funcserver.HELPER_FILE  # the name the instance server loads it by
ZIP_FILE = "source.zip"
CODE_HASH = "minik8s.io/function-code-hash"
DEFAULT_HANDLER = "main:handle"
DEFAULT_IMAGE = "python:3.11"  # the docker runtime's instances; the process runtime runs the host's python3
DRAIN_MARGIN = 5  # seconds of grace beyond the call timeout


def server_source() -> str:
    """The text of the instance server that goes into every function's ConfigMap."""
    return Path(funcserver.__file__).read_text()


def helper_source() -> str:
    """The text of the archive checks that go beside it for a zip source."""
    return Path(funczip.__file__).read_text()


def module_file(handler: str) -> str:
    """The file the inline source is saved as: the handler's module, `main:handle` -> `main.py`."""
    return handler.partition(":")[0].split(".")[0] + ".py"


def wanted_configmap(function: Obj, server: str, helper: str) -> Obj:
    """The ConfigMap holding a function's code and the instance server (and for a zip source, the
    archive and the checks the server unpacks it with)."""
    meta, spec = function["metadata"], function.get("spec") or {}
    source = spec.get("source") or {}
    configmap: Obj = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": deployment_name(meta["name"]), "namespace": meta.get("namespace", "default"),
                     "labels": {FUNCTION_LABEL: meta["name"]}, "ownerReferences": [_owner(function)]}}
    if source.get("zip"):
        configmap["data"] = {SERVER_FILE: server, HELPER_FILE: helper}
        configmap["binaryData"] = {ZIP_FILE: source["zip"]}
    else:
        configmap["data"] = {module_file(spec.get("handler") or DEFAULT_HANDLER): source.get("inline") or "",
                             SERVER_FILE: server}
    return configmap


def wanted_deployment(function: Obj, code_hash: str, replicas: int) -> Obj:
    """The Deployment that runs a function's instances."""
    meta, spec = function["metadata"], function.get("spec") or {}
    name = meta["name"]
    timeout = int(spec.get("timeoutSeconds") or DEFAULT_TIMEOUT)
    labels = {FUNCTION_LABEL: name}
    env = [{"name": "MINIK8S_FUNCTION_DIR", "value": FUNCTION_DIR},
           {"name": "MINIK8S_FUNCTION_HANDLER", "value": spec.get("handler") or DEFAULT_HANDLER},
           {"name": "MINIK8S_FUNCTION_PORT", "value": str(INSTANCE_PORT)},
           {"name": "MINIK8S_CONTAINER_CONCURRENCY", "value": str(spec.get("containerConcurrency") or 0)},
           {"name": "MINIK8S_FUNCTION_TIMEOUT", "value": str(timeout)},
           *([{"name": "MINIK8S_FUNCTION_ZIP", "value": f"{FUNCTION_DIR}/{ZIP_FILE}"}]
             if (spec.get("source") or {}).get("zip") else []),
           *copy.deepcopy(spec.get("env") or [])]
    container: Obj = {
        "name": "function", "image": DEFAULT_IMAGE, "command": ["python3", f"{FUNCTION_DIR}/{SERVER_FILE}"],
        "env": env, "ports": [{"name": "http", "containerPort": INSTANCE_PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": INSTANCE_PORT}, "periodSeconds": 1},
        "volumeMounts": [{"name": "code", "mountPath": FUNCTION_DIR, "readOnly": True}],
    }
    if spec.get("resources"):
        container["resources"] = copy.deepcopy(spec["resources"])
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": deployment_name(name), "namespace": meta.get("namespace", "default"),
                     "labels": dict(labels), "ownerReferences": [_owner(function)]},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": {CODE_HASH: code_hash, PYTHON_ZYGOTE_ANNOTATION: "true"}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": timeout + DRAIN_MARGIN,
                         "volumes": [{"name": "code", "configMap": {"name": deployment_name(name)}}]},
            },
        },
    }


def code_hash(configmap: Obj, function: Obj) -> str:
    """What changes the instances: the code (a zip too), the server, the handler, env, resources and limits."""
    spec = function.get("spec") or {}
    relevant = [configmap["data"], spec.get("handler"), spec.get("env"), spec.get("resources"),
                spec.get("containerConcurrency"), spec.get("timeoutSeconds")]
    if configmap.get("binaryData"):  # only then: an inline function's hash is what it was before zips
        relevant.append(configmap["binaryData"])
    return hashlib.sha256(repr(relevant).encode()).hexdigest()[:16]


def _owner(function: Obj) -> Obj:
    meta = function["metadata"]
    return {"apiVersion": "minik8s.io/v1", "kind": "Function", "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _bounds(function: Obj) -> tuple[int, int]:
    scale = (function.get("spec") or {}).get("scale") or {}
    low = int(scale.get("minScale") or 0)
    return low, max(low, int(scale.get("maxScale") or 10))


class FunctionController(Controller):
    """Keeps each Function's ConfigMap, Deployment and status (see the module docstring)."""

    _functions: Informer
    _deployments: Informer
    _configmaps: Informer

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client, name="function", workers=2)
        self._server = server_source()
        self._helper = helper_source()

    def setup(self) -> None:
        self._functions = self.watch("functions")
        owned = lambda obj: _owning_function(obj)  # noqa: E731
        self._deployments = self.watch("deployments", label_selector=FUNCTION_LABEL, key=owned)
        self._configmaps = self.watch("configmaps", label_selector=FUNCTION_LABEL, key=owned)

    def reconcile(self, key: str) -> Result | None:
        function = self._functions.get(key)
        if function is None or function["metadata"].get("deletionTimestamp"):
            return None  # the garbage collector removes what it owned
        configmap = wanted_configmap(function, self._server, self._helper)
        taken = self._ensure_configmap(function, configmap)
        deployment = None if taken else self._ensure_deployment(function, code_hash(configmap, function))
        if deployment is not None and not _owned_by(deployment, function):
            taken, deployment = f"Deployment {deployment['metadata']['name']}", None
        self._write_status(function, deployment, taken)
        return None

    def _ensure_configmap(self, function: Obj, wanted: Obj) -> str | None:
        """Create or update the code's ConfigMap; what stands in the way when one of that name is not
        this function's (an object of another owner is never taken over)."""
        current = self._configmaps.get(object_key(wanted))
        if current is None:
            try:
                self.client.create(wanted)
            except errors.AlreadyExistsError:
                current = self.client.get("configmaps", wanted["metadata"]["name"],
                                          namespace=wanted["metadata"]["namespace"])
                return None if _owned_by(current, function) else f"ConfigMap {wanted['metadata']['name']}"
            return None
        if not _owned_by(current, function):
            return f"ConfigMap {current['metadata']['name']}"
        if current.get("data") != wanted["data"] or current.get("binaryData") != wanted.get("binaryData"):
            updated = copy.deepcopy(current)
            updated["data"] = wanted["data"]
            updated.pop("binaryData", None)
            if "binaryData" in wanted:
                updated["binaryData"] = wanted["binaryData"]
            self.client.replace(updated)
        return None

    def _ensure_deployment(self, function: Obj, code: str) -> Obj | None:
        low, high = _bounds(function)
        key = f"{function['metadata'].get('namespace', 'default')}/{deployment_name(function['metadata']['name'])}"
        current = self._deployments.get(key)
        if current is None:
            wanted = wanted_deployment(function, code, low)
            try:
                created = self.client.create(wanted)
                log.info("function %s: created Deployment %s with %d instance(s)", object_key(function),
                         wanted["metadata"]["name"], low)
                return created
            except errors.AlreadyExistsError:  # the informer is behind, or it is not ours (see reconcile)
                meta = wanted["metadata"]
                return self.client.get("deployments", meta["name"], namespace=meta["namespace"])
        replicas = (current.get("spec") or {}).get("replicas")
        replicas = min(max(replicas if isinstance(replicas, int) else low, low), high)
        wanted = wanted_deployment(function, code, replicas)
        annotations = (((current.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations")
        same_code = (annotations or {}).get(CODE_HASH) == code  # the server defaults the rest of the template
        if not _owned_by(current, function) or (current["spec"].get("replicas") == replicas and same_code):
            return current
        updated = copy.deepcopy(current)
        updated["spec"]["replicas"] = replicas
        if not same_code:
            updated["spec"]["template"] = wanted["spec"]["template"]
        return self.client.replace(updated)  # a 409 (a router scaled it meanwhile) is retried with backoff

    def _write_status(self, function: Obj, deployment: Obj | None, taken: str | None = None) -> None:
        meta = function["metadata"]
        namespace = meta.get("namespace", "default")
        ready = ((deployment or {}).get("status") or {}).get("readyReplicas") or 0
        desired = ((deployment or {}).get("spec") or {}).get("replicas") or 0
        old = function.get("status") or {}
        conditions = [c for c in old.get("conditions") or [] if c.get("type") != "Ready"]
        previous = next((c for c in old.get("conditions") or [] if c.get("type") == "Ready"), None)
        ok = deployment is not None
        if ok:
            reason, message = "InstancesDeployed", f"{ready} of {desired} instance(s) ready; calls wake the function " \
                                                    "when at zero"
        elif taken:
            reason, message = "NameTaken", f"{taken} exists and does not belong to this function; delete or rename it"
        else:
            reason, message = "Deploying", "creating the function's Deployment"
        condition = {"type": "Ready", "status": "True" if ok else "False", "reason": reason, "message": message}
        if previous is not None and previous.get("status") == condition["status"]:
            condition["lastTransitionTime"] = previous.get("lastTransitionTime")
        else:
            condition["lastTransitionTime"] = format_time(time.time())
        status = {"observedGeneration": meta.get("generation"), "readyInstances": ready,
                  "desiredInstances": desired,
                  "url": f"/apis/minik8s.io/v1/namespaces/{namespace}/functions/{meta['name']}/invoke",
                  "conditions": [*conditions, condition]}
        if "lastScheduleTime" in old:  # the schedule controller's: kept
            status["lastScheduleTime"] = old["lastScheduleTime"]
        if {k: v for k, v in status.items() if v is not None} == {k: v for k, v in old.items() if v is not None}:
            return
        updated = copy.deepcopy(function)
        updated["status"] = status
        self.client.update_status(updated)


def _owning_function(obj: Obj) -> str | None:
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "Function" and ref.get("apiVersion") == "minik8s.io/v1":
            return f"{meta.get('namespace', 'default')}/{ref.get('name')}"
    return None


def _owned_by(obj: Obj, function: Obj) -> bool:
    uid = function["metadata"].get("uid")
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
