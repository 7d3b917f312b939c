"""Private files and dirs (issue 7 item 9): created 0600/0700, exposed ones reported, no planted CA trusted."""

from __future__ import annotations

import base64
import logging
import os
import stat
import sys
from pathlib import Path

import pytest
import typer

from minik8s.api import kubeconfig
from minik8s.api.secretfiles import (
    create_private_once, ensure_private_dir, exposure, open_private_append, write_private,
)
from minik8s.cli import node as node_cli


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_files_are_private_from_creation_whatever_the_umask(tmp_path: Path, loose_umask) -> None:
    assert _mode(write_private(tmp_path / "a", "secret")) == 0o600
    assert _mode(create_private_once(tmp_path / "b", b"secret")) == 0o600
    loose = tmp_path / "c"
    loose.write_text("old")
    loose.chmod(0o644)
    assert _mode(create_private_once(loose, "new")) == 0o600 and loose.read_text() == "old"
    replaced = tmp_path / "d"
    replaced.write_text("old")
    replaced.chmod(0o644)
    assert _mode(write_private(replaced, "new")) == 0o600 and replaced.read_text() == "new"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    log = tmp_path / "old.log"
    log.write_text("before\n")
    log.chmod(0o644)
    os.close(open_private_append(log))
    assert _mode(log) == 0o600 and log.read_text() == "before\n"


def test_dirs_are_made_0700(tmp_path: Path, loose_umask) -> None:
    assert _mode(ensure_private_dir(tmp_path / "x" / "y")) == 0o700
    existing = tmp_path / "open"
    existing.mkdir(mode=0o755)
    assert _mode(ensure_private_dir(existing)) == 0o700


@pytest.mark.parametrize(("mode", "who"), [(0o644, "group and others"), (0o640, "group"), (0o604, "others")])
def test_exposure_names_who_can_read(tmp_path: Path, mode: int, who: str) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text("t")
    path.chmod(mode)
    assert exposure(path) == f"{path} is accessible by {who} (mode {mode:04o}); run: chmod 600 {path}"
    path.chmod(0o600)
    assert exposure(path) is None


def test_node_token_from_file_or_env_and_argv_warning(tmp_path: Path, monkeypatch, caplog) -> None:
    """`minik8s node` reads --token-file (warning when exposed) and warns about a token on its command line."""
    token_file = tmp_path / "token"
    token_file.write_text("abc123\n")
    token_file.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert node_cli._api_token("", str(token_file)) == "abc123"
    assert "is accessible by group and others" in caplog.text
    caplog.clear()
    token_file.chmod(0o600)
    monkeypatch.setattr(sys, "argv", ["minik8s", "node", "--token-file", str(token_file)])
    with caplog.at_level(logging.WARNING):
        assert node_cli._api_token("", str(token_file)) == "abc123"
        assert node_cli._api_token("from-env", "") == "from-env"  # MINIK8S_TOKEN: no warning
    assert caplog.text == ""
    monkeypatch.setattr(sys, "argv", ["minik8s", "node", "--token", "abc123"])
    with caplog.at_level(logging.WARNING):
        node_cli._api_token("abc123", "")
    assert "--token on the command line is readable by every local user" in caplog.text
    with pytest.raises(typer.BadParameter):
        node_cli._api_token("", "")


def test_kubeconfig_ca_is_not_taken_from_a_planted_file(tmp_path: Path, monkeypatch) -> None:
    """The inline CA of a kubeconfig goes to a private dir, and a file with other content is replaced."""
    monkeypatch.setattr(kubeconfig.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(kubeconfig, "_FALLBACK_DIR", None)
    pem = b"-----BEGIN CERTIFICATE-----\nreal\n-----END CERTIFICATE-----\n"
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1', certificate-authority-data: "
        f"{base64.b64encode(pem).decode()}}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n")
    ca_path = Path(kubeconfig.load_kubeconfig(cfg).ca_file or "")
    assert ca_path.read_bytes() == pem and _mode(ca_path) == 0o600 and _mode(ca_path.parent) == 0o700
    ca_path.write_bytes(b"attacker CA")  # planted or changed: rewritten with the kubeconfig's CA
    assert Path(kubeconfig.load_kubeconfig(cfg).ca_file or "").read_bytes() == pem
    # the per-user dir held by someone else (here: made group-writable) is not used
    ca_path.parent.chmod(0o777)
    other = Path(kubeconfig.load_kubeconfig(cfg).ca_file or "")
    assert other.parent != ca_path.parent and other.read_bytes() == pem
