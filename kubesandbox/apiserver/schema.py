"""Structural-schema handling for custom resources, as kube-apiserver does it:
pruning of unknown fields, defaulting, OpenAPI v3 validation and CEL rules
(`x-kubernetes-validations`), with error messages worded like kube-apiserver's."""

from __future__ import annotations

import copy
import datetime
import functools
import json
import re
from decimal import Decimal
from typing import Any

import celpy
import structlog
from kubernetes.utils import parse_quantity

from .. import fastjson
from .errors import cause

log = structlog.get_logger("kubesandbox.schema")

Cause = dict[str, str]
_MISSING = object()


def go_value(value: Any) -> str:
    """Render a value the way Go's field errors do (`"text"`, `500`, `true`)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if value is None:
        return "null"
    return f'"{json_type(value)}"'


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# ---------------------------------------------------------------- pruning & defaults


def _properties_schema(schema: dict[str, Any], key: str) -> dict[str, Any] | None:
    props = schema.get("properties")
    if props and key in props:
        sub: dict[str, Any] = props[key]
        return sub
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    if extra is True:
        return {"x-kubernetes-preserve-unknown-fields": True}
    return None


def prune(value: Any, schema: dict[str, Any], *, root: bool = False) -> Any:
    """Drop fields the schema does not specify (unless x-kubernetes-preserve-unknown-fields)."""
    if isinstance(value, dict):
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        embedded = schema.get("x-kubernetes-embedded-resource", False)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if (root or embedded) and key in ("apiVersion", "kind", "metadata"):
                out[key] = item
                continue
            sub = _properties_schema(schema, key)
            if sub is None:
                if preserve:
                    out[key] = item
                continue
            out[key] = prune(item, sub)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(v, schema["items"]) for v in value]
    return value


def apply_defaults(value: Any, schema: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if "default" in sub and (
                key not in value or (value[key] is None and not sub.get("nullable", False))
            ):
                value[key] = prune(copy.deepcopy(sub["default"]), sub)
        for key, item in list(value.items()):
            sub = _properties_schema(schema, key)
            if sub is not None:
                value[key] = apply_defaults(item, sub)
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(v, schema["items"]) for v in value]
    return value


# ---------------------------------------------------------------- validation

_FORMAT_PATTERNS: dict[str, str] = {
    "email": r"[^@\s]+@[^@\s]+\.[^@\s]+",
    "uuid": r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}",
    "hostname": r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*",
    "ipv4": r"(\d{1,3}\.){3}\d{1,3}",
    "uri": r"[a-zA-Z][a-zA-Z0-9+.-]*:.*",
    "duration": r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+",
    "byte": r"[A-Za-z0-9+/]*={0,2}",
}


def format_ok(fmt: str, value: str) -> bool:
    """Whether `value` matches an OpenAPI string format (unknown formats always pass)."""
    try:
        if fmt == "date-time":
            _parse_datetime(value)
            return True
        if fmt == "date":
            datetime.date.fromisoformat(value)
            return True
    except ValueError:
        return False
    pattern = _FORMAT_PATTERNS.get(fmt)
    return pattern is None or re.fullmatch(pattern, value, re.DOTALL) is not None


def _parse_datetime(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _type_ok(value: Any, typ: str) -> bool:
    if typ == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if typ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "array":
        return isinstance(value, list)
    if typ == "object":
        return isinstance(value, dict)
    return True


def validate(
    value: Any, schema: dict[str, Any], path: str, old: Any = _MISSING, *, root: bool = False
) -> list[Cause]:
    """Validate `value` against an OpenAPI v3 structural schema; return kube-style causes."""
    causes: list[Cause] = []
    if value is None:
        if schema.get("nullable"):
            return causes
        if "type" in schema:
            causes.append(
                cause(
                    "FieldValueTypeInvalid",
                    path,
                    f'Invalid value: "null": {path} in body must be of type '
                    f'{schema["type"]}: "null"',
                )
            )
        return causes
    int_or_string = schema.get("x-kubernetes-int-or-string")
    typ = schema.get("type")
    if int_or_string:
        if not (_type_ok(value, "integer") or isinstance(value, str)):
            causes.append(
                cause(
                    "FieldValueTypeInvalid",
                    path,
                    f'Invalid value: "{json_type(value)}": {path} in body must be of type '
                    f'integer,string: "{json_type(value)}"',
                )
            )
            return causes
    elif typ and not _type_ok(value, typ):
        causes.append(
            cause(
                "FieldValueTypeInvalid",
                path,
                f'Invalid value: "{json_type(value)}": {path} in body must be of type {typ}: '
                f'"{json_type(value)}"',
            )
        )
        return causes
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(go_value(v) for v in schema["enum"])
        causes.append(
            cause(
                "FieldValueNotSupported",
                path,
                f"Unsupported value: {go_value(value)}: supported values: {supported}",
            )
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        causes.extend(_validate_number(value, schema, path))
    if isinstance(value, str):
        causes.extend(_validate_string(value, schema, path))
    if isinstance(value, list):
        causes.extend(_validate_array(value, schema, path, old))
    if isinstance(value, dict):
        causes.extend(_validate_object(value, schema, path, old, root=root))
    for combinator in ("allOf", "anyOf", "oneOf"):
        subs = schema.get(combinator)
        if not subs:
            continue
        results = [validate(value, s, path) for s in subs]
        passing = sum(1 for r in results if not r)
        if combinator == "allOf":
            for r in results:
                causes.extend(r)
        elif combinator == "anyOf" and passing == 0:
            causes.append(
                cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {go_value(value)}: "
                    f"{path} in body must validate at least one schema (anyOf)",
                )
            )
        elif combinator == "oneOf" and passing != 1:
            causes.append(
                cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {go_value(value)}: "
                    f"{path} in body must validate one and only one schema (oneOf)",
                )
            )
    if "not" in schema and not validate(value, schema["not"], path):
        causes.append(
            cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {go_value(value)}: {path} in body should not validate "
                "the given schema",
            )
        )
    if schema.get("x-kubernetes-validations") and not causes:
        causes.extend(run_cel_rules(value, schema, path, old, root=root))
    return causes


def _validate_number(value: float, schema: dict[str, Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    shown = go_value(value)
    if "maximum" in schema:
        mx = schema["maximum"]
        if schema.get("exclusiveMaximum") and value >= mx:
            out.append(
                cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {shown}: {path} in body should be less than {mx}",
                )
            )
        elif value > mx:
            out.append(
                cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {shown}: {path} in body should be less than or equal to {mx}",
                )
            )
    if "minimum" in schema:
        mn = schema["minimum"]
        if schema.get("exclusiveMinimum") and value <= mn:
            out.append(
                cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {shown}: {path} in body should be greater than {mn}",
                )
            )
        elif value < mn:
            out.append(
                cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {shown}: {path} in body "
                    f"should be greater than or equal to {mn}",
                )
            )
    if "multipleOf" in schema and schema["multipleOf"] and value % schema["multipleOf"] != 0:
        out.append(
            cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {shown}: {path} in body "
                f"should be a multiple of {schema['multipleOf']}",
            )
        )
    return out


def _validate_string(value: str, schema: dict[str, Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    shown = go_value(value)
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        n = schema["maxLength"]
        unit = "byte" if n == 1 else "bytes"
        out.append(cause("FieldValueTooLong", path, f"Too long: may not be more than {n} {unit}"))
    if "minLength" in schema and len(value) < schema["minLength"]:
        out.append(
            cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {shown}: {path} in body "
                f"should be at least {schema['minLength']} chars long",
            )
        )
    if "pattern" in schema and not _compiled(schema["pattern"]).search(value):
        out.append(
            cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {shown}: {path} in body should match '{schema['pattern']}'",
            )
        )
    fmt = schema.get("format")
    if isinstance(fmt, str) and not format_ok(fmt, value):
        out.append(
            cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {shown}: {path} in body must be of type {fmt}: {shown}",
            )
        )
    return out


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _validate_array(value: list[Any], schema: dict[str, Any], path: str, old: Any) -> list[Cause]:
    out: list[Cause] = []
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        out.append(
            cause(
                "FieldValueTooMany",
                path,
                f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
            )
        )
    if "minItems" in schema and len(value) < schema["minItems"]:
        out.append(
            cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {len(value)}: {path} in body "
                f"should have at least {schema['minItems']} items",
            )
        )
    list_type = schema.get("x-kubernetes-list-type")
    if schema.get("uniqueItems") or list_type == "set":
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                out.append(
                    cause(
                        "FieldValueDuplicate", f"{path}[{i}]", f"Duplicate value: {go_value(item)}"
                    )
                )
            seen.append(item)
    if list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen_keys: list[tuple[Any, ...]] = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                k = tuple(item.get(x) for x in keys)
                if k in seen_keys:
                    shown = ", ".join(f'"{x}":{go_value(item.get(x))}' for x in keys)
                    out.append(
                        cause(
                            "FieldValueDuplicate",
                            f"{path}[{i}]",
                            f"Duplicate value: map[string]interface {{}}{{{shown}}}",
                        )
                    )
                seen_keys.append(k)
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            out.extend(validate(item, items, f"{path}[{i}]"))
    return out


def _validate_object(
    value: dict[str, Any], schema: dict[str, Any], path: str, old: Any, *, root: bool
) -> list[Cause]:
    out: list[Cause] = []
    for req in schema.get("required") or []:
        if req not in value:
            out.append(cause("FieldValueRequired", _join(path, req), "Required value"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(
            cause(
                "FieldValueTooMany",
                path,
                f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
            )
        )
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        out.append(
            cause(
                "FieldValueInvalid",
                path,
                f"Invalid value: {len(value)}: {path} in body "
                f"should have at least {schema['minProperties']} properties",
            )
        )
    olds = old if isinstance(old, dict) else {}
    for key, item in value.items():
        if root and key in ("apiVersion", "kind", "metadata"):
            continue
        sub = _properties_schema(schema, key)
        if sub is None:
            continue
        before = olds.get(key, _MISSING)
        if root and (before is _MISSING or before == item):
            out.extend(_validate_top_field(item, sub, _join(path, key), before is _MISSING))
        else:
            out.extend(validate(item, sub, _join(path, key), before))
    return out


class _TopFieldMemo:
    """Causes of a top-level field (spec, status, ...) by (schema, path, content, whether
    an old value exists). Validation is a pure function of these when the old value is
    missing or equal to the new one (transition rules then see oldSelf == self), which is
    the case for the spec of a status write, the status of a spec write and every create of
    a value seen before: those are not walked again."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._known: dict[tuple[int, str, bytes, bool], tuple[dict[str, Any], list[Cause]]] = {}
        self.hits = 0

    def causes(self, value: Any, schema: dict[str, Any], path: str, created: bool) -> list[Cause]:
        try:
            content = fastjson.dumps(value)
        except (TypeError, ValueError):
            return validate(value, schema, path, _MISSING if created else value)
        key = (id(schema), path, content, created)
        hit = self._known.get(key)
        if hit is not None and hit[0] is schema:
            self.hits += 1
            return [dict(c) for c in hit[1]]
        found = validate(value, schema, path, _MISSING if created else value)
        if len(self._known) >= self.limit:
            self._known.clear()
        self._known[key] = (schema, [dict(c) for c in found])
        return found


