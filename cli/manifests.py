"""Reading manifests for `apply -f` and `delete -f`: files, directories, stdin, multi-document YAML.

Everything is checked before the first request is sent, so a typo in the third document of a file
never leaves the cluster half-applied. Problems become one `ManifestError` line naming the file
and, where known, the line (`deploy.yaml:7: mapping values are not allowed here`,
`deploy.yaml:9: duplicate key "image"`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minik8s.api import decoding, kinds

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


class ManifestError(ValueError):
    """A manifest that cannot be used; the message is one line for the user."""


def load_manifests(paths: list[str], stdin_text: str | None) -> list[tuple[str, dict[str, Any]]]:
    """Every object in `paths` (files, directories of *.yaml/*.yml/*.json, `-` for stdin), in order.

    Returns (source, object) pairs; `kind: List` documents are expanded into their items.
    """
    loaded: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        for source, text in _read_sources(path, stdin_text):
            loaded.extend((source, obj) for obj in parse_documents(source, text))
    return loaded


def _read_sources(path: str, stdin_text: str | None) -> list[tuple[str, str]]:
    if path == STDIN:
        if stdin_text is None:
            raise ManifestError("no manifest given on standard input")
        return [("STDIN", stdin_text)]
    location = Path(path)
    if location.is_dir():
        files = sorted(f for f in location.iterdir() if f.is_file() and f.suffix in MANIFEST_SUFFIXES)
    elif location.is_file():
        files = [location]
    else:
        raise ManifestError(f'the path "{path}" does not exist')
    sources = []
    for file in files:
        try:
            sources.append((str(file), file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as err:
            raise ManifestError(f"{file}: cannot read: {getattr(err, 'strerror', None) or err}") from err
    return sources


def parse_documents(source: str, text: str) -> list[dict[str, Any]]:
    """The objects of one file's text (JSON for `*.json`, else multi-document YAML), checked."""
    objects: list[dict[str, Any]] = []
    for index, doc in enumerate(_parse(source, text), start=1):
        if doc is not None:
            objects.extend(_check(source, index, doc))
    return objects


def _parse(source: str, text: str) -> list[Any]:
    """The documents of one file, decoded as the API server decodes bodies (`minik8s.api.decoding`:
    no aliases, duplicate keys, non-finite numbers or deep nesting)."""
    try:
        if source.endswith(".json"):
            return [decoding.decode_json(text)]
        return decoding.decode_yaml_documents(text)
    except decoding.DecodeError as err:
        where = f"{source}:{err.line}" if err.line is not None else source
        raise ManifestError(f"{where}: {err}") from err


def _check(source: str, index: int, doc: Any) -> list[dict[str, Any]]:
    """The document as a list of objects (a `List` gives its items), or a ManifestError."""
    where = f"{source}: document {index}"
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: expected a mapping, got {type(doc).__name__}")
    if not doc.get("kind"):
        raise ManifestError(f"{where}: missing kind")
    if not doc.get("apiVersion"):
        raise ManifestError(f"{where}: missing apiVersion")
    if doc["kind"] == "List":
        return [obj for item in doc.get("items") or [] for obj in _check(source, index, item)]
    if not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
        raise ManifestError(f"{where}: missing metadata.name")
    resource_of(doc, where=where)
    return [doc]


def resource_of(obj: dict[str, Any], *, where: str = "") -> kinds.ResourceType:
    """The served resource of a manifest object, by `apiVersion` and `kind`."""
    rt = kinds.by_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
    if rt is None:
        prefix = f"{where}: " if where else ""
        raise ManifestError(f'{prefix}no matches for kind "{obj.get("kind")}" in version "{obj.get("apiVersion")}"')
    return rt
