"""Hostile parts for tests: node agents that misbehave, and the open-watch gauge of a master."""

from __future__ import annotations

import socket
import threading
import time

from .cluster import Cluster


class FakeNode:
    """A hostile 'kubelet': `mode` "silent" accepts and never answers; "endless" answers 200 and
    then streams a line every 50 ms until the master hangs up."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.open_streams = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.mode == "silent":
                self._held.append(conn)
            else:
                threading.Thread(target=self._stream, args=(conn,), daemon=True).start()

    def _stream(self, conn: socket.socket) -> None:
        with self._lock:
            self.open_streams += 1
        try:
            conn.settimeout(5)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(20 * 120):  # at most two minutes
                if self._stop.is_set():
                    break
                conn.sendall(b"6\r\nline!\n\r\n")
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self.open_streams -= 1

    def close(self) -> None:
        self._stop.set()
        for conn in self._held:
            conn.close()
        self.sock.close()


def open_watches(cluster: Cluster, index: int = 0) -> float:
    """The master's `apiserver_open_watches` gauge."""
    for line in cluster.get(index, "/metrics").text.splitlines():
        if line.startswith("apiserver_open_watches "):
            return float(line.split()[1])
    raise AssertionError("apiserver_open_watches missing from /metrics")
