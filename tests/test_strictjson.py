"""Plain JSON only: the parser the executor and the Run form use, and the check on what
the schema importer stores and the executor sends."""

import json

import pytest

from actions.strictjson import first_problem, loads


def test_it_reads_plain_json():
    assert loads('{"a": [1, 2.5, -3e2, "x", true, null]}') == {
        "a": [1, 2.5, -300.0, "x", True, None]
    }


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"a": NaN}', "NaN is not a number JSON allows"),
        ("[-Infinity]", "-Infinity is not a number JSON allows"),
        ('{"distance": 1e400}', "1e400 is out of range"),
        ("[" + "1" * 4_301 + "]", "more than 4,300 digits"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"name": "\\ud800"}', "lone surrogate"),
    ],
)
def test_it_refuses_what_other_parsers_would_not_read_back(text, words):
    with pytest.raises(ValueError, match=words):
        loads(text)


def test_it_keeps_the_place_of_a_syntax_error():
    with pytest.raises(json.JSONDecodeError) as raised:
        loads('{\n  "a": 1,\n}')
    assert (raised.value.lineno, raised.value.colno) == (3, 1)


def test_it_finds_nothing_wrong_in_plain_json():
    assert first_problem({"a": [1, 2.5, "x\x00", True, None, {"b": []}]}) is None


@pytest.mark.parametrize(
    ("value", "path", "words"),
    [
        ({"a": [1, float("inf")]}, ["a", 1], "infinite number"),
        ({"a": {"b": float("nan")}}, ["a", "b"], "NaN"),
        ({"x-extra": b"hello"}, ["x-extra"], "binary data"),
        ({"tags": {"a", "b"}}, ["tags"], "a set"),
        ({"when": object()}, ["when"], "type object"),
        ({"a": {1: "b"}}, ["a"], "a key is not text"),
        ({"title": "Fu\x00zz"}, ["title"], "NUL character"),
        ({"paths": {"/a\x00": {}}}, ["paths"], "a key contains a NUL"),
        ({"summary": "half \ud800"}, ["summary"], "lone surrogate"),
    ],
)
def test_it_names_the_place_and_the_reason(value, path, words):
    found_path, reason = first_problem(value, allow_nul=False)
    assert found_path == path and words in reason


def test_it_limits_nesting_when_asked():
    deep = {"tags": []}
    inner = deep["tags"]
    for _ in range(200):  # far deeper than Python could recurse through, built without recursion
        inner.append([])
        inner = inner[0]
    path, reason = first_problem(deep, max_depth=100)
    assert path[0] == "tags" and len(path) == 100
    assert reason == "it is nested more than 100 levels deep"
    assert first_problem(deep) is None


def test_it_looks_at_a_shared_value_once():
    shared = [{"a": 1}] * 3  # what a YAML alias gives
    document = {"x": shared, "y": shared, "z": [float("inf")]}
    assert first_problem(document) == (["z", 0], first_problem(float("inf"))[1])