TOP_FIELDS = _TopFieldMemo()


def _validate_top_field(
    value: Any, schema: dict[str, Any], path: str, created: bool
) -> list[Cause]:
    return TOP_FIELDS.causes(value, schema, path, created)


# ---------------------------------------------------------------- CEL


class _Quantity(celpy.celtypes.StringType):
    """A value of Kubernetes' CEL quantity library (`quantity("64Mi")`), compared by amount."""

    amount: Decimal


def _quantity(text: Any) -> _Quantity:
    try:
        amount = Decimal(parse_quantity(str(text)))
    except (ValueError, ArithmeticError) as error:
        raise ValueError(f"invalid quantity: {text}") from error
    value = _Quantity(str(text))
    value.amount = amount
    return value


def _is_quantity(text: Any) -> celpy.celtypes.BoolType:
    try:
        _quantity(text)
    except ValueError:
        return celpy.celtypes.BoolType(False)
    return celpy.celtypes.BoolType(True)


def _compare(left: _Quantity, right: _Quantity) -> celpy.celtypes.IntType:
    return celpy.celtypes.IntType((left.amount > right.amount) - (left.amount < right.amount))


# The part of Kubernetes' CEL library (k8s.io/apiserver/pkg/cel/library) the CRDs here use.
_CEL_FUNCTIONS: dict[str, Any] = {
    "quantity": _quantity,
    "isQuantity": _is_quantity,
    "compareTo": _compare,
    "isLessThan": lambda a, b: celpy.celtypes.BoolType(a.amount < b.amount),
    "isGreaterThan": lambda a, b: celpy.celtypes.BoolType(a.amount > b.amount),
}


