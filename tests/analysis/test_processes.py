"""N from evidence (analysis/processes.py): the strongest source wins, a lone random_states_0.pkl is only a
lower bound where the trainer saves on rank 0, and "unknown" comes with the candidates."""

from __future__ import annotations

import shutil
from pathlib import Path

from ckptfix.analysis.processes import estimate_processes
from ckptfix.analysis.report import Options, RunFacts
from ckptfix.analysis.run import inspect_one, inspect_path
from ckptfix.model.checkpoint import Checkpoint, SchedulerFile, TrainingState
from ckptfix.model.load import load_checkpoint
from ckptfix.model.trainers import SIMPLETUNER, TRAINERS, TRANSFORMERS
from ckptfix.schedulers.detect import detect_profile
from tests.helpers import FIXTURES

RUNS = FIXTURES / "simpletuner_runs"
OLD, NEW = SIMPLETUNER.rules[:1], SIMPLETUNER.rules[2:]  # 3.1.6 (rank 0 saves) / 4.10 (every rank)


def estimate(ck: Checkpoint, opts: Options = Options(), rules=SIMPLETUNER.rules, step: int | None = None,
             facts: RunFacts = RunFacts()):
    st = ck.schedulers[0].state if ck.schedulers else None
    return estimate_processes(ck, opts, rules, ck.training_state.global_step if step is None else step, st,
                              detect_profile(st) if st is not None else None, facts)


def synthetic(le: int, g: int, t0: int, rng=(0,), ranks=(), lr=None) -> Checkpoint:
    folder = Path("/nonexistent/checkpoint-x")
    from ckptfix.schedulers.reference import sine_state

    ref = sine_state(le, t0, 1, 1e-6, [1e-4])
    state = {"T_0": t0, "T_i": ref.T_i, "T_mult": 1, "T_cur": ref.T_cur, "eta_min": 1e-6, "base_lrs": [1e-4],
             "last_epoch": le, "_last_lr": lr or ref.last_lr, "_step_count": le + 1, "steps_per_epoch": -1}
    ts = TrainingState(folder / "training_state.json", g, g, 1)
    rank_states = tuple((r, TrainingState(folder / f"training_state-rank{r}.json", g, g, 1)) for r in ranks)
    return Checkpoint(folder, None, ts, (), (SchedulerFile(folder / "scheduler.bin", state, "zip"),), len(rng),
                      rng_ranks=tuple(rng), rank_states=rank_states)


def test_two_process_torchrun_with_one_rng_file_is_two_from_last_epoch():
    ck = load_checkpoint(RUNS / "c-n2-torchrun/stock/checkpoint-20")
    assert ck.rng_ranks == (0,)
    e = estimate(ck)
    assert (e.value, e.exact, e.lower_bound) == (2, False, 1) and e.source == "last_epoch 40 ÷ step 20"
    assert "lower bound" in e.why
    assert estimate(ck, Options(num_processes=2)).source == "--num-processes"
    assert estimate(ck, Options(lr_warmup_steps=10)).source == "T_0 20 = --lr-warmup-steps 10 × N"


def test_files_that_give_n_exactly():
    assert estimate(synthetic(60, 30, 20, rng=(0, 1))).value == 2
    e = estimate(synthetic(30, 30, 20, rng=(0,), ranks=(1, 2, 3)))
    assert (e.value, e.exact) == (4, True) and "training_state-rank" in e.source
    e = estimate(synthetic(60, 30, 20, rng=(0,)), rules=NEW)  # 4.10 saves on every rank: one file is N = 1
    assert (e.value, e.exact) == (1, True)
    ck = load_checkpoint(FIXTURES / "trainers/hf-trainer-tf4/checkpoint-8")
    assert estimate(ck, rules=TRANSFORMERS.rules).exact


def test_unknown_lists_the_candidates_and_why():
    e = estimate(synthetic(45, 30, 20))  # 45 / 30 is no whole N
    assert e.value is None and e.candidates == (1, 2, 4, 5, 10, 20)
    assert "not a whole multiple" in e.why and "--lr-warmup-steps" in e.why
    e = estimate(synthetic(60, 30, 20, lr=[5e-5]))  # 60 / 30 = 2, but _last_lr is not the formula's there
    assert e.value is None and "not evidence" in e.why
    e = estimate(synthetic(90, 30, 20))  # 3 does not divide T_0 = W x N
    assert e.value is None
    e = estimate(synthetic(45, 30, 20), Options(lr_warmup_steps=7))  # T_0 20 is no 7 x N
    assert e.value is None and "not --lr-warmup-steps 7" in e.why
    e = estimate(synthetic(45, 30, 20), Options(), facts=RunFacts(run_processes=(2, "checkpoint-20: last_epoch 40 ÷ step 20")))
    assert e.value == 2 and e.from_run is not None and "other checkpoints" in e.source
    assert estimate(synthetic(45, 30, 20), Options(), facts=RunFacts(run_processes=(3, "x"))).value is None  # 3 does not divide 20


def test_step_zero_and_schedulers_that_do_not_need_n():
    assert estimate(synthetic(0, 0, 20), step=0).value == 1
    ck = load_checkpoint(FIXTURES / "lambdalr/checkpoint-30")
    e = estimate(ck)
    assert e.value == 1 and "not needed" in e.source


