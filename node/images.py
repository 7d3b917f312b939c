"""Making sure a container's image is on the node before it is created (the kubelet's image manager).

Kubernetes' `EnsureImageExists` with its events: an image that is present and need not be pulled
gives `Pulled` (`Container image "x" already present on machine`); `imagePullPolicy: Always`, or an
absent image with `IfNotPresent`, is pulled: `Pulling` (`Pulling image "x"`), then `Pulled`
(`Successfully pulled image "x" in 1.2s ...`) or `Failed` (`Failed to pull image "x": <the
registry's answer>`) and the container waits with `ErrImagePull` (the answer as its message), then
`ImagePullBackOff` (`Back-off pulling image "x"`, a `BackOff` event once per window) until the pull
back-off for that pod and image has passed (10 s doubling to 300 s); `Never` with an absent image
waits with `ErrImageNeverPull`.

Pulls use the pod's `imagePullSecrets` (`credentials`): each credential that matches the image's
registry is tried in turn, and the image is pulled without credentials when none matches; a
Secret that does not exist gives a `FailedToRetrieveImagePullSecret` warning and the pull goes on
without it, as in Kubernetes. Credentials never reach events, messages or logs.

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
from .credentials import CredentialsError, Keyring, keyring_from_secrets
from .imageref import parse_image
from .runtime.base import Runtime, RuntimeError_

__all__ = ["ERR_IMAGE_NEVER_PULL", "ERR_IMAGE_PULL", "IMAGE_PULL_BACKOFF", "ImageManager", "pull_policy"]

Obj = dict[str, Any]
ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
PULL_BACKOFF_CAP = 300.0  # Kubernetes' MaxContainerBackOff
# (pod, container name or "" for the pod itself, event type, reason, message)
Recorder = Callable[[Obj, str, str, str, str], None]
# (namespace, name) -> the Secret, or None when there is no such Secret
SecretLookup = Callable[[str, str], Obj | None]


def pull_policy(container: Obj) -> str:
    """The container's `imagePullPolicy`, defaulted as the API server does (Always for `:latest` or no tag)."""
    policy = container.get("imagePullPolicy")
    if policy in ("Always", "IfNotPresent", "Never"):
        return policy
    try:
        ref = parse_image(str(container.get("image", "")))
    except ValueError:
        return "IfNotPresent"
    return "Always" if ref.effective_tag == "latest" else "IfNotPresent"


class ImageManager:
    """Ensures images through a runtime, recording the kubelet's image events."""

    def __init__(self, runtime: Runtime, record: Recorder, *, secrets: SecretLookup = lambda _ns, _name: None,
                 backoff_initial: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.record = record
        self.secrets = secrets
        self.clock = clock
        self._backoff = RestartBackoff(initial=backoff_initial, cap=max(backoff_initial, PULL_BACKOFF_CAP))
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
            size = self._pull(pod, image)
        except (RuntimeError_, CredentialsError) as exc:
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

    def _keyring(self, pod: Obj) -> Keyring:
        """The credentials of the pod's `imagePullSecrets`; a missing Secret is reported and skipped."""
        namespace = pod["metadata"].get("namespace") or "default"
        found, missing = [], []
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
            name = ref.get("name") if isinstance(ref, dict) else None
            if not name:
                continue
            secret = self.secrets(namespace, name)
            if secret is None:
                missing.append(name)
            else:
                found.append(secret)
        if missing:
            self.record(pod, "", "Warning", "FailedToRetrieveImagePullSecret",
                        f"Unable to retrieve some image pull secrets ({', '.join(missing)}); attempting to pull "
                        "the image may not succeed.")
        return keyring_from_secrets(found)

    def _pull(self, pod: Obj, image: str) -> int:
        """Pull with each matching credential in turn (without any when none matches); the size in bytes."""
        auths = self._keyring(pod).lookup(image)
        if not auths:
            return self.runtime.pull_image(image)
        failures = []
        for auth in auths:
            try:
                return self.runtime.pull_image(image, auth)
            except RuntimeError_ as exc:
                failures.append(str(exc))
        raise RuntimeError_(failures[0] if len(failures) == 1 else f"[{', '.join(failures)}]")

    def forget(self, uid: str) -> None:
        """Drop the pull back-offs of a removed pod."""
        with self._lock:
            self._backoff.forget_if(lambda key: key[0] == uid)
            for key in [k for k in self._reported if k[0] == uid]:
                del self._reported[key]
