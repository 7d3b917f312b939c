"""Label and field selectors: Kubernetes grammar, matching rules and error messages."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api.errors import BadRequestError
from minik8s.api.kinds import resolve
from minik8s.api.names import label_key_problems
from minik8s.api.selectors import (
    LabelSelector, label_selector_from_dict, parse_field_selector, parse_label_selector,
)

WEB = {"app": "web", "tier": "front", "env": "prod"}


@pytest.mark.parametrize(("text", "labels", "expected"), [
    pytest.param("app=web", WEB, True, id="equals"),
    pytest.param("app==web", WEB, True, id="double-equals"),
    pytest.param("app=db", WEB, False, id="equals-other-value"),
    pytest.param("app!=db", WEB, True, id="not-equals"),
    pytest.param("app!=web", WEB, False, id="not-equals-same-value"),
    pytest.param("missing!=x", WEB, True, id="not-equals-matches-absent-key"),
    pytest.param("tier in (front,back)", WEB, True, id="in"),
    pytest.param("tier in (back)", WEB, False, id="in-other-values"),
    pytest.param("missing in (x)", WEB, False, id="in-absent-key"),
    pytest.param("env notin (dev,test)", WEB, True, id="notin"),
    pytest.param("env notin (prod)", WEB, False, id="notin-listed-value"),
    pytest.param("missing notin (x)", WEB, True, id="notin-matches-absent-key"),
    pytest.param("app", WEB, True, id="exists"),
    pytest.param("missing", WEB, False, id="exists-absent"),
    pytest.param("!missing", WEB, True, id="does-not-exist"),
    pytest.param("!app", WEB, False, id="does-not-exist-present"),
    pytest.param("app=web,tier in (front), !canary ,env", WEB, True, id="all-terms-hold"),
    pytest.param("app=web,tier=back", WEB, False, id="one-term-fails"),
    pytest.param("app=", {"app": ""}, True, id="empty-value"),
    pytest.param("app=", WEB, False, id="empty-value-against-set-value"),
    pytest.param("example.com/role=in", {"example.com/role": "in"}, True, id="prefixed-key-and-keyword-value"),
])
def test_label_selector_matches_like_kubernetes(text: str, labels: dict[str, str], expected: bool) -> None:
    """Each operator follows the Kubernetes matching rules, including absent keys."""
    assert parse_label_selector(text).matches(labels) is expected


@pytest.mark.parametrize("labels", [pytest.param({}, id="no-labels"), pytest.param(WEB, id="labels"),
                                    pytest.param(None, id="none")])
def test_label_selector_empty_matches_everything(labels: dict[str, str] | None) -> None:
    """An empty (or blank) selector selects every object."""
    assert parse_label_selector("").matches(labels)
    assert parse_label_selector("   ").matches(labels)


@pytest.mark.parametrize("text", [
    pytest.param("a in ()", id="empty-set"),
    pytest.param("a=b,", id="trailing-comma"),
    pytest.param(",a", id="leading-comma"),
    pytest.param("a b", id="two-words"),
    pytest.param("a=b c", id="value-then-word"),
    pytest.param("a=b=c", id="double-operator"),
    pytest.param("a notin x", id="set-without-parentheses"),
    pytest.param("a in (x", id="unclosed-set"),
    pytest.param("a in (x y)", id="set-without-commas"),
    pytest.param("!", id="bang-alone"),
    pytest.param("!a=b", id="bang-with-value"),
    pytest.param("a/b/c=x", id="key-with-two-slashes"),
    pytest.param("-a=x", id="key-starts-with-dash"),
    pytest.param("a=x/y", id="value-with-slash"),
    pytest.param("a=" + "v" * 64, id="value-too-long"),
    pytest.param("a (", id="parenthesis-as-operator"),
])
def test_label_selector_rejects_bad_syntax(text: str) -> None:
    """Malformed selectors are a 400 that quotes the selector."""
    with pytest.raises(BadRequestError) as caught:
        parse_label_selector(text)
    assert caught.value.code == 400
    assert text in caught.value.message


def test_label_selector_str_round_trips() -> None:
    """Printing a selector gives text that parses back to the same selector, sorted by key."""
    text = "tier notin (b,a),app=web,!canary,env,x!=y,role in (db)"
    selector = parse_label_selector(text)
    printed = str(selector)
    assert printed == "app=web,!canary,env,role in (db),tier notin (a,b),x!=y"
    assert set(parse_label_selector(printed).requirements) == set(selector.requirements)


def test_label_selector_from_dict_combines_labels_and_expressions() -> None:
    """matchLabels and matchExpressions must all hold."""
    selector = label_selector_from_dict({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "app", "operator": "Exists"},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    })
    assert selector.matches(WEB)
    assert not selector.matches({**WEB, "canary": "yes"})
    assert not selector.matches({**WEB, "tier": "middle"})
    assert str(selector) == "app=web,app,!canary,env notin (dev),tier in (back,front)"


def test_label_selector_from_dict_empty_matches_everything() -> None:
    """`{}` is the empty selector, as in Kubernetes."""
    assert label_selector_from_dict({}) == LabelSelector()
    assert label_selector_from_dict({}).matches(WEB)


@pytest.mark.parametrize("selector", [
    pytest.param([], id="not-an-object"),
    pytest.param({"matchLabels": ["a"]}, id="labels-not-an-object"),
    pytest.param({"matchExpressions": {}}, id="expressions-not-a-list"),
    pytest.param({"matchLabels": {"a": 1}}, id="label-value-not-a-string"),
    pytest.param({"matchLabels": {"a b": "x"}}, id="bad-label-key"),
    pytest.param({"matchExpressions": ["x"]}, id="expression-not-an-object"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, id="unknown-operator"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": ["In"]}]}, id="operator-not-a-string"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "In"}]}, id="in-without-values"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, id="exists-with-values"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}, id="values-not-a-list"),
    pytest.param({"matchExpressions": [{"operator": "Exists"}]}, id="missing-key"),
])
def test_label_selector_from_dict_rejects_malformed(selector: Any) -> None:
    """A malformed selector object is a BadRequestError, never a Python exception."""
    with pytest.raises(BadRequestError):
        label_selector_from_dict(selector)


@pytest.mark.parametrize(("key", "expected"), [
    pytest.param("app", [], id="plain"),
    pytest.param("app.kubernetes.io/name", [], id="prefixed"),
    pytest.param("/name", ["prefix part must be non-empty"], id="empty-prefix"),
    pytest.param("x/", ["name part must be non-empty"], id="empty-name"),
    pytest.param("n" * 64, ["name part must be no more than 63 characters"], id="name-too-long"),
])
def test_label_key_problems_reports_kubernetes_messages(key: str, expected: list[str]) -> None:
    """Label keys are checked with Kubernetes' qualified-name rules and wording."""
    assert label_key_problems(key) == expected


