"""Running a probe or lifecycle-hook handler against a container: `exec`, `httpGet`, `tcpSocket`, `sleep`.

Probes (`probes`) and hooks (postStart/preStop, in the kubelet) share the handlers, as in
Kubernetes' `pkg/probe` and `pkg/kubelet/lifecycle`:

- `exec` runs the command in the container through the runtime (`Runtime.exec_sync`): exit code 0
  is success, anything else a failure whose message is the command's output (at most 10 KiB);
- `httpGet` sends `GET scheme://host:port/path` from the node (host defaults to the pod IP; the
  port is a number or the name of one of the container's ports; `httpHeaders`; User-Agent
  `kube-probe/1.32`): 200-399 is success (a 3xx a success with a warning), anything else a failure
  (`HTTP probe failed with statuscode: 503`), as is a connection error; HTTPS is not verified;
- `tcpSocket` succeeds when a TCP connection opens;
- `sleep` (hooks) waits, up to the time the hook has.

Messages read like Kubernetes' (Go's `Get "http://...": dial tcp ...: connect: connection refused`),
so `kubectl describe` shows what a Kubernetes user expects. Everything blocking is bounded by the
handler's timeout.
"""

from __future__ import annotations

import errno
import json
import http.client
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .runtime.base import Runtime, RuntimeError_

__all__ = ["HandlerError", "Outcome", "ProbeOutcome", "Target", "HandlerRunner", "resolve_port", "format_pod"]

Obj = dict[str, Any]
MAX_OUTPUT = 10 * 1024  # Kubernetes keeps this much of an exec probe's output and of an HTTP body
USER_AGENT = "kube-probe/1.32"


class HandlerError(Exception):
    """A handler that cannot be run at all (bad port, container gone): not a probe failure."""


class Outcome(str, Enum):
    """What one run of a handler says about the container."""

    SUCCESS = "success"
    WARNING = "warning"  # success, reported with an event (e.g. a redirect not followed)
    FAILURE = "failure"


@dataclass(frozen=True)
class ProbeOutcome:
    """The result of one handler run and what it said."""

    outcome: Outcome
    output: str = ""


@dataclass(frozen=True)
class Target:
    """The container a handler acts on: its pod, spec, runtime id and the pod's IP."""

    pod: Obj
    container: Obj
    container_id: str
    pod_ip: str | None


def format_pod(pod: Obj) -> str:
    """A pod as the kubelet names it in messages: `name_namespace(uid)`."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name')}_{meta.get('namespace', 'default')}({meta.get('uid')})"


def _quote(text: str) -> str:
    """Go's %q, near enough: a double-quoted string with escapes."""
    return json.dumps(text, ensure_ascii=False)


def resolve_port(port: Any, container: Obj) -> int:
    """A handler's port: a number, or the name of one of the container's ports (or a number as text)."""
    if isinstance(port, str):
        named = next((p.get("containerPort") for p in container.get("ports") or [] if p.get("name") == port), None)
        if named is None:
            if not port.isdigit():
                raise HandlerError(f"port {port} not found in container {container.get('name')!r}")
            named = int(port)
        port = named
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise HandlerError(f"invalid port number: {port}")
    return port


def _dial_error(host: str, port: int, exc: OSError) -> str:
    """Go's wording of a failed TCP dial."""
    address = f"{host}:{port}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"dial tcp {address}: i/o timeout"
    if isinstance(exc, socket.gaierror):
        return f"dial tcp: lookup {host}: no such host"
    reason = {errno.ECONNREFUSED: "connection refused", errno.EHOSTUNREACH: "no route to host",
              errno.ENETUNREACH: "network is unreachable"}.get(exc.errno or 0, (exc.strerror or str(exc)).lower())
    return f"dial tcp {address}: connect: {reason}"


