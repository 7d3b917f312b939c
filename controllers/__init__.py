"""Controllers: level-triggered reconcilers over informers, run under a leader Lease.

The framework (`base`, `workqueue`, `ratelimit`, `leaderelection`) and one module per
controller (`node_lifecycle`, `node_ipam`). Controllers use only `minik8s.api`.
"""

from minik8s.controllers.base import Controller, ControllerManager, LeaseTimings, Result, TerminalError
from minik8s.controllers.leaderelection import LeaderElector
from minik8s.controllers.node_ipam import NodeIpamController
from minik8s.controllers.node_lifecycle import NodeLifecycleController
from minik8s.controllers.workqueue import WorkQueue

__all__ = [
    "Controller",
    "ControllerManager",
    "LeaderElector",
    "LeaseTimings",
    "NodeIpamController",
    "NodeLifecycleController",
    "Result",
    "TerminalError",
    "WorkQueue",
]
