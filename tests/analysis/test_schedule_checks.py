"""analysis/schedule_checks.py: every scheduler that is not a sine state, judged against the real resumes of
fixtures/resumes/ (the trainers' own code: the transformers Trainer, diffusers' get_scheduler under accelerate,
kohya's glue, plain accelerate with torch's schedulers, SimpleTuner 3.1.6 and 4.10.1).

The engine's resume preview is the trainer's resume replayed on plain floats: every row it shows (the LR of the
uninterrupted run, and the LR the resumed run uses) is compared with the LRs the real runs recorded. Then the
verdicts: the position (CKF120) with every reading that fits, the schedule a resuming launch changes (CKF123),
the trainer's override and another N (CKF122), the position that moves where the LR cannot be computed (CKF124),
no position (CKF121).
"""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path

import pytest
import typer

from ckptfix._cli import app  # noqa: PLC2701 - the CLI's own parser reads each case's flags
from ckptfix.analysis.options import Options, option_specs
from ckptfix.analysis.run import inspect_path
from ckptfix.analysis.schedule_checks import UNINTERRUPTED
from tests.helpers import FIXTURES

RESUMES = FIXTURES / "resumes"
sys.path.insert(0, str(RESUMES))

import agreement  # noqa: E402
import truth  # noqa: E402

CASES = truth.all_cases()
IDS = [f"{p.parent.name}/{p.name}" for p in CASES]
COMMAND = typer.main.get_command(app)
#: Cases whose real resume does something the scheduler state does not decide (said by other findings).
NOT_THE_SCHEDULER = {
    "transformers/optimizer-pt-deleted": "the Trainer loads scheduler.pt only together with optimizer.pt",
}


def options(doc: dict, drop: tuple[str, ...] = (), **over: object) -> Options:
    """What the CLI's own parser makes of the case's ckptfix_args (those it accepts), without ``drop``."""
    passed, _ = agreement.gate_args(doc, agreement.accepted_options())
    kept, _ = agreement.gate_args({"ckptfix_args": passed}, {o for o in agreement.accepted_options() if o not in drop})
    words = kept
    ctx = COMMAND.commands["inspect"].make_context("inspect", ["somewhere", *words])
    opts = Options(**{s.name: ctx.params[s.name] for s in option_specs("inspect")})
    return opts.with_flags("inspect", "test", **over) if over else opts


def report(name: str, drop: tuple[str, ...] = (), **over: object):
    case = RESUMES / name
    doc = truth.load_truth(case)
    _, reps = inspect_path(case / doc["output_dir"], options(doc, drop, **over), latest_only=True)
    assert len(reps) == 1
    return doc, reps[0]


def codes(r) -> list[str]:
    return sorted(f.code for f in r.findings if f.severity != "info")


@pytest.mark.parametrize("case_dir", CASES, ids=IDS)
def test_the_preview_is_the_real_resume(case_dir: Path) -> None:
    """Every row of the family engine's preview: the uninterrupted run's LR and the resumed run's, as recorded."""
    doc = truth.load_truth(case_dir)
    _, reps = inspect_path(case_dir / doc["output_dir"], options(doc), latest_only=True)
    expected = dict(zip(doc["steps"], doc["expected_lrs"]))
    resumed = dict(zip(doc["steps"], doc["resumed_lrs"]))
    rows = [(p, row) for r in reps for p in r.resume if p.target == UNINTERRUPTED for row in p.steps]
    if doc["case"] in NOT_THE_SCHEDULER:
        return
    for p, row in rows:
        if row.step not in expected:
            continue  # past the end of the real run
        assert math.isclose(row.expected, expected[row.step], rel_tol=1e-9, abs_tol=1e-15), (p.rules, row)
        if row.lr is not None and resumed.get(row.step) is not None and len({q.last_epoch_from for r in reps
                                                                             for q in r.resume}) == 1:
            assert math.isclose(row.lr, resumed[row.step], rel_tol=1e-9, abs_tol=1e-15), (p.rules, row)


def test_the_previews_cover_the_families() -> None:
    """The comparison above is not vacuous: the engine previews most cases."""
    previewed = set()
    for case_dir in CASES:
        doc = truth.load_truth(case_dir)
        _, reps = inspect_path(case_dir / doc["output_dir"], options(doc), latest_only=True)
        if any(p.target == UNINTERRUPTED and p.steps for r in reps for p in r.resume):
            previewed.add(doc["case"])
    assert len(previewed) >= 60, sorted(previewed)
    for name in ("accelerate/stale-cosineannealinglr", "diffusers/n2-resumed-by-1", "transformers/max-steps-changed",
                 "simpletuner/st3-polynomial-drift", "simpletuner/st3-cosine-drift", "kohya/stale-last-epoch",
                 "accelerate/sequentiallr", "accelerate/multisteplr", "accelerate/cycliclr"):
        assert name in previewed


