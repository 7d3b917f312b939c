"""Functions (`minik8s.io/v1`): Python code served over HTTP, scaled by concurrency, to zero when idle.

The first kind of our own group. A Function holds its source (`inline`: the text of the handler's
module; or `zip`: a base64 zip archive whose root holds the handler's module, checked as hostile
input by `minik8s.api.funczip`: a 422 naming `spec.source.zip`), the handler called per request, the instances' env and resources, the per-instance concurrency limit
(`containerConcurrency`, 0 = unlimited as in Knative) and the autoscaler's bounds and windows
(`spec.scale`; `target` left out means "computed from the concurrency limit" by the autoscaler)
and an optional cron trigger (`spec.schedule`, `spec.scheduleInput`: see `schedule.py`).
The serverless controllers (not the API server) turn it into a Deployment `fn-<name>`, which is why
names are shorter than usual. A source over `MAX_SOURCE_BYTES` (the inline text as UTF-8, the zip's
base64 text and the archive it decodes to) is refused with 413 before validation, as a body too
large would be; everything else wrong is a 422 naming the field.
"""

from __future__ import annotations

import base64
import binascii
import keyword
from datetime import datetime
from typing import Any

from minik8s.api import funczip, schema
from minik8s.api.errors import RequestEntityTooLargeError
from minik8s.api.fields import Causes
from minik8s.api.names import DNS_LABEL, NameRule
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell

from .defaulting import child, default
from .podspec import validate_env, validate_resources
from .resource import ResourceType
from .schedule import SPEC_FIELDS as SCHEDULE_SPEC_FIELDS, STATUS_FIELDS as SCHEDULE_STATUS_FIELDS, validate_schedule
from .strategy import Strategy

Obj = dict[str, Any]

FUNCTION_LABEL = "minik8s.io/function"  # on a Function's Deployment, ConfigMap and instance pods: its name

schema.define(schema.package_of("minik8s.io", "v1"), {
    "Function": {"spec": "FunctionSpec", "status": "FunctionStatus"},
    "FunctionSpec": {"source": "FunctionSource", "handler": "str", "env": "[EnvVar/name]",
                     "resources": "ResourceRequirements", "containerConcurrency": "int", "timeoutSeconds": "int",
                     "scale": "FunctionScale", **SCHEDULE_SPEC_FIELDS},
    "FunctionSource": {"inline": "str", "zip": "bytes"},
    "FunctionScale": {"minScale": "int", "maxScale": "int", "target": "int", "idleSeconds": "int",
                      "stableWindowSeconds": "int"},
    "FunctionStatus": {"observedGeneration": "int", "readyInstances": "int", "desiredInstances": "int",
                       "url": "str", "conditions": "[Condition/type]", **SCHEDULE_STATUS_FIELDS},
})

MAX_SOURCE_BYTES = 512 * 1024
DEFAULT_HANDLER = "main:handle"
MAX_NAME_LENGTH = 50  # `fn-<name>` Deployments and their pods' names must stay valid
MAX_CONCURRENCY = 1000
DEFAULT_TIMEOUT_SECONDS = 60
MAX_TIMEOUT_SECONDS = 900
DEFAULT_SCALE: Obj = {"minScale": 0, "maxScale": 10, "idleSeconds": 60, "stableWindowSeconds": 60}
MAX_SCALE = 100
MAX_TARGET = 1000
MAX_WINDOW_SECONDS = 3600
MIN_STABLE_WINDOW_SECONDS = 6  # Knative's lower bound: shorter windows see too few samples

FUNCTION_NAME = NameRule(DNS_LABEL.pattern, MAX_NAME_LENGTH, DNS_LABEL.message)