class _Runner(celpy.InterpretedRunner):
    """cel-python's tree-walking runner with its base activation (the standard functions
    and type annotations) made once per rule instead of at every evaluation (a sixth to a
    quarter of the CRD's root rules' time). An evaluation only reads it: the evaluator binds
    `self` and `oldSelf` on a clone. (The transpiling CompiledRunner is faster still but
    answers differently when a rule meets an evaluation error inside `||`.)"""

    _base: Any = None

    def new_activation(self) -> Any:
        if self._base is None:
            self._base = super().new_activation()
        return self._base


@functools.lru_cache(maxsize=1024)
def _cel_program(expression: str) -> Any:
    env = celpy.Environment(runner_class=_Runner)
    return env.program(env.compile(expression), functions=_CEL_FUNCTIONS)


def _cel_eval(expression: str, activation: dict[str, Any]) -> Any:
    program = _cel_program(expression)
    return program.evaluate(activation)


def _canonical(value: Any) -> str:
    """A JSON text that tells apart everything CEL tells apart (1 vs 1.0, true vs 1)."""
    return fastjson.dumps(value, sort_keys=True).decode()


@functools.lru_cache(maxsize=16384)
def _cel_outcome(expression: str, self_json: str, old_json: str | None) -> tuple[bool, str | None]:
    """(passed, evaluation error) of one rule on one value: CEL rules are pure functions of
    ``self`` and ``oldSelf``, so the outcome is remembered by their canonical JSON. Every
    status patch re-validates the unchanged spec; tree-walking cel-python costs ~2 ms per
    evaluation, the lookup a few microseconds."""
    activation: dict[str, Any] = {"self": celpy.json_to_cel(fastjson.loads(self_json))}
    if old_json is not None:
        activation["oldSelf"] = celpy.json_to_cel(fastjson.loads(old_json))
    try:
        result = _cel_eval(expression, activation)
    except Exception as exc:  # noqa: BLE001 - any CEL failure is reported, not raised
        return False, str(exc)
    if isinstance(result, celpy.CELEvalError):
        return False, str(result)
    return bool(result), None


