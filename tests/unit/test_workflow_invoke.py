"""`POST workflows/NAME/invoke` as the API server serves it, over a real store (Raft replaced by direct
applies): 201 with the new WorkflowRun, 404 for an unknown workflow, 400 for input that is not JSON,
and `?wait=true`, which answers once the run ended (woken by the store's commits) or 504 naming it."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import falcon.testing
import pytest

from minik8s.api.kinds import resolve
from minik8s.api.server.registry import Registry
from minik8s.api.server.workflowinvoke import WorkflowInvoker
from minik8s.store import Store

from .allocation_support import DirectConsensus
from .test_function_kind import make_app, store  # noqa: F401 - `store` is a fixture

Obj = dict[str, Any]
WORKFLOWS = "/apis/minik8s.io/v1/namespaces/default/workflows"
RUNS = resolve("workflowruns")
WORKFLOW = {"apiVersion": "minik8s.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
            "spec": {"definition": {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}}}


def serve(store: Store, **options: Any) -> tuple[falcon.testing.TestClient, Registry]:  # noqa: F811
    registry = Registry(DirectConsensus(store), store)  # type: ignore[arg-type]
    invoker = WorkflowInvoker(registry, lambda wake: store.add_listener(lambda _revision: wake()), **options)
    registry.create(resolve("workflows"), copy.deepcopy(WORKFLOW), "default")
    return falcon.testing.TestClient(make_app(store, {"workflows.minik8s.io": invoker.invoke})), registry


def test_invoke_creates_a_run_with_the_body_as_its_input(store: Store) -> None:  # noqa: F811
    client, registry = serve(store)
    made = client.simulate_post(f"{WORKFLOWS}/w/invoke", body=b'{"n": 1}')
    assert made.status_code == 201, made.text
    run = made.json
    assert run["kind"] == "WorkflowRun" and run["metadata"]["name"].startswith("w-")
    assert run["spec"] == {"workflowRef": {"name": "w"}, "input": '{"n": 1}'}
    assert run["status"]["phase"] == "Pending"
    assert registry.get(RUNS, run["metadata"]["name"], "default")["metadata"]["uid"] == run["metadata"]["uid"]
    empty = client.simulate_post(f"{WORKFLOWS}/w/invoke")
    assert empty.status_code == 201 and empty.json["spec"]["input"] == "{}"


@pytest.mark.parametrize(("path", "body", "code", "message"), [
    ("nope/invoke", b"{}", 404, "not found"),
    ("w/invoke", b'{"n": ', 400, "the run's input"),
    ("w/invoke", b'{"n": NaN}', 400, "NaN is not valid JSON"),
    ("w/invoke", b"\xff", 400, "not UTF-8"),
    ("w/invoke?wait=true&timeoutSeconds=901", b"{}", 400, "from 1 to 900"),
    ("w/invoke?wait=true&timeoutSeconds=x", b"{}", 400, "timeoutSeconds"),
])
def test_bad_invokes_are_refused_with_a_status(store: Store, path: str, body: bytes, code: int,  # noqa: F811
                                              message: str) -> None:
    client, registry = serve(store)
    answer = client.simulate_post(f"{WORKFLOWS}/{path}", body=body)
    assert (answer.status_code, answer.json["kind"]) == (code, "Status") and message in answer.json["message"]
    assert registry.list(RUNS, "default")[0] == []  # nothing was started
    assert client.simulate_get(f"{WORKFLOWS}/w/invoke").status_code == 405


def finish_the_first_run(registry: Registry, phase: str = "Succeeded") -> threading.Thread:
    """What the workflow runner would do, from another thread: end the run once it exists."""
    def end() -> None:
        deadline = time.monotonic() + 10
        while not (runs := registry.list(RUNS, "default")[0]) and time.monotonic() < deadline:
            time.sleep(0.01)
        run = copy.deepcopy(runs[0])
        run["status"] = {"phase": "Running", "steps": 1}
        run = registry.update(RUNS, run["metadata"]["name"], "default", run, subresource="status")
        time.sleep(0.1)  # a commit that does not end the run: the waiter reads it and goes on waiting
        run["status"] = {"phase": phase, "steps": 2, "output": '{"done": true}'}
        registry.update(RUNS, run["metadata"]["name"], "default", run, subresource="status")

    thread = threading.Thread(target=end, daemon=True)
    thread.start()
    return thread


def test_wait_answers_with_the_ended_run(store: Store) -> None:  # noqa: F811
    client, registry = serve(store)
    thread = finish_the_first_run(registry)
    started = time.monotonic()
    answer = client.simulate_post(f"{WORKFLOWS}/w/invoke", params={"wait": "true", "timeoutSeconds": "20"},
                                  body=b'{"n": 2}')
    thread.join(5)
    assert answer.status_code == 201, answer.text
    assert answer.json["status"]["phase"] == "Succeeded" and answer.json["status"]["output"] == '{"done": true}'
    assert time.monotonic() - started < 5


def test_wait_times_out_with_504_naming_the_run(store: Store) -> None:  # noqa: F811
    client, registry = serve(store)
    answer = client.simulate_post(f"{WORKFLOWS}/w/invoke", params={"wait": "true", "timeoutSeconds": "1"})
    assert (answer.status_code, answer.json["reason"]) == (504, "Timeout")
    [run] = registry.list(RUNS, "default")[0]
    assert f'workflowrun "{run["metadata"]["name"]}" did not end within 1s' in answer.json["message"]


def test_waits_are_capped(store: Store) -> None:  # noqa: F811
    client, registry = serve(store, max_waits=0)
    answer = client.simulate_post(f"{WORKFLOWS}/w/invoke?wait=true")
    assert (answer.status_code, answer.json["reason"]) == (429, "TooManyRequests")
    assert registry.list(RUNS, "default")[0] == []
    assert client.simulate_post(f"{WORKFLOWS}/w/invoke").status_code == 201  # without waiting: served
