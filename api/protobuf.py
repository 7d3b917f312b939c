"""Reading the Kubernetes protobuf encoding of the few bodies kubectl sends in it.

kubectl's typed clients (its imperative generators: `kubectl autoscale`, `kubectl create service`, ...) send built-in kinds as
`application/vnd.kubernetes.protobuf` and do not fall back to JSON on a 415. minik8s answers in
JSON (kubectl accepts it) and decodes these bodies into the same JSON objects a JSON client would
send. The envelope is kube's `runtime.Unknown` after the magic `k8s\\0`: `typeMeta` (apiVersion,
kind), `raw` (the object's own message), `contentEncoding`, `contentType`.

Only kinds listed in `KINDS` are decoded, each from a table of its messages' field numbers (from
`k8s.io/api/.../generated.proto`); anything else stays 415. The wire format is read field by field
(varint, 64-bit, length-delimited, 32-bit); unknown fields are skipped, as protobuf readers do;
truncated or malformed input is a `ProtobufError`. Go's JSON leaves out empty strings and zero
numbers of non-pointer fields; so does this decoder, except for fields marked optional (`int?`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from minik8s.api.timefmt import format_time

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

Obj = dict[str, Any]
Field = tuple[str, str]  # (JSON name, type): str int int? bool time map msg:NAME [msg:NAME] [str]

MESSAGES: dict[str, dict[int, Field]] = {
    "Unknown": {1: ("typeMeta", "msg:TypeMeta"), 2: ("raw", "bytes"), 3: ("contentEncoding", "str"),
                4: ("contentType", "str")},
    "TypeMeta": {1: ("apiVersion", "str"), 2: ("kind", "str")},
    "ObjectMeta": {1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"), 5: ("uid", "str"),
                   6: ("resourceVersion", "str"), 7: ("generation", "int"), 11: ("labels", "map"),
                   12: ("annotations", "map"), 13: ("ownerReferences", "[msg:OwnerReference]"),
                   14: ("finalizers", "[str]")},
    "OwnerReference": {1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"), 5: ("apiVersion", "str"),
                       6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")},
    "autoscaling.v1.HorizontalPodAutoscaler": {1: ("metadata", "msg:ObjectMeta"),
                                               2: ("spec", "msg:autoscaling.v1.HorizontalPodAutoscalerSpec"),
                                               3: ("status", "msg:autoscaling.v1.HorizontalPodAutoscalerStatus")},
    "autoscaling.v1.HorizontalPodAutoscalerSpec": {
        1: ("scaleTargetRef", "msg:autoscaling.v1.CrossVersionObjectReference"), 2: ("minReplicas", "int?"),
        3: ("maxReplicas", "int"), 4: ("targetCPUUtilizationPercentage", "int?")},
    "autoscaling.v1.CrossVersionObjectReference": {1: ("kind", "str"), 2: ("name", "str"), 3: ("apiVersion", "str")},
    "autoscaling.v1.HorizontalPodAutoscalerStatus": {1: ("observedGeneration", "int?"), 2: ("lastScaleTime", "time"),
                                                     3: ("currentReplicas", "int"), 4: ("desiredReplicas", "int"),
                                                     5: ("currentCPUUtilizationPercentage", "int?")},
    "v1.Service": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:v1.ServiceSpec"),
                   3: ("status", "msg:v1.ServiceStatus")},
    "v1.ServiceSpec": {
        1: ("ports", "[msg:v1.ServicePort]"), 2: ("selector", "map"), 3: ("clusterIP", "str"), 4: ("type", "str"),
        5: ("externalIPs", "[str]"), 7: ("sessionAffinity", "str"), 8: ("loadBalancerIP", "str"),
        9: ("loadBalancerSourceRanges", "[str]"), 10: ("externalName", "str"), 11: ("externalTrafficPolicy", "str"),
        12: ("healthCheckNodePort", "int"), 13: ("publishNotReadyAddresses", "bool"),
        14: ("sessionAffinityConfig", "msg:v1.SessionAffinityConfig"), 17: ("ipFamilyPolicy", "str?"),
        18: ("clusterIPs", "[str]"), 19: ("ipFamilies", "[str]"), 20: ("allocateLoadBalancerNodePorts", "bool?"),
        21: ("loadBalancerClass", "str?"), 22: ("internalTrafficPolicy", "str?"), 23: ("trafficDistribution", "str?")},
    "v1.ServicePort": {1: ("name", "str"), 2: ("protocol", "str"), 3: ("port", "int"), 4: ("targetPort", "intorstr"),
                       5: ("nodePort", "int"), 6: ("appProtocol", "str?")},
    "v1.SessionAffinityConfig": {1: ("clientIP", "msg:v1.ClientIPConfig")},
    "v1.ClientIPConfig": {1: ("timeoutSeconds", "int?")},
    "v1.ServiceStatus": {},
    "IntOrString": {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "str")},
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "MapEntry": {1: ("key", "str"), 2: ("value", "str")},
}

# (apiVersion, kind) → root message of the kinds whose protobuf bodies are decoded
KINDS: dict[tuple[str, str], str] = {
    ("autoscaling/v1", "HorizontalPodAutoscaler"): "autoscaling.v1.HorizontalPodAutoscaler",
    ("v1", "Service"): "v1.Service",  # kubectl create service
}


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf message."""


