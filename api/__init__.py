"""minik8s.api: the one library every other part talks to the cluster through.

The scheduler, the controllers, the node agent and the CLI import only this package (never
`store`, `consensus` or `api.server`). What they use is re-exported here, by name:

- the client: `ApiClient` (typed verbs with failover and per-call timeouts), `LogStream`,
  `ensure_type_meta`; `errors` (one exception class per Status reason, `ApiError` their base);
- the resource table: `kinds`, `ResourceType`, `resolve`;
- caches: `Informer`, `object_key`, `Obj`;
- the controller library: `reconcile` (`Controller`, `Result`, `TerminalError`, `WorkQueue`,
  `LeaderElector`, `ControllerManager`, `LeaseTimings`);
- shared helpers written once: `EventRecorder`/`build_event` (Events), `tolerates`/`tolerated`
  (taints), `timefmt` (Kubernetes timestamps), `ownership` (owner references and the deletion
  finalizers), `start_thread` (threads that take the process down when they die).

Modules not named here (`api.server`, `validation`, `tables`, ...) are imported by their full
name where needed.
"""

from minik8s.api import errors, kinds, ownership, reconcile, timefmt
from minik8s.api.client import ApiClient, LogStream, ensure_type_meta
from minik8s.api.errors import ApiError
from minik8s.api.events import EventRecorder, build_event
from minik8s.api.informer import Informer, Obj, object_key
from minik8s.api.kinds import ResourceType, resolve
from minik8s.api.reconcile import (
    Controller, ControllerManager, LeaderElector, LeaseTimings, Result, TerminalError, WorkQueue,
)
from minik8s.api.taints import tolerated, tolerates
from minik8s.api.threads import start_thread

__all__ = [
    "ApiClient",
    "ApiError",
    "Controller",
    "ControllerManager",
    "EventRecorder",
    "Informer",
    "LeaderElector",
    "LeaseTimings",
    "LogStream",
    "Obj",
    "ResourceType",
    "Result",
    "TerminalError",
    "WorkQueue",
    "build_event",
    "ensure_type_meta",
    "errors",
    "kinds",
    "object_key",
    "ownership",
    "reconcile",
    "resolve",
    "start_thread",
    "timefmt",
    "tolerated",
    "tolerates",
]
