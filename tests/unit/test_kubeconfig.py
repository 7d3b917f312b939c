"""Kubeconfig writing/reading and the flags > environment > file precedence of client config."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from minik8s.api.kubeconfig import ClientConfig, load_kubeconfig, resolve_client_config, write_kubeconfig


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient configuration: empty environment variables and a fresh home directory."""
    for name in ("MINIK8S_SERVER", "MINIK8S_TOKEN", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_kubeconfig_is_standard_and_private(tmp_path: Path) -> None:
    """The file has the kubectl shape (one cluster, user, context; current-context) and mode 0600."""
    path = tmp_path / "sub" / "kubeconfig"
    write_kubeconfig(path, server="http://127.0.0.1:6443", token="tok")
    config = yaml.safe_load(path.read_text())
    assert config == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "minik8s", "cluster": {"server": "http://127.0.0.1:6443"}}],
        "users": [{"name": "admin", "user": {"token": "tok"}}],
        "contexts": [{"name": "minik8s", "context": {"cluster": "minik8s", "user": "admin"}}],
        "current-context": "minik8s",
        "preferences": {},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_kubeconfig(path) == ClientConfig(["http://127.0.0.1:6443"], "tok")


def test_kubeconfig_keeps_all_servers_in_extension(tmp_path: Path) -> None:
    """Several masters: kubectl's `server` is the first, the extension lists them all."""
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, server="http://a:1, http://b:2/", token="tok", cluster_name="lab", user="me")
    cluster = yaml.safe_load(path.read_text())["clusters"][0]["cluster"]
    assert cluster["server"] == "http://a:1"
    assert cluster["extensions"] == [{"name": "minik8s.io/servers", "extension": "http://a:1,http://b:2"}]
    assert load_kubeconfig(path) == ClientConfig(["http://a:1", "http://b:2"], "tok")


def test_kubeconfig_reads_token_file_and_other_contexts(tmp_path: Path) -> None:
    """The current context picks cluster and user; a user's tokenFile is read."""
    (tmp_path / "token").write_text("from-file\n")
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "b",
        "clusters": [{"name": "ca", "cluster": {"server": "http://a"}},
                     {"name": "cb", "cluster": {"server": "http://b"}}],
        "users": [{"name": "ub", "user": {"tokenFile": str(tmp_path / "token")}}],
        "contexts": [{"name": "a", "context": {"cluster": "ca"}},
                     {"name": "b", "context": {"cluster": "cb", "user": "ub"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    assert load_kubeconfig(path) == ClientConfig(["http://b"], "from-file")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("apiVersion: v1\nkind: Config\n", id="no-current-context"),
        pytest.param("current-context: x\ncontexts: []\n", id="unknown-context"),
        pytest.param("- a list\n", id="not-a-mapping"),
        pytest.param("key: [unclosed\n", id="bad-yaml"),
    ],
)
def test_kubeconfig_unusable_file_is_one_line_value_error(tmp_path: Path, text: str) -> None:
    """A broken kubeconfig raises ValueError with a one-line message naming the file."""
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_kubeconfig(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_resolve_prefers_flags_then_env_then_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each field comes from the first of flags, environment, kubeconfig that sets it."""
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, server="http://file", token="file-token")
    assert resolve_client_config(None, None, str(path)) == ClientConfig(["http://file"], "file-token")
    monkeypatch.setenv("MINIK8S_SERVER", "http://env1,http://env2")
    assert resolve_client_config(None, None, str(path)) == ClientConfig(["http://env1", "http://env2"], "file-token")
    monkeypatch.setenv("MINIK8S_TOKEN", "env-token")
    assert resolve_client_config(None, None, str(path)) == ClientConfig(["http://env1", "http://env2"], "env-token")
    assert resolve_client_config("http://flag", "flag-token", str(path)) == ClientConfig(["http://flag"], "flag-token")


def test_resolve_finds_kubeconfig_env_then_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --kubeconfig: the first existing KUBECONFIG entry, else ~/.minik8s/kubeconfig."""
    write_kubeconfig(tmp_path / "home" / ".minik8s" / "kubeconfig", server="http://default", token="d")
    assert resolve_client_config(None, None, None) == ClientConfig(["http://default"], "d")
    write_kubeconfig(tmp_path / "env-config", server="http://env", token="e")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{tmp_path / 'env-config'}")
    assert resolve_client_config(None, None, None) == ClientConfig(["http://env"], "e")


def test_resolve_without_configuration_raises_value_error(tmp_path: Path) -> None:
    """Nothing configured anywhere, or a named kubeconfig that is missing: a one-line ValueError."""
    with pytest.raises(ValueError, match="no API server configured") as info:
        resolve_client_config(None, "token-only", None)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="does not exist"):
        resolve_client_config(None, None, str(tmp_path / "nope"))
    assert resolve_client_config("http://flag", None, None) == ClientConfig(["http://flag"], None)


def test_kubeconfig_embeds_and_reads_back_the_ca(tmp_path: Path) -> None:
    """A CA written into the kubeconfig comes back as a file with the same certificate."""
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, server="https://127.0.0.1:6443", token="tok", ca_file=ca)
    loaded = load_kubeconfig(path)
    assert loaded.servers == ["https://127.0.0.1:6443"] and loaded.token == "tok"
    assert loaded.ca_file is not None and Path(loaded.ca_file).read_text() == ca.read_text()
