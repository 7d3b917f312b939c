"""Readers of client-controlled data never raise anything but their own error, whatever the input.

Three readers the fuzz test found assuming what they read:

* the YAML decoder: every exception class PyYAML raises (ReaderError is raised while the loader is
  built, before any parsing step, and is no MarkedYAMLError) must become a `DecodeError` (400);
* unknown-field detection (`strictfields`): a described list or structure holding another type
  (null, a string, an object) is a type error for the typed pass, never a KeyError here;
* server-side apply over `metadata.managedFields`, which any patch can rewrite: FieldsV1 entries
  that do not decode are ignored (as kube-apiserver does) and merge keys may be any JSON value.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minik8s.api import decoding, strictfields
from minik8s.api.errors import ApiError
from minik8s.api.kinds import resolve
from minik8s.api.server import managedfields, patching

JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=10)


# --- YAML: every PyYAML error class is a DecodeError ------------------------------------------------

@pytest.mark.parametrize(("text", "words"), [
    (b"\x00", "unacceptable character #x0000"),                       # ReaderError, at construction
    ("a: \x07\n", "unacceptable character #x0007 at position 3"),     # ReaderError, str input
    ("a: b\nc: \ufffe\n".encode(), "unacceptable character #xfffe"),  # ReaderError, a non-character
    (b"\x1b[1m: x", "unacceptable character #x001b"),
    (b"a: 'unclosed", "found unexpected end of stream"),              # ScannerError
    (b"a: b: c", "mapping values are not allowed here"),              # ScannerError
    (b"- a\nb: c", "expected <block end>"),                           # ParserError
    (b"a: *x", "aliases are not allowed"),                            # ComposerError
    (b"a: !!python/object:os.system x", "could not determine a constructor"),  # ConstructorError
])
def test_every_yaml_error_class_is_a_decode_error(text: bytes | str, words: str) -> None:
    for decode in (decoding.decode_yaml, decoding.decode_yaml_documents):
        with pytest.raises(decoding.DecodeError) as caught:
            decode(text)
        assert words in str(caught.value), str(caught.value)


def test_a_control_character_in_a_later_document_is_a_decode_error() -> None:
    with pytest.raises(decoding.DecodeError, match="unacceptable character"):
        decoding.decode_yaml_documents("a: 1\n---\nb: \x01\n")


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=64), st.text(max_size=64),
                      st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@`,? \n\t\x00\x07\x85\ufeffab1")),
                              max_size=40)))
def test_decoders_raise_only_decode_errors(data: bytes | str) -> None:
    for decode in (decoding.decode_yaml, decoding.decode_yaml_documents, decoding.decode_json):
        try:
            decode(data)
        except decoding.DecodeError:
            pass


# --- unknown fields: a wrong type below a described field is not a crash ------------------------------

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}}
DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
          "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}


@pytest.mark.parametrize(("kind", "obj", "path", "value"), [
    ("pods", POD, ("spec", "containers", 0, "ports"), None),
    ("pods", POD, ("spec", "containers", 0, "ports"), "80"),
    ("pods", POD, ("spec", "containers", 0, "env"), {"A": "b"}),
    ("pods", POD, ("spec", "containers"), "c"),
    ("pods", POD, ("spec", "containers", 0), ["c"]),
    ("deployments", DEPLOY, ("spec", "template"), ["x"]),
    ("deployments", DEPLOY, ("spec", "template", "spec", "containers"), {"name": "c"}),
    ("services", {"spec": {"ports": None}}, ("spec", "ports"), 7),
    ("nodes", {"status": {}}, ("status", "addresses"), {"type": "InternalIP"}),
])
def test_unknown_field_walk_skips_wrong_types(kind: str, obj: dict[str, Any], path: tuple[Any, ...],
                                              value: Any) -> None:
    obj = copy.deepcopy(obj)
    parent: Any = obj
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    obj["spec" if "spec" in obj else "status"]["typo"] = 1
    found = strictfields.drop_unknown_fields(resolve(kind), obj)
    assert found == [("spec" if "spec" in obj else "status") + ".typo"]


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(["pods", "deployments", "replicasets", "services", "nodes", "configmaps"]),
       obj=st.dictionaries(st.sampled_from(["metadata", "spec", "status", "data", "x"]), JSONISH, max_size=4),
       inner=JSONISH)
def test_unknown_field_walk_never_raises(kind: str, obj: dict[str, Any], inner: Any) -> None:
    obj = {**obj, "spec": {"containers": [{"ports": inner, "env": inner, "resources": inner}],
                           "template": {"spec": {"containers": inner}}, "ports": inner}}
    strictfields.unknown_fields(resolve(kind), obj)
    strictfields.drop_unknown_fields(resolve(kind), obj)


# --- server-side apply over hostile managedFields -------------------------------------------------------

def _entry(fields: Any, manager: str = "m") -> dict[str, Any]:
    return {"manager": manager, "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
            "fieldsV1": fields}


LIVE_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a", "b"],
                                                            "ownerReferences": [{"uid": "u1", "name": "o"}]},
            "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}],
                                     "env": [{"name": "A", "value": "1"}]}]}}


@pytest.mark.parametrize("fields", [
    {"f:spec": {"f:containers": {"k:{bad json": {}, 'k:{"name":"c"}': {"f:image": {}}}}},
    {"f:spec": {"f:containers": {"k:[1]": {}, "k:5": {"f:x": {}}, 'k:{"name":{"a":[1]}}': {"f:image": {}}}}},
    {"f:spec": {"f:containers": {'k:{"name":"c"}': {"f:ports": {'k:{"containerPort":[80]}': {}, "k:{": "x"}}}}},
    {"f:metadata": {"f:finalizers": {"v:[": {}, 'v:{"a":1}': {}, 'v:"a"': {}}}},
    {"f:metadata": {"f:ownerReferences": {'k:{"uid":{"x":1}}': {}, 'k:{"uid":"u1"}': "not a set"}}},
    {"f:spec": "x", "f:metadata": [], "g:odd": {}},
])
def test_apply_ignores_managed_fields_it_cannot_decode(fields: dict[str, Any]) -> None:
    live = copy.deepcopy(LIVE_POD)
    live["metadata"]["managedFields"] = [_entry(fields), {"manager": ["m"], "operation": 5}, "x"]
    applied = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "j"}]}}
    result = patching.server_side_apply(live, applied, "m")
    assert result["spec"]["containers"][0]["image"] == "j"
    entries = [e for e in result["metadata"]["managedFields"] if isinstance(e, dict) and e.get("manager") == "m"]
    assert len(entries) == 1 and "f:spec" in entries[0]["fieldsV1"]


def test_prune_with_merge_keys_of_any_json_type() -> None:
    """The last apply set items whose merge key is an object; the next apply leaves them out."""
    live = copy.deepcopy(LIVE_POD)
    live["spec"]["containers"].append({"name": {"odd": 1}, "image": "x"})
    first = patching.server_side_apply(live, {"spec": {"containers": [{"name": {"odd": 1}, "image": "x"}]}}, "m")
    second = patching.server_side_apply(first, {"spec": {"containers": [{"name": "c", "image": "i"}]}}, "m")
    assert [c["name"] for c in second["spec"]["containers"]] == ["c"]


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["f:spec", "f:metadata", "f:containers", "k:{", 'k:{"name":"c"}',
                                               "v:1", 'k:{"name":[1]}', "f:finalizers", "f:ownerReferences"]),
                              JSONISH, max_size=4),
       applied=JSONISH)
def test_apply_never_raises_on_hostile_managed_fields(fields: dict[str, Any], applied: Any) -> None:
    live = copy.deepcopy(LIVE_POD)
    live["metadata"]["managedFields"] = [_entry({"f:spec": {"f:containers": fields}, "f:metadata": fields})]
    config = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "env": applied}]},
              "metadata": {"finalizers": ["a"]}}
    try:
        result = patching.server_side_apply(live, config, "m")
    except ApiError:
        return
    json.dumps(result)
    managedfields.applied_by(result["metadata"], "m", resolve("pods").merge_keys)
