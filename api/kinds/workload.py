"""What ReplicaSets and Deployments share: the selector and pod template, their validation, the
template columns of their tables and their `describe` section."""

from __future__ import annotations

from typing import Any

from minik8s.api.describe import Lines
from minik8s.api.errors import BadRequestError
from minik8s.api.fields import Causes
from minik8s.api.selectors import EXPRESSION_OPERATORS, LabelSelector, label_selector_from_dict
from minik8s.api.tables import container_cells, dig, format_label_selector, wide_column

from .defaulting import child, default
from .podspec import default_pod_spec, describe_containers, validate_pod_spec

Obj = dict[str, Any]

TEMPLATE_COLUMNS = (
    wide_column("Containers", "Names of each container in the template."),
    wide_column("Images", "Images referenced by each container in the template."),
    wide_column("Selector", "Label query over pods that should match the replicas count."),
)


def default_workload(obj: Obj) -> None:
    """`spec.replicas` 1 and the pod template's defaults."""
    if (spec := child(obj, "spec")) is None:
        return
    default(spec, "replicas", 1)
    template = spec.get("template")
    if isinstance(template, dict) and (template_spec := child(template, "spec")) is not None:
        default_pod_spec(template_spec)


def validate_workload(c: Causes, obj: Obj, old: Obj | None, *, kind: str) -> Obj | None:
    """Checks shared by ReplicaSet and Deployment; the spec when it is an object."""
    spec = c.object("spec", obj.get("spec"), required=True)
    if spec is None:
        return None
    c.integer("spec.replicas", spec.get("replicas"), minimum=0)
    c.integer("spec.minReadySeconds", spec.get("minReadySeconds"), minimum=0)
    selector = _selector(c, "spec.selector", spec.get("selector"), kind)
    old_spec = dig(old, "spec")
    if isinstance(old_spec, dict) and old_spec.get("selector") != spec.get("selector"):
        c.immutable("spec.selector", spec.get("selector"))
    template = c.object("spec.template", spec.get("template"), required=True)
    if template is None:
        return spec
    c.object("spec.template.metadata", template.get("metadata"))
    labels = dig(template, "metadata", "labels")
    c.labels("spec.template.metadata.labels", labels)
    if selector is not None and not selector.matches(labels if isinstance(labels, dict) else {}):
        c.invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
    if (template_spec := c.object("spec.template.spec", template.get("spec"), required=True)) is not None:
        validate_pod_spec(c, "spec.template.spec", template_spec, ("Always",))
    return spec


def _selector(c: Causes, path: str, value: Any, kind: str) -> LabelSelector | None:
    """Report a bad selector object; the parsed selector when it is valid and not empty."""
    selector = c.object(path, value, required=True)
    if selector is None:
        return None
    reported = len(c.causes)
    c.labels(f"{path}.matchLabels", selector.get("matchLabels"))
    for p, expression in c.objects(f"{path}.matchExpressions", selector.get("matchExpressions")):
        c.requirement(p, expression, EXPRESSION_OPERATORS)
    try:
        parsed = label_selector_from_dict(selector)
    except BadRequestError as err:
        if len(c.causes) == reported:  # whatever the checks above missed
            c.invalid(path, selector, err.message)
        return None
    if not parsed.requirements:
        c.invalid(path, selector, f"empty selector is invalid for {kind}")
        return None
    return parsed


def template_cells(obj: Obj) -> list[str]:
    """The cells of `TEMPLATE_COLUMNS`."""
    spec = obj.get("spec") or {}
    containers, images = container_cells(dig(spec, "template", "spec"))
    return [containers, images, format_label_selector(spec.get("selector"))]


def describe_template(out: Lines, obj: Obj) -> None:
    """`Pod Template:` and the `Conditions:` table."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    out.add(0, "Pod Template:")
    out.mapping(1, "Labels", dig(spec, "template", "metadata", "labels"))
    describe_containers(out, 1, dig(spec, "template", "spec", "containers", default=[]), None)
    conditions = status.get("conditions") or []
    if conditions:
        out.add(0, "Conditions:")
        out.add(1, "Type", "Status", "Reason")
        out.add(1, "----", "------", "------")
    for cond in conditions:
        out.add(1, cond.get("type", ""), cond.get("status", ""), cond.get("reason", ""))
