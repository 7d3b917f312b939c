"""`autoscaling/v1` Scale: the body of the `scale` subresource of ReplicaSets and Deployments."""

from __future__ import annotations

from minik8s.api import schema

schema.define("io.k8s.api.autoscaling.v1", {
    "Scale": {"spec": "ScaleSpec", "status": "ScaleStatus"},
    "ScaleSpec": {"replicas": "int"},
    "ScaleStatus": {"replicas": "int", "selector": "str"},
})