def _cel_root_view(value: Any) -> Any:
    """At the root, CEL sees only metadata.name and metadata.generateName (as in
    kube-apiserver); the rest of metadata is not part of ``self``."""
    if not isinstance(value, dict) or not isinstance(value.get("metadata"), dict):
        return value
    meta = value["metadata"]
    visible = {k: meta[k] for k in ("name", "generateName") if k in meta}
    return {**value, "metadata": visible}


@functools.lru_cache(maxsize=2048)
def _var_fields(expression: str, var: str) -> frozenset[str] | None:
    """The top-level fields of ``var`` (``self`` or ``oldSelf``) a rule reads, when it reads
    nothing else of it (every use is ``var.field``, never a bare ``var``, ``var[...]`` or
    ``var.macro(...)``); else None. Such a rule gives the same result on the variable cut
    down to those fields, so the outcome is remembered under that smaller key."""
    uses = len(re.findall(rf"\b{var}\b", expression))
    fields = re.findall(rf"\b{var}\.([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()", expression)
    if uses == 0 or len(fields) != uses:
        return None
    return frozenset(fields)


def _project(value: Any, fields: frozenset[str] | None) -> Any:
    if fields is None or not isinstance(value, dict):
        return value
    return {k: value[k] for k in fields if k in value}


def run_cel_rules(
    value: Any, schema: dict[str, Any], path: str, old: Any, *, root: bool = False
) -> list[Cause]:
    out: list[Cause] = []
    rules = schema.get("x-kubernetes-validations") or []
    if not rules:
        return out
    has_old = old is not _MISSING
    if root:
        value = _cel_root_view(value)
        if has_old:
            old = _cel_root_view(old)
    whole_json: str | None = None
    whole_old_json: str | None = None
    for rule in rules:
        expression = rule.get("rule", "")
        if "oldSelf" in expression and not has_old and not rule.get("optionalOldSelf"):
            continue  # transition rules only run on updates
        fields = _var_fields(expression, "self")
        if fields is not None:
            self_json = _canonical(_project(value, fields))
        else:
            if whole_json is None:
                whole_json = _canonical(value)
            self_json = whole_json
        # oldSelf is part of the key (and the activation) only for rules that name it.
        old_json: str | None = None
        if has_old and "oldSelf" in expression:
            old_fields = _var_fields(expression, "oldSelf")
            if old_fields is not None:
                old_json = _canonical(_project(old, old_fields))
            else:
                if whole_old_json is None:
                    whole_old_json = _canonical(old)
                old_json = whole_old_json
        field = path
        if rule.get("fieldPath"):
            field = path + rule["fieldPath"] if path else rule["fieldPath"].lstrip(".")
        passed, error = _cel_outcome(expression, self_json, old_json)
        if error is not None:
            out.append(
                cause(
                    "FieldValueInvalid",
                    field,
                    f'Invalid value: "{json_type(value)}": rule evaluation error: {error}',
                )
            )
            continue
        if passed:
            continue
        message = rule.get("message") or f"failed rule: {expression}"
        if rule.get("messageExpression"):
            activation: dict[str, Any] = {"self": celpy.json_to_cel(value)}
            if has_old:
                activation["oldSelf"] = celpy.json_to_cel(old)
            try:
                message = str(_cel_eval(rule["messageExpression"], activation))
            except Exception as exc:  # noqa: BLE001
                log.warning("cel.message_expression_failed", error=str(exc))
        reason = rule.get("reason", "FieldValueInvalid")
        prefix = {
            "FieldValueForbidden": "Forbidden",
            "FieldValueRequired": "Required value",
            "FieldValueDuplicate": "Duplicate value",
        }.get(reason)
        text = (
            f"{prefix}: {message}"
            if prefix
            else (f'Invalid value: "{json_type(value)}": {message}')
        )
        out.append(cause(reason, field, text))
    return out


