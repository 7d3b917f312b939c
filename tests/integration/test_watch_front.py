"""Watches served by the API front's event loop (issue 11), on one real master on loopback.

- A watcher that never reads is cut off once it is `--watch-buffer-bytes` behind; the other
  watchers get every event and creates keep succeeding meanwhile.
- One keep-alive connection carries several long-polls, a list, a streaming watch that ends at its
  timeout, and another request after it.
- Streaming (resumed across its timeouts) and long-poll watchers see every write exactly once.
- 2,000 idle streaming watches are held without a thread each, and each gets the next event.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import TOKEN, Cluster, configmap, running, wait_for
from .hostile_support import open_watches

WATCH_BUFFER = 64 * 1024


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("front")
    with running(root / "cluster", 1, extra_args=["--no-control-loops",
                                                  f"--watch-buffer-bytes={WATCH_BUFFER}"]) as c:
        yield c


def _namespace(cluster: Cluster, name: str) -> str:
    created = cluster.post(0, "/api/v1/namespaces", {"metadata": {"name": name}})
    assert created.status_code == 201, created.text
    return f"/api/v1/namespaces/{name}/configmaps"


def _revision(cluster: Cluster, path: str) -> str:
    return str(cluster.get(0, path).json()["metadata"]["resourceVersion"])


class RawHttp:
    """One keep-alive HTTP/1.1 connection read by hand, to see exactly what crosses it."""

    def __init__(self, port: int, *, rcvbuf: int | None = None, timeout: float = 10.0) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buffer = b""

    def send(self, path: str, method: str = "GET", body: bytes = b"") -> None:
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        self.sock.sendall(head.encode() + body)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        self.buffer += data

    def _until(self, separator: bytes) -> bytes:
        while separator not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(separator)
        return line

    def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def head(self) -> tuple[int, dict[str, str]]:
        lines = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        return int(lines[0].split()[1]), headers

    def chunk(self) -> bytes:
        """The next chunk of a chunked body (b"" for the last one, trailers read)."""
        size = int(self._until(b"\r\n").split(b";")[0], 16)
        if size == 0:
            while self._until(b"\r\n"):  # trailers, up to the blank line
                pass
            return b""
        return self._exactly(size + 2)[:-2]

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status, headers = self.head()
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while piece := self.chunk():
                body += piece
            return status, headers, body
        return status, headers, self._exactly(int(headers.get("content-length", "0")))

    def close(self) -> None:
        self.sock.close()


def _names(lines: bytes) -> list[str]:
    return [json.loads(line)["object"]["metadata"]["name"] for line in lines.split(b"\n") if line.strip()]


def test_a_watcher_that_never_reads_is_cut_off_and_the_others_get_every_event(cluster: Cluster) -> None:
    path = _namespace(cluster, "slow")
    rv = _revision(cluster, path)
    port = cluster.masters[0].api_port
    stuck = RawHttp(port, rcvbuf=4096)
    stuck.send(f"{path}?watch=true&resourceVersion={rv}")
    assert stuck.head()[0] == 200  # and from here on it never reads
    readers = [RawHttp(port) for _ in range(3)]
    for reader in readers:
        reader.send(f"{path}?watch=true&resourceVersion={rv}")
        assert reader.head()[0] == 200
    wait_for(lambda: open_watches(cluster) == 4, timeout=10, what="4 open watches")
    got: list[list[str]] = [[] for _ in readers]

    def read(index: int) -> None:
        while len(got[index]) < 40:
            got[index] += _names(readers[index].chunk())

    threads = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(len(readers))]
    for thread in threads:
        thread.start()
    big = "x" * (256 * 1024)  # 40 of them: 10 MB, more than the kernel buffers (4 MB) and the cap
    expected = [f"big-{n}" for n in range(40)]
    for name in expected:
        created = cluster.session.post(cluster.masters[0].url + path, json=configmap(name, big), timeout=5)
        assert created.status_code == 201, created.text
    for thread in threads:
        thread.join(timeout=30)
    assert got == [expected] * len(readers)  # every event, once, in order, to every reader
    wait_for(lambda: open_watches(cluster) == 3, timeout=10, what="the stuck watcher cut off")
    with pytest.raises((ConnectionError, OSError)):
        while True:  # what was sent before the cut, then the connection's end
            stuck._fill()
    for reader in readers + [stuck]:
        reader.close()
    wait_for(lambda: open_watches(cluster) == 0, timeout=10, what="every slot released")


def test_one_connection_carries_long_polls_a_list_and_a_streaming_watch(cluster: Cluster) -> None:
    path = _namespace(cluster, "keepalive")
    rv = _revision(cluster, path)
    conn = RawHttp(cluster.masters[0].api_port)
    try:
        conn.send(f"{path}?watch=true&longPoll=true&resourceVersion={rv}&timeoutSeconds=1")
        status, headers, body = conn.response()  # nothing happened: an empty answer at the timeout
        assert status == 200 and json.loads(body)["items"] == [] and headers["x-minik8s-revision"] >= rv
        for n in range(3):
            assert cluster.post(0, path, configmap(f"kept-{n}")).status_code == 201
            conn.send(f"{path}?watch=true&longPoll=true&resourceVersion={rv}&timeoutSeconds=5")
            status, headers, body = conn.response()
            answer = json.loads(body)
            assert status == 200 and [e["object"]["metadata"]["name"] for e in answer["items"]] == [f"kept-{n}"]
            rv = answer["metadata"]["resourceVersion"]
            assert headers["x-minik8s-revision"] == rv
        conn.send(path)
        status, _, body = conn.response()
        assert status == 200 and len(json.loads(body)["items"]) == 3
        conn.send(f"{path}?watch=true&resourceVersion=0&timeoutSeconds=1")  # ends by itself after 1 s
        status, headers, body = conn.response()
        assert status == 200 and headers["transfer-encoding"] == "chunked"
        assert sorted(_names(body)) == ["kept-0", "kept-1", "kept-2"]
        conn.send(f"{path}?watch=true&resourceVersion=nope")  # refused by the app, on the same connection
        assert conn.response()[0] == 400
        conn.send(f"{path}/kept-0", method="DELETE")
        assert conn.response()[0] == 200
        conn.send("/healthz")
        assert conn.response()[:1] == (200,)
    finally:
        conn.close()


def test_every_write_is_seen_exactly_once_by_streaming_and_long_poll_watchers(cluster: Cluster) -> None:
    path = _namespace(cluster, "once")
    start = _revision(cluster, path)
    port = cluster.masters[0].api_port
    stop = threading.Event()
    seen: dict[str, list[tuple[str, str]]] = {"stream": [], "poll": []}

    def stream() -> None:  # resumed from its last revision after every 1 s timeout, on one connection
        conn, rv = RawHttp(port), start
        while not stop.is_set():
            conn.send(f"{path}?watch=true&resourceVersion={rv}&timeoutSeconds=1")
            assert conn.head()[0] == 200
            while piece := conn.chunk():
                for line in piece.split(b"\n"):
                    if line.strip():
                        event = json.loads(line)
                        rv = event["object"]["metadata"]["resourceVersion"]
                        seen["stream"].append((event["type"], rv))
        conn.close()

    def poll() -> None:
        conn, rv = RawHttp(port), start
        while not stop.is_set():
            conn.send(f"{path}?watch=true&longPoll=true&resourceVersion={rv}&timeoutSeconds=1")
            status, _, body = conn.response()
            assert status == 200
            answer = json.loads(body)
            seen["poll"] += [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in answer["items"]]
            rv = answer["metadata"]["resourceVersion"]
        conn.close()

    watchers = [threading.Thread(target=fn, daemon=True) for fn in (stream, poll)]
    for thread in watchers:
        thread.start()
    written: list[tuple[str, str]] = []
    lock = threading.Lock()

    def write(worker: int) -> None:
        for n in range(30):
            name = f"w{worker}-{n}"
            created = cluster.post(0, path, configmap(name))
            assert created.status_code == 201, created.text
            changes = [("ADDED", created.json()["metadata"]["resourceVersion"])]
            if n % 3 == 0:
                gone = cluster.session.delete(f"{cluster.masters[0].url}{path}/{name}", timeout=5)
                assert gone.status_code == 200, gone.text
                changes.append(("DELETED", gone.json()["metadata"]["resourceVersion"]))
            with lock:
                written.extend(changes)

    writers = [threading.Thread(target=write, args=(i,)) for i in range(3)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=60)
    expected = sorted(written, key=lambda e: int(e[1]))
    for style in ("stream", "poll"):
        wait_for(lambda: len(seen[style]) >= len(expected), timeout=15, what=f"{style} caught up")
    stop.set()
    for thread in watchers:
        thread.join(timeout=10)
    assert seen["stream"] == expected
    assert seen["poll"] == expected


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_two_thousand_idle_watches_take_no_thread_each(cluster: Cluster) -> None:
    path = _namespace(cluster, "idle")
    rv = _revision(cluster, path)
    master = cluster.masters[0]
    assert master.proc is not None
    threads_before = _threads(master.proc.pid)
    conns: list[RawHttp] = []
    try:
        for _ in range(2000):
            conn = RawHttp(master.api_port)
            conn.send(f"{path}?watch=true&resourceVersion={rv}")
            conns.append(conn)
        for conn in conns:
            assert conn.head()[0] == 200
        wait_for(lambda: open_watches(cluster) == 2000, timeout=20, what="2,000 open watches")
        assert _threads(master.proc.pid) - threads_before < 20  # none per watch (waitress' pool is fixed)
        assert cluster.post(0, path, configmap("wake-up")).status_code == 201
        for conn in conns:
            assert _names(conn.chunk()) == ["wake-up"]
    finally:
        for conn in conns:
            conn.close()
    wait_for(lambda: open_watches(cluster) == 0, timeout=20, what="every slot released")



def test_long_polls_re_armed_on_a_connection_keep_the_first_requests_checks(cluster: Cluster) -> None:
    """The front serves the next long-poll of the same request on the same connection without the
    app; another token, a bad resourceVersion or another query still goes through the app's checks."""
    path = _namespace(cluster, "rearm")
    rv = _revision(cluster, path)
    conn = RawHttp(cluster.masters[0].api_port)
    query = "watch=true&longPoll=true&timeoutSeconds=2"
    try:
        conn.send(f"{path}?{query}&resourceVersion={rv}")  # set up by the app: nothing yet, empty at 2 s
        status, _, body = conn.response()
        assert status == 200 and json.loads(body)["items"] == []
        assert cluster.post(0, path, configmap("waiting")).status_code == 201
        conn.send(f"{path}?{query}&resourceVersion={rv}")  # re-armed: the event is already there
        status, headers, body = conn.response()
        answer = json.loads(body)
        assert status == 200 and [e["object"]["metadata"]["name"] for e in answer["items"]] == ["waiting"]
        rv = answer["metadata"]["resourceVersion"]
        assert headers["x-minik8s-revision"] == rv
        conn.send(f"{path}?{query}&resourceVersion={rv}")  # re-armed and waiting for the next write
        wait_for(lambda: open_watches(cluster) == 1, timeout=10, what="the re-armed long-poll waiting")
        assert cluster.post(0, path, configmap("later")).status_code == 201
        status, _, body = conn.response()
        assert status == 200 and [e["object"]["metadata"]["name"] for e in json.loads(body)["items"]] == ["later"]
        conn.sock.sendall((f"GET {path}?{query}&resourceVersion={rv} HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer not-a-token\r\n\r\n").encode())
        assert conn.response()[0] == 401
        conn.send(f"{path}?{query}&resourceVersion=abc")
        assert conn.response()[0] == 400
        conn.send(f"{path}?{query}&resourceVersion={rv}&labelSelector=app%3Dnone")  # another query: no match
        status, _, body = conn.response()
        assert status == 200 and json.loads(body)["items"] == []
    finally:
        conn.close()
    wait_for(lambda: open_watches(cluster) == 0, timeout=10, what="every slot released")
