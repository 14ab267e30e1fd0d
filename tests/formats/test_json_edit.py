"""formats/json_edit.py: one top-level value changed, every other byte kept."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckptfix.formats.json_edit import JsonEditError, insert_top_level_value, replace_top_level_value, top_level_text


def test_simpletuners_file_keeps_its_bytes():
    text = '{"global_step": 20, "epoch_step": 22, "epoch": 3, "exhausted_backends": [], "repeats": {"tiny": 0}}'
    assert replace_top_level_value(text, "epoch_step", 20) == text.replace('"epoch_step": 22', '"epoch_step": 20')


def test_only_the_top_level_key_and_formatting_kept():
    text = '{\n  "a": {"epoch_step": 1},\n  "epoch_step" :  22 , "z":[1]\n}\n'
    assert replace_top_level_value(text, "epoch_step", 20) == text.replace("22", "20")


@pytest.mark.parametrize("text, message", [
    ('{"epoch_step": 1, "epoch_step": 2}', "2 times"),
    ('{"global_step": 1}', "no top-level key"),
    ("[1, 2]", "not a JSON object"),
    ('{"epoch_step": 1} x', "after the object"),
    ('{"epoch_step": 1,}', "expected a key"),
    ('{"epoch_step" 1}', "expected ':'"),
    ('{"epoch_step": 1 "b": 2}', "expected ','"),
    ('{"epoch_step": tru}', "Expecting value"),
])
def test_refuses_what_it_cannot_edit_unambiguously(text, message):
    with pytest.raises(JsonEditError, match=message):
        replace_top_level_value(text, "epoch_step", 5)


values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                      lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                      max_leaves=8)


@given(obj=st.dictionaries(st.text(max_size=6), values, max_size=5), indent=st.sampled_from([None, 0, 2]),
       new=st.integers(-5, 10**6))
def test_any_object_any_layout(obj, indent, new):
    obj = {**obj, "epoch_step": 1}
    text = json.dumps(obj, indent=indent, ensure_ascii=bool(indent))
    out = replace_top_level_value(text, "epoch_step", new)
    want = dict(obj)
    want["epoch_step"] = new
    assert json.loads(out) == want and list(json.loads(out)) == list(want)
    assert len(out) - len(text) == len(str(new)) - 1  # only the value's characters changed


def test_insert_puts_the_key_after_another_and_keeps_every_byte():
    text = '{"global_step": 20, "epoch": 3, "repeats": {}}'
    assert insert_top_level_value(text, "epoch_step", 20, after="global_step") == (
        '{"global_step": 20, "epoch_step": 20, "epoch": 3, "repeats": {}}')
    assert insert_top_level_value(text, "epoch_step", 20, after="nope") == (
        '{"epoch_step": 20, "global_step": 20, "epoch": 3, "repeats": {}}')
    assert insert_top_level_value(" {\n} ", "epoch_step", 5) == ' {"epoch_step": 5\n} '


@pytest.mark.parametrize("text, message", [
    ('{"epoch_step": 1}', "there already"), ('{"global_step": 1, "global_step": 2}', "2 times"), ("[1]", "not a JSON object"),
])
def test_insert_refuses(text, message):
    with pytest.raises(JsonEditError, match=message):
        insert_top_level_value(text, "epoch_step", 20, after="global_step")


def test_top_level_text_is_the_value_as_written():
    text = '{"a": {"epoch_step": 1}, "epoch_step": 1e400, "s": "x\\"y", "l": [1 , 2]}'
    assert [top_level_text(text, k) for k in ("epoch_step", "s", "l", "missing")] == ["1e400", '"x\\"y"', "[1 , 2]", None]
    assert top_level_text("[1]", "a") is None and top_level_text("{bad", "a") is None