@pytest.mark.parametrize("name, found", [
    ("accelerate/stale-cosineannealinglr", ["CKF120"]),
    ("diffusers/stale-last-epoch", ["CKF120"]),
    ("kohya/stale-last-epoch", ["CKF120"]),
    ("accelerate/n2-steplr-resumed-by-1", ["CKF122"]),
    ("diffusers/n2-resumed-by-1", ["CKF122"]),
    ("diffusers/max-train-steps-changed", ["CKF123"]),
    ("transformers/max-steps-changed", ["CKF123"]),
    ("transformers/warmup-changed", ["CKF123"]),
    ("simpletuner/st3-polynomial-drift", ["CKF122"]),
    ("simpletuner/st3-cosine-drift", ["CKF122"]),
    ("simpletuner/st3-constant_with_warmup-in-warmup-drift", ["CKF122"]),
    ("simpletuner/st3-n2-polynomial-drift", ["CKF122"]),
    # what follows: nothing, whatever the position says (the trajectory judges)
    ("transformers/warmup-changed-past-warmup", []),
    ("simpletuner/st3-cosine_with_restarts-drift", []),
    ("simpletuner/st3-constant-drift", []),
    ("simpletuner/st3-constant_with_warmup-after-warmup-drift", []),
    ("accelerate/cawr-per-epoch", []),
    ("accelerate/split-batches-n2", []),
    ("accelerate/step-with-optimizer-false-n2", []),
    ("diffusers/n2-resumed-by-2", []),
])
def test_findings(name: str, found: list[str]) -> None:
    _, r = report(name)
    assert [c for c in codes(r) if c.startswith("CKF12")] == found, [f.message for f in r.findings]


def test_the_reading_of_each_value_is_shown_with_its_source() -> None:
    _, r = report("transformers/max-steps-changed", drop=("--lr-warmup-steps", "--lr-scheduler"))
    (check,) = r.schedule_checks
    sources = {k: src for k, _v, src in check.config}
    assert sources["total"] == "--max-train-steps" and sources["warmup"] == "training_args.bin: warmup_steps"
    assert check.writer == "linear (warmup 3, total 12)" and check.resumer == "linear (warmup 3, total 16)"
    (f,) = [f for f in r.findings if f.code == "CKF123"]
    assert "total 12 -> 16 (--max-train-steps)" in f.message and "from step 10" in f.message


def test_the_trainers_own_configuration_alone_checks_the_lrs() -> None:
    """No flag at all: training_args.bin and trainer_state.json say the schedule; the LRs are checked."""
    doc, r = report("transformers/cosine-with-restarts", drop=("--lr-scheduler", "--lr-warmup-steps",
                                                               "--max-train-steps", "--lr-num-cycles"))
    (check,) = r.schedule_checks
    assert check.checked == "lr" and r.verdict == "consistent" and r.exit_code == 0
    assert {src for _k, _v, src in check.config} >= {"training_args.bin: lr_scheduler_type",
                                                     "trainer_state.json: max_steps"}


def test_two_readings_name_both_and_plan_no_rewrite() -> None:
    """last_epoch = step / 2: stale, or a scheduler stepped once per 2 optimizer steps (the per-epoch CAWR). Both
    fit its state: a finding naming both and the flag, no rewrite; with the flag it follows."""
    _, r = report("accelerate/cawr-per-epoch", drop=("--scheduler-steps-per-optimizer-step",))
    (f,) = [f for f in r.findings if f.code == "CKF120"]
    assert "stale" in f.message and "--scheduler-steps-per-optimizer-step 0.5" in f.message
    (check,) = r.schedule_checks
    assert check.rewrite is None and check.refusal and len(check.readings) == 2
    _, r = report("accelerate/cawr-per-epoch")
    assert r.exit_code == 0 and r.schedule_checks[0].checked == "lr"


def test_a_stale_state_contradicts_the_other_reading() -> None:
    """stale-cosineannealinglr: its _last_lr is the LR at 8, not at its last_epoch 4: only the stale reading fits,
    and the rewrite keeps the class (only last_epoch changes: _last_lr and _step_count are already right)."""
    _, r = report("accelerate/stale-cosineannealinglr")
    (check,) = r.schedule_checks
    assert len(check.readings) == 1 and check.rewrite is not None and check.rewrite["last_epoch"] == 8
    state = check.file.state
    assert [k for k, v in check.rewrite.items() if v != state[k]] == ["last_epoch"]