class HandlerRunner:
    """Runs handlers through a runtime (for `exec`) and from the node's network (the others)."""

    def __init__(self, runtime: Runtime, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.runtime = runtime
        self.sleep = sleep

    # ---- probes ---------------------------------------------------------------------------

    def probe(self, handler: Obj, target: Target, timeout: float) -> ProbeOutcome:
        """Run a probe's handler; raises HandlerError when it cannot be run (the result is then unknown)."""
        if (action := handler.get("exec")) is not None:
            return self._exec(action.get("command") or [], target, timeout)
        if (action := handler.get("httpGet")) is not None:
            return self._http_get(action, target, timeout)
        if (action := handler.get("tcpSocket")) is not None:
            host = action.get("host") or target.pod_ip or ""
            port = resolve_port(action.get("port"), target.container)
            try:
                with socket.create_connection((host, port), timeout=timeout):
                    return ProbeOutcome(Outcome.SUCCESS)
            except OSError as exc:
                return ProbeOutcome(Outcome.FAILURE, _dial_error(host, port, exc))
        if handler.get("grpc") is not None:
            raise HandlerError("grpc probes are not supported by this node")
        raise HandlerError("missing probe handler")

    def _exec(self, command: list[str], target: Target, timeout: float | None) -> ProbeOutcome:
        if not command:
            raise HandlerError("exec: no command")
        try:
            result = self.runtime.exec_sync(target.container_id, list(command), timeout=timeout)
        except RuntimeError_ as exc:
            raise HandlerError(str(exc)) from exc
        output = result.output[:MAX_OUTPUT].decode(errors="replace")
        if result.timed_out:
            return ProbeOutcome(Outcome.FAILURE, f"command {_quote(' '.join(map(str, command)))} timed out")
        return ProbeOutcome(Outcome.SUCCESS if result.exit_code == 0 else Outcome.FAILURE, output)

    def _http_get(self, action: Obj, target: Target, timeout: float) -> ProbeOutcome:
        scheme = (action.get("scheme") or "HTTP").upper()
        host = action.get("host") or target.pod_ip or ""
        port = resolve_port(action.get("port"), target.container)
        path = action.get("path") or "/"
        if not path.startswith("/"):
            path = "/" + path
        url = f"{scheme.lower()}://{host}:{port}{path}"
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        for header in action.get("httpHeaders") or []:
            headers[str(header.get("name", ""))] = str(header.get("value", ""))
        if scheme == "HTTPS":
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # as the kubelet: not verified
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                                                 context=context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read(MAX_OUTPUT).decode(errors="replace")
            code = response.status
        except (socket.timeout, TimeoutError):
            return ProbeOutcome(Outcome.FAILURE, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded '
                                                 f"while awaiting headers)")
        except OSError as exc:
            return ProbeOutcome(Outcome.FAILURE, f'Get "{url}": {_dial_error(host, port, exc)}')
        except http.client.HTTPException as exc:
            return ProbeOutcome(Outcome.FAILURE, f'Get "{url}": {type(exc).__name__}: {exc}')
        finally:
            connection.close()
        if 200 <= code < 300:
            return ProbeOutcome(Outcome.SUCCESS, body)
        if 300 <= code < 400:
            return ProbeOutcome(Outcome.WARNING, f"Probe terminated redirects, Response body: {body}")
        return ProbeOutcome(Outcome.FAILURE, f"HTTP probe failed with statuscode: {code}")

    # ---- lifecycle hooks ------------------------------------------------------------------

    def hook(self, handler: Obj, target: Target, timeout: float) -> str | None:
        """Run a postStart/preStop handler within `timeout` seconds: None when it succeeded, else why not
        (the kubelet's `Exec lifecycle hook (...) for Container "c" in Pod "p" failed - ...` messages)."""
        name, pod = _quote(str(target.container.get("name"))), _quote(format_pod(target.pod))
        if (action := handler.get("exec")) is not None:
            command = action.get("command") or []
            shown = f"[{' '.join(map(str, command))}]"
            try:
                result = self._exec(command, target, timeout)
            except HandlerError as exc:
                return f"Exec lifecycle hook ({shown}) for Container {name} in Pod {pod} failed - error: {exc}"
            if result.outcome is Outcome.SUCCESS:
                return None
            return (f"Exec lifecycle hook ({shown}) for Container {name} in Pod {pod} failed - error: "
                    f"command {_quote(' '.join(map(str, command)))} failed, message: {_quote(result.output)}")
        if (action := handler.get("httpGet")) is not None:
            try:
                result = self._http_get(action, target, timeout)
            except HandlerError as exc:
                result = ProbeOutcome(Outcome.FAILURE, str(exc))
            if result.outcome is not Outcome.FAILURE or result.output.startswith("HTTP probe failed"):
                return None  # a hook's HTTP status is not checked, only that the request went through
            return (f"HTTP lifecycle hook ({action.get('path', '')}) for Container {name} in Pod {pod} failed - "
                    f"error: {result.output}")
        if (action := handler.get("sleep")) is not None:
            seconds = action.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
                return (f"Sleep lifecycle hook ({seconds}) for Container {name} in Pod {pod} failed - error: "
                        f"invalid sleep duration")
            self.sleep(min(float(seconds), max(0.0, timeout)))
            return None
        return f"Cannot run handler: invalid handler: {sorted(handler)}"
