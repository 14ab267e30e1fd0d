"""Findings about what the trainer will resume with (issue 11), from the model to findings (pure).

* CKF110: N is unknown where the scheduler's position depends on it.
* CKF111: the resume preview (``resume_preview.py``) departs from the target formula, per distinct resume
  rule of the releases in question (SimpleTuner: ``epoch_step`` before 4.10, ``global_step`` from 4.10.0).
* CKF115: the first resumed step runs at ``optimizer.bin``'s lr, which is not the target's: beside CKF111 too,
  so that the advised repair carries ``--optimizer-lr`` (one round, not two).
* the stock preview (not a finding): when the stock trainer ships another formula than the target (every
  SimpleTuner through 4.10.1 runs v2), what a resume by the unmodified trainer does; reports show it.
"""

from __future__ import annotations

from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.analysis.report import (
    Options,
    ProcessEstimate,
    ResumePreview,
    RulesChoice,
    SchedulerReport,
    StepInfo,
)
from ckptfix.analysis.resume_preview import preview_resume
from ckptfix.model.checkpoint import Checkpoint, TrainingState
from ckptfix.model.layouts import get_layout
from ckptfix.model.trainers import TrainerRules
from ckptfix.records import replace
from ckptfix.schedulers.profiles import SINE_FAMILY

__all__ = ["describe", "group_rules", "preview_all", "resume_groups", "processes_finding", "resume_findings", "resume_step",
           "stock_note", "trainer_reads"]


#: Steps the stock-trainer note scans past its first wrong step: it says where, not the largest gap.
#: Measured: analyse() of fixtures/output-run/checkpoint-30 took 1.12 ms with 64 (0.21 ms without any
#: preview), 0.37 ms with 8.
STOCK_TAIL = 8


def _n(v: int | float) -> str:
    """A step or position for a message: a hostile 4,000-digit value shows its start and length."""
    text = f"{v:g}" if isinstance(v, float) else str(v)
    return text if len(text) <= 24 else f"{text[:12]}… ({len(text)} digits)"


def _lr(x: float | None) -> str:
    return "unknown" if x is None else f"{x:.6g}"


def processes_finding(ck: Checkpoint, estimate: ProcessEstimate, reports: list[SchedulerReport],
                      step: int | None) -> list[Finding]:
    """CKF110 when N is unknown and a checked sine state's position (N × step) depends on it."""
    if estimate.known or step is None or not any(r.profile in SINE_FAMILY for r in reports):
        return []
    cands = ", ".join(str(c) for c in estimate.candidates[:8]) + (" or more" if len(estimate.candidates) > 8 else "")
    return [make_finding("CKF110", ck.path, "num_processes", f">= {estimate.lower_bound}", cands or None,
                         f"N (training processes) is unknown: {estimate.why}. Candidates: {cands}. Pass "
                         "--num-processes N: the position to check (and write) is N × step")]


def group_rules(rules: tuple[TrainerRules, ...]) -> list[tuple[TrainerRules, ...]]:
    """The rules grouped by what their resume does to ``last_epoch`` (order kept)."""
    groups: dict[str, list[TrainerRules]] = {}
    for r in rules:
        groups.setdefault(r.last_epoch_from, []).append(r)
    return [tuple(g) for g in groups.values()]


def resume_groups(ck: Checkpoint, rules: tuple[TrainerRules, ...], step: int, epoch_step: int | None = None
                  ) -> list[tuple[tuple[TrainerRules, ...], int, int | None, bool]]:
    """Per distinct resume rule (``group_rules``): its rules, the step the resume counts from, the ``epoch_step``
    it reads (given: what the file would hold, e.g. after a planned repair; else ``training_state.json``'s), and
    whether the value its rule reads is one the resume can use (else it crashes or runs off its steps:
    ``state_checks.py`` says so, CKF117/119)."""
    own = ck.training_state if ck.training_state is not None and ck.training_state.source == "training_state.json" else None
    epoch_usable = True
    if epoch_step is None:
        epoch_step, epoch_usable = trainer_reads(own, "epoch_step")
    out = []
    for group in group_rules(rules):
        trainer_step, step_usable = resume_step(own, group[0], step)
        usable = {"epoch_step": epoch_usable, "global_step": step_usable}.get(group[0].last_epoch_from, True)
        out.append((group, trainer_step, epoch_step, usable))
    return out


def _resumable(ck: Checkpoint, reports: list[SchedulerReport]) -> bool:
    if not reports or reports[0].file.state is None or reports[0].profile not in SINE_FAMILY:
        return False
    if not get_layout(ck.layout).previews_resume:
        return False  # e.g. the Trainer steps its scheduler once per optimizer step: trainer_checks.py covers it
    return not (ck.engine is not None and ck.engine.has_lr_scheduler)


