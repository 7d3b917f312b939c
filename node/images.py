"""Making sure a container's image is on the node before it is created (the kubelet's image manager).

Kubernetes' `EnsureImageExists` with its events: an image that is present and need not be pulled
gives `Pulled` (`Container image "x" already present on machine`); `imagePullPolicy: Always`, or an
absent image with `IfNotPresent`, is pulled: `Pulling` (`Pulling image "x"`), then `Pulled`
(`Successfully pulled image "x" in 1.2s ...`) or `Failed` (`Failed to pull image "x": ...`) and the
container waits with `ErrImagePull`, then `ImagePullBackOff` until the pull back-off (10 s
doubling) has passed; `Never` with an absent image waits with `ErrImageNeverPull`.

A runtime that does not use images (the process runtime runs the command on the node's own
filesystem) has every image: it only gets the `already present` event, as the kubelet reports
an image it need not pull.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .backoff import RestartBackoff
from .runtime.base import Runtime, RuntimeError_

__all__ = ["ImageManager", "pull_policy"]

Obj = dict[str, Any]
ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
# (pod, container name, event type, reason, message)
Recorder = Callable[[Obj, str, str, str, str], None]


def pull_policy(container: Obj) -> str:
    """The container's `imagePullPolicy`, defaulted as the API server does (Always for `:latest` or no tag)."""
    policy = container.get("imagePullPolicy")
    if policy in ("Always", "IfNotPresent", "Never"):
        return policy
    last = str(container.get("image", "")).rsplit("/", 1)[-1]
    if "@" in last:  # pinned by digest
        return "IfNotPresent"
    return "Always" if last.partition(":")[2] in ("", "latest") else "IfNotPresent"


class ImageManager:
    """Ensures images through a runtime, recording the kubelet's image events."""

    def __init__(self, runtime: Runtime, record: Recorder, *, backoff_initial: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.record = record
        self.clock = clock
        self._backoff = RestartBackoff(initial=backoff_initial, cap=300.0)
        self._reported: dict[tuple[str, str], float] = {}  # pull back-off already reported with a BackOff event
        self._lock = threading.Lock()

    def ensure(self, pod: Obj, container: Obj) -> tuple[str, str] | None:
        """None when the image is there; else (waiting reason, message) for the container's status."""
        image, name = str(container.get("image", "")), container.get("name", "")
        if not self.runtime.capabilities().isolates_filesystem:
            self.record(pod, name, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            return None
        policy = pull_policy(container)
        try:
            present = self.runtime.image_present(image)
        except RuntimeError_ as exc:
            message = f'Failed to inspect image "{image}": {exc}'
            self.record(pod, name, "Warning", "InspectFailed", message)
            return "ImageInspectError", message
        if present and policy != "Always":
            self.record(pod, name, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            return None
        if not present and policy == "Never":
            message = f'Container image "{image}" is not present with pull policy of Never'
            self.record(pod, name, "Warning", ERR_IMAGE_NEVER_PULL, message)
            return ERR_IMAGE_NEVER_PULL, message
        key = (pod["metadata"]["uid"], image)
        with self._lock:
            remaining = self._backoff.remaining(key, self.clock())
            first_in_window = remaining > 0 and self._reported.get(key) != self._backoff.until(key)
            if first_in_window:
                self._reported[key] = self._backoff.until(key)
        if remaining > 0:
            message = f'Back-off pulling image "{image}"'
            if first_in_window:  # once per back-off, not on every sync
                self.record(pod, name, "Normal", "BackOff", message)
            return IMAGE_PULL_BACKOFF, message
        self.record(pod, name, "Normal", "Pulling", f'Pulling image "{image}"')
        started = time.monotonic()
        try:
            size = self.runtime.pull_image(image)
        except RuntimeError_ as exc:
            with self._lock:
                self._backoff.attempt(key, self.clock())
            self.record(pod, name, "Warning", "Failed", f'Failed to pull image "{image}": {exc}')
            return ERR_IMAGE_PULL, str(exc)
        took = time.monotonic() - started
        with self._lock:
            self._backoff.forget(key)
        self.record(pod, name, "Normal", "Pulled", f'Successfully pulled image "{image}" in {took:.3f}s '
                                                   f"({took:.3f}s including waiting). Image size: {size} bytes.")
        return None

    def forget(self, uid: str) -> None:
        """Drop the pull back-offs of a removed pod."""
        with self._lock:
            self._backoff.forget_if(lambda key: key[0] == uid)
            for key in [k for k in self._reported if k[0] == uid]:
                del self._reported[key]
