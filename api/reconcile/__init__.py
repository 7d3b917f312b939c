"""The controller library: level-triggered reconcilers over informers and a work queue.

Shaped like controller-runtime and client-go, and shared by everything that reconciles: the
controllers in `minik8s.controllers`, the kubelet in `minik8s.node`, and later parts.

- `controller`: `Controller` (informers whose handlers only enqueue keys, workers calling
  `reconcile(key)`), `Result`, `TerminalError`;
- `workqueue` and `ratelimit`: client-go's deduplicating queue and retry back-off;
- `leaderelection`: a Lease-based `LeaderElector`;
- `manager`: `ControllerManager`, which runs controllers only while holding a Lease.
"""

from minik8s.api.reconcile.controller import Controller, Result, TerminalError
from minik8s.api.reconcile.leaderelection import LeaderElector
from minik8s.api.reconcile.manager import ControllerManager, LeaseTimings
from minik8s.api.reconcile.ratelimit import (
    ItemExponentialRateLimiter, MaxOfRateLimiter, RateLimiter, TokenBucketRateLimiter, default_controller_rate_limiter,
)
from minik8s.api.reconcile.workqueue import WorkQueue

__all__ = [
    "Controller",
    "ControllerManager",
    "ItemExponentialRateLimiter",
    "LeaderElector",
    "LeaseTimings",
    "MaxOfRateLimiter",
    "RateLimiter",
    "Result",
    "TerminalError",
    "TokenBucketRateLimiter",
    "WorkQueue",
    "default_controller_rate_limiter",
]
