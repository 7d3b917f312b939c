"""Issue 7 item 9: secrets are readable only by their owner, and never on a command line or in state files.

`minik8s up` (1 master, 1 node in its network namespace): every secret file 0600, data dirs 0700,
no process's command line and no `cluster.json` holds a secret. A hand-started master warns about
secret files others can read and makes its data dir and store private.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from minik8s.chaos.upcluster import UpProcess

from .cluster import Cluster, wait_for


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cmdlines() -> dict[int, bytes]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    cluster = UpProcess(tmp_path_factory.mktemp("secrets") / "data", "--nodes", "1")
    try:
        yield cluster
    finally:
        cluster.stop()


def _secrets_of(root: Path) -> dict[str, str]:
    """The secret values `up` made: admin token, cluster secret, kubelet token."""
    return {"admin token": (root / "tokens.csv").read_text().split(",", 1)[0],
            "cluster secret": (root / "cluster-secret").read_text().strip(),
            "kubelet token": (root / "kubelet-token").read_text().strip()}


def test_up_secret_files_are_0600_and_data_dirs_0700(up: UpProcess) -> None:
    """Every file holding a secret (or the store / journal) is 0600; the data dirs are 0700."""
    root = up.root
    values = [v.encode() for v in _secrets_of(root).values()]
    assert all(len(v) >= 16 for v in values)
    private_dirs = [root, root / "master-0", root / "master-0" / "store", root / "master-0" / "raft",
                    root / "node-0", root / "pki"]
    for directory in private_dirs:
        assert _mode(directory) == 0o700, f"{directory}: {_mode(directory):04o}"
    holding = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(v in data for v in values) or path.name in ("apiserver.key", "data.mdb", "journal"):
                holding.append(path.name)
                assert not _mode(path) & 0o077, f"{path} holds a secret and is {_mode(path):04o}"
    # the known secret holders were all found (and checked above)
    assert {"tokens.csv", "cluster-secret", "kubelet-token", "kubeconfig", "node-token", "apiserver.key",
            "data.mdb", "journal"} <= set(holding)
    # logs may carry anything a process prints: private too
    for log in root.glob("*.log"):
        assert not _mode(log) & 0o077, f"{log}: {_mode(log):04o}"


def test_up_no_secret_on_any_command_line_or_in_state(up: UpProcess) -> None:
    """No process's /proc/PID/cmdline, and not cluster.json, contains the token or another secret."""
    secrets = _secrets_of(up.root)
    state_text = (up.root / "cluster.json").read_text()
    for what, value in secrets.items():
        assert value not in state_text, f"cluster.json contains the {what}"
    procs = _cmdlines()
    assert len(procs) > 3
    for what, value in secrets.items():
        leaking = [pid for pid, cmdline in procs.items() if value.encode() in cmdline]
        assert not leaking, f"the {what} is on the command line of pids {leaking}"
    # the node agent reads its token from a file instead
    node_argv = up.state["node_argv"][0]
    assert "--token-file" in node_argv and "--token" not in node_argv
    assert up.client.list("nodes")["items"], "the node agent did not authenticate with its token file"


def test_master_warns_about_exposed_secret_files_and_makes_its_data_private(tmp_path: Path) -> None:
    """A master given a 0644 token file / 0640 secret logs a warning for each; data dir and store become private."""
    cluster = Cluster(tmp_path / "c", 1)
    data_dir = cluster.masters[0].data_dir
    data_dir.mkdir(mode=0o755, parents=True)
    os.chmod(data_dir, 0o755)  # an existing, world-readable data dir
    cluster.token_file.chmod(0o644)
    cluster.secret_file.chmod(0o640)
    log_path = cluster.masters[0].log_path
    try:
        cluster.start()
        cluster.wait_ready()
        log = log_path.read_text()
        assert f"--token-file: {cluster.token_file} is accessible by group and others (mode 0644)" in log, log
        assert f"--cluster-secret-file: {cluster.secret_file} is accessible by group (mode 0640)" in log, log
        assert f"chmod 600 {cluster.token_file}" in log
        assert _mode(data_dir) == 0o700
        for path in (data_dir / "store" / "data.mdb", data_dir / "raft" / "journal"):
            wait_for(path.exists, timeout=10, what=str(path))
            assert _mode(path) == 0o600, f"{path}: {_mode(path):04o}"
        cluster.stop()

        # private files: no warning on the next start
        cluster.token_file.chmod(0o600)
        cluster.secret_file.chmod(0o600)
        log_path.write_text("")
        cluster.start()
        cluster.wait_ready()
        assert "is accessible by" not in log_path.read_text()
    finally:
        cluster.stop()