def preview_all(ck: Checkpoint, step: int, n: int, choice: RulesChoice, reports: list[SchedulerReport],
                opts: Options, runs: str | None = None, state: dict | None = None,
                epoch_step: int | None = None, tail: int = 64) -> tuple[ResumePreview, ...]:
    """The preview of scheduler 0 for every resume rule of ``choice`` (``state``/``epoch_step``: what the files
    would hold, e.g. after a planned repair; default: what they hold now)."""
    if state is None:
        state = reports[0].file.state
    opt = ck.optimizers[0] if ck.optimizers and ck.optimizers[0].problem is None else None
    lrs = [g.lr for g in opt.param_groups] if opt is not None else None
    out = []
    for group, trainer_step, read, usable in resume_groups(ck, choice.rules, step, epoch_step):
        if not usable:
            continue  # the resume crashes or runs off its steps on this value: state_checks.py says so (CKF117/119)
        p = preview_resume(state or {}, lrs, step, trainer_step, read or 0, n, group, runs or opts.target,
                           opts.target, tail)
        if p is not None:
            out.append(p)
    return tuple(out)


def _missing(ts: TrainingState | None, key: str) -> bool:
    v = ts.value(key) if ts is not None else None
    return v is not None and v.kind == "missing"


def trainer_reads(ts: TrainingState | None, key: str, default: int = 0) -> tuple[int, bool]:
    """The value SimpleTuner's resume computes with for ``key`` of ``training_state.json``, and whether the
    resume preview can model it: ``default`` (0) without the file or the key (``StateTracker.load_training_state``
    defaults, 3.1.6 ``state_tracker.py`` L280-295: the override's own fallback to ``global_resume_step`` never
    applies, the loaded state always holds ``epoch_step``); the integer as stored; not modelled for any other
    kind (a crash, or a position that is no step: ``state_checks.py`` reports it)."""
    v = ts.value(key) if ts is not None else None
    if v is None or v.kind == "missing":
        return default, True
    if v.kind == "int":
        return v.value, True
    return default, False


def resume_step(ts: TrainingState | None, rules: TrainerRules, step: int) -> tuple[int, bool]:
    """The step the resume of ``rules`` counts from, and whether the preview can model it: with a
    ``step_if_missing`` rule (SimpleTuner), what its state file ``ts`` gives (``trainer_reads``); else its
    ``global_step`` when it holds one, else the checkpoint's ``step``."""
    if rules.step_if_missing is not None:
        return trainer_reads(ts, "global_step", rules.step_if_missing)
    return (ts.global_step if ts is not None and ts.global_step is not None else step), True


def merge_same(previews: tuple[ResumePreview, ...]) -> tuple[ResumePreview, ...]:
    """Previews whose resumes give the same LRs (release ranges with different rules that land on the same
    ``last_epoch``, e.g. ``epoch_step`` equal to ``global_step``) as one, naming every range and rule
    (``last_epoch_from`` joined with ``/``)."""
    out: list[ResumePreview] = []
    for p in previews:
        same = next((i for i, q in enumerate(out) if (q.resumed_last_epoch, q.runs, q.steps, q.first_wrong,
                                                       q.scheduler_wrong) == (p.resumed_last_epoch, p.runs, p.steps,
                                                                              p.first_wrong, p.scheduler_wrong)), None)
        if same is None:
            out.append(p)
        else:
            q = out[same]
            out[same] = replace(q, rules=q.rules + p.rules, last_epoch_from=f"{q.last_epoch_from}/{p.last_epoch_from}")
    return tuple(out)


_RULE_WORDS = {"epoch_step": "epoch_step", "global_step": "training_state.json global_step"}


def describe(p: ResumePreview, step: int) -> tuple[str, str]:
    """(how the resume positions the scheduler, from which step its LR goes wrong and by how much)."""
    where = ", ".join(p.rules)
    if p.last_epoch_from == "stored":
        how = f"last_epoch {_n(p.resumed_last_epoch)} as stored"
    else:
        src = " = ".join(_RULE_WORDS.get(x, x) for x in p.last_epoch_from.split("/"))
        per = p.resumed_last_epoch // p.num_processes if p.num_processes else p.resumed_last_epoch
        how = f"last_epoch = {src} {_n(per)} × {p.num_processes} = {_n(p.resumed_last_epoch)}"
    if p.resumed_last_epoch != p.true_last_epoch:
        how += (f"; the run is at {_n(p.true_last_epoch)}: {_n(abs(p.offset_steps))} step(s) "
                f"{'ahead' if p.offset_steps > 0 else 'behind'}")
    if p.runs != p.target:
        how += f", running {p.runs}"
    parts = []
    if p.first_wrong == step + 1:
        parts.append(f"the first step after the resume ({p.first_wrong}) uses optimizer.bin's lr {_lr(p.found)} "
                     f"where {p.target} gives {_lr(p.expected)}")
    if p.scheduler_wrong is not None:
        parts.append(f"from step {p.scheduler_wrong} the LR is {_lr(p.scheduler_found)} where {p.target} gives "
                     f"{_lr(p.scheduler_expected)} (up to {p.max_diff:.3g} off in the {p.scanned} steps checked)")
    else:
        parts.append("the scheduler sets the right LR from the next step on")
    what = "; ".join(parts)
    return f"resumed by {where} ({how})", what


