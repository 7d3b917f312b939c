"""Running controllers under a leader Lease, like kube-controller-manager inside every master.

Every master runs a `ControllerManager`, but only the one holding the Lease
`kube-system/<lease_name>` starts its controllers; when it loses the Lease it stops them, and the
next holder starts fresh ones (new informers, new queues), so a reconcile a dead leader left half
done is finished by its successor. The election itself is `leaderelection.LeaderElector`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from minik8s.api.client import ApiClient
from minik8s.api.reconcile.controller import Controller
from minik8s.api.reconcile.leaderelection import LeaderElector


@dataclass(frozen=True)
class LeaseTimings:
    """Leader-election timings (seconds); see `LeaderElector`."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class ControllerManager:
    """Runs `controllers` only while holding the Lease `kube-system/<lease_name>`."""

    def __init__(self, client: ApiClient, controllers: Sequence[Controller], *, identity: str,
                 lease_name: str = "minik8s-controller-manager", timings: LeaseTimings = LeaseTimings()) -> None:
        self._controllers = list(controllers)
        self._elector = LeaderElector(
            client, name=lease_name, identity=identity, **asdict(timings),
            on_started_leading=self._start_all, on_stopped_leading=self._stop_all,
        )

    @property
    def is_leader(self) -> bool:
        """True while this manager holds the lease and its controllers run."""
        return self._elector.is_leader

    def start(self) -> None:
        """Compete for the lease in the background."""
        self._elector.start()

    def stop(self) -> None:
        """Stop the controllers (if leading) and release the lease."""
        self._elector.stop()

    def _start_all(self) -> None:
        for controller in self._controllers:
            controller.start()

    def _stop_all(self) -> None:
        for controller in self._controllers:
            controller.stop()
