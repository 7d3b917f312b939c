"""Field errors in Kubernetes' words, and typed readers that report instead of raising.

Validation walks objects that may hold any JSON. `Causes` collects every problem as a Kubernetes
field error (path, reason, message), worded the way kubectl users know; its readers (`c.integer`,
`c.string`, `c.objects`, ...) return the value when it has the expected type and record a cause
when it does not, so a wrong type anywhere becomes a cause, never a Python exception. Every kind's
validation (`minik8s.api.kinds.*`) is written with them; `minik8s.api.validation` raises one 422
listing all the causes. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from minik8s.api.names import LABEL_VALUE, NameRule, label_key_problems

Cause = tuple[str, str, str]  # (field path, reason type, message)

_PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex "
    "used for validation is '[0-9]+%')")


def show(value: Any) -> str:
    """A value as the messages show it: JSON (`"Foo_bar"`, `-1`, `{"a": "b"}`)."""
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


class Causes:
    """Collects field errors; each recorder adds one cause, each reader checks one field's type."""

    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def __bool__(self) -> bool:
        return bool(self.causes)

    def paths(self) -> set[str]:
        """The paths reported so far."""
        return {path for path, _, _ in self.causes}

    # ---- recorders -------------------------------------------------------------------------

    def required(self, path: str, detail: str = "") -> None:
        self._add(path, "FieldValueRequired", "Required value", detail)

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self._add(path, "FieldValueInvalid", f"Invalid value: {show(value)}", detail)

    def not_supported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        listed = ", ".join(f'"{s}"' for s in sorted(supported))
        self._add(path, "FieldValueNotSupported", f"Unsupported value: {show(value)}", f"supported values: {listed}")

    def too_long(self, path: str, limit: int) -> None:
        self._add(path, "FieldValueTooLong", "Too long", f"must have at most {limit} bytes")

    def too_many(self, path: str, limit: int) -> None:
        self._add(path, "FieldValueTooMany", "Too many", f"must have at most {limit} items")

    def forbidden(self, path: str, detail: str) -> None:
        self._add(path, "FieldValueForbidden", "Forbidden", detail)

    def duplicate(self, path: str, value: Any) -> None:
        self._add(path, "FieldValueDuplicate", f"Duplicate value: {show(value)}")

    def not_found(self, path: str, value: Any) -> None:
        self._add(path, "FieldValueNotFound", f"Not found: {show(value)}")

    def immutable(self, path: str, value: Any) -> None:
        self.invalid(path, value, "field is immutable")

    def _add(self, path: str, reason: str, summary: str, detail: str = "") -> None:
        self.causes.append((path, reason, f"{summary}: {detail}" if detail else summary))

    # ---- typed readers: a wrong type is reported and read as None (or nothing to iterate) ---------

    def _typed(self, path: str, value: Any, kind: type, noun: str, *, required: bool = False) -> Any:
        """`value` when it is a `kind`; None, reported, when it is not or is missing (or empty) but required."""
        if value is None or (required and value in ("", [])):
            if required:
                self.required(path)
            return None
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            self.invalid(path, value, f"must be {noun}")
            return None
        return value

    def object(self, path: str, value: Any, *, required: bool = False) -> dict[str, Any] | None:
        return self._typed(path, value, dict, "an object", required=required)

    def array(self, path: str, value: Any, *, required: bool = False) -> list[Any]:
        return self._typed(path, value, list, "a list", required=required) or []

    def string(self, path: str, value: Any, *, required: bool = False) -> str | None:
        return self._typed(path, value, str, "a string", required=required)

    def boolean(self, path: str, value: Any) -> bool | None:
        return self._typed(path, value, bool, "a boolean")

    def integer(self, path: str, value: Any, *, minimum: int | None = None, maximum: int | None = None,
                required: bool = False) -> int | None:
        """An integer (None when missing or not one), reported when outside [minimum, maximum]."""
        number = self._typed(path, value, int, "an integer", required=required)
        if number is not None and minimum is not None and maximum is not None and not minimum <= number <= maximum:
            self.invalid(path, number, f"must be between {minimum} and {maximum}, inclusive")
        elif number is not None and minimum is not None and number < minimum:
            self.invalid(path, number, f"must be greater than or equal to {minimum}")
        return number

    def objects(self, path: str, value: Any, *, required: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
        """(path, item) for each object in a list, reporting the items that are not objects."""
        for i, item in enumerate(self.array(path, value, required=required)):
            if (checked := self.object(f"{path}[{i}]", item, required=True)) is not None:
                yield f"{path}[{i}]", checked

    def strings(self, path: str, value: Any) -> list[str]:
        return [s for i, item in enumerate(self.array(path, value))
                if (s := self.string(f"{path}[{i}]", item)) is not None]

    def string_map(self, path: str, value: Any) -> dict[str, str]:
        mapping = self.object(path, value) or {}
        return {key: s for key, item in mapping.items() if (s := self.string(f"{path}[{key}]", item)) is not None}

    def choice(self, path: str, value: Any, allowed: Iterable[str], *, required: bool = False) -> str | None:
        text = self.string(path, value, required=required)
        if text is not None and text not in allowed:
            self.not_supported(path, text, allowed)
            return None
        return text

    def name(self, path: str, value: Any, rule: NameRule, *, required: bool = False,
             seen: set[str] | None = None) -> str | None:
        """A string following `rule` (and not in `seen`, when given, which it joins)."""
        name = self.string(path, value, required=required)
        for problem in rule.problems(name) if name else ():
            self.invalid(path, name, problem)
        if name and seen is not None:
            if name in seen:
                self.duplicate(path, name)
            seen.add(name)
        return name

    def labels(self, path: str, value: Any) -> None:
        """A map of label keys to label values."""
        for key, text in self.string_map(path, value).items():
            for problem in label_key_problems(key):
                self.invalid(path, key, problem)
            for problem in LABEL_VALUE.problems(text):
                self.invalid(path, text, problem)

    def requirement(self, path: str, requirement: dict[str, Any],
                    operators: Iterable[str]) -> tuple[str | None, list[str]]:
        """A selector requirement (`key`, `operator`, `values`) as `matchExpressions` hold them: the
        key a label key, values for In/NotIn and none for Exists/DoesNotExist; (operator, values)."""
        key = self.string(f"{path}.key", requirement.get("key"), required=True)
        for problem in label_key_problems(key) if key else ():
            self.invalid(f"{path}.key", key, problem)
        operator = self.choice(f"{path}.operator", requirement.get("operator"), operators, required=True)
        values = self.strings(f"{path}.values", requirement.get("values"))
        if operator in ("In", "NotIn") and not values:
            self.required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        elif operator in ("Exists", "DoesNotExist") and values:
            self.forbidden(f"{path}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        return operator, values

    def int_or_percent(self, path: str, value: Any) -> int | None:
        """An int ≥ 0 or a percent string like "25%": its number, None when missing or bad."""
        if not isinstance(value, str):
            return self.integer(path, value, minimum=0)
        if re.fullmatch(r"[0-9]+%", value):
            return int(value[:-1])
        self.invalid(path, value, _PERCENT_MESSAGE)
        return None

    def ip(self, path: str, value: Any, *, required: bool = False) -> None:
        """An IPv4 or IPv6 address (no zone, no port) when set; the empty string counts as unset."""
        text = self.string(path, value, required=required)
        if not text:
            return
        try:
            ipaddress.ip_address(text if "%" not in text else "%")
        except ValueError:
            self.invalid(path, text, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")

    def cidr(self, path: str, value: Any) -> None:
        """A network in CIDR notation (`10.244.1.0/24`) when set."""
        text = self.string(path, value)
        if not text:
            return
        try:
            ipaddress.ip_network(text if "%" not in text and "/" in text else "%", strict=False)
        except ValueError:
            self.invalid(path, text, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")