def resume_findings(ck: Checkpoint, steps: StepInfo | None, estimate: ProcessEstimate, choice: RulesChoice,
                    reports: list[SchedulerReport], opts: Options
                    ) -> tuple[tuple[ResumePreview, ...], ResumePreview | None, list[Finding]]:
    """The resume previews of ``ck``, the stock trainer's (None when it runs the target), and the findings
    (CKF111); nothing when the step or N is unknown, or the first scheduler is not a checked sine state."""
    if steps is None or steps.chosen is None or not estimate.known or not _resumable(ck, reports):
        return (), None, []
    g, n = steps.chosen, estimate.value
    assert n is not None
    previews = merge_same(preview_all(ck, g, n, choice, reports, opts))
    out: list[Finding] = []
    first_steps: list[ResumePreview] = []
    good = [", ".join(p.rules) for p in previews if p.scheduler_wrong is None]
    f = reports[0].file.path
    for p in previews:
        if p.ok:
            continue
        how, what = describe(p, g)
        if p.first_wrong == g + 1:  # optimizer.bin's lr, on the first step: --optimizer-lr, with whatever else
            first_steps.append(p)
        if p.scheduler_wrong is None:
            continue
        key = "epoch_step" if "epoch_step" in p.last_epoch_from.split("/") and p.resumed_last_epoch != p.true_last_epoch else "_last_lr"
        file = ck.training_state.path if key == "epoch_step" and ck.training_state else f
        msg = f"{how}: {what}" + (f"; {' and '.join(good)} resume(s) on schedule" if good else "")
        if key == "epoch_step" and _missing(ck.training_state, "epoch_step"):
            msg += f" ({ck.training_state.path.name} has no epoch_step: SimpleTuner reads 0)"
        out.append(make_finding("CKF111", file, key, p.found, p.expected, msg))
    if first_steps:  # one finding: the first step runs at optimizer.bin's lr whatever the release's rule
        p = first_steps[0]
        file = ck.optimizers[0].path if ck.optimizers else f
        rules = ", ".join(r for q in first_steps for r in q.rules)
        out.append(make_finding("CKF115", file, "param_groups[0].lr", p.found, p.expected,
                                f"resumed by {rules}: the first step after the resume ({g + 1}) uses optimizer.bin's lr "
                                f"{_lr(p.found)} where {p.target} gives {_lr(p.expected)}"
                                + ("; the scheduler sets the right LR from the next step on"
                                   if all(q.scheduler_wrong is None for q in first_steps) else "")))
    out += _rank_findings(ck, g, n, choice, reports, opts)
    shipped = [r for r in choice.rules if r.formula is not None and r.formula != opts.target]
    stock = None
    if shipped and previews:
        # the newest releases' rule only: the note is about the formula, not the release
        newest = group_rules(tuple(shipped))[-1]
        stocks = preview_all(ck, g, n, RulesChoice(choice.trainer, choice.title, newest, choice.source),
                             reports, opts, runs=shipped[-1].formula, tail=STOCK_TAIL)
        stock = stocks[-1] if stocks else None
    return previews, stock, out


def _rank_findings(ck: Checkpoint, g: int, n: int, choice: RulesChoice, reports: list[SchedulerReport],
                   opts: Options) -> list[Finding]:
    """Rank r > 0 resumes from its own ``training_state-rank{r}.json`` (SimpleTuner's load hook): under an
    ``epoch_step`` rule, a rank whose ``epoch_step`` differs from rank 0's runs another LR (CKF111 on its file)."""
    groups = [grp for grp in group_rules(choice.rules) if grp[0].last_epoch_from == "epoch_step"]
    main = ck.training_state.epoch_step if ck.training_state is not None else None
    out = []
    for rank, ts in ck.rank_states:
        if not groups or ts.problem is not None or ts.epoch_step is None or ts.epoch_step == main:
            continue
        for grp in groups:
            (p,) = preview_all(ck, g, n, RulesChoice(choice.trainer, choice.title, grp, choice.source), reports, opts,
                               epoch_step=ts.epoch_step) or (None,)
            if p is not None and p.scheduler_wrong is not None:
                how, what = describe(p, g)
                out.append(make_finding("CKF111", ts.path, "epoch_step", p.scheduler_found, p.scheduler_expected,
                                        f"rank {rank} {how}: {what}"))
    return out


def stock_note(title: str, stock: ResumePreview, step: int) -> str:
    """What an unmodified trainer does with this state, for reports and repair plans."""
    tail = (f"; resumed by an unmodified {title}, {describe(stock, step)[1]}" if not stock.ok else "")
    return (f"stock {title} runs {stock.runs}, not {stock.target}: the checks assume the resuming trainer runs "
            f"{stock.target} (recipe: docs/trainers.md, 'Running the fixed formula in SimpleTuner'; or check "
            f"against the stock formula with --target {stock.runs}){tail}")
