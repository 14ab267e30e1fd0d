"""Every scheduler that is not a sine state, under the resuming trainer's model (issue 21; pure).

The sine states are ``checks.py``'s. Every other torch scheduler state (``LambdaLR``, ``StepLR``, ...,
``CosineAnnealingWarmRestarts``, ``SequentialLR``; SimpleTuner's ``Cosine`` and ``CosineAnnealingHardRestarts``) is
recognised by ``schedulers/families`` and checked here:

1. **The position.** ``last_epoch = k × step``, ``k`` the scheduler steps per optimizer step of the run that wrote
   it: N for a scheduler accelerate prepares (``AcceleratedScheduler``; N of the *writer*), 1 with
   ``--split-batches`` or ``--no-step-scheduler-with-optimizer``, 1 for the transformers Trainer
   (``TrainerRules.stepping``), or what ``--scheduler-steps-per-optimizer-step`` says (a script that steps it once
   per epoch). ``ReduceLROnPlateau`` has no position (CKF121).
2. **The formula.** The LR the family gives at the stored position, against ``_last_lr``: from the state alone for
   torch's built-ins, from the run's configuration for a ``LambdaLR`` (``schedule_config.py``).
3. **The resume**, judged by its LR trajectory: the uninterrupted run's LR at step ``s`` is the writer's schedule
   at ``k_w × (s − 1)``; the resumed run's first step uses the optimizer's stored lr, the next ones the state as the
   resuming trainer loads it (its override of ``last_epoch``: SimpleTuner's ``epoch_step × N`` before 4.10,
   ``global_step × N`` from 4.10.0), stepped ``k_r`` times per optimizer step, with the resuming run's lambda (a
   ``LambdaLR`` applies the resuming launch's configuration at the stored position).

Findings: CKF120 (the position is not ``k × step``; every reading that fits is named), CKF121 (no position, info),
CKF122 (the resumed LR departs: the trainer's override, another N), CKF123 (the resuming configuration gives
another schedule: the LR jumps), CKF124 (the position moves on resume and the LR there needs the configuration),
CKF125 (the first resumed step uses the optimizer's stored lr, which is not the run's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.analysis.processes import estimate_processes, position_quotient
from ckptfix.analysis.report import (
    CheckpointReport,
    Options,
    PreviewStep,
    ProcessEstimate,
    ResumePreview,
    RulesChoice,
    RunFacts,
    ScheduleCheck,
    SchedulerReport,
    StepInfo,
)
from ckptfix.analysis.resume_checks import resume_groups
from ckptfix.analysis.resume_preview import DISPLAY_STEPS, SCAN_STEPS, resume_position
from ckptfix.analysis.schedule_config import ScheduleSpec, resumer_spec, writer_spec
from ckptfix.analysis.trainer_checks import checks_scheduler_position
from ckptfix.model.checkpoint import Checkpoint, SchedulerFile
from ckptfix.model.trainers import TrainerRules
from ckptfix.records import Record, replace
from ckptfix.schedulers.families import Context, Family, FamilyMatch, NeedsConfig, get_family, lrs_agree, recognise_all
from ckptfix.schedulers.families.lambda_lr import lambda_state
from ckptfix.schedulers.families.simulated import SimulatedFamily
from ckptfix.schedulers.profiles import SINE_FAMILY

__all__ = ["REPLAY_BUDGET", "UNINTERRUPTED", "created_state", "schedule_checks"]

#: Positions a chainable scheduler is replayed to, from 0, for a check (~50 ms for the slowest class); beyond, the
#: check that needs it is left out (the position is still checked) and the check says so.
REPLAY_BUDGET = 50_000
#: How previews name the reference run.
UNINTERRUPTED = "uninterrupted run"


class _Stepping(Record):
    """How the writing and the resuming run step the scheduler: ``k`` per optimizer step (None: unknown), why."""

    k_w: Fraction | None
    why_w: str
    k_r: Fraction | None
    why_r: str
    n_w: int | None
    n_r: int | None
    low: int = 1
    explicit: bool = False  # k was stated (--scheduler-steps-per-optimizer-step, a switch) or fixed by the trainer


def _pos(k: Fraction, steps: int) -> int:
    return math.floor(k * steps)


def _k(opts: Options, rules: tuple[TrainerRules, ...], title: str, n: int | None, n_why: str
       ) -> tuple[Fraction | None, str, bool]:
    """Scheduler steps per optimizer step for a run of ``n`` processes, why, and whether that is stated/fixed."""
    if opts.scheduler_steps_per_optimizer_step is not None:
        return (Fraction(str(opts.scheduler_steps_per_optimizer_step)), "--scheduler-steps-per-optimizer-step", True)
    if rules and all(r.stepping == "once" for r in rules):
        return Fraction(1), f"the {title} steps its scheduler once per optimizer step", True
    if opts.split_batches:
        return Fraction(1), "--split-batches: accelerate steps the prepared scheduler once per optimizer step", True
    if opts.no_step_scheduler_with_optimizer:
        return Fraction(1), "--no-step-scheduler-with-optimizer: the scheduler steps once per call", True
    if n is None:
        return None, n_why, False
    return Fraction(n), f"accelerate steps the prepared scheduler N times per optimizer step, N = {n} ({n_why})", False


def _stepping(ck: Checkpoint, opts: Options, choice: RulesChoice, estimate: ProcessEstimate, step: int | None,
              facts: RunFacts) -> _Stepping:
    """N and k of the writing run (``--writer-processes``; files that give N exactly; the resuming run's N,
    presumed the same; else unknown) and of the resuming run (``--num-processes``, else the writer's)."""
    n_w, why, low = None, estimate.why or estimate.source, estimate.lower_bound
    if opts.writer_processes is not None:
        n_w, why = opts.writer_processes, "--writer-processes"
    elif estimate.exact and estimate.source != "--num-processes":
        n_w, why = estimate.value, estimate.source
    elif opts.num_processes is not None:
        files = estimate_processes(ck, replace(opts, num_processes=None), choice.rules, step, None, None, facts)
        n_w, why = ((files.value, files.source) if files.exact else
                    (opts.num_processes, "--num-processes: the resuming run's, the writer's presumed the same"))
        low = files.lower_bound
    k_w, why_w, explicit = _k(opts, choice.rules, choice.title, n_w, why)
    n_r = opts.num_processes if opts.num_processes is not None else n_w
    k_r, why_r, _ = _k(opts, choice.rules, choice.title, n_r, "--num-processes" if opts.num_processes else why)
    return _Stepping(k_w, why_w, k_r, why_r, n_w, n_r, low, explicit)


def _from_state(st: _Stepping, le: int | None, g: int) -> _Stepping:
    """An unknown N read from the state: ``last_epoch ÷ step`` when it is a whole number at least the lower bound
    (``processes.position_quotient``, the sine's rule)."""
    n = position_quotient(le, g, st.low) if st.k_w is None else None
    if n is None:
        return st
    return replace(st, k_w=Fraction(n), why_w=f"accelerate steps the prepared scheduler N times per optimizer step, "
                   f"N = {n} (last_epoch {le} ÷ step {g})", n_w=n, k_r=st.k_r if st.k_r is not None else Fraction(n),
                   n_r=st.n_r if st.n_r is not None else n)


def _family_match(state: dict[str, Any]) -> FamilyMatch | None:
    """The first family (not a sine profile: checks.py has those) whose state ``state`` can be."""
    return next((m for m in recognise_all(state) if m.family not in SINE_FAMILY), None)


def _position(match: FamilyMatch) -> int | None:
    """The stored position: ``last_epoch`` (SimpleTuner's hard restarts: ``last_step``); a ChainedScheduler's
    members' common one."""
    if match.position is not None:
        return match.position
    positions = {c.position for c in match.children}
    return positions.pop() if len(positions) == 1 else None


def _affordable(family: Family, position: int) -> bool:
    """Whether ``lrs_at(position)`` is cheap: a closed form of its own, or a replay within ``REPLAY_BUDGET``."""
    replays = isinstance(family, SimulatedFamily) and type(family).lrs_at is SimulatedFamily.lrs_at
    return not replays or position <= REPLAY_BUDGET


def _context(spec: ScheduleSpec) -> Context | None:
    s = spec.schedule
    return Context(lr_lambda=s.factor) if s is not None and s.kind == "lambda" else None


def _lrs_at(family: Family, match: FamilyMatch, position: int, ctx: Context | None) -> list[float] | None:
    """The family's LRs at ``position``, or None when they cannot be computed (cheaply)."""
    if position < 0 or not _affordable(family, position):
        return None
    try:
        return family.lrs_at(match, position, ctx)
    except (NeedsConfig, ValueError, ArithmeticError):
        return None


def _agree(family: Family, match: FamilyMatch, a: Sequence[Any] | None, b: Sequence[float] | None,
           position: int = 0) -> bool:
    return lrs_agree(a, b, family.truncated or match.truncated, family.tolerance(position))


class _Scan(Record):
    """The LRs of the steps after the resume: expected (uninterrupted) and resumed, per step."""

    steps: tuple[int, ...]
    expected: tuple[tuple[float, ...], ...]
    resumed: tuple[tuple[float, ...] | None, ...]


def _scan(family: Family, match: FamilyMatch, g: int, st: _Stepping, ctx_w: Context | None, ctx_r: Context | None,
          start: int | None, first: Sequence[float] | None, horizon: int) -> _Scan | None:
    """Expected and resumed LRs for steps g+1 .. g+horizon (fewer when the schedule ends: OneCycleLR raises past
    its total); None when they cannot be computed."""
    assert st.k_w is not None and st.k_r is not None
    steps = list(range(g + 1, g + 1 + horizon))
    positions = [_pos(st.k_w, s - 1) for s in steps]
    if not _affordable(family, positions[-1]):
        return None
    moves = [_pos(st.k_r, s - 1) - _pos(st.k_r, g) for s in steps[1:]]
    try:
        expected = family.lrs_many(match, positions, ctx_w)
        resumed = family.advance_many(match, first if first is not None else match.last_lr, start, moves, ctx_r)
    except (NeedsConfig, ArithmeticError):
        return None
    except ValueError:
        if horizon <= 2:
            return None
        return _scan(family, match, g, st, ctx_w, ctx_r, start, first, horizon // 2)
    got: list[tuple[float, ...] | None] = [tuple(first) if first is not None else None]
    got += [tuple(x) for x in resumed]
    return _Scan(tuple(steps), tuple(tuple(x) for x in expected), tuple(got))


def _preview(family: Family, match: FamilyMatch, scan: _Scan, rules: tuple[TrainerRules, ...], rule: str, n_r: int,
             stored: int | None, start: int, true: int, runs: str) -> ResumePreview:
    rows: list[PreviewStep] = []
    first_wrong = found = exp_at = s_wrong = s_found = s_exp = None
    max_diff = 0.0
    for i, (s, exp, got) in enumerate(zip(scan.steps, scan.expected, scan.resumed)):
        ok = got is None or _agree(family, match, got, exp, true)
        if got is not None:
            max_diff = max(max_diff, max(abs(a - b) for a, b in zip(got, exp)))
        if not ok and first_wrong is None:
            first_wrong, found, exp_at = s, got[0] if got else None, exp[0]
        if not ok and i >= 1 and s_wrong is None:
            s_wrong, s_found, s_exp = s, got[0] if got else None, exp[0]
        if i < DISPLAY_STEPS or (not ok and s_wrong == s):
            rows.append(PreviewStep(s, got[0] if got else None, exp[0], ok))
    return ResumePreview(tuple(r.label for r in rules), rule, n_r, stored, start, true, runs, UNINTERRUPTED,
                         tuple(rows), first_wrong=first_wrong, found=found, expected=exp_at, max_diff=max_diff,
                         scanned=len(scan.steps), scheduler_wrong=s_wrong, scheduler_found=s_found,
                         scheduler_expected=s_exp)


def _lr(x: float | None) -> str:
    return "unknown" if x is None else f"{x:.6g}"


def _k_words(k: Fraction | None) -> str:
    if k is None:
        return "an unknown number of"
    return str(k.numerator) if k.denominator == 1 else f"{float(k):g}"


class _Ctx:
    """One scheduler file being checked: what is known, and the findings and record built so far."""

    def __init__(self, ck: Checkpoint, sf: SchedulerFile, index: int, match: FamilyMatch, opts: Options,
                 choice: RulesChoice, st: _Stepping, g: int) -> None:
        self.ck, self.sf, self.index, self.match, self.opts, self.choice, self.st, self.g = (
            ck, sf, index, match, opts, choice, st, g)
        self.family = get_family(match.family)
        self.state = sf.state or {}
        self.position = _position(match)
        self.st = st = _from_state(st, self.position, g)
        opt = ck.optimizers[index] if index < len(ck.optimizers) and ck.optimizers[index].problem is None else None
        lrs = [pg.lr for pg in opt.param_groups] if opt is not None else []
        self.optimizer = opt
        known = [x for x in lrs if x is not None]
        self.first: tuple[float, ...] | None = tuple(known) if known and len(known) == len(lrs) else None
        if self.family.from_config:  # a LambdaLR's schedule is the run's configuration; other families keep theirs
            factory = next((r.factory for r in choice.rules), None)
            self.writer = writer_spec(ck, opts, factory, st.n_w, self.state)
            self.resumer = resumer_spec(ck, opts, factory, st.n_r, self.state)
        else:
            self.writer = self.resumer = ScheduleSpec(None)
        self.findings: list[Finding] = []
        self.previews: list[ResumePreview] = []
        self.readings: tuple[str, ...] = ()
        self.needs: list[str] = []
        self.checked = "none"
        self.rewrite: dict[str, Any] | None = None
        self.refusal: str | None = None
        self.fix_epoch_step = False
        self.first_lrs: tuple[float, ...] | None = None

    # -- what the family needs from the configuration ------------------------------------------------------
    def contexts(self) -> tuple[Context | None, Context | None, bool]:
        """The writer's and the resumer's context, and whether the LR can be computed at all."""
        if self.family.from_config:  # a LambdaLR: its lambda is the configuration's
            ctx_w, ctx_r = _context(self.writer), _context(self.resumer)
            if ctx_w is None or ctx_r is None:
                spec = self.writer if ctx_w is None else self.resumer
                why = spec.why or (f"{spec.inputs.name if spec.inputs else 'the schedule'} is not a LambdaLR schedule "
                                   f"of this trainer ({spec.schedule.kind if spec.schedule else 'unknown'})")
                self.needs.append(f"the LR: {why}")
                return None, None, False
            return ctx_w, ctx_r, True
        return None, None, True

    def at(self, position: int, ctx: Context | None) -> list[float] | None:
        return _lrs_at(self.family, self.match, position, ctx)

    def stored_fits(self, position: int, ctx: Context | None) -> bool | None:
        """Whether the stored ``_last_lr`` is the family's LR at ``position`` (None: not computable)."""
        lrs = self.at(position, ctx)
        if lrs is None or self.match.last_lr is None:
            return None
        return _agree(self.family, self.match, self.match.last_lr, lrs, position)


def _readings(c: _Ctx, expected: int, ctx: Context | None) -> tuple[tuple[str, ...], bool]:
    """Every reading of a position that is not ``k × step``, and whether the stale one is the only one that fits
    (then a rewrite contradicts none)."""
    le, g, st = c.position, c.g, c.st
    assert le is not None
    at_le, at_expected = c.stored_fits(le, ctx), c.stored_fits(expected, ctx)
    readings = [f"stale: the run is at {expected} (k = {_k_words(st.k_w)} × step {g}), last_epoch says {le}"
                + ("; the stored _last_lr is the schedule's LR at " + str(expected) if at_expected else "")
                + ("; the stored _last_lr is not the schedule's LR at last_epoch" if at_le is False else "")]
    other = at_le is not False and g > 0 and le >= 0 and not (st.explicit and st.k_w is not None)
    if other:
        k = Fraction(le, g)
        if k.denominator == 1 and k > 1 and st.n_w is not None and not st.explicit:
            readings.append(f"written by {k} processes (last_epoch {le} = {k} × step {g}): pass --writer-processes {k} "
                            "(or --num-processes when it resumes with them too)")
        elif k.denominator == 1 and k >= 1:
            readings.append(f"stepped {k} times per optimizer step (last_epoch {le} = {k} × step {g}): pass "
                            f"--scheduler-steps-per-optimizer-step {k}")
        else:
            readings.append(f"stepped once per {float(1 / k):g} optimizer steps (per epoch?): last_epoch {le} = step "
                            f"{g} × {float(k):g}; pass --scheduler-steps-per-optimizer-step {float(k):g}"
                            if k > 0 else f"never stepped by this script (last_epoch {le})")
    return tuple(readings), not other


def _check_position(c: _Ctx, ctx_w: Context | None) -> int | None:
    """CKF120 when the stored position is not ``k_w × step``; the expected position (None: unknown)."""
    le, g, st = c.position, c.g, c.st
    if le is None:
        return None
    if st.k_w is None:  # N unknown, and last_epoch ÷ step is no whole number >= its lower bound (_from_state)
        readings, _ = _readings(c, st.low * g, ctx_w)
        c.readings = (f"N (training processes) is unknown ({st.why_w}), and last_epoch {le} is not N × step {g} for "
                      f"any N >= {st.low}",) + readings[1:]
        c.findings.append(make_finding(
            "CKF120", c.sf.path, "last_epoch", le, None,
            f"{c.family.name}: last_epoch {le} is not N × step {g} for any N >= {st.low} (N unknown: {st.why_w}). "
            "Readings that fit: a stale state; " + "; ".join(readings[1:] or ("another way of stepping it",))
            + ". Pass --num-processes N (and --writer-processes when the run that wrote it had another N), or "
            "--scheduler-steps-per-optimizer-step K"))
        c.refusal = "N (training processes) is unknown: pass --num-processes N"
        return None
    expected = _pos(st.k_w, g)
    if le == expected:
        return expected
    c.readings, only_stale = _readings(c, expected, ctx_w)
    if only_stale:
        c.rewrite = _rewrite(c, expected, ctx_w)
    else:
        c.refusal = (f"last_epoch {le} fits more than one reading ({'; '.join(c.readings[1:])}): ckptfix rewrites it "
                     f"only when you say how the run steps the scheduler (--scheduler-steps-per-optimizer-step "
                     f"{_k_words(st.k_w)} if it is stale)")
    return expected


def _rewrite(c: _Ctx, position: int, ctx: Context | None) -> dict[str, Any] | None:
    """The position keys a rewrite to ``position`` writes (the class and every other key kept): ``last_epoch``,
    ``_step_count`` (``position + 1``, as a fresh scheduler stepped there holds it), ``_last_lr`` where the
    formula is known, ``T_cur``/``T_i`` for CosineAnnealingWarmRestarts. None (with ``refusal``) where the position
    is nested (SequentialLR, ChainedScheduler) or not ``last_epoch``."""
    if c.family.position_keys[:1] != ("last_epoch",) or "last_epoch" not in c.state or c.match.children:
        c.refusal = (f"{c.family.name} keeps its position in {', '.join(c.family.position_keys) or 'no key'}: ckptfix "
                     "does not rewrite it")
        return None
    try:
        values = c.family.state_at(c.match, position, ctx)
    except (NeedsConfig, ValueError, ArithmeticError):
        values = {"last_epoch": position}
    out: dict[str, Any] = {"last_epoch": position}
    if "_step_count" in c.family.position_keys and "_step_count" in c.state:
        out["_step_count"] = position + 1  # a fresh scheduler stepped to the position (torch counts its steps so)
    for key in ("T_cur", "T_i"):
        if key in values and key in c.state:
            out[key] = values[key]
    lrs = c.at(position, ctx)
    if lrs is not None and "_last_lr" in c.state:
        out["_last_lr"] = lrs
    return out


def _horizon(c: _Ctx) -> int:
    """Steps scanned after the resume: to the end of the writing run's schedule when its total is known."""
    total = c.writer.inputs.total if c.writer.inputs is not None and c.family.from_config else None
    if isinstance(total, int) and total > c.g:
        return max(2, min(SCAN_STEPS, total - c.g))
    return SCAN_STEPS


def _follows(scan: _Scan | None, family: Family, match: FamilyMatch, true: int, from_index: int = 1) -> bool | None:
    if scan is None:
        return None
    return all(got is None or _agree(family, match, got, exp, true)
               for got, exp in list(zip(scan.resumed, scan.expected))[from_index:])


def _detail(p: ResumePreview) -> str:
    if p.scheduler_wrong is None:
        return (f"the first step after the resume ({p.first_wrong}) uses the optimizer's stored lr {_lr(p.found)} where "
                f"the {UNINTERRUPTED} has {_lr(p.expected)}")
    return (f"from step {p.scheduler_wrong} the LR is {_lr(p.scheduler_found)} where the {UNINTERRUPTED} has "
            f"{_lr(p.scheduler_expected)} (up to {p.max_diff:.3g} off in the {p.scanned} steps checked)")


def _resume_groups(c: _Ctx) -> list[tuple[tuple[TrainerRules, ...], str, int | None, int]]:
    """Per distinct resume rule: (its rules, the rule, the position after the resume (None: the resume cannot be
    modelled on this value: state_checks.py reports it), the step the resume counts from)."""
    out: list[tuple[tuple[TrainerRules, ...], str, int | None, int]] = []
    moves = c.family.position_keys[:1] == ("last_epoch",)
    for group, trainer_step, epoch_step, usable in resume_groups(c.ck, c.choice.rules, c.g):
        rule = group[0].last_epoch_from
        if not usable or c.st.n_r is None:
            out.append((group, rule, None, trainer_step))
            continue
        start = resume_position(rule, c.position, trainer_step, epoch_step, c.st.n_r) if moves else c.position
        out.append((group, rule if moves else "stored", start, trainer_step))
    return out


def _why_no_trajectory(family: Family, last: int) -> str:
    """What kept ``_scan`` from computing the LRs: the replay budget, or values the state does not hold."""
    if not _affordable(family, last):
        return f"the LR trajectory: {family.name} up to position {last} is beyond what ckptfix replays ({REPLAY_BUDGET:,} steps)"
    if family.from_optimizer:
        return f"the LR trajectory: {family.name} needs {', '.join(family.from_optimizer)} from the optimizer's param groups"
    return f"the LR trajectory: {family.name} needs {', '.join(family.from_config) or 'values its state does not hold'}"


def _judge(c: _Ctx, expected: int, ctx_w: Context | None, ctx_r: Context | None) -> None:
    """The resume preview per resume rule, and the finding that says why it departs (module docstring)."""
    for group, rule, start, trainer_step in _resume_groups(c):
        if start is None:
            continue
        override = start if rule != "stored" else None
        scan = _scan(c.family, c.match, c.g, c.st, ctx_w, ctx_r, override, c.first, _horizon(c))
        if scan is None:
            c.needs.append(_why_no_trajectory(c.family, expected + _horizon(c)))
            continue
        c.first_lrs = scan.expected[0]
        runs = (f"{c.family.name} ({c.resumer.label})" if c.family.from_config else c.family.name)
        assert c.st.n_r is not None
        p = _preview(c.family, c.match, scan, group, rule, c.st.n_r, c.position, start, expected, runs)
        c.previews.append(p)
        if p.ok:
            continue
        _explain(c, p, group, rule, start, expected, trainer_step, ctx_w, ctx_r)


def _explain(c: _Ctx, p: ResumePreview, group: tuple[TrainerRules, ...], rule: str, start: int, expected: int,
             trainer_step: int, ctx_w: Context | None, ctx_r: Context | None) -> None:
    """The finding for a departing preview, by its first cause: a stale position (CKF120), another configuration
    (CKF123), the trainer's override or another N (CKF122); only the first step (CKF125)."""
    where = ", ".join(r.label for r in group)
    le, st, f = c.position, c.st, c.sf.path
    if p.scheduler_wrong is None:
        opt = c.optimizer.path if c.optimizer is not None else f
        c.findings.append(make_finding("CKF125", opt, "param_groups[0].lr", p.found, p.expected,
                                       f"resumed by {where}: {_detail(p)}"))
        return
    if le != expected and rule == "stored":
        c.findings.append(make_finding("CKF120", f, "last_epoch", le, expected,
                                       f"{c.family.name}: last_epoch {le} is not {_k_words(st.k_w)} × step {c.g} = "
                                       f"{expected} ({st.why_w}). Readings that fit: " + "; ".join(c.readings)
                                       + f". Resumed by {where}, {_detail(p)}"))
        return
    w, r = c.writer.inputs, c.resumer.inputs
    if c.family.from_config and w is not None and r is not None and w != r:
        changed = ", ".join(f"{k} {getattr(w, k)!r} -> {getattr(r, k)!r} ({c.resumer.source(k)})"
                            for k in w.__record_fields__ if getattr(w, k) != getattr(r, k))
        c.findings.append(make_finding("CKF123", f, "lr_lambdas", c.writer.label, c.resumer.label,
                                       f"the resuming launch changes the schedule ({changed}): a LambdaLR's lambda is "
                                       f"not saved, so the resumed run applies its own configuration at the stored "
                                       f"position; resumed by {where}, {_detail(p)}"))
        return
    if start != le:
        _override(c, p, where, rule, start, expected, trainer_step, ctx_w, ctx_r)
        return
    if st.k_r != st.k_w:
        c.findings.append(make_finding(
            "CKF122", f, "last_epoch", le, expected,
            f"resumed by {where} with {st.n_r} process(es), the scheduler steps {_k_words(st.k_r)} time(s) per "
            f"optimizer step where the run that wrote it stepped it {_k_words(st.k_w)} time(s) ({st.why_w}): "
            f"{_detail(p)}"))
        _fix_by_position(c, ctx_w, ctx_r)
        return
    c.findings.append(make_finding("CKF122", f, "_last_lr", c.match.last_lr, None,
                                   f"{c.family.name} resumed by {where}: {_detail(p)}"))


def _override(c: _Ctx, p: ResumePreview, where: str, rule: str, start: int, expected: int, trainer_step: int,
              ctx_w: Context | None, ctx_r: Context | None) -> None:
    """CKF122 for a resume that sets ``last_epoch`` from the trainer's state (SimpleTuner): on the state file's
    ``epoch_step`` when that is what moves it, and whether setting it to the step makes the resume follow."""
    ts = c.ck.training_state
    on_epoch = rule == "epoch_step" and ts is not None
    file, key = (ts.path, "epoch_step") if on_epoch else (c.sf.path, "last_epoch")  # type: ignore[union-attr]
    src = "training_state.json epoch_step" if rule == "epoch_step" else "training_state.json global_step"
    per = start // c.st.n_r if c.st.n_r else start
    c.findings.append(make_finding(
        "CKF122", file, key, per if on_epoch else start, c.g if on_epoch else expected,
        f"resumed by {where} (last_epoch = {src} {per} × {c.st.n_r} = {start}; the run is at {expected}): "
        f"{_detail(p)}"))
    if on_epoch and c.st.n_r is not None:
        fixed = resume_position(rule, c.position, trainer_step, c.g, c.st.n_r)
        scan = _scan(c.family, c.match, c.g, c.st, ctx_w, ctx_r, fixed, c.first, _horizon(c))
        if _follows(scan, c.family, c.match, expected):
            c.fix_epoch_step = True
        else:
            c.refusal = (f"with epoch_step = {c.g} the resume sets last_epoch {fixed}, and the LR still departs from "
                         f"the {UNINTERRUPTED}'s: ckptfix cannot make that resume follow")


def _fix_by_position(c: _Ctx, ctx_w: Context | None, ctx_r: Context | None) -> None:
    """A resuming run with another N: the position (``k_r × step``) that makes its LRs the writer's, if one does
    (the diffusers scripts scale warmup and total by N: the resumer's schedule at ``k_r × step`` is the writer's at
    ``k_w × step``); else why none does."""
    st = c.st
    assert st.k_r is not None and st.k_w is not None
    target = _pos(st.k_r, c.g)
    scan = _scan(c.family, c.match, c.g, st, ctx_w, ctx_r, target, c.first, _horizon(c))
    if target != c.position and _follows(scan, c.family, c.match, target):
        c.rewrite = _rewrite(c, target, ctx_r)
        if c.rewrite is not None:
            c.refusal = None
        return
    c.refusal = (f"the resuming run steps the scheduler {_k_words(st.k_r)} time(s) per optimizer step where the run "
                 f"that wrote it stepped it {_k_words(st.k_w)} time(s), and no last_epoch makes its LRs the "
                 f"{UNINTERRUPTED}'s ({c.family.name}'s parameters count scheduler steps): resume with "
                 f"{st.n_w} process(es)")


def _position_only(c: _Ctx, expected: int | None) -> None:
    """The LR cannot be computed: the position is still judged (CKF120), its move on resume (CKF124), and the first
    step's LR against the stored ``_last_lr`` (CKF125)."""
    le, st, f = c.position, c.st, c.sf.path
    if le is None:
        return
    if expected is not None and le != expected:
        c.findings.append(make_finding("CKF120", f, "last_epoch", le, expected,
                                       f"{c.family.name}: last_epoch {le} is not {_k_words(st.k_w)} × step {c.g} = "
                                       f"{expected} ({st.why_w}). Readings that fit: " + "; ".join(c.readings)))
        return
    how = "; ".join(c.needs) or "the configuration is not known"
    ts = c.ck.training_state
    for group, rule, start, _step in _resume_groups(c):
        if start is not None and start != le:
            on_epoch = rule == "epoch_step" and ts is not None
            file, key = (ts.path, "epoch_step") if on_epoch else (f, "last_epoch")  # type: ignore[union-attr]
            c.findings.append(make_finding(
                "CKF124", file, key, le, start,
                f"resumed by {', '.join(r.label for r in group)}, last_epoch moves from {le} to {start} "
                f"({rule} × N): the LR there depends on the schedule, which ckptfix cannot compute ({how})"))
            if on_epoch and st.k_r == st.k_w and le == expected:
                c.fix_epoch_step = True  # epoch_step = step puts it back at the stored position
    if st.k_r is not None and st.k_w is not None and st.k_r != st.k_w:
        c.findings.append(make_finding(
            "CKF124", f, "last_epoch", _k_words(st.k_w), _k_words(st.k_r),
            f"the resuming run steps the scheduler {_k_words(st.k_r)} time(s) per optimizer step where the run that "
            f"wrote it stepped it {_k_words(st.k_w)} time(s) ({st.why_w}): the schedule runs at another pace unless "
            f"it is constant, which ckptfix cannot see ({how})"))
    if c.match.last_lr is not None and le == expected:
        c.first_lrs = tuple(c.match.last_lr)  # the state is where the run is: its stored LR is the run's
    if c.first is not None and c.first_lrs is not None and not _agree(c.family, c.match, c.first, c.first_lrs):
        opt = c.optimizer.path if c.optimizer is not None else f
        due = c.first_lrs[0]  # the uninterrupted run's LR there (the state's _last_lr when the state is where the run is)
        c.findings.append(make_finding("CKF125", opt, "param_groups[0].lr", c.first[0], due,
                                       f"the first step after the resume uses the optimizer's stored lr "
                                       f"{_lr(c.first[0])}, not the run's {_lr(due)}"))


def _writer_fits(c: _Ctx, expected: int | None, ctx_w: Context | None) -> bool:
    """For a LambdaLR whose writing run's schedule is only the stated one (no configuration file): whether the
    stored ``_last_lr`` is that schedule's LR (at the stored position, or the expected one). CKF123 when not: the
    state was written with another schedule, and the resuming launch makes the LR jump."""
    if not c.family.from_config or c.writer.sources and any(not src.startswith("--") and "base_lrs" not in src
                                                             for _k, src in c.writer.sources):
        return True  # the writer's schedule is read from its own files, or not configured at all
    le = c.position
    if le is None or ctx_w is None:
        return True
    fits = [c.stored_fits(pos, ctx_w) for pos in {le, expected if expected is not None else le}]
    if any(x is not False for x in fits):
        return True
    jump = c.at(le, ctx_w)
    c.findings.append(make_finding(
        "CKF123", c.sf.path, "_last_lr", list(c.match.last_lr or ()), jump,
        f"the stored _last_lr {_lr((c.match.last_lr or (None,))[0])} is not what {c.resumer.label} gives at "
        f"last_epoch {le} ({_lr(jump[0] if jump else None)}): the run that wrote this state had another schedule "
        "(a LambdaLR's lambda is not saved), so resumed with these settings the LR jumps to the new schedule's from "
        f"step {c.g + 2} on. Resume with the writing run's settings, or pass them if these are not the resuming "
        "launch's"))
    return False


def _check_one(c: _Ctx) -> ScheduleCheck:
    if not c.family.has_position:
        c.findings.append(make_finding("CKF121", c.sf.path, None, None, None,
                                       f"{c.family.name}: {c.family.note}: no position to check; its state (counters, "
                                       "best metric) is restored as saved"))
        return _record(c, None)
    ctx_w, ctx_r, computable = c.contexts()
    expected = _check_position(c, ctx_w)
    position_by_trainer = checks_scheduler_position(c.ck) and c.position != expected  # CKF100 says it
    if position_by_trainer:
        return _record(c, expected)
    if not computable or expected is None or c.st.k_r is None:
        if expected is not None or c.position is None:
            _position_only(c, expected)
        c.checked = "position" if expected is not None else "none"
        return _record(c, expected)
    if not _writer_fits(c, expected, ctx_w):
        c.checked = "lr"
        return _record(c, expected)
    _judge(c, expected, ctx_w, ctx_r)
    c.checked = "lr" if c.previews else "position"
    if c.rewrite is not None and not any(f.code in ("CKF120", "CKF122") for f in c.findings):
        c.rewrite = None  # nothing departs: nothing to rewrite
    elif c.rewrite is not None:
        _verify_rewrite(c, expected, ctx_w, ctx_r)
    return _record(c, expected)


def _verify_rewrite(c: _Ctx, expected: int, ctx_w: Context | None, ctx_r: Context | None) -> None:
    """Keep a planned rewrite only when the resume of the rewritten state follows (from its second step: the first
    uses the optimizer's stored lr, which ``--optimizer-lr`` sets) under every resume rule."""
    assert c.rewrite is not None
    position = c.rewrite["last_epoch"]
    for _group, rule, start, _step in _resume_groups(c):
        at = position if rule == "stored" else start
        scan = _scan(c.family, c.match, c.g, c.st, ctx_w, ctx_r, at, c.first, _horizon(c))
        if at is not None and _follows(scan, c.family, c.match, expected) is False:
            c.refusal = (f"after rewriting last_epoch to {position}, the resume still departs from the "
                         f"{UNINTERRUPTED}: ckptfix cannot make it follow")
            c.rewrite = None
            return


def _record(c: _Ctx, expected: int | None) -> ScheduleCheck:
    shown = tuple((k, v, src) for k, v, src in (c.resumer.shown() if c.family.from_config else ()))
    return ScheduleCheck(
        file=c.sf, family=c.family.name, also=tuple(c.match.also), position=c.position, expected_position=expected,
        steps_per_step=float(c.st.k_w) if c.st.k_w is not None else None, steps_source=c.st.why_w,
        resumer_steps_per_step=float(c.st.k_r) if c.st.k_r is not None else None,
        checked=c.checked, needs=tuple(dict.fromkeys(c.needs)),
        writer=c.writer.label if c.family.from_config else None,
        resumer=c.resumer.label if c.family.from_config else None,
        config=shown, readings=c.readings, rewrite=c.rewrite, refusal=c.refusal, fix_epoch_step=c.fix_epoch_step,
        source=c.family.source, first_lrs=c.first_lrs)


def schedule_checks(ck: Checkpoint, steps: StepInfo | None, estimate: ProcessEstimate, choice: RulesChoice,
                    reports: Sequence[SchedulerReport], opts: Options, facts: RunFacts = RunFacts()
                    ) -> tuple[tuple[ScheduleCheck, ...], tuple[ResumePreview, ...], list[Finding]]:
    """The checks of every scheduler file that is not a sine state (the module docstring): one record each, the
    resume previews, and the findings."""
    if ck.engine is not None and ck.engine.has_lr_scheduler:
        return (), (), []  # DeepSpeed's own scheduler: trainer_checks.py (CKF103)
    todo = [(i, sr, sr.file.state) for i, sr in enumerate(reports) if sr.by_family and sr.file.state is not None]
    if not todo:
        return (), (), []
    g = steps.chosen if steps is not None else None
    st = _stepping(ck, opts, choice, estimate, g, facts)
    checks, previews, findings = [], [], []
    for i, sr, state in todo:
        match = _family_match(state)
        if match is None:
            continue
        if g is None:
            checks.append(ScheduleCheck(file=sr.file, family=match.family, also=tuple(match.also),
                                        position=_position(match), needs=("the checkpoint's step: pass --step G",)))
            continue
        c = _Ctx(ck, sr.file, i, match, opts, choice, st, g)
        checks.append(_check_one(c))
        previews.extend(c.previews)
        findings.extend(_dedupe(c.findings))
    return tuple(checks), tuple(previews), findings


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str | None, str]] = set()
    out = []
    for f in findings:
        key = (f.code, f.key, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def created_state(report: CheckpointReport, opts: Options) -> tuple[dict[str, Any] | None, str]:
    """The scheduler state the resuming trainer builds, at the checkpoint's position, for a missing (or unreadable)
    scheduler file: a ``LambdaLR`` of the configured schedule in the form ``LambdaLR.load_state_dict`` accepts
    (``lambda_state``), or None and why not (the class, the configuration, the step or N is not known)."""
    ck, choice = report.checkpoint, report.trainer
    g = report.steps.chosen
    factory = next((r.factory for r in choice.rules), None) if choice is not None else None
    if choice is None or factory is None:
        return None, (f"{choice.title if choice else 'the trainer'} builds its scheduler in the user's own code: "
                      "ckptfix cannot know its class")
    if opts.lr_scheduler is None:
        return None, (f"the {choice.title} build the scheduler --lr_scheduler names: pass --lr-scheduler NAME with its "
                      "--lr-warmup-steps, --max-train-steps (and --learning-rate) to create it")
    if g is None:
        return None, "the checkpoint's step is unknown: pass --step G"
    est = report.processes or ProcessEstimate(report.num_processes, report.num_processes_source)
    st = _stepping(ck, opts, choice, est, g, RunFacts())
    if st.k_w is None or st.n_r is None:
        return None, f"N (training processes) is unknown ({st.why_w}): pass --num-processes N"
    spec = resumer_spec(ck, opts, factory, st.n_r)
    sched = spec.schedule
    if sched is None or sched.kind != "lambda" or sched.saved_lambda not in ("None", "{}"):
        why = spec.why or (f"{opts.lr_scheduler} is {choice.title}'s own class ({sched.kind if sched else 'unknown'}), "
                           "not a LambdaLR: ckptfix creates LambdaLR states (and the sine)")
        return None, why
    opt = ck.optimizers[0] if ck.optimizers and ck.optimizers[0].problem is None else None
    if opt is None or not opt.param_groups:
        return None, "to create it, ckptfix needs a readable optimizer file with param groups (optimizer.bin)"
    bases = [opts.learning_rate if opts.learning_rate is not None else
             pg.initial_lr if pg.initial_lr is not None else pg.lr for pg in opt.param_groups]
    if any(b is None or not math.isfinite(b) or b < 0 for b in bases):
        return None, "a param group of optimizer.bin has no usable initial_lr/lr: pass --learning-rate LR"
    position = _pos(st.k_r if st.k_r is not None else st.k_w, g)
    lrs = [b * sched.factor(position) for b in bases]  # type: ignore[operator]
    return lambda_state(bases, position, lrs, sched.saved_lambda), (  # type: ignore[arg-type]
        f"a LambdaLR of {spec.label} at last_epoch {position} ({_k_words(st.k_r)} × step {g}), as "
        f"{choice.title} builds it ({sched.source})")
