"""The family interface and registry: every torch scheduler class has a family, junk is recognised as nothing,
and the LR comparison keeps the contract's truncation rule for SimpleTuner and a tight relative one for torch."""

from __future__ import annotations

import pytest
import torch.optim.lr_scheduler as torch_schedulers

from ckptfix.schedulers.families import (
    ABS_TOL,
    FAMILIES,
    REL_TOL,
    NeedsConfig,
    get_family,
    lrs_agree,
    recognise,
    recognise_all,
)


def test_every_torch_scheduler_class_has_a_family():
    """A new class in torch's lr_scheduler fails here until a family knows its state."""
    classes = {n for n in torch_schedulers.__all__ if n != "LRScheduler"}
    covered = {c for f in FAMILIES for c in f.torch_classes}
    assert classes <= covered, sorted(classes - covered)
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)


def test_every_family_says_where_its_math_comes_from_and_what_it_needs():
    for f in FAMILIES:
        assert f.source, f.name
        if not f.truncated:  # torch's own
            assert f.source.startswith("torch 2.13.0 torch/optim/lr_scheduler.py:"), f.name
        assert f.has_position == bool(f.position_keys), f.name
    assert get_family("LambdaLR").from_config and get_family("OneCycleLR").from_optimizer == ("max_lr", "min_lr")
    assert not get_family("ReduceLROnPlateau").has_position
    with pytest.raises(KeyError, match="expected one of"):
        get_family("Sine")


@pytest.mark.parametrize("junk", [None, 3, "x", [], {}, {"last_epoch": 3}, {1: 2}, {"gamma": 0.5}])
def test_junk_is_no_family(junk):
    assert recognise_all(junk) == [] and recognise(junk) is None


def test_lrs_agree_untruncated_is_relative():
    assert lrs_agree([1e-4], [1e-4 * (1 + 0.5 * REL_TOL)])
    assert not lrs_agree([1e-4], [1e-4 * (1 + 2 * REL_TOL)])
    assert lrs_agree([0.0], [ABS_TOL / 2]) and not lrs_agree([0.0], [1e-12])
    assert lrs_agree([1e-7], [1e-7 * (1 + 1e-7)], rel_tol=1e-6)
    for bad in ([True], ["1e-4"], [float("nan")], [1e-4, 1e-4], [], None):
        assert not lrs_agree(bad, [1e-4])


def test_lrs_agree_truncated_is_the_contract_rule():
    """SimpleTuner's own classes store floor(lr*1e9)/1e9: one truncation step either side."""
    assert lrs_agree([5.0499e-05], [5.04999e-05], truncated=True)
    assert not lrs_agree([5.0499e-05], [5.0501e-05], truncated=True)
    assert not lrs_agree([5.0499e-05], [5.04999e-05])  # not torch's untruncated value


def test_needs_config_names_what_is_missing():
    err = NeedsConfig("LambdaLR", ("the lr_lambda",), "torch does not save the lambda")
    assert isinstance(err, ValueError) and err.needs == ("the lr_lambda",)
    assert str(err) == "LambdaLR: torch does not save the lambda (needs the lr_lambda)"
