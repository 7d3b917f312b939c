"""A `minik8s up` cluster run in the background, for chaos scenarios, tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from minik8s.api.client import ApiClient
from minik8s.api.kubeconfig import load_kubeconfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UpProcess:
    """`minik8s up --data-dir ROOT ...` as a child process; `stop()` interrupts it (it cleans up). The process
    runtime unless `args` name one (`up` itself picks Docker whenever an engine with the images runs)."""

    def __init__(self, root: Path, *args: str, timeout: float = 120.0) -> None:
        self.root = root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minik8s.cli.main", "up", "--data-dir", str(root), "--api-port",
             str(_free_port()), *([] if "--runtime" in args else ["--runtime", "process"]), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not (root / "kubeconfig").exists():  # written once every node is Ready
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                output = self.proc.stdout.read() if self.proc.stdout else ""
                raise RuntimeError(f"`minik8s up` did not come up:\n{output}")
            time.sleep(0.2)
        config = load_kubeconfig(root / "kubeconfig")
        self.client = ApiClient(config.servers, token=config.token, ca_file=config.ca_file)

    @property
    def state(self) -> dict[str, Any]:
        """What `up` recorded in `cluster.json` (pids, node command lines, hosts)."""
        return json.loads((self.root / "cluster.json").read_text())

    def stop(self, timeout: float = 90.0) -> None:
        """SIGINT `up` and wait; if it is stuck, SIGKILL it and tear down what it recorded."""
        stop_up(self.proc, self.root, timeout)
        if hasattr(self, "client"):
            self.client.close()


def stop_up(proc: subprocess.Popen[Any], root: Path, timeout: float = 90.0) -> None:
    """SIGINT a `minik8s up` process and wait for its own teardown; if it is stuck, SIGKILL it and
    run `minik8s down` on its data dir, which stops the masters, nodes, engines and registry it
    recorded in `cluster.json` (each runs in a session of its own, out of reach of `up`'s group)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    subprocess.run([sys.executable, "-m", "minik8s.cli.main", "down", "--data-dir", str(root)],
                   capture_output=True, timeout=120, check=False)
