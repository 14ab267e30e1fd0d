"""jsonable: decoded values as strict JSON values."""

from __future__ import annotations

import json
from pathlib import Path

from ckptfix.api.values import jsonable
from ckptfix.formats.objects import TensorRef


def test_plain_values_stay_and_the_rest_becomes_json():
    assert jsonable([1, 2.5, "x", None, True]) == [1, 2.5, "x", None, True]
    assert jsonable(float("nan")) == "nan" and jsonable(float("-inf")) == "-inf"
    assert jsonable((1, {2: b"abc"})) == [1, {"2": "<3 bytes>"}]
    assert jsonable(Path("a/b")) == "a/b"
    t = TensorRef.__new__(TensorRef)
    assert isinstance(jsonable(object()), str) and callable(getattr(t, "describe", None))
    deep: list = []
    cur = deep
    for _ in range(20):
        cur.append([])
        cur = cur[0]
    json.dumps(jsonable(deep), allow_nan=False)  # nesting is cut, never an error
