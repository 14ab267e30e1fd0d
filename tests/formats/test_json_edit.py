"""formats/json_edit.py: one top-level value changed, every other byte kept."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckptfix.formats.json_edit import JsonEditError, replace_top_level_value


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