def test_n_read_from_the_state_when_the_files_do_not_say() -> None:
    """diffusers' scripts save on rank 0 only: last_epoch 16 ÷ step 8 = 2 is N, as for the sine."""
    _, r = report("diffusers/n2-resumed-by-2", drop=("--num-processes",))
    (check,) = r.schedule_checks
    assert r.exit_code == 0 and check.steps_per_step == 2 and "last_epoch 16 ÷ step 8" in check.steps_source


def test_a_position_checked_without_the_schedule() -> None:
    """Without --lr-scheduler a LambdaLR's LRs are not known, its position still is."""
    _, r = report("diffusers/stale-last-epoch", drop=("--lr-scheduler",))
    (check,) = r.schedule_checks
    assert check.checked == "position" and codes(r) == ["CKF120"] and check.needs
    _, r = report("diffusers/linear", drop=("--lr-scheduler",))
    assert r.exit_code == 0 and r.verdict == "unchecked" and r.schedule_checks[0].checked == "position"


def test_a_moved_position_without_the_schedule_is_a_finding() -> None:
    """SimpleTuner 3.x moves last_epoch to epoch_step × N: without the schedule, CKF124 on epoch_step."""
    _, r = report("simpletuner/st3-constant-drift", drop=("--lr-scheduler",))
    (f,) = [f for f in r.findings if f.code == "CKF124"]
    assert f.key == "epoch_step" and f.file.endswith("training_state.json")
    assert r.schedule_checks[0].fix_epoch_step


def test_no_position() -> None:
    _, r = report("accelerate/reducelronplateau")
    assert [f.code for f in r.findings] == ["CKF121"] and r.exit_code == 0


def test_the_resuming_n_changes_a_lambdalr_that_scales_with_n() -> None:
    """The diffusers scripts build warmup and total × N: resumed by 1 process, the position 8 = 1 × step makes the
    resumer's schedule the writer's (the repair planned); StepLR's step_size does not scale: refused."""
    _, r = report("diffusers/n2-resumed-by-1")
    rewrite = r.schedule_checks[0].rewrite
    assert rewrite is not None and (rewrite["last_epoch"], rewrite["_step_count"]) == (8, 9)
    _, r = report("accelerate/n2-steplr-resumed-by-1")
    assert r.schedule_checks[0].rewrite is None and "resume with 2 process" in r.schedule_checks[0].refusal


def test_kwargs_must_be_a_json_object(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["inspect", str(RESUMES / "diffusers/linear/output"), "--latest",
                                   "--lr-scheduler-kwargs", "[1]"])
    assert res.exit_code == 2 and "not an object" in res.stderr
    words = shlex.split("--lr-scheduler-kwargs '{\"num_cycles\": 2}'")
    res = CliRunner().invoke(app, ["inspect", str(RESUMES / "diffusers/linear/output"), "--latest", *words])
    assert res.exit_code == 0, res.stderr


@pytest.mark.parametrize("name, drop, checked", [
    ("accelerate/steplr", (), "lr"), ("accelerate/multisteplr", (), "lr"), ("accelerate/constantlr", (), "lr"),
    ("accelerate/linearlr", (), "lr"), ("accelerate/exponentiallr", (), "lr"), ("accelerate/polynomiallr", (), "lr"),
    ("accelerate/cosineannealinglr", (), "lr"), ("accelerate/cawr-per-epoch", (), "lr"),
    ("accelerate/cycliclr", (), "lr"), ("accelerate/sequentiallr", (), "lr"), ("accelerate/chainedscheduler", (), "lr"),
    ("accelerate/onecyclelr", (), "position"), ("accelerate/multiplicativelr", (), "position"),
    ("accelerate/lambdalr", (), "position"), ("accelerate/reducelronplateau", (), "none"),
    ("transformers/reduce-lr-on-plateau", (), "none"),
    ("diffusers/linear", (), "lr"), ("diffusers/linear", ("--lr-scheduler",), "position"),
    ("kohya/cosine-step4-skip", (), "lr"),
    ("kohya/cosine-step4-skip", ("--lr-scheduler",), "lr"),  # from its .safetensors metadata
    ("transformers/linear", (), "lr"), ("transformers/linear", ("--lr-scheduler", "--lr-warmup-steps",
                                                                "--max-train-steps"), "lr"),
    ("simpletuner/st3-cosine-drift", (), "lr"), ("simpletuner/st3-cosine_with_restarts-drift", (), "lr"),
    ("simpletuner/st3-polynomial-drift", (), "lr"), ("simpletuner/st3-linear-drift", ("--lr-scheduler",), "position"),
])
def test_support_table(name: str, drop: tuple[str, ...], checked: str) -> None:
    """The cells of docs/support.md's family × trainer table, as the gate's records say them."""
    _, r = report(name, drop=drop)
    (check,) = r.schedule_checks
    assert check.checked == checked, (check.checked, check.needs)
