"""The Secret kind: stringData merged into data, validation like ValidateSecret, values never printed."""

from __future__ import annotations

import base64
import copy
from datetime import datetime, timezone
from typing import Any

import pytest

from minik8s.api import objects, strictfields, tables, validation
from minik8s.api.describe import describe_lines
from minik8s.api.errors import InvalidError
from minik8s.api.kinds import resolve

SECRETS = resolve("secrets")
NOW = "2026-12-05T12:00:00Z"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, **fields}


def created(body: dict[str, Any]) -> dict[str, Any]:
    obj = objects.prepare_create(SECRETS, validation.conform(SECRETS, body), namespace="default", now=NOW,
                                 uid="u-1", name_suffix="abcde")
    validation.validate(SECRETS, obj)
    return obj


def causes(obj: dict[str, Any], old: dict[str, Any] | None = None) -> set[str]:
    try:
        validation.validate(SECRETS, obj, old=old)
    except InvalidError as err:
        return {c["field"] for c in err.causes}
    return set()


def test_secret_string_data_is_merged_into_data_and_never_stored() -> None:
    obj = created(secret(data={"a": b64("old"), "b": b64("kept")}, stringData={"a": "new", "c": "pässword"}))
    assert obj["data"] == {"a": b64("new"), "b": b64("kept"), "c": b64("pässword")}
    assert "stringData" not in obj
    assert obj["type"] == "Opaque"
    updated = objects.prepare_update(SECRETS, {**copy.deepcopy(obj), "stringData": {"b": "changed"}}, obj, now=NOW)
    assert updated["data"]["b"] == b64("changed") and "stringData" not in updated


@pytest.mark.parametrize(("body", "field"), [
    pytest.param(secret(data={"bad key!": b64("x")}), "data[bad key!]", id="key-not-a-config-key"),
    pytest.param(secret(data={"big": base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()}), "data", id="over-1MiB"),
    pytest.param(secret(type="kubernetes.io/tls", data={"tls.crt": b64("c")}), "data[tls.key]", id="tls-without-key"),
    pytest.param(secret(type="kubernetes.io/ssh-auth"), "data[ssh-privatekey]", id="ssh-auth-without-key"),
    pytest.param(secret(type="kubernetes.io/basic-auth", data={"other": b64("x")}), "data[username]",
                 id="basic-auth-without-username-or-password"),
    pytest.param(secret(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("{not json")}),
                 "data[.dockerconfigjson]", id="dockerconfigjson-not-json"),
])
def test_secret_validation_like_kube_apiserver(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidError) as caught:
        created(body)
    assert field in {c["field"] for c in caught.value.causes}


def test_secret_data_must_be_base64_and_the_error_does_not_echo_it() -> None:
    with pytest.raises(InvalidError) as caught:
        validation.conform(SECRETS, secret(data={"password": "hunter2!"}))
    assert [c["field"] for c in caught.value.causes] == ["data[password]"]
    assert "hunter2" not in str(caught.value.to_status())


def test_secret_type_is_immutable_and_an_immutable_secret_keeps_its_data() -> None:
    old = created(secret(data={"a": b64("1")}))
    assert causes({**old, "type": "kubernetes.io/basic-auth", "data": {"username": b64("u")}}, old) == {"type"}
    frozen = {**old, "immutable": True}
    assert causes({**frozen, "data": {"a": b64("2")}}, frozen) == {"data"}
    assert causes({**frozen, "immutable": False}, frozen) == {"immutable"}
    assert causes({**frozen, "metadata": {**frozen["metadata"], "labels": {"x": "y"}}}, frozen) == set()


def test_secret_values_are_never_printed() -> None:
    obj = created(secret(stringData={"password": "hunter2", "token": "s3cr3t-t0ken"}))
    row = tables.cells_for(SECRETS, obj, now=datetime(2026, 12, 5, 12, 5, tzinfo=timezone.utc))
    assert row == ["s", "Opaque", 2, "5m"]
    assert [c["name"] for c in tables.columns_for(SECRETS)] == ["Name", "Type", "Data", "Age"]
    text = "\n".join(describe_lines(SECRETS, obj, []))
    assert "password:\t7 bytes" in text and "token:\t12 bytes" in text
    for value in ("hunter2", "s3cr3t-t0ken", b64("hunter2"), b64("s3cr3t-t0ken")):
        assert value not in text and value not in str(row)


def test_secret_fields_are_all_known_and_type_is_selectable() -> None:
    assert strictfields.unknown_fields(SECRETS, secret(data={}, stringData={}, type="Opaque", immutable=True)) == []
    assert SECRETS.strategy.field_paths()["type"] == ("type",)