def _run_whose_latest_does_not_say_n(tmp_path: Path) -> Path:
    """SimpleTuner 3.1.6 under torchrun, N = 2, only rank 0 saving (a real run): each checkpoint's own
    last_epoch ÷ step says N = 2, except the latest's, whose last_epoch (61, saved one step late) is not
    its step's multiple and whose _last_lr is not its formula's there: alone, N is unknown (CKF110)."""
    import torch

    run = tmp_path / "run"
    shutil.copytree(RUNS / "c-n2-torchrun" / "stock", run)
    sched = run / "checkpoint-30" / "scheduler.bin"
    state = torch.load(sched, weights_only=True)
    state["last_epoch"] = 61
    torch.save(state, sched)
    return run


def test_n_unknown_in_the_latest_is_learned_from_the_other_checkpoints(tmp_path: Path) -> None:
    """inspect_path reads up to SIBLINGS_READ other checkpoints (--latest reads none otherwise) and takes
    the N they agree on (analysis/run.py settle_processes)."""
    run = _run_whose_latest_does_not_say_n(tmp_path)
    alone = inspect_one(run / "checkpoint-30", Options())
    assert alone.num_processes is None and "CKF110" in {f.code for f in alone.findings}
    for latest in (True, False):
        _disc, reports = inspect_path(run, Options(), latest_only=latest)
        r = reports[-1]
        assert r.checkpoint.path.name == "checkpoint-30" and r.num_processes == 2, r.processes
        assert r.processes is not None and r.processes.source.startswith("other checkpoints of this run (")
        assert "checkpoint-20: last_epoch 40 ÷ step 20" in r.processes.source
        assert "CKF110" not in {f.code for f in r.findings}


def test_other_checkpoints_that_disagree_on_n_settle_nothing(tmp_path: Path) -> None:
    run = _run_whose_latest_does_not_say_n(tmp_path)
    shutil.rmtree(run / "checkpoint-10")  # N = 1 by its own evidence: the run's checkpoints disagree
    shutil.copytree(RUNS / "a-n1-no-boundary" / "stock" / "checkpoint-10", run / "checkpoint-10")
    _disc, reports = inspect_path(run, Options(), latest_only=True)
    assert reports[-1].num_processes is None and "CKF110" in {f.code for f in reports[-1].findings}


# --- who saved is the writer's fact (issue 21: "the release that wrote a checkpoint is not always the one that
# resumes it"); fixtures/resumes/simpletuner: real SimpleTuner 3.1.6 and 4.10.1 runs, 2 processes under torchrun --

ST = FIXTURES / "resumes" / "simpletuner"


def test_a_316_checkpoint_resumed_by_410_is_not_read_with_410s_save_rule():
    """3.1.6 saved on rank 0 alone (no checkpoint_manifest.json): its one random_states_0.pkl says nothing of N,
    though 4.10 saves on every rank. N = 2 from the state (last_epoch 40 at step 20), and the gate is right
    without --num-processes (before: N = 1, CKF012, and an advised repair that broke the resume)."""
    opts = Options(trainer="simpletuner==4.10.1", target="simpletuner-sine-v2")
    _disc, (report,) = inspect_path(ST / "st3-to-st4-n2-sine-v2" / "output", opts, latest_only=True)
    assert report.num_processes == 2 and not report.processes.exact
    assert "been written by SimpleTuner 1.0 to < 4.0.6, which saves on rank 0 only" in report.processes.why
    assert report.exit_code == 0


def test_the_resuming_release_is_presumed_the_writer_where_the_files_agree():
    """A 4.10.1 checkpoint (manifest, one process): with --trainer simpletuner==4.10.1 the writer is taken to be
    4.10.1 too, whose one random_states_0.pkl means N = 1; without it, 4.0.6-4.9.2 (rank 0 only) could have written
    it as well, and N comes from the state."""
    ck = ST / "st4-sine-v2-drift" / "output"
    _d, (r,) = inspect_path(ck, Options(trainer="simpletuner==4.10.1", target="simpletuner-sine-v2"), latest_only=True)
    assert (r.num_processes, r.processes.exact) == (1, True) and "written by SimpleTuner >= 4.9.3" in r.num_processes_source
    _d, (r,) = inspect_path(ck, Options(trainer="simpletuner==3.1.6", target="simpletuner-sine-v2"), latest_only=True)
    assert (r.num_processes, r.processes.exact) == (1, False)  # 3.1.6 never writes a manifest: not the writer
    assert "been written by SimpleTuner 4.0.6 to < 4.9.3" in r.processes.why


def test_simpletuner_writers_by_their_files():
    none, manifest = frozenset({"scheduler.bin"}), frozenset({"scheduler.bin", "checkpoint_manifest.json"})
    labels = lambda ws: [w.versions.label for w in ws]  # noqa: E731
    assert labels(SIMPLETUNER.writers_of(none)) == ["1.0 to < 4.0.6"]
    assert labels(SIMPLETUNER.writers_of(manifest)) == ["4.0.6 to < 4.9.3", ">= 4.9.3"]
    assert labels(SIMPLETUNER.writers_of(manifest, (NEW[0].versions,))) == [">= 4.9.3"]
    assert labels(SIMPLETUNER.writers_of(none, (NEW[0].versions,))) == ["1.0 to < 4.0.6"]  # the files win


def test_writer_and_resume_tables_agree_on_who_saves():
    """``TrainerRules.saves_on`` and ``writers`` state the same fact for every release both cover."""
    for t in TRAINERS:
        for r in t.rules:
            for w in t.writer_rules():
                if w.versions.intersect(r.versions) is not None:
                    assert w.saves_on == r.saves_on, (t.name, r.label, w.versions.label)
