"""Events: what happened to an object, as `kubectl describe` and `kubectl get events` show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.fields import Causes
from minik8s.api.tables import NAME_DOC, age, column, dig, wide_column

from .defaulting import default
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

schema.define(schema.CORE, {
    "Event": {"involvedObject": "ObjectReference", "reason": "str", "message": "str", "source": "EventSource",
              "firstTimestamp": "time", "lastTimestamp": "time", "count": "int", "type": "str", "eventTime": "time",
              "series": "EventSeries", "action": "str", "related": "ObjectReference", "reportingComponent": "str",
              "reportingInstance": "str"},
    "EventSource": {"component": "str", "host": "str"},
    "EventSeries": {"count": "int", "lastObservedTime": "time"},
})

_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


class EventStrategy(Strategy):
    """Events (`pkg/registry/core/event/strategy.go`): a PUT may create them."""

    create_on_update = True
    columns = (
        column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
        column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
        column("Reason", "This should be a short, machine understandable string that gives the reason for the "
                         "transition into the object's current status."),
        column("Object", "The object that this event is about."),
        wide_column("Subobject", "If referring to a piece of an object instead of an entire object, this string "
                                 "should contain a valid JSON/Go field access statement."),
        wide_column("Source", "The component reporting this event."),
        column("Message", "A human-readable description of the status of this operation."),
        wide_column("First Seen", "The time at which the event was first recorded."),
        wide_column("Count", "The number of times this event has occurred."),
        column("Name", NAME_DOC, priority=1, format_="name"),
    )
    selectable_fields = {
        **{f"involvedObject.{field}": ("involvedObject", field) for field in _INVOLVED},
        "reason": ("reason",), "type": ("type",), "source": ("source", "component"),
        "reportingComponent": ("reportingComponent",),
    }

    def default(self, obj: Obj, now: str) -> None:
        default(obj, "count", 1)
        default(obj, "firstTimestamp", now)
        default(obj, "lastTimestamp", now)

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        c.object("involvedObject", obj.get("involvedObject"), required=True)
        c.integer("count", obj.get("count"), minimum=0)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        first = (age(obj.get("firstTimestamp"), now) if obj.get("firstTimestamp")
                 else age(obj.get("eventTime"), now))
        last = age(obj.get("lastTimestamp"), now) if obj.get("lastTimestamp") else first
        count = obj.get("count") or 1
        if obj.get("series"):
            last = age(dig(obj, "series", "lastObservedTime"), now)
            count = dig(obj, "series", "count", default=count)
        involved = obj.get("involvedObject") or {}
        target = str(involved.get("kind", "")).lower()
        if involved.get("name"):
            target = f"{target}/{involved['name']}"
        component = dig(obj, "source", "component") or obj.get("reportingController", "")
        host = dig(obj, "source", "host") or obj.get("reportingInstance", "")
        source = f"{component}, {host}" if host else component
        return [
            last, obj.get("type", ""), obj.get("reason", ""), target, involved.get("fieldPath", ""), source,
            str(obj.get("message", "")).strip(), first, count, dig(obj, "metadata", "name", default=""),
        ]


RESOURCE = ResourceType("", "v1", "events", "Event", True, ("ev",), strategy=EventStrategy())
