"""Image references and registry credentials from imagePullSecrets, read like Docker and the kubelet's keyring."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from minik8s.node.credentials import CredentialsError, keyring_from_secrets
from minik8s.node.imageref import ImageRef, parse_image


@pytest.mark.parametrize(("image", "ref"), [
    pytest.param("nginx", ImageRef("docker.io", "library/nginx", None, None), id="hub-official"),
    pytest.param("nginx:1.22", ImageRef("docker.io", "library/nginx", "1.22", None), id="hub-tag"),
    pytest.param("minik8s/busybox:1.35", ImageRef("docker.io", "minik8s/busybox", "1.35", None), id="hub-user"),
    pytest.param("docker.io/library/nginx", ImageRef("docker.io", "library/nginx", None, None), id="hub-explicit"),
    pytest.param("index.docker.io/nginx", ImageRef("docker.io", "library/nginx", None, None), id="hub-index"),
    pytest.param("10.200.3.1:5000/team/app:2", ImageRef("10.200.3.1:5000", "team/app", "2", None), id="ip-port"),
    pytest.param("localhost/app", ImageRef("localhost", "app", None, None), id="localhost"),
    pytest.param("registry.example.com/app@sha256:ab", ImageRef("registry.example.com", "app", None, "sha256:ab"),
                 id="digest"),
    pytest.param("reg:5000/app:1@sha256:ab", ImageRef("reg:5000", "app", "1", "sha256:ab"), id="tag-and-digest"),
])
def test_parse_image_normalizes_like_docker(image: str, ref: ImageRef) -> None:
    """Registry, repository, tag and digest as Docker reads them (Docker Hub names get `library/`)."""
    assert parse_image(image) == ref


def test_parse_image_effective_tag_and_errors() -> None:
    """No tag and no digest means `latest`; empty parts are refused."""
    assert parse_image("nginx").effective_tag == "latest"
    assert parse_image("nginx@sha256:ab").effective_tag is None
    assert parse_image("reg:5000/app").name == "reg:5000/app"
    for bad in ("", " nginx", "nginx:", "reg:5000/", "nginx@"):
        with pytest.raises(ValueError):
            parse_image(bad)


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _secret(auths: dict[str, Any], *, kind: str = "kubernetes.io/dockerconfigjson", name: str = "regcred") -> dict:
    if kind == "kubernetes.io/dockercfg":
        data = {".dockercfg": _b64(json.dumps(auths))}
    else:
        data = {".dockerconfigjson": _b64(json.dumps({"auths": auths}))}
    return {"metadata": {"name": name}, "type": kind, "data": data}


def test_dockerconfigjson_auth_wins_over_username_and_password() -> None:
    """`auth` (base64 user:password) is what counts, as in Kubernetes; username/password alone work too."""
    keyring = keyring_from_secrets([_secret({
        "10.200.3.1:5000": {"username": "ignored", "password": "ignored", "auth": _b64("alice:s3cret:x")},
        "other.example.com": {"username": "bob", "password": "pw"}})])
    [auth] = keyring.lookup("10.200.3.1:5000/private/app:1")
    assert (auth.username, auth.password, auth.server) == ("alice", "s3cret:x", "10.200.3.1:5000")
    assert [(a.username, a.password) for a in keyring.lookup("other.example.com/app")] == [("bob", "pw")]
    assert "s3cret" not in repr(auth)


def test_dockercfg_secrets_are_read_too() -> None:
    """The legacy `kubernetes.io/dockercfg` type holds the server map directly."""
    keyring = keyring_from_secrets([_secret({"https://reg.example.com": {"auth": _b64("u:p")}},
                                            kind="kubernetes.io/dockercfg")])
    assert [a.username for a in keyring.lookup("reg.example.com/app:1")] == ["u"]


@pytest.mark.parametrize(("key", "image", "matches"), [
    pytest.param("reg.example.com", "reg.example.com/app", True, id="host"),
    pytest.param("https://reg.example.com/v2/", "reg.example.com/app", True, id="scheme-and-v2"),
    pytest.param("reg.example.com:5000", "reg.example.com/app", False, id="port-differs"),
    pytest.param("reg.example.com", "reg.example.com:5000/app", False, id="port-missing-in-key"),
    pytest.param("*.example.com", "reg.example.com/app", True, id="glob"),
    pytest.param("*.example.com", "a.reg.example.com/app", False, id="glob-label-count"),
    pytest.param("reg.example.com/team", "reg.example.com/team/app", True, id="path-prefix"),
    pytest.param("reg.example.com/team", "reg.example.com/other/app", False, id="path-differs"),
    pytest.param("https://index.docker.io/v1/", "nginx", True, id="hub-default"),
    pytest.param("https://index.docker.io/v1/", "reg.example.com/nginx", False, id="hub-not-elsewhere"),
    pytest.param("docker.io", "library/nginx:1", True, id="hub-docker-io"),
])
def test_keyring_matches_servers_like_the_kubelet(key: str, image: str, matches: bool) -> None:
    """Host labels as globs, same port, path prefix; index.docker.io serves Docker Hub images."""
    keyring = keyring_from_secrets([_secret({key: {"username": "u", "password": "p"}})])
    assert bool(keyring.lookup(image)) is matches


def test_keyring_orders_specific_keys_first_and_skips_other_secret_types() -> None:
    """Every matching credential is returned (the kubelet tries each), the most specific first."""
    keyring = keyring_from_secrets([
        _secret({"reg.example.com": {"username": "host", "password": "p"}}, name="a"),
        _secret({"reg.example.com/team": {"username": "team", "password": "p"}}, name="b"),
        {"metadata": {"name": "opaque"}, "type": "Opaque", "data": {".dockerconfigjson": "e30="}}])
    assert [a.username for a in keyring.lookup("reg.example.com/team/app")] == ["team", "host"]
    assert keyring.lookup("elsewhere.example.com/app") == []


@pytest.mark.parametrize("secret", [
    pytest.param({"metadata": {"name": "bad"}, "type": "kubernetes.io/dockerconfigjson",
                  "data": {".dockerconfigjson": _b64("{not json")}}, id="not-json"),
    pytest.param(_secret({"reg": {"auth": "!!!"}}, name="bad"), id="auth-not-base64"),
    pytest.param(_secret({"reg": {"auth": _b64("no-colon")}}, name="bad"), id="auth-no-colon"),
    pytest.param({"metadata": {"name": "bad"}, "type": "kubernetes.io/dockerconfigjson",
                  "data": {".dockerconfigjson": _b64('{"auths": []}')}}, id="auths-not-a-map"),
])
def test_broken_secrets_raise_without_their_content(secret: dict) -> None:
    """A Secret that cannot be read is an error naming the Secret, never echoing what it holds."""
    with pytest.raises(CredentialsError, match="'bad'") as caught:
        keyring_from_secrets([secret])
    assert "no-colon" not in str(caught.value) and "!!!" not in str(caught.value)
