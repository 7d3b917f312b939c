"""kubectl-identical output for the CLI: tables, `-o name|yaml|json`, and `describe` text.

Columns and cells come from `minik8s.api.tables` (kubectl's server-side printers, shared with the
API server's `meta.k8s.io/v1` Table answers); this module picks the columns shown (`priority 1` only
with `-o wide`) and lays them out like kubectl's tab writer (Go `text/tabwriter`: minimum cell
width 6, padding 3, widths remembered across flushes for `get --watch`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import yaml

from minik8s.api.describe import describe_lines
from minik8s.api.kinds import ResourceType
from minik8s.api.tables import cells_for, columns_for, dig

Obj = dict[str, Any]

# --------------------------------------------------------------------------------------------
# Names, headers and rows
# --------------------------------------------------------------------------------------------


def kind_name(rt: ResourceType) -> str:
    """How kubectl names a resource type in output: `pod`, `deployment.apps`."""
    return f"{rt.singular}.{rt.group}" if rt.group else rt.singular


def names(rt: ResourceType, objects: Iterable[Obj]) -> list[str]:
    """`-o name` lines: `pod/x`, `deployment.apps/y`."""
    return [f"{kind_name(rt)}/{dig(obj, 'metadata', 'name', default='')}" for obj in objects]


def headers_for(rt: ResourceType, wide: bool = False) -> list[str]:
    """Column headers as kubectl prints them (`NAME`, `NOMINATED NODE`, ...)."""
    return [c["name"].upper() for c in columns_for(rt, wide)]


def rows_for(rt: ResourceType, obj: Obj, wide: bool = False, *, now: datetime | None = None) -> list[str]:
    """The cells kubectl prints for one object (wide columns only with `wide`), as text."""
    cells = cells_for(rt, obj, now=now)
    return [str(cell) for cell, col in zip(cells, columns_for(rt)) if wide or col["priority"] == 0]


# --------------------------------------------------------------------------------------------
# Layout: Go's text/tabwriter as kubectl configures it
# --------------------------------------------------------------------------------------------


class TabWriter:
    """Go `text/tabwriter` semantics: tab-terminated cells aligned per column block.

    A column block is a run of consecutive lines that have a tab-terminated cell in that column;
    its width is the widest cell plus `padding` (at least `minwidth`). The last cell of a line is
    never padded. With `remember`, widths never shrink between calls (kubectl's watch output).
    """

    def __init__(self, *, minwidth: int, padding: int, remember: bool = False) -> None:
        self._minwidth = minwidth
        self._padding = padding
        self._remembered: list[int] | None = [] if remember else None

    def format(self, lines: list[str]) -> list[str]:
        """The aligned lines (input lines use `\\t` between cells, no newlines)."""
        cells = [line.split("\t") for line in lines]
        widths: list[list[int]] = [[] for _ in cells]
        self._assign(cells, widths, 0, 0, len(cells))
        return ["".join(cell.ljust(w) for cell, w in zip(row, ws)) + row[-1]
                for row, ws in zip(cells, widths)]

    def _assign(self, cells: list[list[str]], widths: list[list[int]], column: int, start: int, end: int) -> None:
        line = start
        while line < end:
            if column >= len(cells[line]) - 1:
                line += 1
                continue
            block = line
            width = self._minwidth
            while line < end and column < len(cells[line]) - 1:
                width = max(width, len(cells[line][column]) + self._padding)
                line += 1
            width = self._remember(column, width)
            for row in range(block, line):
                widths[row].append(width)
            self._assign(cells, widths, column + 1, block, line)

    def _remember(self, column: int, width: int) -> int:
        if self._remembered is None:
            return width
        if column >= len(self._remembered):
            self._remembered.extend([0] * (column + 1 - len(self._remembered)))
        self._remembered[column] = max(self._remembered[column], width)
        return self._remembered[column]


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def format_rows(rows: list[list[str]]) -> list[str]:
    """Rows of cells laid out like a kubectl table (first row: headers)."""
    return TabWriter(minwidth=6, padding=3).format(["\t".join(row) for row in rows])


def no_resources_message(namespace: str | None) -> str:
    """kubectl's message for an empty result (namespaced query vs cluster-wide)."""
    return f"No resources found in {namespace} namespace." if namespace else "No resources found"


class TablePrinter:
    """Prints one resource type's table; call `print` again for rows that arrive later (watch)."""

    def __init__(self, rt: ResourceType, *, wide: bool = False, show_namespace: bool = False,
                 show_kind: bool = False, no_headers: bool = False) -> None:
        self._rt = rt
        self._wide = wide
        self._show_namespace = show_namespace and rt.namespaced
        self._show_kind = show_kind
        self._headers_due = not no_headers
        self._writer = TabWriter(minwidth=6, padding=3, remember=True)

    def lines(self, objects: Iterable[Obj], *, now: datetime | None = None) -> list[str]:
        """The next lines to print: headers first time, then one row per object."""
        rows = [self._row(obj, now) for obj in objects]
        if self._headers_due:
            rows.insert(0, (["NAMESPACE"] if self._show_namespace else []) + headers_for(self._rt, self._wide))
            self._headers_due = False
        return self._writer.format(["\t".join(row) for row in rows])

    def print(self, objects: Iterable[Obj], *, now: datetime | None = None) -> None:
        for line in self.lines(objects, now=now):
            print(line, flush=True)

    def _row(self, obj: Obj, now: datetime | None) -> list[str]:
        cells = rows_for(self._rt, obj, self._wide, now=now)
        if self._show_kind:
            shown = columns_for(self._rt, self._wide)
            cells = [f"{kind_name(self._rt)}/{cell}" if col["format"] == "name" else cell
                     for cell, col in zip(cells, shown)]
        if self._show_namespace:
            cells.insert(0, dig(obj, "metadata", "namespace", default=""))
        return cells


def print_table(rt: ResourceType, objects: list[Obj], *, wide: bool = False, show_namespace: bool = False,
                show_kind: bool = False, no_headers: bool = False, namespace: str | None = None,
                now: datetime | None = None) -> None:
    """Print a kubectl table, or kubectl's "No resources found" to stderr when `objects` is empty.

    `namespace` is the namespace queried (None for all namespaces or cluster-scoped resources).
    """
    if not objects:
        print(no_resources_message(namespace), file=sys.stderr)
        return
    TablePrinter(rt, wide=wide, show_namespace=show_namespace, show_kind=show_kind,
                 no_headers=no_headers).print(objects, now=now)


# --------------------------------------------------------------------------------------------
# YAML and JSON
# --------------------------------------------------------------------------------------------


def with_type(rt: ResourceType, obj: Obj) -> Obj:
    """The object with `apiVersion` and `kind` first (list items may come without them)."""
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": obj.get("apiVersion") or rt.api_version, "kind": obj.get("kind") or rt.kind, **rest}


def as_list(items: list[Obj]) -> Obj:
    """kubectl's wrapper for several objects: a `v1` `List`."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


class _KubectlDumper(yaml.SafeDumper):
    """Scalars styled as kubectl prints them: multi-line strings as `|` blocks, other strings
    that need quoting in double quotes (`"8"`)."""

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        if style != "'":
            return style
        if "\n" in self.event.value and self.analysis.allow_block and not self.flow_level:
            return "|"
        return '"'


def to_yaml(obj: Obj) -> str:
    """YAML like `kubectl -o yaml`: keys sorted, block style, long strings not folded."""
    return yaml.dump(obj, Dumper=_KubectlDumper, sort_keys=True, default_flow_style=False, allow_unicode=True,
                     width=1 << 30)


def to_json(obj: Obj) -> str:
    """JSON like `kubectl -o json`: four-space indent, field order kept."""
    return json.dumps(obj, indent=4, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# describe
# --------------------------------------------------------------------------------------------


def describe(rt: ResourceType, obj: Obj, events: list[Obj], *, now: datetime | None = None) -> str:
    """kubectl-like `describe` text: metadata, the kind's own section, then the object's events."""
    return "\n".join(TabWriter(minwidth=0, padding=2).format(describe_lines(rt, obj, events, now=now)))
