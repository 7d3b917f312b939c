"""`workflows/invoke`: start a WorkflowRun from a POST, and with `?wait=true` answer once it ended.

`POST /apis/minik8s.io/v1/namespaces/NS/workflows/NAME/invoke` takes the run's input as its body
(JSON; an empty body is `{}`), creates a WorkflowRun `NAME-xxxxx` exactly as `minik8s workflow run`
or `kubectl create` would (`workflow.new_run`), and answers 201 with it. The workflow runner, under
the controller-manager Lease, does the rest.

With `wait=true` the answer waits for the run to end (Succeeded or Failed) for at most
`timeoutSeconds` (default 60, at most 900) and is the ended run; past that, a 504 names the run,
which goes on. The wait watches this master's own replica: every commit wakes the waiting
requests, which re-read their run locally (no polling, no informer). A wait holds an API thread, so at
most `max_waits` wait at once per master (429 beyond, as for function calls).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from minik8s.api import errors
from minik8s.api.kinds import resolve
from minik8s.api.kinds.workflow import new_run
from minik8s.api.kinds.workflowrun import MAX_INPUT_BYTES, json_problem

from .registry import Registry

Obj = dict[str, Any]
DEFAULT_WAIT_SECONDS = 60
MAX_WAIT_SECONDS = 900
ENDED = ("Succeeded", "Failed")


class WorkflowInvoker:
    """Answers `workflows/NAME/invoke` (an `Invoker`, see `resources.py`)."""

    def __init__(self, registry: Registry, subscribe: Callable[[Callable[[], None]], None], *,
                 max_waits: int = 16, clock: Callable[[], float] = time.monotonic) -> None:
        """`subscribe(callback)` must call `callback()` after every commit to the local replica
        (`WatchHub.subscribe`)."""
        self.registry = registry
        self.max_waits = max_waits
        self.clock = clock
        self._waits = threading.BoundedSemaphore(max_waits)
        self._changed = threading.Condition()
        self._commits = 0  # commits seen while someone waited: a waiter sleeps until it moves
        self._waiting = 0
        subscribe(self._on_commit)

    def _on_commit(self) -> None:
        if self._waiting:  # on the apply path: nothing to do (not even a lock) when nobody waits
            with self._changed:
                self._commits += 1
                self._changed.notify_all()

    def invoke(self, namespace: str | None, name: str, body: bytes, headers: Mapping[str, str],
               params: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        namespace = namespace or "default"
        wait = (params.get("wait") or "").lower() in ("true", "1")
        timeout = _wait_seconds(params.get("timeoutSeconds"))
        self.registry.get(resolve("workflows"), name, namespace)  # 404 for an unknown workflow
        text = _input_text(body)
        if not wait:
            return _created(self._create(name, namespace, text))
        if not self._waits.acquire(blocking=False):
            raise errors.TooManyRequestsError(f"too many requests wait for workflow runs on this master (limit "
                                              f"{self.max_waits}); start the run without wait=true and follow it",
                                              retry_after_seconds=1)
        try:
            with self._changed:
                self._waiting += 1
            return _created(self._wait_for_end(self._create(name, namespace, text), timeout))
        finally:
            with self._changed:
                self._waiting -= 1
            self._waits.release()

    def _create(self, workflow: str, namespace: str, text: str) -> Obj:
        return self.registry.create(resolve("workflowruns"), new_run(workflow, namespace, text), namespace)

    def _wait_for_end(self, run: Obj, timeout: int) -> Obj:
        rt, meta = resolve("workflowruns"), run["metadata"]
        deadline = self.clock() + timeout
        while True:
            with self._changed:
                seen = self._commits
            try:
                run = self.registry.get(rt, meta["name"], meta.get("namespace"))
            except errors.NotFoundError:
                raise errors.NotFoundError(f'workflowrun "{meta["name"]}" was deleted before it ended',
                                           name=meta["name"], kind="workflowruns", group="minik8s.io") from None
            if (run.get("status") or {}).get("phase") in ENDED:
                return run
            with self._changed:
                while self._commits == seen:
                    remaining = deadline - self.clock()
                    if remaining <= 0:
                        raise errors.TimeoutError_(
                            f'workflowrun "{meta["name"]}" did not end within {timeout}s (it goes on: '
                            f"`minik8s workflow describe {meta['name']}` follows it)")
                    self._changed.wait(remaining)


def _created(run: Obj) -> tuple[int, dict[str, str], bytes]:
    return 201, {"Content-Type": "application/json"}, json.dumps(run, separators=(",", ":")).encode()


def _wait_seconds(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_WAIT_SECONDS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WAIT_SECONDS:
        raise errors.BadRequestError(f"query parameter timeoutSeconds must be an integer from 1 to "
                                     f"{MAX_WAIT_SECONDS} (seconds to wait for the run), got {raw[:64]!r}")
    return int(raw)


def _input_text(body: bytes) -> str:
    """The run's input: the body as JSON text (`{}` when empty); 400/413 when it cannot be one."""
    if len(body) > MAX_INPUT_BYTES:
        raise errors.RequestEntityTooLargeError(f"the run's input is {len(body)} bytes; the limit is "
                                                f"{MAX_INPUT_BYTES} bytes (256 KiB)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.BadRequestError(f"the request body (the run's input) is not UTF-8: {exc}") from None
    if not text.strip():
        return "{}"
    if (problem := json_problem(text)) is not None:
        raise errors.BadRequestError(f"the request body (the run's input) {problem}")
    return text
