"""Helpers the kinds default with: set a missing field, reach a nested object, iterate objects.

Defaulting runs on bodies whose top level has the right types but may hold anything below
(validation reports that afterwards), so every helper tolerates a wrong type by doing nothing.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


def default(target: Obj, key: str, value: Any) -> None:
    """Set `key` to `value` (unless that is None) when it is missing or null."""
    if target.get(key) is None and value is not None:
        target[key] = copy.deepcopy(value)


def child(parent: Obj, key: str) -> Obj | None:
    """The object under `key`, created when missing; None when something else is there."""
    default(parent, key, {})
    value = parent[key]
    return value if isinstance(value, dict) else None


def dicts(value: Any) -> list[Obj]:
    """The object items of `value` when it is a list."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
