"""The official `kubernetes` Python client against real masters: CRUD, Deployments, watches, 410, DynamicClient."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

from .cluster import TOKEN, Cluster, configmap, running, wait_for
from .kubectl_support import finish_module, record_client


@pytest.fixture(scope="module", autouse=True)
def _record_calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    finish_module(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running(tmp_path_factory.mktemp("pyclient") / "cluster", 3) as c:
        yield c


def api_client(url: str) -> client.ApiClient:
    config = client.Configuration(host=url, api_key={"authorization": "Bearer " + TOKEN})
    return client.ApiClient(config)


class Recorded:
    """Wraps an API object; records `ClassName.method` for every method the test calls."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if callable(attr) and not name.startswith("_"):
            record_client(f"{type(self._target).__name__}.{name}")
        return attr


@pytest.fixture(scope="module")
def clients(cluster: Cluster) -> Iterator[list[client.ApiClient]]:
    """One ApiClient per master."""
    made = [api_client(m.url) for m in cluster.masters]
    yield made
    for c in made:
        c.close()


@pytest.fixture(scope="module")
def core(clients: list[client.ApiClient]) -> Recorded:
    return Recorded(client.CoreV1Api(clients[0]))


@pytest.fixture(scope="module")
def apps(clients: list[client.ApiClient]) -> Recorded:
    return Recorded(client.AppsV1Api(clients[1]))


def pod(name: str, image: str = "busybox:1.36") -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image=image, command=["sleep", "3600"])]),
    )


def test_pod_create_list_patch_replace_delete(core: Recorded, clients: list[client.ApiClient]) -> None:
    created = core.create_namespaced_pod("default", pod("py-pod"))
    assert created.metadata.name == "py-pod" and created.metadata.uid and created.status.phase == "Pending"

    listed = core.list_namespaced_pod("default", label_selector="app=py-pod")
    assert [p.metadata.name for p in listed.items] == ["py-pod"] and listed.metadata.resource_version

    patched = core.patch_namespaced_pod("py-pod", "default", {"metadata": {"labels": {"patched": "yes"}}})
    assert patched.metadata.labels == {"app": "py-pod", "patched": "yes"}

    # replace with what another master returns (read, change, PUT with its resourceVersion).
    other = Recorded(client.CoreV1Api(clients[2]))
    current = other.read_namespaced_pod("py-pod", "default")
    current.metadata.labels["replaced"] = "yes"
    replaced = core.replace_namespaced_pod("py-pod", "default", current)
    assert replaced.metadata.labels == {"app": "py-pod", "patched": "yes", "replaced": "yes"}
    assert int(replaced.metadata.resource_version) > int(current.metadata.resource_version)

    # A stale resourceVersion is a 409 Conflict.
    current.metadata.labels["again"] = "yes"
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_pod("py-pod", "default", current)
    assert info.value.status == 409

    core.delete_namespaced_pod("py-pod", "default")
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod("py-pod", "default")
    assert info.value.status == 404


def test_create_existing_and_invalid_are_api_exceptions(core: Recorded) -> None:
    core.create_namespaced_pod("default", pod("py-dup"))
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod("default", pod("py-dup"))
    assert info.value.status == 409 and '"reason":"AlreadyExists"' in info.value.body.replace(" ", "")
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod("default", pod("Py_Bad"))
    assert info.value.status == 422 and '"reason":"Invalid"' in info.value.body.replace(" ", "")


def test_deployments_create_read_patch(apps: Recorded) -> None:
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="py-deploy", labels={"app": "py-deploy"}),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels={"app": "py-deploy"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "py-deploy"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.27")]),
            ),
        ),
    )
    created = apps.create_namespaced_deployment("default", body)
    assert created.spec.replicas == 2 and created.metadata.generation == 1
    read = apps.read_namespaced_deployment("py-deploy", "default")
    assert read.spec.template.spec.containers[0].image == "nginx:1.27"
    # The client sends a dict body as a strategic merge patch: containers merge by name, and (as in
    # apimachinery's mergeSortedSlice) an element only the patch has goes before the server-only ones.
    patched = apps.patch_namespaced_deployment("py-deploy", "default", {
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.36"}]}}},
    })
    assert patched.spec.replicas == 3
    assert [c.name for c in patched.spec.template.spec.containers] == ["sidecar", "web"]
    assert patched.metadata.generation == 2
    listed = apps.list_namespaced_deployment("default")
    assert "py-deploy" in [d.metadata.name for d in listed.items]


def _create_cm(clients: list[client.ApiClient], name: str, index: int = 1) -> str:
    """Create a ConfigMap through master `index`; returns its resourceVersion."""
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"v": name})
    return client.CoreV1Api(clients[index]).create_namespaced_config_map("default", body).metadata.resource_version


