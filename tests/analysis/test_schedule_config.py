"""analysis/schedule_config.py: the writing run's schedule from its own files first, the resuming run's from the
options first; every value with its source; what is missing named by the flag that gives it."""

from __future__ import annotations

import pytest

from ckptfix.analysis.options import Options
from ckptfix.analysis.schedule_config import resumer_spec, writer_spec
from ckptfix.analysis.schedule_options import check_schedule_options, scheduler_kwargs
from ckptfix.errors import UsageError
from ckptfix.model.load import load_checkpoint
from tests.helpers import FIXTURES

HF = FIXTURES / "resumes" / "transformers" / "max-steps-changed" / "output" / "checkpoint-8"
DIFFUSERS = FIXTURES / "resumes" / "diffusers" / "linear" / "output" / "checkpoint-8"


def test_the_writer_from_its_files_the_resumer_from_the_options() -> None:
    ck = load_checkpoint(HF)
    opts = Options(max_train_steps=16)
    w = writer_spec(ck, opts, "hf_trainer_schedule", 1, ck.schedulers[0].state)
    r = resumer_spec(ck, opts, "hf_trainer_schedule", 1, ck.schedulers[0].state)
    assert (w.inputs.total, w.source("total")) == (12, "trainer_state.json: max_steps")
    assert (r.inputs.total, r.source("total")) == (16, "--max-train-steps")
    assert w.source("name") == r.source("name") == "training_args.bin: lr_scheduler_type"
    assert w.schedule.params["num_training_steps"] == 12 and r.schedule.params["num_training_steps"] == 16
    assert w.label == "linear (warmup 3, total 12)"


def test_without_files_both_are_the_options() -> None:
    ck = load_checkpoint(DIFFUSERS)
    opts = Options(lr_scheduler="linear", lr_warmup_steps=3, max_train_steps=12)
    w = writer_spec(ck, opts, "diffusers_scripts_schedule", 2, ck.schedulers[0].state)
    assert w.inputs == resumer_spec(ck, opts, "diffusers_scripts_schedule", 2, ck.schedulers[0].state).inputs
    assert w.schedule.params == {"num_warmup_steps": 6, "num_training_steps": 24, "f_min": 0.0, "f_max": 1.0}
    assert w.source("learning_rate") == "the scheduler state's base_lrs[0]"


def test_what_is_missing_is_named_by_its_flag() -> None:
    ck = load_checkpoint(DIFFUSERS)
    spec = writer_spec(ck, Options(lr_scheduler="linear", lr_warmup_steps=3), "diffusers_scripts_schedule", 1)
    assert spec.schedule is None and "--max-train-steps" in spec.why
    spec = writer_spec(ck, Options(), "diffusers_scripts_schedule", 1)
    assert spec.inputs is None and "--lr-scheduler NAME" in spec.why
    spec = writer_spec(ck, Options(lr_scheduler="linear"), None, 1)
    assert spec.schedule is None and "own code" in spec.why


def test_kwargs() -> None:
    assert scheduler_kwargs('{"num_cycles": 2}') == {"num_cycles": 2}
    assert scheduler_kwargs(None) is None
    for bad in ("[1]", "{", "2"):
        with pytest.raises(UsageError):
            scheduler_kwargs(bad)
    with pytest.raises(UsageError):
        check_schedule_options(Options(lr_scheduler=" "))
