"""Schema text → document: the first stage of parse_schema (openapi.py), no database, no network.

Checks the size limit, loads JSON (text starting with "{") or YAML, and refuses what could not
be checked or stored as plain JSON: numbers too long for Python, YAML alias loops and alias
bombs, lone surrogates, NUL characters and whatever else strictjson finds. Syntax errors become
problems at "line N, column M"; duplicate keys, which both formats would silently drop, become
problems at their line (YAML) or place (JSON). The problem types SchemaProblem and SchemaError
(re-exported by openapi.py) and `_walk`, the walk over schema structure that skips literal data
(examples, defaults, enums), live here because every later stage uses them.
"""

import json
import re
from dataclasses import dataclass
from typing import NoReturn

import yaml

from actions import strictjson


@dataclass(frozen=True)
class SchemaProblem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class SchemaError(ValueError):
    def __init__(self, problems: list[SchemaProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


# Node budget: YAML aliases can make a small text expand exponentially, which would blow up
# the validator, json.dumps or a tool definition later.
_MAX_EXPANDED_NODES = 2_000_000
# Values that are data, not schema structure: a "$ref" inside them is not a reference.
_LITERAL_KEYS = {"example", "default", "enum", "const"}
_NAME_MAPS = {"properties", "patternProperties", "$defs", "definitions"}


def _fail(where: str, message: str) -> NoReturn:
    raise SchemaError([SchemaProblem(where, message)])


def _where(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _human_size(size: int, other: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        number, other_number = (f"{n / scale:.2f}".rstrip("0").rstrip(".") for n in (size, other))
        # Exact bytes when rounding would make both look the same ("1 MB; the limit is 1 MB").
        if size >= scale and number != other_number:
            return f"{number} {unit}"
    return f"{size:,} bytes"


def _load(text: str, max_bytes: int) -> tuple[dict, list[SchemaProblem]]:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        a, b = _human_size(size, max_bytes), _human_size(max_bytes, size)
        _fail("(document)", f"The schema is {a}; the limit is {b}.")
    text = text.removeprefix("\ufeff")  # a BOM from a text editor; json.loads rejects it
    if not text.strip():
        _fail("(document)", "The schema is empty.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:  # only from a str built in Python, never from a file
        where = f"line {text.count(chr(10), 0, error.start) + 1}"
        _fail(where, "The text has a lone surrogate character, which is not valid Unicode.")
    load = _load_json if text.lstrip().startswith("{") else _load_yaml
    document, problems = load(text)
    if document is None:
        _fail("(document)", "The schema is empty.")
    if not isinstance(document, dict):
        kind = "a list" if isinstance(document, list) else "plain text"
        _fail("(document)", f"The schema must be a mapping (openapi, info, paths...), not {kind}.")
    # What is stored (operations as JSON, in PostgreSQL too) must be plain JSON without NUL.
    found = strictjson.first_problem(document, allow_nul=False)
    if found:
        path, reason = found
        _fail(_where(path) or "(document)", reason[:1].upper() + reason[1:] + ".")
    return document, problems


def _long_number(text: str) -> NoReturn:
    runs = re.finditer(r"\d+", text)
    match = next((run for run in runs if len(run.group()) > strictjson.MAX_DIGITS), None)
    where = f"line {text.count(chr(10), 0, match.start()) + 1}" if match else "(document)"
    _fail(where, f"A number has more than {strictjson.MAX_DIGITS:,} digits.")


def _load_json(text: str) -> tuple[object, list[SchemaProblem]]:
    repeated = []  # (object, key): json.loads would keep the last value silently

    def pairs_hook(pairs):
        obj = {}
        for key, value in pairs:
            if key in obj:
                repeated.append((obj, key))
            obj[key] = value
        return obj

    try:
        document = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as error:
        _fail(f"line {error.lineno}, column {error.colno}", f"{error.msg}.")
    except ValueError:  # Python reads no int of over 4,300 digits
        _long_number(text)
    # The hook sees no position, so look up where each object with a repeated key sits.
    places = {id(node): path for path, node in _walk(document)} if repeated else {}
    message = "Duplicate key '{}': only the last one would be kept. Remove or rename one."
    problems = [
        SchemaProblem(_where([*places.get(id(obj), []), key]), message.format(key))
        for obj, key in repeated
    ]
    return document, problems


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe loader that records duplicate keys and keeps the document JSON-compatible."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[str, int, int]] = []  # key, line, first line

    def construct_mapping(self, node, deep=False):
        first_line = {}
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
            # Keys from a `<<` merge may be overridden by explicit keys: not duplicates.
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in first_line:
                    self.duplicates.append((key, line, first_line[key]))
                first_line.setdefault(key, line)
        mapping = super().construct_mapping(node, deep=deep)
        # `200:` is an int in YAML; JSON (and so the validator) only has string keys.
        return {key if isinstance(key, str) else str(key): value for key, value in mapping.items()}

    def construct_yaml_int(self, node):
        try:
            value = super().construct_yaml_int(node)
            str(value)  # a hex or octal int is read whatever its length, but not written
        except ValueError:
            message = f"a number has more than {strictjson.MAX_DIGITS:,} digits"
            raise yaml.constructor.ConstructorError(None, None, message, node.start_mark) from None
        return value


# Dates stay text, as in JSON, so that the document can be validated and stored as JSON.
_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
_YamlLoader.add_constructor("tag:yaml.org,2002:int", _YamlLoader.construct_yaml_int)


def _load_yaml(text: str) -> tuple[object, list[SchemaProblem]]:
    loader = _YamlLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = " ".join(part for part in (error.context, error.problem) if part)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        _fail(where, message[:1].upper() + message[1:] + ".")
    except yaml.YAMLError as error:
        _fail("(document)", str(error)[:200])
    finally:
        loader.dispose()
    if "&" in text and "*" in text:  # only anchors with aliases can share or loop
        _check_expansion(document, {}, set())
    message = "Duplicate key '{}' (first at line {}): YAML keeps only the last one. Remove one."
    problems = [
        SchemaProblem(f"line {line}", message.format(key, first))
        for key, line, first in loader.duplicates
    ]
    return document, problems


def _check_expansion(node, sizes: dict, active: set) -> int:
    """Count nodes as if YAML aliases were copies; reject loops and alias bombs."""
    if not isinstance(node, dict | list):
        return 1
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in active:
        _fail("(document)", "The schema contains itself (a YAML alias loop).")
    active.add(id(node))
    children = node.values() if isinstance(node, dict) else node
    total = sizes[id(node)] = 1 + sum(_check_expansion(c, sizes, active) for c in children)
    active.discard(id(node))
    if total > _MAX_EXPANDED_NODES:
        _fail("(document)", "The schema expands to too much data (YAML aliases).")
    return total


# ---- schema structure ---------------------------------------------------------------------


def _walk(document):
    """Yield (path, node) for every dict and list that is schema structure, not data."""
    stack = [([], document)]
    while stack:
        path, node = stack.pop()
        yield path, node
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in reversed(list(children)):  # reversed: pop in document order
            if isinstance(child, dict | list) and not _is_literal(path, key, child):
                stack.append(([*path, key], child))


def _is_literal(path: list, key, child) -> bool:
    if path and path[-1] in _NAME_MAPS:  # a property called "default" is still a schema
        return False
    if key in _LITERAL_KEYS or (key == "examples" and isinstance(child, list)):
        return True
    return key == "value" and len(path) > 1 and path[-2] == "examples"  # an Example Object
