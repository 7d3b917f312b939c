"""Data flow of the ASL interpreter: the spec's input/output processing, templates and intrinsics.

A state's data moves in a fixed order (states-language.net, "Input and Output Processing"):
`InputPath` picks the effective input from the raw input → `Parameters` builds the work's input
from a template → the work → `ResultSelector` reshapes the result → `ResultPath` writes it into
the *raw* input → `OutputPath` picks the output. Each step here is one function; a failure raises
`StatesError` with the spec's error name (`States.Runtime` for a bad InputPath/OutputPath,
`States.ParameterPathFailure` for a template path, `States.ResultPathMatchFailure`,
`States.IntrinsicFailure`).

Intrinsic functions are evaluated here. The two that are random by nature (`States.UUID`,
`States.MathRandom`) draw from a hash of a seed the interpreter derives from the run, the state
visit and the attempt, so replaying a transition after a failover yields the same values. Pure:
no I/O, no clock, no randomness.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import uuid
from functools import lru_cache
from typing import Any, Callable

from minik8s.api.aslpath import (Intrinsic, JsonPath, Literal, PathMissingError, parse_intrinsic, parse_path,
                                 put, select)
from minik8s.api.decoding import loads_finite

__all__ = [
    "INTRINSIC_FAILURE", "PARAMETER_PATH_FAILURE", "RESULT_PATH_MATCH_FAILURE", "RUNTIME", "StatesError",
    "apply_template", "effective_input", "json_text", "path_value", "result_into", "state_output",
]

RUNTIME = "States.Runtime"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
MAX_RANGE = 1000  # States.ArrayRange's limit on the items it makes (AWS's)
_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


class StatesError(Exception):
    """An ASL error: a name (`States.Timeout`, a function's exception class, ...) and a cause."""

    def __init__(self, error: str | None, cause: str | None = None) -> None:
        super().__init__(f"{error}: {cause}" if cause else str(error))
        self.error = error
        self.cause = cause


_path = lru_cache(maxsize=1024)(parse_path)


def json_text(value: Any) -> str:
    """Compact JSON, as AWS writes it inside strings."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def path_value(text: str, data: Any, context: Any, *, error: str, what: str) -> Any:
    """The value `text` selects from `data` (or the context object); `error` when it selects nothing."""
    try:
        return select(_path(text), data, context)
    except PathMissingError:
        raise StatesError(error, f"Invalid path '{text}' for {what}: no such value in the input") from None
    except ValueError as err:  # PathSyntaxError: only an unvalidated definition gets here
        raise StatesError(RUNTIME, f"Invalid path '{text}' for {what}: {err}") from None


def effective_input(state: dict[str, Any], raw: Any) -> Any:
    """InputPath: absent means `$`, null means `{}`."""
    return _pick(state, "InputPath", raw)


def state_output(state: dict[str, Any], data: Any) -> Any:
    """OutputPath: absent means `$`, null means `{}`."""
    return _pick(state, "OutputPath", data)


def _pick(state: dict[str, Any], field: str, data: Any) -> Any:
    """InputPath and OutputPath share their rule; a path naming nothing is States.Runtime."""
    if field not in state:
        return data
    if state[field] is None:
        return {}
    return path_value(state[field], data, None, error=RUNTIME, what=field)


def result_into(result_path: Any, raw: Any, result: Any) -> Any:
    """ResultPath: `$` replaces the raw input, null keeps it, a reference path writes into it."""
    if result_path is None:
        return raw
    try:
        return put(_path(result_path), raw, result)
    except PathMissingError as err:
        raise StatesError(RESULT_PATH_MATCH_FAILURE,
                          f"Unable to apply ResultPath '{result_path}' to the input: {err}") from None


def apply_template(template: Any, data: Any, context: Any, *, seed: str) -> Any:
    """A Parameters/ResultSelector/ItemSelector template filled from `data` and the context object."""
    return _Filler(data, context, seed).fill(template)


class _Filler:
    """Fills one template; counts its random draws so each gets its own value from the seed."""

    def __init__(self, data: Any, context: Any, seed: str) -> None:
        self.data = data
        self.context = context
        self.seed = seed
        self.draws = 0

    def fill(self, template: Any) -> Any:
        """The template with every `key.$` replaced by `key` and its value."""
        if isinstance(template, list):
            return [self.fill(item) for item in template]
        if not isinstance(template, dict):
            return template
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                out[key[:-2]] = self.expression(value, key)
            else:
                out[key] = self.fill(value)
        return out

    def expression(self, text: str, key: str) -> Any:
        """A `.$` value: an intrinsic call or a path."""
        if text.startswith("States."):
            try:
                call = parse_intrinsic(text)
            except ValueError as err:
                raise StatesError(INTRINSIC_FAILURE, f"{key}: {err}") from None
            return self.call(call)
        return path_value(text, self.data, self.context, error=PARAMETER_PATH_FAILURE, what=f"field '{key}'")

    def argument(self, arg: Literal | JsonPath | Intrinsic) -> Any:
        """One evaluated argument."""
        if isinstance(arg, Literal):
            return arg.value
        if isinstance(arg, Intrinsic):
            return self.call(arg)
        return path_value(arg.text, self.data, self.context, error=PARAMETER_PATH_FAILURE,
                          what="an intrinsic function argument")

    def call(self, call: Intrinsic) -> Any:
        """Evaluate one intrinsic call."""
        function = _INTRINSICS.get(call.name)
        if function is None:
            raise StatesError(RUNTIME, f"intrinsic function {call.name} is not supported")
        args = [self.argument(arg) for arg in call.args]
        if call.name == "States.Format" and call.args and isinstance(call.args[0], Literal):
            args[0] = call.args[0].raw if call.args[0].raw is not None else args[0]
        elif call.name == "States.Format" and args and isinstance(args[0], str):
            args[0] = args[0].replace("\\", "\\\\")  # a template from a path has no escapes
        if call.name in ("States.UUID", "States.MathRandom"):
            self.draws += 1
            args = [f"{self.seed}#{self.draws}", *args]
        try:
            return function(*args)
        except StatesError:
            raise
        except (TypeError, ValueError, OverflowError, IndexError) as err:
            raise StatesError(INTRINSIC_FAILURE, f"{call.name}: {err}") from None


# -- the intrinsic functions -----------------------------------------------------------------------

def _need(condition: bool, message: str) -> None:
    """Raise an intrinsic failure unless `condition`."""
    if not condition:
        raise StatesError(INTRINSIC_FAILURE, message)


def _integer(value: Any) -> bool:
    """A JSON integer (true/false are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _format(template: Any, *args: Any) -> str:
    """States.Format: each `{}` takes the next argument; `\\{`, `\\}` and `\\\\` are literal."""
    _need(isinstance(template, str), "States.Format needs a string template")
    parts, pending, pos = [], list(args), 0
    while pos < len(template):
        char = template[pos]
        if char == "\\" and pos + 1 < len(template):
            parts.append(template[pos + 1])
            pos += 2
        elif template.startswith("{}", pos):
            _need(bool(pending), "States.Format has more {} than arguments")
            value = pending.pop(0)
            _need(not isinstance(value, (dict, list)), "States.Format arguments must be strings, numbers, "
                  "booleans or null")
            parts.append(value if isinstance(value, str) else json_text(value))
            pos += 2
        else:
            parts.append(char)
            pos += 1
    _need(not pending, "States.Format has more arguments than {}")
    return "".join(parts)


def _string_to_json(text: Any) -> Any:
    """States.StringToJson."""
    _need(isinstance(text, str), "States.StringToJson needs a string")

    return loads_finite(text)


def _array_partition(items: Any, size: Any) -> list[Any]:
    """States.ArrayPartition: chunks of `size`."""
    _need(isinstance(items, list) and _integer(size) and size > 0, "States.ArrayPartition needs an array and a "
          "positive chunk size")
    return [items[start:start + size] for start in range(0, len(items), size)]


def _array_range(start: Any, end: Any, step: Any) -> list[int]:
    """States.ArrayRange: start to end inclusive by step."""
    _need(all(_integer(v) for v in (start, end, step)) and step != 0, "States.ArrayRange needs integers and a "
          "non-zero step")
    items = list(range(start, end + (1 if step > 0 else -1), step))
    _need(len(items) <= MAX_RANGE, f"States.ArrayRange makes at most {MAX_RANGE} items")
    return items


def _array_get_item(items: Any, index: Any) -> Any:
    """States.ArrayGetItem."""
    _need(isinstance(items, list) and _integer(index) and 0 <= index < len(items),
          "States.ArrayGetItem needs an array and an index inside it")
    return items[index]


def _array_unique(items: Any) -> list[Any]:
    """States.ArrayUnique: first occurrences, in order."""
    _need(isinstance(items, list), "States.ArrayUnique needs an array")
    seen: set[str] = set()
    out = []
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _base64_decode(text: Any) -> str:
    """States.Base64Decode: to a UTF-8 string."""
    _need(isinstance(text, str), "States.Base64Decode needs a string")
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as err:
        raise StatesError(INTRINSIC_FAILURE, f"States.Base64Decode: {err}") from None


def _hash(data: Any, algorithm: Any) -> str:
    """States.Hash: hex digest of a string (other values as JSON)."""
    _need(algorithm in _HASHES, f"States.Hash algorithm must be one of {', '.join(_HASHES)}")
    text = data if isinstance(data, str) else json_text(data)
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _json_merge(left: Any, right: Any, deep: Any) -> dict[str, Any]:
    """States.JsonMerge: shallow (the only mode AWS has)."""
    _need(isinstance(left, dict) and isinstance(right, dict), "States.JsonMerge needs two objects")
    _need(deep is False, "States.JsonMerge supports only a shallow merge (false)")
    return {**left, **right}


def _draw(seed: str) -> float:
    """A number in [0, 1) fixed by `seed`."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2 ** 64


def _math_random(seed: str, start: Any, end: Any, user_seed: Any = None) -> int:
    """States.MathRandom: an integer in [start, end), deterministic per seed."""
    _need(_integer(start) and _integer(end) and start < end, "States.MathRandom needs integers start < end")
    extra = "" if user_seed is None else f"/{json_text(user_seed)}"
    return start + math.floor(_draw(seed + extra) * (end - start))


def _math_add(left: Any, right: Any) -> Any:
    """States.MathAdd."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    _need(numbers, "States.MathAdd needs two numbers")
    return left + right


def _string_split(text: Any, delimiters: Any) -> list[str]:
    """States.StringSplit: split at any of the delimiter characters, dropping empty pieces."""
    _need(isinstance(text, str) and isinstance(delimiters, str) and delimiters != "",
          "States.StringSplit needs a string and delimiter characters")
    pieces, current = [], []
    for char in text:
        if char in delimiters:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return [piece for piece in pieces if piece]


def _uuid(seed: str) -> str:
    """States.UUID: a version-4-shaped UUID fixed by the seed."""
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4))


def _array_length(items: Any) -> int:
    """States.ArrayLength."""
    _need(isinstance(items, list), "States.ArrayLength needs an array")
    return len(items)


def _array_contains(items: Any, value: Any) -> bool:
    """States.ArrayContains."""
    _need(isinstance(items, list), "States.ArrayContains needs an array")
    return value in items


def _base64_encode(text: Any) -> str:
    """States.Base64Encode of a UTF-8 string."""
    _need(isinstance(text, str), "States.Base64Encode needs a string")
    return base64.b64encode(text.encode()).decode()


_INTRINSICS: dict[str, Callable[..., Any]] = {
    "States.Format": _format,
    "States.StringToJson": _string_to_json,
    "States.JsonToString": json_text,
    "States.Array": lambda *args: list(args),
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": _array_contains,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": _array_length,
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": _base64_encode,
    "States.Base64Decode": _base64_decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": _uuid,
}
