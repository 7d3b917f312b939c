"""The `meta.k8s.io/v1` types every kind shares: object and list metadata, conditions, selectors.

Only types: `metadata` is validated by `minik8s.api.validation` for every kind.
"""

from __future__ import annotations

from minik8s.api import schema

schema.define(schema.META, {
    "ObjectMeta": {"name": "str", "generateName": "str", "namespace": "str", "uid": "str", "resourceVersion": "str",
                   "generation": "int", "creationTimestamp": "time", "deletionTimestamp": "time",
                   "deletionGracePeriodSeconds": "int", "labels": "map", "annotations": "map",
                   "ownerReferences": "[OwnerReference/uid]", "finalizers": "[str/]",
                   "managedFields": "[ManagedFieldsEntry]", "selfLink": "str"},
    "ManagedFieldsEntry": {"manager": "str", "operation": "str", "apiVersion": "str", "time": "time",
                           "fieldsType": "str", "fieldsV1": "obj", "subresource": "str"},
    "Condition": {"type": "str", "status": "str", "reason": "str", "message": "str", "lastTransitionTime": "time",
                  "lastProbeTime": "time", "lastHeartbeatTime": "time", "lastUpdateTime": "time",
                  "observedGeneration": "int"},
    "DeleteOptions": {"kind": "str", "apiVersion": "str", "gracePeriodSeconds": "int",
                      "preconditions": "Preconditions", "orphanDependents": "bool", "propagationPolicy": "str",
                      "dryRun": "[str]", "ignoreStoreReadErrorWithClusterBreakingPotential": "bool"},
    "Preconditions": {"uid": "str", "resourceVersion": "str"},
    "OwnerReference": {"apiVersion": "str", "kind": "str", "name": "str", "uid": "str", "controller": "bool",
                       "blockOwnerDeletion": "bool"},
    "ListMeta": {"resourceVersion": "str", "continue": "str", "remainingItemCount": "int", "selfLink": "str",
                 "shardInfo": "obj"},
    "LabelSelector": {"matchLabels": "map", "matchExpressions": "[LabelSelectorRequirement]"},
    "LabelSelectorRequirement": {"key": "str", "operator": "str", "values": "[str]"},
})