def test_watch_stream_sees_changes(core: Recorded, clients: list[client.ApiClient]) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    _create_cm(clients, "w-1")
    _create_cm(clients, "w-2", 2)
    w = watch.Watch()
    record_client("watch.Watch.stream")
    seen = []
    for event in w.stream(core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=10):
        seen.append((event["type"], event["object"].metadata.name))
        assert isinstance(event["object"], client.V1ConfigMap)
        if len(seen) == 2:
            w.stop()
    assert seen == [("ADDED", "w-1"), ("ADDED", "w-2")]


def test_watch_resumes_after_server_closes_stream(core: Recorded, clients: list[client.ApiClient]) -> None:
    """When the server ends a watch, Watch.stream calls again from the last resourceVersion it saw.

    The client gives up instead of resuming when the caller passes `timeout_seconds`, so the server-side
    timeout is added by a wrapper the client does not see: to the client the server simply closes the stream
    (as kube-apiserver does after its own request timeout).
    """
    list_cms = core.list_namespaced_config_map
    calls: list[dict[str, Any]] = []

    @functools.wraps(list_cms)
    def list_with_server_timeout(*args: Any, **kwargs: Any) -> Any:
        calls.append(dict(kwargs))
        assert len(calls) <= 6, "the watch kept reconnecting without delivering the expected events"
        return list_cms(*args, **{**kwargs, "timeout_seconds": 2})

    start = core.list_namespaced_config_map("default").metadata.resource_version
    first_rv = _create_cm(clients, "resume-1")
    second_done = threading.Event()

    def create_after_reconnect() -> None:
        try:
            wait_for(lambda: len(calls) >= 2, timeout=20, what="the watch to reconnect")
            _create_cm(clients, "resume-2", 2)
        finally:
            second_done.set()

    w = watch.Watch()
    record_client("watch.Watch.stream")
    creator: threading.Thread | None = None
    seen = []
    for event in w.stream(list_with_server_timeout, "default", resource_version=start):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 1:
            creator = threading.Thread(target=create_after_reconnect)
            creator.start()
        if len(seen) == 2:
            w.stop()
    assert creator is not None
    creator.join(timeout=30)
    assert seen == [("ADDED", "resume-1"), ("ADDED", "resume-2")]
    assert len(calls) >= 2 and calls[0]["resource_version"] == start
    assert calls[1]["resource_version"] == first_rv, calls


def test_watch_from_compacted_revision_raises_410(tmp_path: Path) -> None:
    """Watching from a resourceVersion older than the event window: the client retries once, then raises 410."""
    small = Cluster(tmp_path / "c", 1, extra_args=["--event-window", "5"])
    try:
        small.start()
        small.wait_ready()
        for n in range(12):
            assert small.post(0, "/api/v1/namespaces/default/configmaps", configmap(f"old-{n}")).status_code == 201
        with api_client(small.masters[0].url) as api:
            core = Recorded(client.CoreV1Api(api))
            calls: list[dict[str, Any]] = []
            list_cms = core.list_namespaced_config_map

            @functools.wraps(list_cms)
            def counted(*args: Any, **kwargs: Any) -> Any:
                calls.append(dict(kwargs))
                assert len(calls) <= 3, "the client kept retrying after 410"
                return list_cms(*args, **kwargs)

            record_client("watch.Watch.stream")
            with pytest.raises(ApiException) as info:
                for _ in watch.Watch().stream(counted, "default", resource_version="2"):
                    raise AssertionError("no event expected from a compacted resourceVersion")
            assert info.value.status == 410
            assert str(info.value.reason).startswith("Expired"), info.value.reason
            # kubernetes-client 3x: one silent retry from the same resourceVersion, then the exception.
            assert [c["resource_version"] for c in calls] == ["2", "2"]
    finally:
        small.stop()


def test_dynamic_client_discovers_and_lists(clients: list[client.ApiClient], tmp_path: Path) -> None:
    _create_cm(clients, "dyn-cm")
    dyn = DynamicClient(clients[0], cache_file=str(tmp_path / "discovery.json"))
    record_client("DynamicClient.resources.get")
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    assert pods.namespaced and pods.name == "pods"
    deploys = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deploys.group == "apps" and deploys.name == "deployments"
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    record_client("Resource.get")
    listed = cms.get(namespace="default")
    assert "dyn-cm" in [item.metadata.name for item in listed.items]
    one = cms.get(name="dyn-cm", namespace="default")
    assert one.data.v == "dyn-cm"
    assert dyn.resources.get(api_version="v1", kind="Pod").short_names == ["po"]
