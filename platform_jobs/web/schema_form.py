"""The enqueue form, generated from each job type's ``payload_schema``.

Every registered type (``all_job_types()``) gets a fieldset of its top-level properties, so a job
type added later appears with its fields without touching the page. Anything the form cannot
express is entered in the raw JSON textarea, which takes precedence when filled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from platform_jobs.jobs.registry import JobType, all_job_types

FIELD_PREFIX = "payload."


@dataclass(frozen=True)
class FormField:
    name: str
    kind: str  # integer, number, string, boolean, enum, json
    required: bool
    description: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: list[Any] = field(default_factory=list)

    @property
    def default_text(self) -> str:
        if self.default is None:
            return ""
        return json.dumps(self.default) if self.kind == "json" else str(self.default)


@dataclass(frozen=True)
class TypeForm:
    name: str
    queue: str
    max_attempts: int
    fields: list[FormField]
    example: str  # a JSON payload to start from in the raw textarea

    def input_name(self, spec: FormField) -> str:
        """Fields are named per type, so the form works even with every fieldset submitted."""
        return f"{FIELD_PREFIX}{self.name}.{spec.name}"


def _kind(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "enum"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), None)
    return kind if kind in ("integer", "number", "string", "boolean") else "json"


def fields_of(schema: Mapping[str, Any]) -> list[FormField]:
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    result = []
    for name, prop in properties.items():
        prop = prop if isinstance(prop, Mapping) else {}
        result.append(FormField(
            name=name, kind=_kind(prop), required=name in required,
            description=str(prop.get("description") or prop.get("title") or ""),
            default=prop.get("default"), minimum=prop.get("minimum"), maximum=prop.get("maximum"),
            choices=list(prop.get("enum") or []),
        ))
    return result


def type_forms(job_types: list[JobType] | None = None) -> list[TypeForm]:
    forms = []
    for job_type in job_types if job_types is not None else all_job_types():
        schema = job_type.policy.payload_schema
        fields = fields_of(schema)
        example = {f.name: f.default for f in fields if f.default is not None}
        forms.append(TypeForm(job_type.name, job_type.policy.queue, job_type.policy.max_attempts, fields,
                              json.dumps(example, indent=2) if example else "{}"))
    return forms


class FormError(ValueError):
    """A field of the enqueue form could not be read."""


def convert(spec: FormField, text: str) -> Any:
    """A field's text as its kind's value (FormError naming the field)."""
    try:
        if spec.kind == "integer":
            return int(text)
        if spec.kind == "number":
            return float(text)
        if spec.kind == "boolean":
            return text.lower() in ("true", "on", "1", "yes")
        if spec.kind == "enum":
            for choice in spec.choices:
                if str(choice) == text:
                    return choice
            raise ValueError(f"not one of {spec.choices}")
        if spec.kind == "json":
            return _parse_json(text)
    except ValueError as exc:
        raise FormError(f"{spec.name}: {exc}") from None
    return text


def _parse_json(text: str) -> Any:
    """``json.loads`` whose every failure is a ValueError (deep nesting overflows the parser's recursion)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def payload_from_form(type_form: TypeForm, form: Mapping[str, str]) -> dict[str, Any]:
    """The payload typed into the form; the raw JSON textarea wins when it is not empty."""
    raw = (form.get("raw_payload") or "").strip()
    if raw:
        try:
            parsed = _parse_json(raw)
        except ValueError as exc:
            raise FormError(f"raw JSON payload: {exc}") from None
        if not isinstance(parsed, dict):
            raise FormError("raw JSON payload must be an object")
        return parsed
    payload: dict[str, Any] = {}
    for spec in type_form.fields:
        text = (form.get(type_form.input_name(spec)) or "").strip()
        if text:
            payload[spec.name] = convert(spec, text)
    return payload
