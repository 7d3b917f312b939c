"""What controllers and rollout clients share: controller references, revisions, template equality."""

from __future__ import annotations

from minik8s.api.workloads import (
    POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, controller_ref, equal_ignoring_hash, is_controlled_by,
    new_controller_ref, revision, semantic,
)

OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "uid": "u1"}}


def test_workloads_controller_reference() -> None:
    """The controller reference blocks owner deletion; only `controller: true` counts as the controller."""
    ref = new_controller_ref(OWNER)
    assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u1", "controller": True,
                   "blockOwnerDeletion": True}
    pod = {"metadata": {"ownerReferences": [{**ref, "controller": False, "uid": "other"}, ref]}}
    assert controller_ref(pod) == ref and is_controlled_by(pod, OWNER)
    assert controller_ref({"metadata": {"ownerReferences": [{**ref, "controller": False}]}}) is None


def test_workloads_revision_annotation() -> None:
    """Absent: 0; a number: itself; anything else: None."""
    assert revision({"metadata": {}}) == 0
    assert revision({"metadata": {"annotations": {REVISION_ANNOTATION: "12"}}}) == 12
    assert revision({"metadata": {"annotations": {REVISION_ANNOTATION: "x"}}}) is None


def test_workloads_templates_equal_ignoring_hash_and_zero_values() -> None:
    """The hash label, nulls and empty maps/lists do not make two templates differ; real fields do."""
    a = {"metadata": {"labels": {"app": "w", POD_TEMPLATE_HASH_LABEL: "abc"}},
         "spec": {"containers": [{"name": "c", "image": "v1"}]}}
    b = {"metadata": {"labels": {"app": "w"}, "creationTimestamp": None, "annotations": {}},
         "spec": {"containers": [{"name": "c", "image": "v1", "resources": {}, "env": []}]}}
    assert equal_ignoring_hash(a, b)
    assert not equal_ignoring_hash(a, {**b, "spec": {"containers": [{"name": "c", "image": "v2"}]}})
    assert semantic({"a": {"b": None, "c": []}, "d": 0}) == {"d": 0}
