"""The kubelet's image decisions: pull policy, ErrImagePull -> ImagePullBackOff with per-image back-off, events,
and imagePullSecrets handed to the runtime as credentials."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from minik8s.node.images import ImageManager, pull_policy
from minik8s.node.runtime.base import Capabilities, RegistryAuth, RuntimeError_
from minik8s.node.runtime.fake import FakeRuntime


class ImageRuntime(FakeRuntime):
    """A fake runtime that uses images: `present` is what the node has, `fail` what a pull answers."""

    def __init__(self) -> None:
        super().__init__()
        self.present: set[str] = set()
        self.fail: dict[str, str] = {}
        self.pulls: list[tuple[str, RegistryAuth | None]] = []
        self.accept: RegistryAuth | None = None  # the one credential the registry takes (None: anonymous)

    def capabilities(self) -> Capabilities:
        return Capabilities(name="images", isolates_filesystem=True, enforces_limits=False, needs_pod_network=False)

    def image_present(self, image: str) -> bool:
        return image in self.present

    def pull_image(self, image: str, auth: RegistryAuth | None = None) -> int:
        self.pulls.append((image, auth))
        if image in self.fail:
            raise RuntimeError_(self.fail[image])
        if self.accept is not None and auth != self.accept:
            raise RuntimeError_(f"Error response from daemon: Head http://reg:5000/v2/{image}: unauthorized")
        self.present.add(image)
        return 1234


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pod(image: str, policy: str | None = None, *, secrets: list[str] = ()) -> tuple[dict, dict]:
    container: dict[str, Any] = {"name": "web", "image": image}
    if policy:
        container["imagePullPolicy"] = policy
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
           "spec": {"containers": [container], "imagePullSecrets": [{"name": s} for s in secrets]}}
    return pod, container


@pytest.fixture
def setup() -> tuple[ImageManager, ImageRuntime, Clock, list[tuple[str, str, str]], dict[str, dict]]:
    runtime, clock, events, secrets = ImageRuntime(), Clock(), [], {}
    manager = ImageManager(runtime, lambda _pod, _c, kind, reason, message: events.append((kind, reason, message)),
                           secrets=lambda ns, name: secrets.get(f"{ns}/{name}"), clock=clock)
    return manager, runtime, clock, events, secrets


@pytest.mark.parametrize(("container", "policy"), [
    pytest.param({"image": "nginx"}, "Always", id="no-tag"),
    pytest.param({"image": "nginx:latest"}, "Always", id="latest"),
    pytest.param({"image": "nginx:1.22"}, "IfNotPresent", id="tag"),
    pytest.param({"image": "reg:5000/app@sha256:ab"}, "IfNotPresent", id="digest"),
    pytest.param({"image": "nginx:1.22", "imagePullPolicy": "Always"}, "Always", id="given"),
])
def test_pull_policy_defaults_like_kubernetes(container: dict, policy: str) -> None:
    """Absent a policy: Always for `:latest` or no tag, else IfNotPresent; a given policy is kept."""
    assert pull_policy(container) == policy


def test_present_image_is_not_pulled_unless_always(setup) -> None:  # noqa: ANN001
    """IfNotPresent with the image there: `Pulled` "already present"; Always pulls even then."""
    manager, runtime, _, events, _ = setup
    runtime.present.add("app:1")
    assert manager.ensure(*_pod("app:1")) is None
    assert events == [("Normal", "Pulled", 'Container image "app:1" already present on machine')]
    assert runtime.pulls == []
    assert manager.ensure(*_pod("app:1", "Always")) is None
    assert [e[1] for e in events[1:]] == ["Pulling", "Pulled"] and runtime.pulls == [("app:1", None)]
    assert events[-1][2].startswith('Successfully pulled image "app:1" in ') and "Image size: 1234 bytes." in events[-1][2]


def test_never_with_an_absent_image_waits_without_pulling(setup) -> None:  # noqa: ANN001
    manager, runtime, _, events, _ = setup
    assert manager.ensure(*_pod("app:1", "Never")) == (
        "ErrImageNeverPull", 'Container image "app:1" is not present with pull policy of Never')
    assert runtime.pulls == [] and events[0][:2] == ("Warning", "ErrImageNeverPull")


def test_failed_pull_backs_off_per_image_doubling_to_five_minutes(setup) -> None:  # noqa: ANN001
    """ErrImagePull with the registry's answer, then ImagePullBackOff until 10 s, 20 s, ... 300 s have passed;
    BackOff is recorded once per window; a success forgets the back-off."""
    manager, runtime, clock, events, _ = setup
    answer = "Error response from daemon: manifest for reg:5000/app:1 not found: manifest unknown"
    runtime.fail["reg:5000/app:1"] = answer
    pod, container = _pod("reg:5000/app:1")
    attempts = []
    while len(attempts) < 8:
        reason, message = manager.ensure(pod, container)
        if reason == "ErrImagePull":
            assert message == answer
            assert events[-1] == ("Warning", "Failed", f'Failed to pull image "reg:5000/app:1": {answer}')
            attempts.append(clock.now)
        else:
            assert (reason, message) == ("ImagePullBackOff", 'Back-off pulling image "reg:5000/app:1"')
        clock.now += 1
    assert [b - a for a, b in zip(attempts, attempts[1:])] == [10, 20, 40, 80, 160, 300, 300]
    assert sum(e[1] == "BackOff" for e in events) == 7
    # another image of the same pod has its own back-off
    assert manager.ensure(*_pod("other:1")) is None
    del runtime.fail["reg:5000/app:1"]
    clock.now += 301
    assert manager.ensure(pod, container) is None
    assert manager.ensure(pod, container | {"imagePullPolicy": "Always"}) is None  # no back-off left


def test_pull_secrets_are_tried_in_turn_and_missing_ones_reported(setup) -> None:  # noqa: ANN001
    """Matching credentials go to the runtime one by one until a pull works; an absent Secret is a warning;
    no credential appears in events or messages."""
    manager, runtime, _, events, secrets = setup

    def secret(name: str, user: str, password: str) -> dict:
        config = {"auths": {"reg:5000": {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
        return {"metadata": {"name": name}, "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}

    secrets["ns/wrong"] = secret("wrong", "mallory", "nope-pw")
    secrets["ns/right"] = secret("right", "alice", "right-pw")
    runtime.accept = RegistryAuth("alice", "right-pw", "reg:5000")
    pod, container = _pod("reg:5000/private:1", secrets=["absent", "wrong", "right"])
    assert manager.ensure(pod, container) is None
    assert [auth.username for _, auth in runtime.pulls] == ["mallory", "alice"]
    assert ("Warning", "FailedToRetrieveImagePullSecret",
            "Unable to retrieve some image pull secrets (absent); attempting to pull the image may not succeed.") in events
    assert not any("pw" in message for _, _, message in events)
    # another registry: no credential matches, so the pull goes without any
    runtime.accept = None
    assert manager.ensure(*_pod("elsewhere.example.com/app:1", secrets=["right"])) is None
    assert runtime.pulls[-1] == ("elsewhere.example.com/app:1", None)


def test_without_the_right_secret_the_registry_answer_is_the_message(setup) -> None:  # noqa: ANN001
    manager, runtime, _, _, _ = setup
    runtime.accept = RegistryAuth("alice", "right-pw", "reg:5000")
    reason, message = manager.ensure(*_pod("reg:5000/private:1"))
    assert reason == "ErrImagePull" and "unauthorized" in message


def test_runtimes_without_images_have_every_image() -> None:
    """The process runtime: `already present` only, whatever the policy."""
    events: list[str] = []
    manager = ImageManager(FakeRuntime(), lambda *args: events.append(args[3]))
    assert manager.ensure(*_pod("nginx", "Always")) is None and events == ["Pulled"]
