"""The GPT page's Run form: an operation's parameters as inputs, typed text back as arguments.

Each value is coerced by its parameter's JSON schema type, and each problem names its field
("days: enter a whole number"); the executor then checks the arguments against the schema.
"""

import json
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from actions import strictjson
from actions.executor import BODY_ARGUMENT
from actions.models import Operation

BODY_FIELD = "_body"  # not "body": that is a common parameter name
BODY_LABEL = "Request body (JSON)"
KINDS = {"string", "integer", "number", "boolean", "enum", "array", "object"}
NOT_SET = ("", "(not set)")
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")


def schema_kind(schema: Any) -> str:
    """How a value is typed in: string, integer, number, boolean, enum, array or object."""
    if not isinstance(schema, dict):
        return "string"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return "enum"
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1: ["integer", "null"]
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    return kind if kind in KINDS else "string"


def parse_json(text: str) -> Any:
    try:
        return strictjson.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not valid JSON at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # NaN, 1e400, more than 4,300 digits, absurd nesting
        raise ValidationError(f"not valid JSON: {exc}") from None


def _enum_choice(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def coerce(kind: str, text: str, schema: dict) -> Any:
    """The JSON value of `text` typed into a `kind` input; ValidationError says what to fix."""
    if kind == "integer":
        if not _WHOLE_NUMBER.fullmatch(text):
            raise ValidationError("enter a whole number")
        return _whole_number(text)
    if kind == "number":
        if _WHOLE_NUMBER.fullmatch(text):
            return _whole_number(text)
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if number != number or number in (float("inf"), float("-inf")):
            raise ValidationError("enter a number")
        return number
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValidationError("choose true or false")
        return text.lower() == "true"
    if kind == "enum":
        values = {_enum_choice(v): v for v in schema["enum"]}
        if text not in values:
            raise ValidationError("choose one of the listed values")
        return values[text]
    if kind == "array":
        return _array(text, schema)
    if kind == "object":
        value = parse_json(text)
        if not isinstance(value, dict):
            raise ValidationError('enter a JSON object, like {"key": "value"}')
        return value
    return text


def _whole_number(text: str) -> int:
    if len(text.lstrip("+-")) > strictjson.MAX_DIGITS:  # int() would refuse it
        raise ValidationError(f"enter a number of at most {strictjson.MAX_DIGITS:,} digits")
    return int(text)


def _array(text: str, schema: dict) -> list:
    if text.startswith("["):
        value = parse_json(text)
        if not isinstance(value, list):
            raise ValidationError("enter a JSON array")
        return value
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    kind = schema_kind(items)
    if kind in ("array", "object"):
        raise ValidationError("enter a JSON array")
    values = []
    for number, part in enumerate(text.split(","), start=1):
        try:
            values.append(coerce(kind, part.strip(), items))
        except ValidationError as exc:
            raise ValidationError(f"item {number}: {exc.messages[0]}") from None
    return values


class ArgumentField(forms.Field):
    """One argument typed as text; cleans to its JSON value, or None when left empty."""

    def __init__(self, *, kind: str, schema: dict, **kwargs):
        self.kind, self.schema = kind, schema
        kwargs.setdefault("error_messages", {"required": "enter a value"})
        super().__init__(**kwargs)

    def to_python(self, value):
        text = value if isinstance(value, str) else ""
        if not text.strip():
            return None
        if self.kind == "string":
            return text  # as typed: spaces may matter
        if self.kind == "body":
            return parse_json(text.strip())
        return coerce(self.kind, text.strip(), self.schema)


def _widget(kind: str, schema: dict) -> forms.Widget:
    hint = schema.get("example", schema.get("default"))
    attrs = {"placeholder": _enum_choice(hint)} if hint is not None else {}
    if kind in ("integer", "number"):
        attrs["step"] = "1" if kind == "integer" else "any"
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if isinstance(schema.get(key), int | float) and not isinstance(schema[key], bool):
                attrs[attr] = schema[key]
        return forms.NumberInput(attrs=attrs)
    if kind == "boolean":
        return forms.Select(choices=[NOT_SET, ("true", "true"), ("false", "false")])
    if kind == "enum":
        values = [_enum_choice(v) for v in schema["enum"]]
        return forms.Select(choices=[NOT_SET, *((v, v) for v in values)])
    if kind == "object":
        return forms.Textarea(attrs={**attrs, "rows": 3, "class": "code", "spellcheck": "false"})
    if kind == "string" and schema.get("format") == "date":
        return forms.DateInput(attrs={**attrs, "type": "date"})
    return forms.TextInput(attrs=attrs)


def argument_field(param: dict) -> ArgumentField:
    schema = param.get("schema") if isinstance(param.get("schema"), dict) else {}
    kind = schema_kind(schema)
    help_text = param.get("description") or schema.get("description") or ""
    if kind == "array":
        help_text = f"{help_text} Separate values with commas, or write a JSON array.".strip()
    if kind == "object":
        help_text = f"{help_text} A JSON object.".strip()
    return ArgumentField(
        kind=kind,
        schema=schema,
        label=param["name"],
        required=bool(param.get("required")),
        help_text=help_text,
        widget=_widget(kind, schema),
    )


def body_skeleton(schema: Any) -> str:
    """JSON text to start editing from: the schema's example, or its properties left blank."""
    if not isinstance(schema, dict) or not (schema.get("type") or schema.get("properties")):
        return "{}"
    return json.dumps(_example(schema, depth=0), indent=2, ensure_ascii=False, default=str)


def _example(schema: Any, *, depth: int) -> Any:
    if not isinstance(schema, dict):
        return ""
    if "example" in schema:
        return schema["example"]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema_kind(schema)
    if kind == "enum":
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict) or depth >= 3:
            return {}
        names = list(properties)[:50]
        return {name: _example(properties[name], depth=depth + 1) for name in names}
    return {"integer": 0, "number": 0, "boolean": False, "array": []}.get(kind, "")


class OperationForm(forms.Form):
    """The Run form of one operation: a field per parameter, and the request body as JSON."""

    prefix = "arg"  # keeps parameter names apart from the page's own fields (confirm, action)

    def __init__(self, operation: Operation, data=None):
        super().__init__(data, auto_id=f"op-{operation.operation_id}-%s", label_suffix="")
        self.operation = operation
        for param in operation.parameters:
            self.fields[param["name"]] = argument_field(param)
        if operation.request_body is not None:
            self.fields[BODY_FIELD] = ArgumentField(
                kind="body",
                schema=operation.request_body,
                label=BODY_LABEL,
                required=operation.request_body_required,
                initial=body_skeleton(operation.request_body),
                error_messages={"required": "enter a JSON value"},
                widget=forms.Textarea(
                    attrs={"rows": 8, "class": "code request-body", "spellcheck": "false"}
                ),
            )

    def arguments(self) -> dict:
        """The cleaned values as executor arguments; empty inputs are left out."""
        arguments = {
            name: value
            for name, value in self.cleaned_data.items()
            if value is not None and name != BODY_FIELD
        }
        if self.cleaned_data.get(BODY_FIELD) is not None:
            arguments[BODY_ARGUMENT] = self.cleaned_data[BODY_FIELD]
        return arguments

    def problems(self) -> list[str]:
        """Every field error as "name: what to fix"."""
        return [
            f"{'Request body' if name == BODY_FIELD else name}: {message}"
            for name, messages in self.errors.items()
            for message in messages
        ]
