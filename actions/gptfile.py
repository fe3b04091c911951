"""GPT files: a GPT as YAML that builders keep in version control (see SPEC.md, "GPT files").

Secrets never leave in an export: each is written as `${ENV_VAR}`, and on import a secret may
be a literal or `${ENV_VAR}` read from the environment.
"""

import os
import re
from collections.abc import Hashable

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from actions import strictjson
from actions.authentication import (
    AUTH_FIELDS,
    OPTIONAL_DEFAULTS,
    SECRET_FIELDS,
    clean_authentication,
    save_authentication,
)
from actions.models import GPT, Action
from actions.openapi import SchemaError
from actions.schemas import save_action_schema
from actions.validation import format_params

ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
GPT_KEYS = {"name", "description", "privacy_policy_url", "visibility", "actions"}
ACTION_KEYS = {"schema", "authentication"}
# The file says `auth_type` for what the model calls `api_key_auth_type` (SPEC.md, GPT files).
FILE_KEY = {"api_key_auth_type": "auth_type"}
MODEL_FIELD = {file_key: field for field, file_key in FILE_KEY.items()}
AUTH_KEYS = {"type", *{FILE_KEY.get(n, n) for names in AUTH_FIELDS.values() for n in names}}
# Extra request parameters: `key=value` lines as text, or a YAML mapping.
PARAM_KEYS = {"extra_authorization_params", "extra_token_params"}


class GPTFileError(ValueError):
    def __init__(self, line: int | None, message: str):
        self.line, self.message = line, message
        super().__init__(f"line {line}: {message}" if line else message)


# --- export --------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def secret_env_name(action: Action, field: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", f"{action.domain}_{field}".upper()).strip("_")


def export_gpt(gpt: GPT) -> str:
    """The GPT as YAML text; secrets appear only as ${ENV_VAR} references."""
    actions = []
    for action in gpt.actions.all():
        auth = {"type": action.auth_type}
        for name in AUTH_FIELDS[action.auth_type]:
            if name in SECRET_FIELDS:
                auth[name] = "${" + secret_env_name(action, name) + "}"
            elif name == "custom_header_name" and action.api_key_auth_type != "custom":
                continue
            elif name in OPTIONAL_DEFAULTS and getattr(action, name) == OPTIONAL_DEFAULTS[name]:
                continue  # a provider option at its default: the file stays as before
            else:
                auth[FILE_KEY.get(name, name)] = getattr(action, name)
        actions.append({"schema": action.schema_text, "authentication": auth})
    data = {
        "name": gpt.name,
        "description": gpt.description,
        "privacy_policy_url": gpt.privacy_policy_url,
        "visibility": gpt.visibility,
        "actions": actions,
    }
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


# --- import --------------------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """Records the line of every mapping key (in `.lines`) and refuses duplicate keys."""


def _construct_mapping(loader, node):
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):  # `? [a, b]`: a list or mapping as a key
            raise GPTFileError(key_node.start_mark.line + 1, "a key must be text")
        if key in mapping:
            raise GPTFileError(key_node.start_mark.line + 1, f"duplicate key {key!r}")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


class LineDict(dict):
    def __init__(self):
        super().__init__()
        self.lines: dict = {}
        self.line = None


