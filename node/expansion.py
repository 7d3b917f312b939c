"""`$(VAR)` references in env values, command and args, expanded exactly as Kubernetes does it.

A port of `third_party/forked/golang/expansion`: `$(NAME)` is replaced by NAME's value when it is
defined and left as written when it is not; `$$` is an escaped `$` (so `$$(NAME)` gives the
literal `$(NAME)`); any other `$` is kept; an unterminated `$(` is kept. The kubelet uses it for
each env value (with the variables declared before it in the container, so later ones can use
earlier ones: the "dependent environment variables" of the Kubernetes docs) and for `command`
and `args` (with the container's final environment).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["expand", "expand_all", "mapping_for"]

_OPERATOR, _OPENER, _CLOSER = "$", "(", ")"


def mapping_for(*contexts: Mapping[str, str]) -> Callable[[str], str]:
    """A lookup through `contexts` in order; an undefined name maps to its own `$(name)` reference."""

    def lookup(name: str) -> str:
        for context in contexts:
            if name in context:
                return context[name]
        return f"{_OPERATOR}{_OPENER}{name}{_CLOSER}"

    return lookup


def _read_name(rest: str) -> tuple[str, bool, int]:
    """After a `$`: (text read, whether it is a variable name, characters consumed)."""
    first = rest[0]
    if first == _OPERATOR:  # `$$`: an escaped operator
        return first, False, 1
    if first == _OPENER:
        end = rest.find(_CLOSER, 1)
        if end != -1:
            return rest[1:end], True, end + 1
        return _OPERATOR + _OPENER, False, 1  # incomplete reference: kept as written
    return _OPERATOR + first, False, 1


def expand(text: str, mapping: Callable[[str], str]) -> str:
    """`text` with its `$(VAR)` references replaced through `mapping` (see the module docstring)."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == _OPERATOR and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_name, advance = _read_name(text[cursor + 1:])
            out.append(mapping(read) if is_name else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def expand_all(items: list[str], env: Mapping[str, str]) -> list[str]:
    """Each of `items` (a command or args) expanded with the container's environment `env`."""
    mapping = mapping_for(env)
    return [expand(item, mapping) for item in items]
