"""Leader election on a `coordination.k8s.io/v1` Lease (client-go's `leaderelection`).

Every master runs the controllers, but only the holder of the Lease `kube-system/<name>` lets
them act. Each candidate loops every `retry_period`:

- read the Lease; when its `spec` differs from the last one seen, note *our own* monotonic time
  of that observation (never the holder's `renewTime`: another machine's clock proves nothing);
- if someone else holds it and it has not stayed unchanged for its `leaseDurationSeconds` since
  we observed it, it is theirs: wait;
- otherwise write ourselves in as holder with the resourceVersion we read (a compare-and-swap:
  when two candidates race, the API server answers 409 Conflict to all but one), keeping
  `acquireTime`/`leaseTransitions` when renewing, bumping them when taking over.

The leader renews the same way. It steps down at once when it sees another holder, and when
no renewal succeeded for `renew_deadline` (shorter than `lease_duration`, so it stops acting
before anyone may take over). `stop()` stops leading and, with `release_on_cancel`, writes an
empty `holderIdentity` so a successor need not wait for the lease to expire.

Callbacks run on the elector's thread, so they should return quickly; after
`on_stopped_leading` returns, this candidate competes again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.kinds import resolve
from minik8s.api.threads import start_thread
from minik8s.api.timefmt import format_micro_time

log = logging.getLogger(__name__)

LEASES = resolve("leases.coordination.k8s.io")


class LeaderElector:
    """Competes for one Lease and tells its callbacks when it starts and stops leading."""

    def __init__(
        self,
        client: ApiClient,
        *,
        name: str,
        identity: str,
        namespace: str = "kube-system",
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        release_on_cancel: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """`lease_duration` > `renew_deadline` > `retry_period` > 0 (seconds); the lease records
        `lease_duration` rounded up to whole seconds. `clock` decides expiry; `wall_clock` only
        stamps `acquireTime`/`renewTime`."""
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        if not identity:
            raise ValueError("identity must not be empty")
        self._client = client
        self._name, self._namespace, self._identity = name, namespace, identity
        self._lease_seconds = max(1, math.ceil(lease_duration))
        self._renew_deadline = renew_deadline
        self._retry_period = retry_period
        self._request_timeout = min(client.timeout, renew_deadline / 2)
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._release_on_cancel = release_on_cancel
        self._clock = clock
        self._wall_clock = wall_clock
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._leading = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- public surface -----------------------------------------------------------------------

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def is_leader(self) -> bool:
        """True between `on_started_leading` and `on_stopped_leading`."""
        return self._leading

    @property
    def leader(self) -> str:
        """The holder identity last observed on the Lease ('' when none)."""
        return (self._observed_spec or {}).get("holderIdentity") or ""

    def start(self) -> None:
        """Start competing on a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("leader elector already started")
        self._thread = start_thread(self._run, name=f"leader-elector-{self._name}")

    def stop(self) -> None:
        """Stop competing; if leading, call `on_stopped_leading`, then release the lease (if configured)."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def try_acquire_or_renew(self) -> bool:
        """One attempt: True when we hold the lease afterwards (taken, renewed or created)."""
        try:
            lease = self._client.get(LEASES, self._name, namespace=self._namespace, timeout=self._request_timeout)
        except errors.NotFoundError:
            return self._create()
        except errors.ApiError as exc:
            log.warning("lease %s/%s: read failed: %s", self._namespace, self._name, exc)
            return False
        spec = lease.get("spec") or {}
        now = self._clock()
        if spec != self._observed_spec:
            self._observed_spec, self._observed_at = spec, now
        holder = spec.get("holderIdentity") or ""
        duration = spec.get("leaseDurationSeconds") or self._lease_seconds
        if holder and holder != self._identity and now < self._observed_at + duration:
            return False
        wall = format_micro_time(self._wall_clock())
        renewing = holder == self._identity
        lease["spec"] = {
            "holderIdentity": self._identity,
            "leaseDurationSeconds": self._lease_seconds,
            "acquireTime": spec.get("acquireTime") if renewing else wall,
            "renewTime": wall,
            "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (0 if renewing else 1),
        }
        return self._write(lease, create=False)

    # -- the election loop --------------------------------------------------------------------

    def _attempt(self) -> bool:
        """`try_acquire_or_renew`, counting any unexpected failure as a failed attempt."""
        try:
            return self.try_acquire_or_renew()
        except Exception:  # the election loop must outlive any single failure
            log.exception("lease %s/%s: attempt failed", self._namespace, self._name)
            return False

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._attempt():
                self._lead()
            else:
                self._stopping.wait(self._retry_period)

    def _lead(self) -> None:
        """Hold the lease: renew every retry period until it is lost or we are stopped."""
        log.info("%s: started leading %s/%s", self._identity, self._namespace, self._name)
        self._leading = True
        _call(self._on_started)
        last_renewal = self._clock()
        try:
            while not self._stopping.wait(self._retry_period):
                if self._attempt():
                    last_renewal = self._clock()
                elif self.leader not in ("", self._identity):
                    log.warning("%s: lease taken over by %s", self._identity, self.leader)
                    return
                elif self._clock() - last_renewal >= self._renew_deadline:
                    log.warning("%s: could not renew the lease within %.1fs", self._identity, self._renew_deadline)
                    return
        finally:
            self._leading = False
            _call(self._on_stopped)
            log.info("%s: stopped leading %s/%s", self._identity, self._namespace, self._name)
            if self._stopping.is_set() and self._release_on_cancel:
                self._release()

    def _create(self) -> bool:
        wall = format_micro_time(self._wall_clock())
        lease = {
            "apiVersion": LEASES.api_version, "kind": LEASES.kind,
            "metadata": {"name": self._name, "namespace": self._namespace},
            "spec": {"holderIdentity": self._identity, "leaseDurationSeconds": self._lease_seconds,
                     "acquireTime": wall, "renewTime": wall, "leaseTransitions": 0},
        }
        return self._write(lease, create=True)

    def _write(self, lease: dict[str, Any], *, create: bool) -> bool:
        """Create or compare-and-swap the lease; True when it is ours now."""
        write = self._client.create if create else self._client.replace
        try:
            written = write(lease, timeout=self._request_timeout)
        except (errors.ConflictError, errors.AlreadyExistsError):
            return False  # someone else wrote first; the next read shows who
        except errors.ApiError as exc:
            log.warning("lease %s/%s: write failed: %s", self._namespace, self._name, exc)
            return False
        self._observed_spec, self._observed_at = written.get("spec") or {}, self._clock()
        return True

    def _release(self) -> None:
        """Hand the lease back (empty holder, 1 s duration) if we still hold it."""
        try:
            lease = self._client.get(LEASES, self._name, namespace=self._namespace, timeout=self._request_timeout)
        except errors.ApiError as exc:
            log.warning("lease %s/%s: release failed: %s", self._namespace, self._name, exc)
            return
        spec = lease.get("spec") or {}
        if spec.get("holderIdentity") != self._identity:
            return
        wall = format_micro_time(self._wall_clock())
        lease["spec"] = {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": wall, "renewTime": wall,
                         "leaseTransitions": int(spec.get("leaseTransitions") or 0)}
        self._write(lease, create=False)


def _call(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # a failing callback must not kill the election loop
        log.exception("leader election callback %r failed", callback)