def check_cel_compiles(schema: dict[str, Any], path: str = "") -> list[str]:
    """Compile every CEL rule of a CRD schema; return error strings for the bad ones."""
    errors: list[str] = []
    for rule in schema.get("x-kubernetes-validations") or []:
        try:
            _cel_program(rule.get("rule", ""))
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{path or '<root>'}: compilation failed: {exc}")
    for key, sub in (schema.get("properties") or {}).items():
        errors.extend(check_cel_compiles(sub, _join(path, key)))
    if isinstance(schema.get("items"), dict):
        errors.extend(check_cel_compiles(schema["items"], path + "[*]"))
    if isinstance(schema.get("additionalProperties"), dict):
        errors.extend(check_cel_compiles(schema["additionalProperties"], path + "[*]"))
    return errors


def process_custom_object(
    obj: dict[str, Any], schema: dict[str, Any], old: dict[str, Any] | None
) -> tuple[dict[str, Any], list[Cause]]:
    """Prune, default and validate a custom object; return the stored form and the causes."""
    if not schema:
        return obj, []
    defaulted = _prune_and_default_root(obj, schema)
    causes = validate(defaulted, schema, "", old if old is not None else _MISSING, root=True)
    if not causes:
        for key, value in defaulted.items():
            if key not in _ROOT_KEPT and isinstance(value, dict | list):
                SETTLED.add(schema, key, value)
    return defaulted, causes


_ROOT_KEPT = ("apiVersion", "kind", "metadata")


class _Settled:
    """Top-level values (spec, status, ...) known to be what pruning and defaulting make of
    them under a schema, by identity (the value and the schema are held, so an id is not
    reused while its entry lives). Stored objects are never changed in place and a write
    shares the top-level values it does not touch with the previous version, so the spec of
    a status write (and the status of a spec write) is not copied and walked again: pruning
    and defaulting a value they already produced gives the same content."""

    def __init__(self, limit: int = 8192) -> None:
        self.limit = limit
        self._known: dict[tuple[int, str, int], tuple[dict[str, Any], Any]] = {}
        self.hits = 0

    def has(self, schema: dict[str, Any], key: str, value: Any) -> bool:
        hit = self._known.get((id(schema), key, id(value)))
        if hit is not None and hit[0] is schema and hit[1] is value:
            self.hits += 1
            return True
        return False

    def add(self, schema: dict[str, Any], key: str, value: Any) -> None:
        if len(self._known) >= self.limit:
            self._known.clear()
        self._known[(id(schema), key, id(value))] = (schema, value)


SETTLED = _Settled()


def _prune_and_default_root(obj: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`apply_defaults(prune(obj, schema, root=True), schema)`, with settled top-level
    values (see `_Settled`) kept as they are."""
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    out: dict[str, Any] = {}
    settled: set[str] = set()
    for key, item in obj.items():
        if key in _ROOT_KEPT:
            out[key] = item
            continue
        if isinstance(item, dict | list) and SETTLED.has(schema, key, item):
            out[key] = item
            settled.add(key)
            continue
        sub = _properties_schema(schema, key)
        if sub is None:
            if preserve:
                out[key] = item
            continue
        out[key] = prune(item, sub)
    for key, sub in (schema.get("properties") or {}).items():
        if "default" in sub and (
            key not in out or (out[key] is None and not sub.get("nullable", False))
        ):
            out[key] = prune(copy.deepcopy(sub["default"]), sub)
    for key, item in list(out.items()):
        if key in settled:
            continue
        sub = _properties_schema(schema, key)
        if sub is not None:
            out[key] = apply_defaults(item, sub)
    return out