POD = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "node-a", "unschedulable": True},
    "status": {"phase": "Running", "podIP": "10.0.0.5"},
}
# the pod, node and event fields these cases use, each kind's own
FIELDS = {**resolve("pods").strategy.field_paths(), **resolve("nodes").strategy.field_paths(),
          **resolve("events").strategy.field_paths()}
EVENT = {
    "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "uid": "u-1"},
    "reason": "Scheduled", "type": "Normal", "source": {"component": "default-scheduler"},
}


@pytest.mark.parametrize(("text", "obj", "expected"), [
    pytest.param("metadata.name=web-1", POD, True, id="name"),
    pytest.param("metadata.name==web-1", POD, True, id="double-equals"),
    pytest.param("metadata.name!=web-1", POD, False, id="not-equals"),
    pytest.param("metadata.namespace=kube-system", POD, False, id="namespace-other"),
    pytest.param("spec.nodeName=node-a,status.phase!=Succeeded", POD, True, id="node-and-phase"),
    pytest.param("spec.nodeName=", POD, False, id="scheduled-pod-is-not-unscheduled"),
    pytest.param("spec.nodeName=", {"metadata": {"name": "p"}}, True, id="missing-value-is-empty"),
    pytest.param("spec.unschedulable=true", POD, True, id="boolean-true"),
    pytest.param("spec.unschedulable=false", {"spec": {"unschedulable": False}}, True, id="boolean-false"),
    pytest.param("status.podIP=10.0.0.5", POD, True, id="pod-ip"),
    pytest.param("involvedObject.name=web-1,involvedObject.kind=Pod", EVENT, True, id="event-object"),
    pytest.param("involvedObject.uid=u-2", EVENT, False, id="event-uid-other"),
    pytest.param("reason=Scheduled,type=Normal", EVENT, True, id="event-reason-type"),
    pytest.param("source=default-scheduler", EVENT, True, id="event-source-component"),
    pytest.param("", POD, True, id="empty"),
    pytest.param("metadata.name=web-1,", POD, True, id="empty-term-ignored"),
])
def test_field_selector_matches_fields_as_strings(text: str, obj: dict[str, Any], expected: bool) -> None:
    """Fields compare as strings: missing is "", booleans are "true"/"false"."""
    assert parse_field_selector(text, FIELDS).matches(obj) is expected


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("spec.containers=x", "field label not supported: spec.containers", id="unsupported-field"),
    pytest.param("metadata.labels!=x", "field label not supported: metadata.labels", id="unsupported-with-not"),
    pytest.param("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
                 id="no-operator"),
])
def test_field_selector_rejects_unsupported(text: str, message: str) -> None:
    """Unknown fields and terms without an operator are a 400 worded like Kubernetes."""
    with pytest.raises(BadRequestError) as caught:
        parse_field_selector(text, FIELDS)
    assert caught.value.message == message


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("metadata.name=web-1", "web-1", id="exact"),
    pytest.param("metadata.name==web-1", "web-1", id="double-equals"),
    pytest.param("metadata.name!=web-1", None, id="not-equals"),
    pytest.param("metadata.name=web-1,status.phase=Running", None, id="more-terms"),
    pytest.param("metadata.namespace=default", None, id="other-field"),
    pytest.param("", None, id="empty"),
])
def test_field_selector_exact_name_only_for_single_name_term(text: str, expected: str | None) -> None:
    """The fast path applies only to exactly `metadata.name=X`."""
    assert parse_field_selector(text, FIELDS).exact_name() == expected


@pytest.mark.parametrize(("kind", "text"), [
    pytest.param("configmaps", "spec.nodeName=a", id="pod-field-on-configmaps"),
    pytest.param("pods", "involvedObject.name=a", id="event-field-on-pods"),
    pytest.param("nodes", "status.phase=Running", id="pod-field-on-nodes"),
])
def test_field_selectors_are_per_kind(kind: str, text: str) -> None:
    """Each kind accepts only its own selectable fields, as kube-apiserver does."""
    with pytest.raises(BadRequestError, match="field label not supported"):
        parse_field_selector(text, resolve(kind).strategy.field_paths())
