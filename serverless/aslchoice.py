"""Choice rules of the ASL interpreter: which `Next` a Choice state takes for its effective input.

The spec's semantics (states-language.net, "Choice Rules"), as AWS runs them:
- a comparison reads its `Variable` (a Path); a variable that names nothing is `States.Runtime`,
  except under `IsPresent`, whose whole point is to ask;
- a type mismatch is simply false (`NumericEquals` on a string, `StringLessThan` on a number);
- strings compare by code point, numbers by value (1 == 1.0, booleans are not numbers), timestamps
  (RFC 3339, uppercase `T`, a zone) as instants;
- `...Path` operators compare with the value another path names (absent: `States.Runtime`);
- `StringMatches` knows one wildcard, `*`; `\\*` and `\\\\` are a literal star and backslash;
- `Is*` tests take true or false (false negates);
- And/Or/Not nest; no rule true and no `Default` is `States.NoChoiceMatched`.
Pure: no I/O.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

from minik8s.api.asl import COMPARISONS, parse_timestamp
from minik8s.api.aslpath import PathMissingError, parse_path, select

from .asldata import RUNTIME, StatesError

__all__ = ["NO_CHOICE_MATCHED", "choose", "rule_matches"]

NO_CHOICE_MATCHED = "States.NoChoiceMatched"
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq, "LessThan": operator.lt, "GreaterThan": operator.gt,
    "LessThanEquals": operator.le, "GreaterThanEquals": operator.ge,
}
_MISSING = object()


def choose(state: dict[str, Any], data: Any, context: Any = None) -> str:
    """The `Next` of the first rule that holds, else `Default`, else States.NoChoiceMatched."""
    for rule in state["Choices"]:
        if rule_matches(rule, data, context):
            return rule["Next"]
    if "Default" in state:
        return state["Default"]
    raise StatesError(NO_CHOICE_MATCHED, "no choice rule matched and there is no Default")


def rule_matches(rule: dict[str, Any], data: Any, context: Any = None) -> bool:
    """Whether one (possibly nested) rule holds for `data`."""
    if "And" in rule:
        return all(rule_matches(inner, data, context) for inner in rule["And"])
    if "Or" in rule:
        return any(rule_matches(inner, data, context) for inner in rule["Or"])
    if "Not" in rule:
        return not rule_matches(rule["Not"], data, context)
    name = next(key for key in rule if key in COMPARISONS)
    value = _lookup(rule["Variable"], data, context)
    if name.startswith("Is"):
        return _type_test(name, value) == rule[name]
    if value is _MISSING:
        raise StatesError(RUNTIME, f"Invalid path '{rule['Variable']}': the choice rule's Variable names "
                                   "no value in the input")
    operand = rule[name]
    if COMPARISONS[name] == "path":
        operand = _lookup(operand, data, context)
        if operand is _MISSING:
            raise StatesError(RUNTIME, f"Invalid path '{rule[name]}': {name} names no value in the input")
        name = name[:-len("Path")]
    return _compare(name, value, operand)


def _lookup(text: str, data: Any, context: Any) -> Any:
    """The value a path names, or _MISSING (an indefinite path that matches nothing is missing too)."""
    path = parse_path(text)
    try:
        value = select(path, data, context)
    except PathMissingError:
        return _MISSING
    return _MISSING if not path.definite and value == [] else value


def _type_test(name: str, value: Any) -> bool:
    """IsPresent, IsNull, IsNumeric, IsString, IsBoolean, IsTimestamp (before true/false negation)."""
    if name == "IsPresent":
        return value is not _MISSING
    if value is _MISSING:
        raise StatesError(RUNTIME, f"{name}: the choice rule's Variable names no value in the input")
    return {
        "IsNull": value is None,
        "IsNumeric": _number(value),
        "IsString": isinstance(value, str),
        "IsBoolean": isinstance(value, bool),
        "IsTimestamp": parse_timestamp(value) is not None,
    }[name]


def _number(value: Any) -> bool:
    """A JSON number (booleans are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare(name: str, value: Any, operand: Any) -> bool:
    """One comparison; false whenever a side has the wrong type."""
    if name == "StringMatches":
        return isinstance(value, str) and isinstance(operand, str) and _wildcard_match(operand, value)
    if name == "BooleanEquals":
        return isinstance(value, bool) and isinstance(operand, bool) and value == operand
    for prefix, convert in (("String", _as_string), ("Numeric", _as_number), ("Timestamp", parse_timestamp)):
        if name.startswith(prefix):
            left, right = convert(value), convert(operand)
            return left is not None and right is not None and _ORDER[name[len(prefix):]](left, right)
    raise StatesError(RUNTIME, f"unknown comparison operator {name}")


def _as_string(value: Any) -> str | None:
    """The value if it is a string."""
    return value if isinstance(value, str) else None


def _as_number(value: Any) -> int | float | None:
    """The value if it is a number."""
    return value if _number(value) else None


def _wildcard_match(pattern: str, text: str) -> bool:
    """StringMatches, with the greedy two-pointer glob match (linear-ish; no regex backtracking)."""
    tokens = _tokens(pattern)
    t = p = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(tokens) and tokens[p] is not None and tokens[p] == text[t]:
            t, p = t + 1, p + 1
        elif p < len(tokens) and tokens[p] is None:
            star, mark, p = p, t, p + 1
        elif star >= 0:
            mark += 1
            t, p = mark, star + 1
        else:
            return False
    return all(token is None for token in tokens[p:])


def _tokens(pattern: str) -> list[str | None]:
    """The pattern as literal characters and None for each unescaped `*`."""
    tokens: list[str | None] = []
    pos = 0
    while pos < len(pattern):
        char = pattern[pos]
        if char == "\\" and pos + 1 < len(pattern) and pattern[pos + 1] in "*\\":
            tokens.append(pattern[pos + 1])
            pos += 2
        else:
            tokens.append(None if char == "*" else char)
            pos += 1
    return tokens
