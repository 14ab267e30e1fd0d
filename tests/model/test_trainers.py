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


def _diffusers_loop_steps(step: int, total: int, per_epoch: int) -> int:
    """The optimizer steps the diffusers scripts' loop takes after a resume at ``step``, run as the loop runs
    (train_text_to_image_lora.py at 58eb52c: L805 num_train_epochs, L826-850 first_epoch, L860-974 the loop with
    its inner break); fixtures/resumes/diffusers_scripts.py runs the same loop with real training."""
    num_train_epochs = -(-total // per_epoch)
    global_step, taken = step, 0
    for _epoch in range(step // per_epoch, num_train_epochs):
        for _batch in range(per_epoch):
            global_step += 1
            taken += 1
            if global_step >= total:
                break
    return taken


@pytest.mark.parametrize("per_epoch", [1, 2, 3, 5, 7, 16])
@pytest.mark.parametrize("total", [1, 4, 12, 13, 30])
def test_diffusers_resume_count_is_the_scripts_loop(total: int, per_epoch: int) -> None:
    for step in range(0, total + 2):
        rc = DIFFUSERS.resume_count(step, None, f"checkpoint-{step}", {"max_steps": total, "steps_per_epoch": per_epoch},
                                    False)
        if not 0 < step < total:
            assert rc is None
            continue
        takes = _diffusers_loop_steps(step, total, per_epoch)
        assert (rc.takes, rc.remaining, rc.follows) == (takes, total - step, takes == total - step), (step, rc.how)
    # without the resuming launch's figures (no checkpoint file holds them) nothing is claimed
    assert DIFFUSERS.resume_count(8, None, "checkpoint-8", {"max_steps": total}, False) is None
