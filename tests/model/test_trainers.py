"""Trainer resume models (ckptfix/model/trainers/): detection, release ranges, the --trainer parser, and
each trainer's "latest" rule — checked against SimpleTuner 3.1.6's own CheckpointManager where it runs."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from ckptfix.model.trainers import (
    ACCELERATE,
    DIFFUSERS,
    KOHYA,
    SIMPLETUNER,
    TRANSFORMERS,
    VersionRange,
    detect_trainer,
    installed_version,
    parse_spec,
    parse_version,
)
from tests.helpers import FIXTURES

RUNS = FIXTURES / "simpletuner_runs"


def labels(spec: str) -> list[str]:
    return [r.label for r in SIMPLETUNER.rules_for(parse_spec(spec).versions)]


def test_release_ranges_and_their_rules():
    assert [(r.last_epoch_from, r.saves_on, r.formula) for r in SIMPLETUNER.rules] == [
        ("epoch_step", "main", "simpletuner-sine-v2"), ("epoch_step", "all", "simpletuner-sine-v2"),
        ("global_step", "all", "simpletuner-sine-v2")]
    assert labels("simpletuner==3.1.6") == ["SimpleTuner 1.0 to < 4.9.3"]
    assert labels("simpletuner==4.9.3") == ["SimpleTuner 4.9.3 to < 4.10.0"]
    assert labels("simpletuner>=4.10") == labels("simpletuner==4.10.1") == ["SimpleTuner >= 4.10.0"]
    assert labels("simpletuner<=4.9.3") == ["SimpleTuner 1.0 to < 4.9.3", "SimpleTuner 4.9.3 to < 4.10.0"]
    # a 4.9.4 would fall in the 4.9.3 range; "< 4.9.3.0.1" stays out of it
    assert labels("simpletuner>4.9.3") == ["SimpleTuner 4.9.3 to < 4.10.0", "SimpleTuner >= 4.10.0"]
    assert labels("simpletuner<4.9.3") == ["SimpleTuner 1.0 to < 4.9.3"]
    assert len(labels("simpletuner>=4")) == 3 and len(labels("simpletuner")) == 3
    assert labels("simpletuner<1.0") == []
    for t in (KOHYA, DIFFUSERS, ACCELERATE, TRANSFORMERS):
        assert len(t.rules) == 1 and t.rules[0].last_epoch_from == "stored"


@pytest.mark.parametrize("text, message", [
    ("simpletuner~=4", "cannot read"), ("simpletuner!=4", "cannot read"), ("foo>=1", "unknown trainer"),
    ("simpletuner>=5,<4", "no release"), ("", "expected NAME"), ("simpletuner>=x", "cannot read"),
])
def test_trainer_spec_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(text)


def test_versions():
    assert parse_version("4.10.1") == (4, 10, 1) and parse_version("3.1.6.dev0") == (3, 1, 6)
    assert parse_version("v4") == (4,) and parse_version("dev") is None
    r = VersionRange((4, 9, 3), (4, 10))
    assert r.contains((4, 9, 3)) and r.contains((4, 9, 3, 1)) and not r.contains((4, 10, 0)) and not r.contains((4, 9))
    assert parse_spec("Simpletuner == 3.1.6").name == "simpletuner"
    above, at_most = parse_spec("simpletuner>4.9.3").versions, parse_spec("simpletuner<=4.9.3").versions
    assert not above.contains((4, 9, 3)) and above.contains((4, 9, 3, 1)) and above.contains((4, 9, 4))
    assert at_most.contains((4, 9, 3)) and at_most.contains((4, 9, 3, 0)) and not at_most.contains((4, 9, 3, 1))
    exact = parse_spec("simpletuner==4.9").versions
    assert exact.contains((4, 9)) and exact.contains((4, 9, 0)) and not exact.contains((4, 9, 1))


@pytest.mark.parametrize("folder, trainer", [
    (RUNS / "b-n1-7-batches-per-epoch/stock/checkpoint-20", SIMPLETUNER),
    (FIXTURES / "other_trainers/kohya/tiny-state", KOHYA),
    (FIXTURES / "other_trainers/diffusers/checkpoint-30", DIFFUSERS),
    (FIXTURES / "other_trainers/accelerate-auto/checkpoints/checkpoint_1", ACCELERATE),
    (FIXTURES / "trainers/hf-trainer-tf4/checkpoint-8", TRANSFORMERS),
])
def test_detect(folder, trainer):
    assert detect_trainer(folder.name, frozenset(p.name for p in folder.iterdir()), folder.parent.name) is trainer


def test_simpletuner_latest_rule():
    pick = SIMPLETUNER.latest(["checkpoint-20", "checkpoint-100", "checkpoint-300-tmp", "checkpoint-250-rolling", "x"])
    assert pick.chosen == ("checkpoint-250-rolling",) and pick.sure and not pick.broken_by
    tie = SIMPLETUNER.latest(["checkpoint-30-rolling", "checkpoint-30", "checkpoint-20"])
    assert tie.chosen == ("checkpoint-30", "checkpoint-30-rolling") and not tie.sure and "os.listdir" in tie.reason
    broken = SIMPLETUNER.latest(["checkpoint-30", "checkpoints", "checkpoint-best", "checkpoint-9-tmp"])
    assert broken.chosen == ("checkpoint-30",) and broken.broken_by == ("checkpoint-best", "checkpoints")
    assert "new training run" in broken.broken_effect
    assert SIMPLETUNER.latest([]).chosen == ()


needs_simpletuner = pytest.mark.skipif(
    importlib.util.find_spec("simpletuner") is None and not os.environ.get("CI"),
    reason="simpletuner 3.1.6 not installed (fixtures/simpletuner_runs/README.md)",
)


@needs_simpletuner
@pytest.mark.parametrize("names", [
    ["checkpoint-20", "checkpoint-30", "checkpoint-30-rolling", "checkpoint-40-tmp"],
    ["checkpoint-30", "checkpoint-5", "checkpoint-0030-x"],
    ["checkpoint-30", "checkpoint-best"],
    ["checkpoints", "checkpoint-7"],
    ["checkpoint-1_0", "checkpoint-9"],  # int() accepts "1_0": SimpleTuner sorts it as 10
])
def test_simpletuner_latest_is_its_own_rule(tmp_path, monkeypatch, names):
    """Every os.listdir order SimpleTuner 3.1.6's CheckpointManager may see: its pick is one of ckptfix's
    candidates, and when ckptfix says the rule breaks, SimpleTuner returns None (a fresh start)."""
    sys.path.insert(0, str(RUNS))
    import st_sim

    for n in names:
        (tmp_path / n).mkdir()
    pick = SIMPLETUNER.latest(names)
    real = os.listdir
    for order in (sorted, lambda xs: sorted(xs, reverse=True)):
        monkeypatch.setattr(os, "listdir", lambda p, order=order: order(real(p)))
        got = st_sim.latest_checkpoint(tmp_path)
        if pick.broken_by:
            assert got is None
        else:
            assert got in pick.chosen
    monkeypatch.undo()


def test_diffusers_accelerate_transformers_kohya_latest():
    d = DIFFUSERS.latest(["checkpoint-10", "checkpoint-40-tmp", "checkpoint-30"])
    assert d.chosen == ("checkpoint-40-tmp",)  # the scripts do not skip -tmp names
    assert DIFFUSERS.latest(["checkpoint-10", "checkpoint-best"]).broken_by == ("checkpoint-best",)
    a = ACCELERATE.latest(["checkpoint_2", "checkpoint_10", "checkpoint_9"])
    assert a.chosen == ("checkpoint_10",) and a.sure  # numeric
    assert ACCELERATE.latest(["checkpoint_1", "notes"]).broken_by == ("notes",)
    t = TRANSFORMERS.latest(["checkpoint-8", "checkpoint-12-rolling", "checkpoint-4"])
    assert t.chosen == ("checkpoint-8",)  # only checkpoint-N exactly
    k = KOHYA.latest(["tiny-state", "tiny-000001-state", "tiny-step00000020-state", "logs"])
    assert set(k.chosen) == {"tiny-state", "tiny-000001-state", "tiny-step00000020-state"} and not k.sure
    assert KOHYA.folder_step("tiny-step00000020-state") == 20 and KOHYA.folder_step("tiny-000002-state") is None


def test_installed_version_reads_metadata_only():
    assert installed_version("ckptfix-no-such-package") is None
    before = set(sys.modules)
    v = installed_version("pytest")
    assert v is not None and parse_version(v) is not None
    assert "simpletuner" not in set(sys.modules) - before