class UnsupportedKindError(ProtobufError):
    """A well-formed envelope around a kind this decoder has no description of."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of one message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise ProtobufError("truncated fixed-size field")
            yield number, wire, int.from_bytes(data[pos:pos + size], "little")
            pos += size
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated length-delimited field")
            yield number, wire, data[pos:pos + length]
            pos += length
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def _signed(value: int) -> int:
    """A varint read as Go's int32/int64 (negative numbers are sent as 64-bit two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(kind: str, wire: int, value: int | bytes) -> Any:
    if kind in ("str", "bytes"):
        if wire != 2:
            raise ProtobufError(f"expected a length-delimited {kind}")
        assert isinstance(value, bytes)
        if kind == "bytes":
            return value
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtobufError("a string field is not UTF-8") from None
    if wire != 0:
        raise ProtobufError(f"expected a varint {kind}")
    assert isinstance(value, int)
    return bool(value) if kind == "bool" else _signed(value)


def decode_message(data: bytes, name: str) -> Obj:
    """The JSON object of message `name` (see `MESSAGES`) encoded in `data`."""
    spec = MESSAGES[name]
    out: Obj = {}
    for number, wire, value in _fields(data):
        if number not in spec:
            continue
        key, kind = spec[number]
        repeated = kind.startswith("[")
        inner = kind.strip("[]")
        if inner.startswith("msg:") or inner in ("map", "time", "intorstr"):
            if wire != 2:
                raise ProtobufError(f"expected a message for {key}")
            assert isinstance(value, bytes)
            if inner == "map":
                entry = decode_message(value, "MapEntry")
                out.setdefault(key, {})[entry.get("key", "")] = entry.get("value", "")
                continue
            if inner == "intorstr":  # Go's IntOrString: {type, intVal, strVal}
                number = decode_message(value, "IntOrString")
                out[key] = number.get("strVal", "") if number.get("type") == 1 else number.get("intVal", 0)
                continue
            if inner == "time":
                stamp = decode_message(value, "Time")
                if stamp.get("seconds") or stamp.get("nanos"):
                    out[key] = format_time(stamp.get("seconds", 0))
                continue
            item: Any = decode_message(value, inner[4:])
        else:
            item = _scalar(inner.rstrip("?"), wire, value)
        if repeated:
            out.setdefault(key, []).append(item)
        else:
            out[key] = item
    return {k: v for k, v in out.items() if v not in ("", 0, {}) or spec_optional(spec, k)}


def spec_optional(spec: dict[int, Field], key: str) -> bool:
    """Whether `key` is an optional (pointer) field, kept even when it holds its zero value."""
    return any(name == key and (kind.endswith("?") or kind.startswith("msg:")) for name, kind in spec.values())


def decode(data: bytes) -> Obj:
    """The JSON object of a Kubernetes protobuf body (`k8s\\0` + `runtime.Unknown`).

    Raises `UnsupportedKindError` for a kind not in `KINDS`, `ProtobufError` for anything malformed.
    """
    if not data.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    envelope = decode_message(data[len(MAGIC):], "Unknown")
    type_meta = envelope.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if envelope.get("contentEncoding"):
        raise ProtobufError(f"unsupported content encoding {envelope['contentEncoding']!r}")
    root = KINDS.get((api_version, kind))
    if root is None:
        raise UnsupportedKindError(f"{kind or 'an object'} ({api_version or 'no apiVersion'}) in protobuf")
    return {"apiVersion": api_version, "kind": kind, **decode_message(envelope.get("raw", b""), root)}
