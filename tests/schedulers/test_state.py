"""Reading a decoded state: the values the math uses, each checked for the type torch writes, never an exception."""

from __future__ import annotations

from ckptfix.schedulers.families.state import match_from, param_int, param_real, param_str


def test_params_are_coerced_or_explained():
    ev: list[str] = []
    state = {"a": 3, "b": 4.0, "c": True, "d": "x", "e": float("inf"), "f": 0.5}
    assert param_int(state, "a", ev) == 3 and param_int(state, "b", ev) == 4
    assert param_int(state, "c", ev) is None and param_int(state, "a", ev, 5) is None and param_int(state, "z", ev) is None
    assert param_real(state, "f", ev) == 0.5 and param_real(state, "e", ev) is None and param_real(state, "d", ev) is None
    assert param_str(state, "d", ev, ("x",)) == "x" and param_str(state, "a", ev, ("x",)) is None
    assert ev == ["b is stored as a float (4.0).", "c=True is not an integer.", "a=3 is not an integer >= 5.",
                  "no 'z'.", "e=inf is not a finite number.", "d='x' is not a finite number.", "a=3 is not one of x."]


def test_common_fields():
    m = match_from({"last_epoch": 4, "_step_count": 5, "base_lrs": [0.1, 0.2], "_last_lr": [0.05, 0.1]}, "F", "F", {}, [])
    assert (m.position, m.step_count, m.base_lrs, m.last_lr, m.evidence) == (4, 5, (0.1, 0.2), (0.05, 0.1), ())
    tensors = match_from({"last_epoch": 1, "_last_lr": [object()]}, "F", "F", {}, [])
    assert tensors.last_lr is None and any("_last_lr is not a list of finite numbers" in e for e in tensors.evidence)
    nothing = match_from({}, "F", "F", {}, [])
    assert nothing.position is None and "no 'last_epoch': no position." in nothing.evidence