class FunctionStrategy(Strategy):
    """Functions: defaults, the source size limit, validation and the `kubectl get fn` table."""

    name_rule = FUNCTION_NAME
    generation = True
    columns = (
        NAME_COLUMN,
        column("Ready", "The number of instances ready to serve calls, out of the number the autoscaler wants."),
        column("Min", "minScale is the lower limit for the number of instances.", type_="integer"),
        column("Max", "maxScale is the upper limit for the number of instances.", type_="integer"),
        column("Concurrency", "containerConcurrency is the most calls one instance serves at once (0: no limit).",
               type_="integer"),
        AGE_COLUMN,
    )

    def default(self, obj: Obj, now: str) -> None:
        if (spec := child(obj, "spec")) is None:
            return
        default(spec, "handler", DEFAULT_HANDLER)
        default(spec, "containerConcurrency", 0)
        default(spec, "timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
        if (scale := child(spec, "scale")) is not None:
            for key, value in DEFAULT_SCALE.items():
                default(scale, key, value)

    def prepare_create(self, obj: Obj) -> None:
        _check_source_size(obj)

    def prepare_update(self, new: Obj, old: Obj) -> None:
        _check_source_size(new)

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec"), required=True)
        if spec is not None:
            old_spec = (old or {}).get("spec")
            _validate_spec(c, spec, old_spec if isinstance(old_spec, dict) else None)
        status = c.object("status", obj.get("status")) or {}
        for key in ("observedGeneration", "readyInstances", "desiredInstances"):
            c.integer(f"status.{key}", status.get(key), minimum=0)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        ready = dig(obj, "status", "readyInstances", default=0)
        desired = dig(obj, "status", "desiredInstances", default=0)
        return [
            name_cell(obj), f"{ready}/{desired}",
            dig(obj, "spec", "scale", "minScale", default=DEFAULT_SCALE["minScale"]),
            dig(obj, "spec", "scale", "maxScale", default=DEFAULT_SCALE["maxScale"]),
            dig(obj, "spec", "containerConcurrency", default=0), age_cell(obj, now),
        ]


RESOURCE = ResourceType("minik8s.io", "v1", "functions", "Function", True, ("fn",), (), ("status", "invoke"),
                        strategy=FunctionStrategy())


def source_bytes(obj: Obj) -> int:
    """The size of the inline source once encoded as UTF-8 (0 when there is none)."""
    inline = dig(obj, "spec", "source", "inline")
    return len(inline.encode("utf-8", "surrogatepass")) if isinstance(inline, str) else 0


def decode_zip(text: str) -> bytes | None:
    """The archive a `spec.source.zip` holds: strict base64 (no whitespace), else None."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def valid_handler(handler: str) -> bool:
    """Whether `handler` reads `<module>:<function>`: Python identifiers, the module possibly dotted."""
    module, colon, function = handler.partition(":")
    return bool(colon) and all(part.isidentifier() and not keyword.iskeyword(part)
                               for part in (*module.split("."), function))


def _check_source_size(obj: Obj) -> None:
    """413 for a source over MAX_SOURCE_BYTES: the inline text as UTF-8; the zip's base64 text, and the
    archive it decodes to."""
    text = dig(obj, "spec", "source", "zip")
    if isinstance(text, str):
        decoded = decode_zip(text)
        for size, what in ((len(text.encode("utf-8", "surrogatepass")), "bytes of base64"),
                           (len(decoded) if decoded is not None else 0, "bytes once decoded")):
            if size > MAX_SOURCE_BYTES:
                _too_large(obj, f"spec.source.zip is {size} {what}")
    size = source_bytes(obj)
    if size > MAX_SOURCE_BYTES:
        _too_large(obj, f"spec.source.inline is {size} bytes of UTF-8")


def _too_large(obj: Obj, what: str) -> None:
    name = dig(obj, "metadata", "name")
    name = name if isinstance(name, str) else None
    raise RequestEntityTooLargeError(
        f'Function "{name or ""}": {what}; the limit is {MAX_SOURCE_BYTES} bytes (512 KiB)',
        name=name, kind="functions", group="minik8s.io")


def _validate_spec(c: Causes, spec: Obj, old_spec: Obj | None) -> None:
    handler = c.string("spec.handler", spec.get("handler"))
    if handler is not None and not valid_handler(handler):
        c.invalid("spec.handler", handler, "must be `<module>:<function>` with Python identifiers, e.g. "
                                           f"`{DEFAULT_HANDLER}` (the module may be dotted: `pkg.mod:fn`)")
    elif handler is None and spec.get("handler") is None:
        handler = DEFAULT_HANDLER
    source = c.object("spec.source", spec.get("source"), required=True)
    if source is not None:  # (the handler's module is looked for in a zip only when the handler is valid)
        _validate_source(c, source, handler if handler and valid_handler(handler) else None,
                         dig(old_spec or {}, "source", "zip"))
    validate_env(c, "spec.env", spec.get("env"))
    validate_resources(c, "spec.resources", spec.get("resources"))
    c.integer("spec.containerConcurrency", spec.get("containerConcurrency"), minimum=0, maximum=MAX_CONCURRENCY)
    c.integer("spec.timeoutSeconds", spec.get("timeoutSeconds"), minimum=1, maximum=MAX_TIMEOUT_SECONDS)
    if (scale := c.object("spec.scale", spec.get("scale"))) is not None:
        _validate_scale(c, scale)
    validate_schedule(c, spec)


def _validate_source(c: Causes, source: Obj, handler: str | None, old_zip: Any) -> None:
    """Exactly one of `inline` and `zip`; a zip must be an acceptable archive (`funczip`) holding the
    handler's module. An archive the stored object already had is not decompressed again (it passed when
    it was written); its entries are still read, as the handler may have changed."""
    if source.get("inline") is not None and source.get("zip") is not None:
        c.forbidden("spec.source.zip", "give either `inline` or `zip`, not both")
        return
    if source.get("zip") is None:
        if source.get("inline") is None:
            c.required("spec.source.inline", "give `inline` (the module's text) or `zip` (a zip archive, base64)")
        else:
            c.string("spec.source.inline", source.get("inline"), required=True)
        return
    text = c.string("spec.source.zip", source.get("zip"), required=True)
    if text is None:
        return
    data = decode_zip(text)
    if data is None:
        c.invalid("spec.source.zip", "<value omitted>", "must be the base64 text of a zip archive (standard "
                                                        "alphabet, padded, no whitespace)")
        return
    try:
        if text == old_zip:
            with funczip.open_archive(data) as archive:
                names = [info.filename for info in funczip.check(archive) if not info.is_dir()]
        else:
            names = funczip.verify(data)
    except funczip.ZipProblem as problem:
        c.invalid("spec.source.zip", "<value omitted>", str(problem))
        return
    if handler is None:
        return
    module = handler.partition(":")[0]
    if not funczip.has_module(names, module):
        first, second = funczip.module_files(module)
        c.invalid("spec.source.zip", "<value omitted>", f"the archive has neither {first} nor {second}, the "
                                                        f"module of the handler `{handler}`")


def _validate_scale(c: Causes, scale: Obj) -> None:
    maximum = c.integer("spec.scale.maxScale", scale.get("maxScale"), minimum=1, maximum=MAX_SCALE)
    minimum = c.integer("spec.scale.minScale", scale.get("minScale"), minimum=0)
    if minimum is not None and maximum is not None and minimum > maximum:
        c.invalid("spec.scale.minScale", minimum, "must be less than or equal to `maxScale`")
    c.integer("spec.scale.target", scale.get("target"), minimum=1, maximum=MAX_TARGET)
    c.integer("spec.scale.idleSeconds", scale.get("idleSeconds"), minimum=1, maximum=MAX_WINDOW_SECONDS)
    c.integer("spec.scale.stableWindowSeconds", scale.get("stableWindowSeconds"), minimum=MIN_STABLE_WINDOW_SECONDS,
              maximum=MAX_WINDOW_SECONDS)