def _construct_int(loader, node) -> int:
    try:
        value = loader.construct_yaml_int(node)
        str(value)  # a hex or octal int is read whatever its length, but not written
    except ValueError:
        message = f"a number has more than {strictjson.MAX_DIGITS:,} digits"
        raise GPTFileError(node.start_mark.line + 1, message) from None
    return value


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _load(text: str) -> LineDict:
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise GPTFileError(
            mark.line + 1 if mark else None, f"not valid YAML: {exc.problem}"
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, raw
        line = text.count("\n", 0, exc.position) + 1
        message = f"not valid YAML: character #x{exc.character:04x}: {exc.reason}"
        raise GPTFileError(line, message) from None
    except RecursionError:
        raise GPTFileError(None, "not valid YAML: nested too deeply") from None
    if not isinstance(data, LineDict):
        raise GPTFileError(1, "a GPT file is a YAML mapping with name, actions, ...")
    return data


def _check_keys(mapping: LineDict, allowed: set, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise GPTFileError(
                mapping.lines[key],
                f"unknown key {key!r} in {what} (known: {', '.join(sorted(allowed))})",
            )


def _text(mapping: LineDict, key: str, *, required=False) -> str:
    value = mapping.get(key)
    if value is None:
        if required:
            raise GPTFileError(mapping.line, f"{key} is required")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise GPTFileError(mapping.lines[key], f"{key} must be text")
    if isinstance(value, str) and "\x00" in value:  # a YAML "\0" escape; no database stores it
        raise GPTFileError(mapping.lines[key], f"{key} cannot contain a NUL character (\\0)")
    return str(value)


def _param_text(value) -> str:
    if isinstance(value, bool):  # YAML `true` means the text true, as in a query string
        return "true" if value else "false"
    return "" if value is None else str(value)


def _secret(value: str, *, line: int, env) -> str:
    match = ENV_REFERENCE.match(value.strip())
    if not match:
        return value
    name = match.group(1)
    if name not in env:
        raise GPTFileError(line, f"environment variable {name} is not set")
    return env[name]


def _import_action(gpt: GPT, item, index: int, env) -> None:
    where = f"actions[{index}]"
    if not isinstance(item, LineDict):
        raise GPTFileError(None, f"{where} must be a mapping with schema and authentication")
    _check_keys(item, ACTION_KEYS, where)
    schema = _text(item, "schema", required=True)
    try:
        action, _ = save_action_schema(gpt=gpt, text=schema, action=None)
    except SchemaError as exc:
        first = exc.problems[0]
        raise GPTFileError(item.lines["schema"], f"{where}.schema: {first}") from None
    auth = item.get("authentication") or LineDict()
    if not isinstance(auth, LineDict):
        raise GPTFileError(
            item.lines.get("authentication"), f"{where}.authentication must be a mapping"
        )
    _check_keys(auth, AUTH_KEYS, f"{where}.authentication")
    raw = {"auth_type": _text(auth, "type") or "none"}
    for key in AUTH_KEYS - {"type"}:
        if isinstance(auth.get(key), bool):  # pkce_enabled, require_iss: true / false
            value = "on" if auth[key] else "off"
        elif key in PARAM_KEYS and isinstance(auth.get(key), dict):
            value = format_params((str(k), _param_text(v)) for k, v in auth[key].items())
        else:
            value = _text(auth, key)
        if key in SECRET_FIELDS and value:
            value = _secret(value, line=auth.lines[key], env=env)
        raw[MODEL_FIELD.get(key, key)] = value
    try:
        cleaned = clean_authentication(raw, action=action)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        key = "type" if field == "auth_type" else FILE_KEY.get(field, field)
        raise GPTFileError(
            auth.lines.get(key, auth.line), f"{where}.authentication: {messages[0]}"
        ) from None
    save_authentication(action, cleaned)


@transaction.atomic
def import_gpt(text: str, *, owner, env=None) -> GPT:
    """Create a GPT from a GPT file. Any problem raises GPTFileError and creates nothing."""
    env = os.environ if env is None else env
    data = _load(text)
    _check_keys(data, GPT_KEYS, "the GPT")
    visibility = _text(data, "visibility") or GPT.Visibility.ONLY_ME
    if visibility not in GPT.Visibility.values:
        raise GPTFileError(data.lines["visibility"], "visibility must be only_me or link")
    gpt = GPT(
        owner=owner,
        name=_text(data, "name", required=True),
        description=_text(data, "description"),
        privacy_policy_url=_text(data, "privacy_policy_url"),
        visibility=visibility,
    )
    try:
        gpt.full_clean()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise GPTFileError(data.lines.get(field, data.line), f"{field}: {messages[0]}") from None
    gpt.save()
    actions = data.get("actions") or []
    if not isinstance(actions, list):
        raise GPTFileError(data.lines["actions"], "actions must be a list")
    for index, item in enumerate(actions):
        _import_action(gpt, item, index, env)
    return gpt
