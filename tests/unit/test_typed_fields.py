"""The typed pass every write takes first (`validation.conform`): field types from the one schema.

kube-apiserver decodes a body into Go structs before anything reads it: a wrong type is refused
naming the field, null for a field means absent. Defaulting, strategic merge, server-side apply,
validation, tables and the registry read the object after that pass and trust the types of the
fields they read, so the class is tested twice: the pass itself (nulls dropped, every wrong type
named, nested status shapes too), and a property: whatever JSON a client sends, after `conform`
nothing downstream raises anything but an API error.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minik8s.api import objects, strictfields, tables, validation
from minik8s.api.errors import ApiError, BadRequestError, InvalidError
from minik8s.api.kinds import RESOURCES, ResourceType, resolve
from minik8s.api.server import patching

from .test_validation import VALID

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
       "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "1"],
                                "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "b"}]}]}}


def conformed(kind: str, obj: Any) -> dict[str, Any]:
    return validation.conform(resolve(kind), obj)


def refused(kind: str, obj: Any) -> dict[str, str]:
    """field -> message of every cause `conform` reports (it must report some)."""
    with pytest.raises(InvalidError) as caught:
        conformed(kind, obj)
    assert caught.value.code == 422
    return {c["field"]: c["message"] for c in caught.value.causes}


def with_value(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target: Any = obj
    for key in parents:
        target = target[key]
    target[last] = value
    return obj


# --- null is absent ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "spec.containers.0.command", "spec.containers.0.env", "spec.containers.0.ports", "metadata.labels",
    "metadata.creationTimestamp", "spec.nodeSelector", "status",
])
def test_null_fields_are_dropped(path: str) -> None:
    obj = with_value(POD, path, None)
    result = conformed("Pod", obj)
    *parents, last = path.split(".")
    target: Any = result
    for key in parents:
        target = target[int(key) if key.isdigit() else key]
    assert last not in target
    assert obj == with_value(POD, path, None), "the input is not changed"


def test_a_null_metadata_or_spec_is_absent_and_defaults_fill_it() -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": None, "spec": {
        "replicas": None, "selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i", "ports": None}]}}}}
    out = conformed("ReplicaSet", rs)
    assert "metadata" not in out and "replicas" not in out["spec"]
    prepared = objects.prepare_create(resolve("replicasets"), out, namespace="default", now="2024-01-01T00:00:00Z",
                                      uid="u", name_suffix="abcde")
    assert prepared["spec"]["replicas"] == 1 and "ports" not in prepared["spec"]["template"]["spec"]["containers"][0]


# --- wrong types are named ---------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "obj", "field", "message"), [
    ("Lease", {"metadata": [None]}, "metadata", "must be an object"),
    ("Lease", {"metadata": {"name": "l"}, "spec": {"renewTime": "yesterday"}}, "spec.renewTime", "RFC 3339"),
    ("Pod", with_value(POD, "spec", ["x"]), "spec", "must be an object"),
    ("Pod", with_value(POD, "spec.containers.0.ports", "80"), "spec.containers[0].ports", "must be a list"),
    ("Pod", with_value(POD, "spec.containers.0.command", [None]), "spec.containers[0].command[0]",
     "must be a string"),
    ("Pod", with_value(POD, "spec.containers.0.env", [None]), "spec.containers[0].env[0]", "must be an object"),
    ("Pod", with_value(POD, "metadata.labels", {"a": None}), "metadata.labels[a]", "must be a string"),
    ("Pod", with_value(POD, "spec.hostNetwork", "yes"), "spec.hostNetwork", "must be a boolean"),
    ("Pod", with_value(POD, "spec.volumes", [{"name": "v", "hostPath": {"path": ["/"]}}]),
     "spec.volumes[0].hostPath.path", "must be a string"),
    # what `kubectl describe` (typed decoding) could not read back when these were free-form
    ("Pod", with_value(POD, "spec.volumes", [{"name": "v", "projected": {"sources": "x"}}]),
     "spec.volumes[0].projected.sources", "must be a list"),
    ("Pod", with_value(POD, "spec.volumes", [{"name": "v", "nfs": "x"}]), "spec.volumes[0].nfs", "must be an object"),
    ("Pod", with_value(POD, "spec.securityContext", {"seccompProfile": {"type": 5}}),
     "spec.securityContext.seccompProfile.type", "must be a string"),
    ("Pod", with_value(POD, "spec.dnsConfig", {"options": [{"name": 5}]}), "spec.dnsConfig.options[0].name",
     "must be a string"),
    ("Pod", with_value(POD, "status", {"containerStatuses": [{"name": "c", "restartCount": "3"}]}),
     "status.containerStatuses[0].restartCount", "must be an integer"),
    ("Pod", with_value(POD, "status", {"containerStatuses": [{"name": "c", "state": {"terminated": "x"}}]}),
     "status.containerStatuses[0].state.terminated", "must be an object"),
    ("Pod", with_value(POD, "status", {"conditions": ["Ready"]}), "status.conditions[0]", "must be an object"),
    ("Service", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]},
                 "status": {"loadBalancer": {"ingress": "abc"}}}, "status.loadBalancer.ingress", "must be a list"),
    ("HorizontalPodAutoscaler", {"metadata": {"name": "h"}, "spec": {"maxReplicas": 1}, "status": {
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": 5}}]}},
     "status.currentMetrics[0].resource.current", "must be an object"),
    ("Event", {"metadata": {"name": "e"}, "involvedObject": {}, "firstTimestamp": 5}, "firstTimestamp",
     "must be a string"),
    ("Node", {"metadata": {"name": "n"}, "status": {"nodeInfo": {"kubeletVersion": ["1"]}}},
     "status.nodeInfo.kubeletVersion", "must be a string"),
    ("Ingress", {"metadata": {"name": "i"}, "spec": {"rules": {"host": "a"}}}, "spec.rules", "must be a list"),
])
def test_wrong_types_are_refused_naming_the_field(kind: str, obj: dict[str, Any], field: str, message: str) -> None:
    causes = refused(kind, obj)
    assert field in causes, causes
    assert message in causes[field], causes


def test_every_wrong_type_is_reported_at_once() -> None:
    obj = with_value(with_value(POD, "spec.containers.0.image", 5), "metadata.annotations", [])
    assert set(refused("Pod", obj)) == {"spec.containers[0].image", "metadata.annotations"}


def test_the_root_must_be_an_object() -> None:
    assert refused("ConfigMap", ["not", "an", "object"]) == {"<root>": 'Invalid value: ["not", "an", "object"]: '
                                                                       "must be an object"}


def test_subresource_bodies_and_delete_options_are_typed() -> None:
    scale = validation.conform_kind("autoscaling", "v1", "Scale", {"spec": {"replicas": None}})
    assert scale == {"spec": {}}
    with pytest.raises(InvalidError):
        validation.conform_kind("autoscaling", "v1", "Scale", {"spec": [1]})
    with pytest.raises(BadRequestError, match="preconditions"):
        validation.conform_kind("", "v1", "DeleteOptions", {"preconditions": ["uid"]}, options=True)
    with pytest.raises(BadRequestError, match="gracePeriodSeconds"):
        validation.conform_kind("", "v1", "DeleteOptions", {"gracePeriodSeconds": 1e30}, options=True)
    assert validation.conform_kind("", "v1", "DeleteOptions", {"gracePeriodSeconds": 2**63 - 1, "dryRun": None},
                                   options=True) == {"gracePeriodSeconds": 2**63 - 1}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_objects_pass_unchanged(kind: str) -> None:
    assert conformed(kind, VALID[kind]) == VALID[kind]


def test_unknown_and_free_form_fields_are_left_alone() -> None:
    obj = with_value(POD, "spec.volumes", [{"name": "v", "emptyDir": {}, "bogusSource": [1, None],
                                           "cephfs": {"monitors": 5, "user": None}}])
    obj["extra"] = {"x": None}
    assert conformed("Pod", obj) == obj


@pytest.mark.parametrize(("value", "ok"), [
    ("2024-01-01T00:00:00Z", True), ("2024-01-01T00:00:00.123456789Z", True), ("2024-02-29T23:59:59+05:30", True),
    ("2024-01-01t00:00:00z", True), ("2024-01-01 00:00:00Z", False), ("2024-01-01T00:00:00", False),
    ("2023-02-29T00:00:00Z", False), ("2024-01-01T24:00:00Z", False), ("", False), ("yesterday", False),
])
def test_times_are_rfc3339(value: str, ok: bool) -> None:
    obj = with_value(POD, "metadata.deletionTimestamp", value)
    if ok:
        assert conformed("Pod", obj)["metadata"]["deletionTimestamp"] == value
    else:
        assert "metadata.deletionTimestamp" in refused("Pod", obj)


# --- the property: after conform, nothing downstream assumes a type wrongly ---------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**65), 2**65), st.floats(allow_nan=False),
                    st.text(max_size=6), st.sampled_from(["", "2024-01-01T00:00:00Z", "80", "50%", "k:{", "v:1"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=8)
STATUS = {"Pod": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                  "podIPs": [{"ip": "1.2.3.4"}],
                  "containerStatuses": [{"name": "app", "restartCount": 1, "state": {"waiting": {"reason": "X"}},
                                         "lastState": {"terminated": {"exitCode": 1,
                                                                      "finishedAt": "2024-01-01T00:00:00Z"}}}],
                  "initContainerStatuses": [{"name": "i", "state": {"terminated": {"exitCode": 0}}}]},
          "Service": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
          "HorizontalPodAutoscaler": {"currentMetrics": [{"type": "Resource", "resource": {"current": {}}}]},
          "Node": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"osImage": "x"}}}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def hostile(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, **copy.deepcopy(VALID[kind])}
    if kind in STATUS:
        obj["status"] = copy.deepcopy(STATUS[kind])
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(obj)[1:]))
        parent: Any = obj
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = draw(values)
    return obj


def _downstream(rt: ResourceType, obj: dict[str, Any], patch: Any) -> None:
    """Everything that reads a typed object: defaults, validation, unknown fields, tables, patches."""
    created = objects.prepare_create(rt, obj, namespace="default", now="2024-01-01T00:00:00Z", uid="u",
                                     name_suffix="abcde")
    objects.prepare_update(rt, obj, created, now="2024-01-01T00:00:01Z")
    objects.prepare_status_update(rt, obj, created)
    strictfields.drop_unknown_fields(rt, copy.deepcopy(obj))
    for item in (obj, created):
        tables.table(rt, [item], resource_version="1", include_object="Object")
        tables.table_event(rt, "MODIFIED", item, first=True, now=datetime.now(timezone.utc).timestamp())
    try:
        validation.validate(rt, created)
    except InvalidError:
        pass
    for content_type in (patching.MERGE, patching.STRATEGIC, patching.APPLY):
        try:
            patched = patching.apply_patch(created, patch, content_type, field_manager="m")
            again = patching.apply_patch(validation.conform(rt, patched), patch, patching.APPLY, field_manager="m")
            tables.table(rt, [validation.conform(rt, again)], resource_version="1")
        except ApiError:
            pass


@pytest.mark.parametrize("kind", sorted(VALID))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_after_conform_nothing_downstream_raises(kind: str, data: st.DataObject) -> None:
    rt = resolve(kind)
    obj = data.draw(hostile(kind))
    try:
        typed = validation.conform(rt, obj)
    except InvalidError:
        return
    try:
        patch = validation.conform(rt, data.draw(hostile(kind)))
    except InvalidError:
        patch = {"metadata": {"labels": {"x": "y"}}}
    _downstream(rt, typed, patch)


def test_every_served_kind_is_covered() -> None:
    assert {rt.kind for rt in RESOURCES if rt.stored} == set(VALID)
