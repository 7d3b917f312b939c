"""Controllers: one module per reconciler that the masters run under the controller-manager Lease.

Each is a `minik8s.api.reconcile.Controller`: `garbage_collector`, `namespace`, `node_lifecycle`,
`node_ipam`, `replicaset`, `deployment`, `podgc`, `hpa`, `endpoints` and `endpointslice` (what
they write built in `endpoints_build`, their informers in `service_pods`); the pure decisions of the workload controllers
live in modules of their own (`ranking`, `expectations`, `batches`, `claims`, `replicaset_status`,
`deployment_util`, `deployment_rollout`, `deployment_status`, `hashing`, `pods`, `terms`), those of the
autoscaler in `replica_calculator` and `hpa_scaling`. The library they are built on (work queue, rate
limiters, leader election, `ControllerManager`) lives in `minik8s.api.reconcile`. Controllers use only
`minik8s.api`.
"""

from minik8s.controllers.deployment import DeploymentController
from minik8s.controllers.endpoints import EndpointsController
from minik8s.controllers.endpointslice import EndpointSliceController
from minik8s.controllers.garbage_collector import GarbageCollector
from minik8s.controllers.hpa import HorizontalPodAutoscalerController
from minik8s.controllers.namespace import NamespaceController
from minik8s.controllers.node_ipam import NodeIpamController
from minik8s.controllers.node_lifecycle import NodeLifecycleController
from minik8s.controllers.podgc import PodGCController
from minik8s.controllers.replicaset import ReplicaSetController

__all__ = [
    "DeploymentController",
    "EndpointSliceController",
    "EndpointsController",
    "GarbageCollector",
    "HorizontalPodAutoscalerController",
    "NamespaceController",
    "NodeIpamController",
    "NodeLifecycleController",
    "PodGCController",
    "ReplicaSetController",
]
