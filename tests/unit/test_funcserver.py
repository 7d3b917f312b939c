"""The function instance server (`serverless/funcserver.py`), run as a real process on loopback.

Each test copies the script next to a `main.py` in a temporary directory (as the function controller
lays out the ConfigMap) and runs it with this interpreter; every process is killed by the fixture.
"""

from __future__ import annotations

import ast
import base64
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import funczip
from minik8s.serverless import controller, funcserver

SCRIPT = Path(funcserver.__file__)

MAIN = '''
import os, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
_lock = threading.Lock()
_active = _peak = 0


def handle(params):
    global _active, _peak
    if isinstance(params, dict) and "raise" in params:
        raise ValueError("bad input: " + params["raise"])
    if params == "nan":
        return float("nan")
    if params == "set":
        return {1, 2}
    if isinstance(params, dict) and "block" in params:  # until the test creates the file `release`
        with _lock:
            _active += 1
            _peak = max(_peak, _active)
        open(os.path.join(HERE, "started-" + params["block"]), "w").close()
        deadline = time.monotonic() + 20
        while not os.path.exists(os.path.join(HERE, "release")) and time.monotonic() < deadline:
            time.sleep(0.01)
        with _lock:
            _active -= 1
        return {"block": params["block"], "peak": _peak}
    return {"params": params}
'''


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("timed out waiting for %s" % what)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Instance:
    """One running funcserver process."""

    def __init__(self, directory: Path, proc: subprocess.Popen[bytes], port: int) -> None:
        self.directory, self.proc, self.port = directory, proc, port

    def stderr(self) -> str:
        return (self.directory / "stderr.txt").read_text()

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def invoke(self, params: Any) -> tuple[int, http.client.HTTPMessage, Any]:
        status, headers, body = self.request("POST", "/invoke", json.dumps(params))
        return status, headers, json.loads(body)

    def raw(self, data: bytes) -> bytes:
        """Send raw bytes; read the answer until the server closes the connection."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(data)
            chunks = []
            for _ in range(1000):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("funcserver exited %s:\n%s" % (self.proc.returncode, self.stderr()))
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Instance]]:
    """start(main=MAIN, wait=True, files=None, **env): run the server in a fresh directory (with `files`
    beside it); killed at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def _start(main: str = MAIN, wait: bool = True, files: dict[str, bytes] | None = None, **env: str) -> Instance:
        directory = tmp_path / ("fn%d" % len(procs))
        directory.mkdir()
        (directory / "main.py").write_text(main)
        shutil.copy(SCRIPT, directory / "_funcserver.py")
        for name, data in (files or {}).items():
            (directory / name).write_bytes(data)
        port = free_port()
        environ = dict(os.environ, MINIK8S_FUNCTION_ADDRESS="127.0.0.1", MINIK8S_FUNCTION_PORT=str(port), **env)
        with open(directory / "stdout.txt", "wb") as out, open(directory / "stderr.txt", "wb") as err:
            proc = subprocess.Popen([sys.executable, str(directory / "_funcserver.py")], env=environ,
                                    stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        procs.append(proc)
        instance = Instance(directory, proc, port)
        if wait:
            wait_for(instance.healthy, what="GET /healthz")
        return instance

    try:
        yield _start
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_funcserver_calls_the_handler_with_the_json_body(start: Callable[..., Instance]) -> None:
    """200 JSON with the handler's result and its time; an empty body is null; keep-alive works."""
    fn = start()
    status, headers, body = fn.invoke({"a": [1, 2.5, "x"], "b": None})
    assert (status, body) == (200, {"params": {"a": [1, 2.5, "x"], "b": None}})
    assert headers["Content-Type"] == "application/json"
    assert re.fullmatch(r"\d+\.\d{3}", headers["X-Minik8s-Duration-Ms"])
    assert fn.request("GET", "/healthz")[::2] == (200, b"ok")

    conn = http.client.HTTPConnection("127.0.0.1", fn.port, timeout=30)
    try:
        conn.request("POST", "/invoke")  # no body: params is null
        first = conn.getresponse()
        assert (first.status, json.loads(first.read())) == (200, {"params": None})
        sock = conn.sock
        conn.request("POST", "/invoke", body="7")
        second = conn.getresponse()
        assert (second.status, json.loads(second.read())) == (200, {"params": 7})
        assert conn.sock is sock and sock is not None  # the same connection
    finally:
        conn.close()
    assert _only_the_start_line(fn.stderr()) and (fn.directory / "stdout.txt").read_text() == ""  # no access log


def test_funcserver_handler_error_is_500_with_traceback_in_body_and_on_stderr(start: Callable[..., Instance]) -> None:
    """A raise: 500 {error, message, traceback}; the same traceback on stderr after a line naming the call."""
    fn = start()
    status, headers, body = fn.invoke({"raise": "boom"})
    assert status == 500 and headers["X-Minik8s-Duration-Ms"]
    assert (body["error"], body["message"]) == ("ValueError", "bad input: boom")
    assert body["traceback"].startswith("Traceback (most recent call last):")
    assert 'main.py", line' in body["traceback"] and "_funcserver.py" not in body["traceback"]
    assert body["traceback"].rstrip().endswith("ValueError: bad input: boom")
    stderr = wait_for(lambda: fn.stderr() if body["traceback"] in fn.stderr() else "", what="the traceback on stderr")
    assert re.search(r"funcserver: main:handle raised ValueError in a call from 127\.0\.0\.1 after [\d.]+ ms\n"
                     + re.escape(body["traceback"]), stderr)
    assert fn.invoke(1)[::2] == (200, {"params": 1})  # the instance goes on


def test_funcserver_rejects_bad_requests_and_results(start: Callable[..., Instance]) -> None:
    """400 bad JSON (NaN too), 500 ResultNotJSON (NaN, a set), 404, 405, 411 chunked, 413 by Content-Length."""
    fn = start(MINIK8S_FUNCTION_MAX_BODY="1000")
    status, _, body = fn.request("POST", "/invoke", "{not json")
    assert status == 400 and json.loads(body)["error"] == "BadRequest"
    for constant in ("NaN", "[Infinity]", '{"x": -Infinity}'):
        status, _, body = fn.request("POST", "/invoke", constant)
        assert (status, json.loads(body)["error"]) == (400, "BadRequest"), constant
    for params in ("nan", "set"):
        status, _, body = fn.invoke(params)
        assert (status, body["error"]) == (500, "ResultNotJSON"), params
    assert fn.request("GET", "/nope")[0] == 404
    status, headers, _ = fn.request("GET", "/invoke")
    assert (status, headers["Allow"]) == (405, "POST")
    assert fn.request("POST", "/healthz", "{}")[0] == 405
    assert fn.request("POST", "/invoke", "[" + "1," * 400 + "1]")[0] == 200  # 803 bytes: under the limit
    assert fn.request("POST", "/invoke", "[" + "1," * 600 + "1]")[0] == 413
    status, headers, body = fn.request("POST", "/invoke", b"[" + b"1," * 1_000_000 + b"1]")  # 2 MB: still sending
    assert (status, headers["Connection"], json.loads(body)["error"]) == (413, "close", "RequestEntityTooLarge")

    # A huge Content-Length with no body sent: answered at once from the header, connection closed.
    answer = fn.raw(b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in answer
    answer = fn.raw(b"POST /invoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411 ") and b"Connection: close" in answer
    answer = fn.raw(b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert fn.invoke([1])[::2] == (200, {"params": [1]})


@pytest.mark.parametrize(("main", "handler", "error"), [
    pytest.param("import json\nraise RuntimeError('no config')\n", "main:handle", "RuntimeError: no config", id="raises"),
    pytest.param("def handle(p):\n  return p\n", "main:missing", "AttributeError", id="no-such-function"),
    pytest.param("handle = 3\n", "main:handle", "TypeError: main:handle is a int, not a function", id="not-callable"),
    pytest.param("def handle(p)\n", "main:handle", "SyntaxError", id="syntax-error"),
    pytest.param("", "nosuchmodule:handle", "ModuleNotFoundError", id="no-such-module"),
])
def test_funcserver_load_failure_exits_1_with_the_traceback(start: Callable[..., Instance], main: str, handler: str,
                                                            error: str) -> None:
    """The handler is loaded before the port opens: a failure prints the traceback and exits 1."""
    fn = start(main, wait=False, MINIK8S_FUNCTION_HANDLER=handler)
    assert fn.proc.wait(timeout=20) == 1
    stderr = fn.stderr()
    assert stderr.startswith("funcserver: cannot start %s from " % handler)
    assert "Traceback (most recent call last):" in stderr and error in stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", fn.port), timeout=5).close()


def test_funcserver_function_dir_dotted_handler_and_coroutine(start: Callable[..., Instance], tmp_path: Path) -> None:
    """MINIK8S_FUNCTION_DIR is first on sys.path; `module:Class.method`; an async handler is awaited."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("class Api:\n    @staticmethod\n    async def run(p):\n        return {'async': p}\n")
    fn = start("def handle(p):\n    return 'wrong module'\n", MINIK8S_FUNCTION_DIR=str(code),
               MINIK8S_FUNCTION_HANDLER="app:Api.run")
    assert fn.invoke({"x": 1})[::2] == (200, {"async": {"x": 1}})


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _as_configmap_lays_it_out(source: dict[str, str]) -> dict[str, bytes]:
    """The files the function controller's ConfigMap puts beside `_funcserver.py` for a zip source."""
    fn = {"metadata": {"name": "z", "uid": "u"}, "spec": {"source": source, "handler": "app.api:run"}}
    cm = controller.wanted_configmap(fn, "unused", controller.helper_source())
    files = {k: v.encode() for k, v in cm["data"].items() if k != controller.SERVER_FILE}
    files.update({k: base64.b64decode(v) for k, v in cm.get("binaryData", {}).items()})
    return files


def test_funcserver_unpacks_a_zip_source_into_a_private_directory_first_on_sys_path(
        start: Callable[..., Instance], tmp_path: Path) -> None:
    """MINIK8S_FUNCTION_ZIP: the archive is unpacked (with `_funczip.py` beside the server, as the ConfigMap
    lays it out) into a new 0700 directory that comes first on sys.path; a module importing another of
    the archive works; the directory is removed when the server exits."""
    archive = _zip({"app/__init__.py": "", "app/util.py": "def twice(x):\n    return 2 * x\n",
                    "app/api.py": "import os, sys\nfrom app import util\n"
                                  "def run(p):\n    return {'n': util.twice(p), 'file': __file__, 'first': sys.path[0]}\n"})
    files = _as_configmap_lays_it_out({"zip": base64.b64encode(archive).decode()})
    assert sorted(files) == ["_funczip.py", "source.zip"]
    (tmp_path / "mounted.zip").write_bytes(files.pop("source.zip"))
    fn = start(files=files, MINIK8S_FUNCTION_HANDLER="app.api:run", MINIK8S_FUNCTION_ZIP=str(tmp_path / "mounted.zip"))
    status, _, body = fn.invoke(21)
    assert status == 200 and body["n"] == 42
    unpacked = Path(body["first"])
    assert Path(body["file"]) == unpacked / "app" / "api.py" and unpacked.name.startswith("minik8s-function-")
    assert stat.S_IMODE(unpacked.stat().st_mode) == 0o700 and fn.directory not in unpacked.parents
    fn.proc.send_signal(signal.SIGTERM)
    assert fn.proc.wait(timeout=20) == 0 and not unpacked.exists()


@pytest.mark.parametrize(("files", "error"), [
    pytest.param({"main.py": "", "../escaped.py": "owned = True\n"}, "'..' parts", id="zip-slip"),
    pytest.param({"main.py": "", "zeros": "\0" * (9 << 20)}, "at most 8388608", id="bomb"),
])
def test_funcserver_refuses_a_hostile_zip_and_exits_1(start: Callable[..., Instance], tmp_path: Path,
                                                       files: dict[str, str], error: str) -> None:
    """The instance checks the archive again (it trusts nothing it is given): exit 1 with the reason,
    nothing written outside its private directory, and that directory removed."""
    (tmp_path / "hostile.zip").write_bytes(_zip(files))
    before = set(Path(tempfile.gettempdir()).glob("minik8s-function-*"))
    fn = start(files={"_funczip.py": Path(funczip.__file__).read_bytes()}, wait=False,
               MINIK8S_FUNCTION_ZIP=str(tmp_path / "hostile.zip"))
    assert fn.proc.wait(timeout=20) == 1
    assert "ZipProblem" in fn.stderr() and error in fn.stderr()
    assert not (tmp_path / "escaped.py").exists() and not (fn.directory / "escaped.py").exists()
    assert set(Path(tempfile.gettempdir()).glob("minik8s-function-*")) == before


def test_funcserver_without_the_archive_checks_beside_it_does_not_start(start: Callable[..., Instance],
                                                                        tmp_path: Path) -> None:
    (tmp_path / "code.zip").write_bytes(_zip({"main.py": "def handle(p):\n    return p\n"}))
    fn = start(wait=False, MINIK8S_FUNCTION_ZIP=str(tmp_path / "code.zip"))
    assert fn.proc.wait(timeout=20) == 1 and "_funczip.py" in fn.stderr()


def test_funcserver_concurrency_limit_queues_ten_per_slot_then_refuses(start: Callable[..., Instance]) -> None:
    """cc=1: one call runs, 10 wait for the slot, the 12th gets 503 Not-Started; the waiting ones run one by one."""
    fn = start(MINIK8S_CONTAINER_CONCURRENCY="1")
    with ThreadPoolExecutor(max_workers=12) as pool:
        first = pool.submit(fn.invoke, {"block": "first"})
        wait_for(lambda: (fn.directory / "started-first").exists(), what="the first call to start")
        rest = [pool.submit(fn.invoke, {"block": "n%d" % i}) for i in range(11)]
        refused = wait_for(lambda: [f for f in rest if f.done()], what="a call to be refused")
        status, headers, body = refused[0].result()
        assert (status, headers["X-Minik8s-Not-Started"], body["error"]) == (503, "1", "NotStarted")
        assert "queue is full" in body["message"]
        assert [f for f in rest if f.done()] == refused[:1] and not first.done()  # the other 10 wait
        assert sorted(p.name for p in fn.directory.glob("started-*")) == ["started-first"]

        (fn.directory / "release").touch()
        answers = [f.result(timeout=30) for f in [first, *rest] if f is not refused[0]]
    assert [status for status, _, _ in answers] == [200] * 11
    assert {body["peak"] for _, _, body in answers} == {1}  # never two at once
    assert len(list(fn.directory.glob("started-*"))) == 11


def test_funcserver_waiting_longer_than_the_timeout_is_503_not_started(start: Callable[..., Instance]) -> None:
    """A call that waits for a slot longer than MINIK8S_FUNCTION_TIMEOUT is refused; its handler never runs."""
    fn = start(MINIK8S_CONTAINER_CONCURRENCY="1", MINIK8S_FUNCTION_TIMEOUT="0.3")
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(fn.invoke, {"block": "first"})
        wait_for(lambda: (fn.directory / "started-first").exists(), what="the first call to start")
        status, headers, body = fn.invoke({"block": "second"})
        assert (status, headers["X-Minik8s-Not-Started"]) == (503, "1")
        assert "no free slot within 0.3 s" in body["message"]
        (fn.directory / "release").touch()
        assert first.result(timeout=30)[0] == 200
    assert not (fn.directory / "started-second").exists()


def _refused_or_not_started(fn: Instance) -> bool:
    try:
        status, headers, _ = fn.request("POST", "/invoke", "1")
    except OSError:  # refused, or closed: the server is gone or going
        return True
    return status == 503 and headers["X-Minik8s-Not-Started"] == "1"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_funcserver_signal_drains_running_calls_then_exits_0(start: Callable[..., Instance], signum: int) -> None:
    """After SIGTERM new calls are refused (503 Not-Started), the running call still answers 200, exit 0."""
    fn = start()
    with ThreadPoolExecutor(max_workers=1) as pool:
        running: Future[tuple[int, http.client.HTTPMessage, Any]] = pool.submit(fn.invoke, {"block": "running"})
        wait_for(lambda: (fn.directory / "started-running").exists(), what="the call to start")
        fn.proc.send_signal(signum)
        wait_for(lambda: _refused_or_not_started(fn), what="new calls to be refused")
        assert fn.proc.poll() is None and not running.done()  # still draining
        assert fn.request("GET", "/healthz")[0] == 503
        (fn.directory / "release").touch()
        assert running.result(timeout=30)[::2] == (200, {"block": "running", "peak": 1})
    assert fn.proc.wait(timeout=20) == 0
    assert _only_the_start_line(fn.stderr())


def test_funcserver_source_is_stdlib_only_python38() -> None:
    """One self-contained file: python 3.8 syntax, and it imports the standard library only."""
    tree = ast.parse(SCRIPT.read_text(), feature_version=(3, 8))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported and imported <= sys.stdlib_module_names, imported - sys.stdlib_module_names
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))


def _only_the_start_line(stderr: str) -> bool:
    """What an instance that served calls without an error writes: the one line saying it listens."""
    lines = stderr.splitlines()
    return len(lines) == 1 and lines[0].startswith("funcserver: ") and " loaded, listening on " in lines[0] \
        and lines[0].endswith("ms after the interpreter started")
