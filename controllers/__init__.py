"""Controllers: one module per reconciler that the masters run under the controller-manager Lease.

Each is a `minik8s.api.reconcile.Controller` (`node_lifecycle`, `node_ipam`, `hpa` with its pure
`replica_calculator` and `hpa_scaling`); the library they are built on (work queue, rate limiters,
leader election, `ControllerManager`) lives in `minik8s.api.reconcile`. Controllers use only
`minik8s.api`.
"""

from minik8s.controllers.hpa import HorizontalPodAutoscalerController
from minik8s.controllers.node_ipam import NodeIpamController
from minik8s.controllers.node_lifecycle import NodeLifecycleController

__all__ = [
    "HorizontalPodAutoscalerController",
    "NodeIpamController",
    "NodeLifecycleController",
]
