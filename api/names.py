"""The syntax of names: object names, label keys and values, ports, config keys, host names.

Each rule is a pattern, a length limit and the message kube-apiserver gives when a name breaks it
(`k8s.io/apimachinery/pkg/util/validation`), so a user sees the words they would see against a real
cluster. Validation (`minik8s.api.validation`), selectors and every kind use these. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NameRule:
    """A name syntax (pattern and length limit) with Kubernetes' wording of what is wrong."""

    pattern: re.Pattern[str]
    max_length: int
    message: str

    def problems(self, value: str) -> list[str]:
        """What is wrong with `value`, in Kubernetes' words; empty when it is valid."""
        too_long = [f"must be no more than {self.max_length} characters"] if len(value) > self.max_length else []
        return too_long + ([] if self.pattern.fullmatch(value) else [self.message])


_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_SUBDOMAIN = NameRule(re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*"), 253, (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    f"'{_DNS_LABEL}(\\.{_DNS_LABEL})*')"))
WILDCARD_DNS_SUBDOMAIN = NameRule(re.compile(rf"\*\.{_DNS_LABEL}(\.{_DNS_LABEL})*"), 253, (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of "
    "lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', "
    f"regex used for validation is '\\*\\.{_DNS_LABEL}(\\.{_DNS_LABEL})*')"))
DNS_LABEL = NameRule(re.compile(_DNS_LABEL), 63, (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"))
DNS1035_LABEL = NameRule(re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"), 63, (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"))
LABEL_VALUE = NameRule(re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"), 63, (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"))
QUALIFIED_NAME = NameRule(re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"), 63, (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"))
PORT_NAME = NameRule(re.compile(r"(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?"), 15, (
    "must contain only alpha-numeric characters (a-z, 0-9) and hyphens (-), at least one letter (a-z), no "
    "consecutive hyphens, and must not begin or end with a hyphen"))
CONFIG_KEY = NameRule(re.compile(r"[-._a-zA-Z0-9]+"), 253, (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"))
HOST_NAME = NameRule(re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"), 253, (
    "a host name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"))


def label_key_problems(key: str) -> list[str]:
    """What is wrong with a label (or annotation) key `[DNS-subdomain prefix/]name`; empty when valid."""
    parts = key.split("/")
    if len(parts) > 2:
        return [f"a qualified name {QUALIFIED_NAME.message} with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"]
    problems = []
    if len(parts) == 2:
        prefix = DNS_SUBDOMAIN.problems(parts[0]) if parts[0] else ["must be non-empty"]
        problems = [f"prefix part {p}" for p in prefix]
    name = QUALIFIED_NAME.problems(parts[-1]) if parts[-1] else ["must be non-empty"]
    return problems + [f"name part {p}" for p in name]
