"""Plain JSON: what every JSON parser reads back, and what the database can store.

Python's json module reads NaN, Infinity and numbers out of float range (1e400 becomes
float inf), then writes them back as bare words that other parsers refuse; YAML adds bytes,
sets and .inf. `loads` refuses all of them in text, `first_problem` finds them in a value.
"""

import json
import math
from typing import Any

MAX_DIGITS = 4300  # Python's limit for int ↔ text (sys.get_int_max_str_digits)


def no_constant(name: str):
    """For json.loads(parse_constant=...): NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:20]} is out of range for a number")
    return number


def _whole(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"a number has more than {MAX_DIGITS:,} digits")
    return int(text)


def loads(text: str | bytes) -> Any:
    """JSON text → value. ValueError (json.JSONDecodeError for syntax, with its place) for
    anything but plain JSON: NaN, Infinity, 1e400, over 4,300 digits, absurd nesting, and
    a lone surrogate ("\\ud800"), which no UTF-8 page or JSON answer can carry."""
    try:
        value = json.loads(text, parse_constant=no_constant, parse_float=_finite, parse_int=_whole)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    problem = first_problem(value)
    if problem:
        raise ValueError(problem[1])
    return value


def first_problem(
    value: Any, *, max_depth: int | None = None, allow_nul: bool = True
) -> tuple[list, str] | None:
    """The first place in `value` that plain JSON cannot carry, as (path, reason), or None.

    Refused: NaN and infinite numbers, bytes, sets and other non-JSON types, keys that are not
    text, lone surrogates (not Unicode text); nesting deeper than `max_depth` containers; NUL
    characters unless `allow_nul` (PostgreSQL stores none in text or jsonb). `path` lists the
    keys and indexes from the top; iterative, so any depth is safe.
    """
    stack, seen = [([], value)], set()
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict | list):
            if max_depth is not None and len(path) >= max_depth:
                return path, f"it is nested more than {max_depth} levels deep"
            if id(node) in seen:  # a YAML alias: the same object again
                continue
            seen.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in reversed(list(items)):  # reversed: popped in document order
                reason = _text_problem(key, allow_nul) if isinstance(node, dict) else None
                if reason:
                    return path, f"a key {reason}"
                stack.append(([*path, key], child))
            continue
        reason = _value_problem(node, allow_nul)
        if reason:
            return path, reason
    return None


def _value_problem(value, allow_nul: bool) -> str | None:
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return "an infinite number (such as 1e400 or .inf) or NaN is not JSON"
        return None
    if isinstance(value, str):
        reason = _text_problem(value, allow_nul)
        return f"the text {reason}" if reason else None
    if isinstance(value, bytes):
        return "binary data is not JSON; write it as text"
    if isinstance(value, set | frozenset):
        return "a set is not JSON; write it as a list"
    return f"a value of type {type(value).__name__} is not JSON"


def _text_problem(text, allow_nul: bool) -> str | None:
    if not isinstance(text, str):
        return "is not text"
    if not allow_nul and "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            return f"contains a lone surrogate ({text[error.start]!r}), which is not a character"
    return None
