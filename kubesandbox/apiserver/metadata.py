"""Object metadata checks every kind gets, as kube-apiserver makes them.

Two stages, like the real server: decoding (a value that is not a string where Go has a
`map[string]string` fails the JSON decode: 400) and validation of `metadata` (label and
annotation keys are qualified names, label values are at most 63 characters, annotations
total at most 256 KiB, owner references name their owner fully: 422 causes).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from .errors import bad_request, cause

Cause = dict[str, str]

_NAME_PART = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RE = re.compile(f"^{_NAME_PART}$")
_LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE}$")
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_SUBDOMAIN_RE = re.compile(f"^{_SUBDOMAIN}$")
_NAME_HELP = (
    "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    f"'{_NAME_PART}')"
)
_TOTAL_ANNOTATION_BYTES = 256 * 1024

# Go struct fields of type map[string]string outside metadata: (group, plural) -> paths.
_STRING_MAPS: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {
    ("", "configmaps"): (("data", "", "ConfigMap.data"),),
    ("", "secrets"): (("stringData", "", "Secret.stringData"),),
    ("", "pods"): (("spec", "nodeSelector", "PodSpec.spec.nodeSelector"),),
    ("", "services"): (("spec", "selector", "ServiceSpec.spec.selector"),),
}


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _check_string_map(value: Any, go_field: str, prefix: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise bad_request(
            f"{prefix}json: cannot unmarshal {_go_type(value)} into Go struct field "
            f"{go_field} of type map[string]string"
        )
    for key, item in value.items():
        if item is None:
            value[key] = ""  # Go decodes null into a string as ""
        elif not isinstance(item, str):
            raise bad_request(
                f"{prefix}json: cannot unmarshal {_go_type(item)} into Go struct field "
                f"{go_field} of type string"
            )


def check_decodable(kind: str, group: str, plural: str, version: str, obj: dict[str, Any]) -> None:
    """Raise 400 where Go's JSON decoding of `obj` would fail on a string map."""
    prefix = f'{kind} in version "{version}" cannot be handled as a {kind}: '
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in ("labels", "annotations"):
            _check_string_map(meta.get(key), f"ObjectMeta.metadata.{key}", prefix)
    for outer, inner, go_field in _STRING_MAPS.get((group, plural), ()):
        value = obj.get(outer)
        if inner:
            value = value.get(inner) if isinstance(value, dict) else None
        _check_string_map(value, go_field, prefix)


@functools.lru_cache(maxsize=4096)
def qualified_name_errors(key: str) -> tuple[str, ...]:
    """kube's IsQualifiedName: `[prefix/]name`, prefix a DNS subdomain."""
    parts = key.split("/")
    if len(parts) == 1:
        name, prefix = parts[0], None
    elif len(parts) == 2:
        prefix, name = parts
    else:
        return (
            f"a qualified name must consist of {_NAME_HELP} with an optional DNS subdomain "
            "prefix and '/' (e.g. 'example.com/MyName')",
        )
    errs: list[str] = []
    if prefix is not None:
        if not prefix:
            errs.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            errs.append("prefix part must be no more than 253 characters")
        elif not _SUBDOMAIN_RE.match(prefix):
            errs.append(
                "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'example.com', regex used for validation is "
                f"'{_SUBDOMAIN}')"
            )
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    elif not _NAME_RE.match(name):
        errs.append(f"name part must consist of {_NAME_HELP}")
    return tuple(errs)


@functools.lru_cache(maxsize=4096)
def label_value_errors(value: str) -> tuple[str, ...]:
    errs: list[str] = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.match(value):
        errs.append(
            "a valid label must be an empty string or consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
            "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
            f"'{_LABEL_VALUE}')"
        )
    return tuple(errs)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def validate_metadata(meta: dict[str, Any]) -> list[Cause]:
    """422 causes for labels, annotations and ownerReferences (after check_decodable)."""
    out: list[Cause] = []
    labels = meta.get("labels") or {}
    for key, value in labels.items():
        for err in qualified_name_errors(key):
            out.append(
                cause(
                    "FieldValueInvalid", "metadata.labels", f"Invalid value: {_quote(key)}: {err}"
                )
            )
        for err in label_value_errors(value):
            out.append(
                cause(
                    "FieldValueInvalid", "metadata.labels", f"Invalid value: {_quote(value)}: {err}"
                )
            )
    annotations = meta.get("annotations") or {}
    total = 0
    for key, value in annotations.items():
        for err in qualified_name_errors(key.lower()):
            out.append(
                cause(
                    "FieldValueInvalid",
                    "metadata.annotations",
                    f"Invalid value: {_quote(key)}: {err}",
                )
            )
        total += len(key) + len(value)
    if total > _TOTAL_ANNOTATION_BYTES:
        out.append(
            cause(
                "FieldValueTooLong",
                "metadata.annotations",
                f"Too long: may not be more than {_TOTAL_ANNOTATION_BYTES} bytes",
            )
        )
    out.extend(_owner_reference_causes(meta.get("ownerReferences")))
    return out


def _owner_reference_causes(refs: Any) -> list[Cause]:
    if refs is None:
        return []
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        return [
            cause(
                "FieldValueInvalid",
                "metadata.ownerReferences",
                "Invalid value: must be a list of owner references",
            )
        ]
    out: list[Cause] = []
    controllers = 0
    for ref in refs:
        for field, what in (
            ("apiVersion", "version"),
            ("kind", "kind"),
            ("name", "name"),
            ("uid", "uid"),
        ):
            if not ref.get(field):
                out.append(
                    cause(
                        "FieldValueInvalid",
                        f"metadata.ownerReferences.{field}",
                        f'Invalid value: "": {what} must not be empty',
                    )
                )
        if ref.get("controller") is True:
            controllers += 1
    if controllers > 1:
        out.append(
            cause(
                "FieldValueInvalid",
                "metadata.ownerReferences",
                "Invalid value: []v1.OwnerReference{...}: Only one reference can have "
                "Controller set to true",
            )
        )
    return out
