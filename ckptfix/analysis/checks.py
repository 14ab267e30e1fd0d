"""Checks of one checkpoint against the reference sine: pure functions from model to findings."""

from __future__ import annotations

from typing import Any

from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.analysis.leftover_checks import leftover_findings
from ckptfix.analysis.processes import estimate_processes
from ckptfix.analysis.readings import other_readings, reading_findings
from ckptfix.analysis.report import (
    CheckpointReport,
    Options,
    ResumePreview,
    RulesChoice,
    RunFacts,
    ScheduleCheck,
    SchedulerReport,
    StepInfo,
)
from ckptfix.analysis.resume_checks import processes_finding, resume_findings
from ckptfix.analysis.resume_files import resume_file_findings
from ckptfix.analysis.state_checks import state_file_findings
from ckptfix.analysis.step_count import step_count_findings
from ckptfix.analysis.trainer_checks import checks_scheduler_position, trainer_findings
from ckptfix.analysis.trainer_files import trainer_file_findings
from ckptfix.analysis.trainer_rules import choose_rules, writers_of
from ckptfix.coerce import as_int, as_real, close
from ckptfix.model.checkpoint import Checkpoint, FileProblem, SchedulerFile
from ckptfix.schedulers.detect import ProfileMatch, detect_profile
from ckptfix.schedulers.formulas import lr_matches
from ckptfix.schedulers.profiles import SIMPLETUNER_SINE_V1, SIMPLETUNER_SINE_V2, SINE, SINE_FAMILY
from ckptfix.schedulers.reference import TargetState, sine_state, target_state
from ckptfix.text import clip

__all__ = ["analyse", "reference_state", "steps_of"]


def steps_of(ck: Checkpoint, opts: Options) -> StepInfo:
    ts = ck.training_state.global_step if ck.training_state else None
    ep = ck.training_state.epoch_step if ck.training_state else None
    opt = ck.optimizer_step
    known = [v for v in (ts, ck.folder_step, opt) if v is not None]
    agree = len(set(known)) <= 1
    if opts.step is not None:
        return StepInfo(ck.folder_step, ts, opt, ep, opts.step, "--step", agree)
    ts_label = ck.training_state.source if ck.training_state else "training_state.json"
    for value, source in ((ts, ts_label), (ck.folder_step, "folder name"), (opt, "optimizer")):
        if value is not None:
            return StepInfo(ck.folder_step, ts, opt, ep, value, source, agree)
    return StepInfo(ck.folder_step, ts, opt, ep, None, None, agree)


def reference_state(state: dict[str, Any], last_epoch: int, opts: Options) -> TargetState | None:
    """The target formula's (``--target``) T_cur/T_i/_last_lr at ``last_epoch``, with flag overrides applied."""
    t0 = as_int(state.get("T_0"))
    t_mult = opts.t_mult if opts.t_mult is not None else as_int(state.get("T_mult", 1))
    if t0 is None or t0 < 1 or t_mult is None or t_mult < 1 or last_epoch < 0:
        return None
    eta_min = opts.lr_end if opts.lr_end is not None else as_real(state.get("eta_min"))
    bases = state.get("base_lrs")
    vals = None
    if isinstance(bases, (list, tuple)) and bases:
        vals = [opts.learning_rate if opts.learning_rate is not None else as_real(b) for b in bases]
        if any(v is None for v in vals):
            vals = None
    return target_state(opts.target, last_epoch, t0, t_mult, eta_min, vals)  # type: ignore[arg-type]


def analyse(ck: Checkpoint, opts: Options = Options(), facts: RunFacts = RunFacts()) -> CheckpointReport:
    """Every check of one read checkpoint under the user's ``opts`` and what the pipeline learned (``facts``):
    pure, so a checkpoint read once can be analysed as often as the pipeline learns more."""
    if ck.not_a_folder is not None:
        return _not_a_folder(ck, opts)
    findings: list[Finding] = []
    for p in ck.problems:
        findings.append(_problem_finding(p))
    steps = steps_of(ck, opts)
    choice = choose_rules(ck.trainer, opts, facts)
    step_ok = steps.agree or steps.source == "--step"
    first = ck.schedulers[0] if ck.schedulers else None
    match0 = detect_profile(first.state) if first is not None and first.state is not None else None
    estimate = estimate_processes(ck, opts, choice.rules, steps.chosen if step_ok else None,
                                  first.state if first is not None else None, match0, facts, writers_of(ck, choice))
    n = estimate.value
    if not steps.agree:
        ts_label = ck.training_state.source if ck.training_state else "training_state.json"
        found = {ts_label: steps.training_state, "folder": steps.folder, "optimizer": steps.optimizer}
        findings.append(make_finding(
            "CKF010", ck.path, "global_step", {k: v for k, v in found.items() if v is not None}, None,
            "step sources disagree: " + ", ".join(f"{k} says {v}" for k, v in found.items() if v is not None)
            + (f"; using {steps.chosen} from --step" if steps.source == "--step" else "; pass --step to choose"),
            severity="info" if steps.source == "--step" else None,  # the user has decided
        ))
    for of in ck.optimizers:
        if of.step is not None and of.step.value is None and of.problem is None:
            findings.append(make_finding("CKF090", of.path, "step", None, None,
                                     f"optimizer step count unknown ({of.step.family}): {of.step.note or of.step.source}"))

    g = steps.chosen
    own_files = trainer_file_findings(ck, choice, g if step_ok else None)
    skipped_together = any(f.code == "CKF140" for f in own_files)  # the trainer's resume skips the scheduler: said there
    schedule_free = any(o.step is not None and o.step.schedule_free for o in ck.optimizers)
    if (not ck.schedulers and ck.optimizers and not schedule_free and not any(o.problem for o in ck.optimizers)
            and not skipped_together):
        has_state = ck.optimizer_step is None or ck.optimizer_step > 0
        if has_state:
            findings.append(_missing_scheduler(ck, choice))

    reports = []
    for i, sf in enumerate(ck.schedulers):
        reports.append(_check_scheduler(ck, sf, i, g if step_ok else None, n, opts, findings,
                                        match0 if i == 0 else None, choice))
    # a position another formula that fits the state explains (CKF144): no N to ask for, no sine resume to preview
    contested = any(f.code == "CKF144" for f in findings)
    if not contested:
        findings.extend(processes_finding(ck, estimate, reports, g if step_ok else None))
    previews, stock, more = (resume_findings(ck, steps if step_ok else None, estimate, choice, reports, opts)
                             if not contested else ((), None, []))
    findings.extend(more)
    families: tuple[ScheduleCheck, ...] = ()
    family_previews: tuple[ResumePreview, ...] = ()
    if any(sr.by_family for sr in reports):
        # the family engine (schedulers/families, the trainers' schedules) imported only for a state that is not a
        # sine state: its imports were 75 M instructions of the gate on a sine checkpoint (bench/instructions.py: 8 GB 532 -> 457 M)
        from ckptfix.analysis.schedule_checks import schedule_checks  # noqa: PLC0415 - only then

        families, family_previews, more = schedule_checks(ck, steps if step_ok else None, estimate, choice, reports,
                                                          opts, facts)
        findings.extend(more)

    findings.extend(trainer_findings(ck, steps))
    findings.extend(state_file_findings(ck, choice))
    findings.extend(resume_file_findings(ck))
    findings.extend(own_files)
    findings.extend(step_count_findings(ck, choice, g if step_ok else None, opts))
    findings.extend(leftover_findings(ck))
    if ck.has_manifest and not ck.has_guard:  # SimpleTuner writes .guard last (since PR #2719 only)
        findings.append(make_finding("CKF080", ck.path / ".guard", None, "missing", "present",
                                 "no .guard file: SimpleTuner may not have finished writing this checkpoint"))
    if ck.link_target is not None:
        findings.append(make_finding("CKF118", ck.path, None, str(ck.link_target), None,
                                     f"{ck.name} is a symbolic link to {ck.link_target}: the files were read there, "
                                     "as the trainer's resume reads them; repair writes there"))
    return CheckpointReport(ck, steps, n, estimate.source, tuple(reports), tuple(findings), opts.strict,
                            checks_scheduler_position(ck), estimate, choice, previews + family_previews, opts.target,
                            stock, families)


def _not_a_folder(ck: Checkpoint, opts: Options) -> CheckpointReport:
    """An entry a latest rule picked by its name that is no folder (CKF116): nothing else to check."""
    f = make_finding("CKF116", ck.path, None, ck.not_a_folder, "a checkpoint folder",
                     f"{ck.name} is {ck.not_a_folder}, not a checkpoint folder; a resume that picks the latest by its "
                     "name (SimpleTuner, the diffusers scripts, accelerate) loads it and stops: load_state raises "
                     f"\"Tried to find {ck.name} but folder does not exist\". Move it out of the output folder (or "
                     "make the link lead to the checkpoint folder); the previous checkpoint then becomes the latest")
    return CheckpointReport(ck, steps_of(ck, opts), None, "", (), (f,), opts.strict)


def _problem_finding(p: FileProblem) -> Finding:
    code = "CKF003" if p.kind == "unsafe-pickle" else "CKF002"
    return make_finding(code, p.path, None, None, None, p.message)


def _check_scheduler(ck: Checkpoint, sf: SchedulerFile, index: int, g: int | None, n: int | None, opts: Options,
                     findings: list[Finding], match: ProfileMatch | None = None,
                     choice: RulesChoice | None = None) -> SchedulerReport:
    if sf.state is None:
        return SchedulerReport(sf, None, None, None)
    state = sf.state
    match = match or detect_profile(state)
    expected_le = n * g if g is not None and n is not None else None
    f = sf.path
    sine_layout = match.profile in SINE_FAMILY or match.scheduler_kind in ("Sine", "CosineAnnealingWarmRestarts")
    if not sine_layout:
        return SchedulerReport(sf, match, expected_le, None)
    bad = _bad_values(state, f)
    findings.extend(bad)
    if bad or match.profile not in SINE_FAMILY:
        return SchedulerReport(sf, match, expected_le, None)

    le = as_int(state.get("last_epoch"))
    assert le is not None
    # 1. Which formula wrote it, against the target (--target).
    if match.profile != opts.target and le >= 0 and not match.lr_consistent and any(c.checked for c in match.candidates):
        findings.append(make_finding("CKF022", f, "_last_lr", state.get("_last_lr"), match.expected.last_lr if match.expected else None,
                                 f"_last_lr matches no known formula at the stored position (closest: {match.profile})"))
    elif match.profile == SIMPLETUNER_SINE_V1:
        findings.append(make_finding("CKF030", f, "_last_lr", state.get("_last_lr"), match.expected.last_lr if match.expected else None,
                                 "written by SimpleTuner's pre-fix sine (v1): the LR never goes below (base + eta_min) / 2"))
    elif match.profile == SINE and opts.target == SIMPLETUNER_SINE_V2:
        findings.append(make_finding("CKF114", f, "_last_lr", state.get("_last_lr"), _target_lr(state, le, opts),
                                     "written by the fixed sine; --target simpletuner-sine-v2 checks against what "
                                     "stock SimpleTuner writes (v2)"))
    elif match.profile == SIMPLETUNER_SINE_V2 and opts.target == SINE:
        extra = "; its total_steps key makes accelerate stop stepping the scheduler" if "total_steps" in state else ""
        findings.append(make_finding("CKF031", f, "_last_lr", state.get("_last_lr"), match.expected.last_lr if match.expected else None,
                                 "written by SimpleTuner's sin-based sine (v2): period 2*T_0, T_cur frozen at -1" + extra))
    elif le >= 0 and match.profile == SINE:
        _check_sine_internals(state, le, f, findings)

    # 2. Position against the training step (both readings when another formula fits the state as well).
    others = other_readings(match, choice) if choice is not None else ()
    if others:
        findings.extend(reading_findings(sf, match, others, le, g, n))
    elif expected_le is not None and le != expected_le:
        if n is not None and n > 1 and g is not None and le == g:
            findings.append(make_finding("CKF011", f, "last_epoch", le, expected_le,
                                     f"last_epoch is {le} = the step, not {n} processes x {g} = {expected_le}"))
        else:
            findings.append(make_finding("CKF012", f, "last_epoch", le, expected_le,
                                     f"last_epoch is {le}; {n} process(es) x step {g} = {expected_le}"))

    # 3. Keys the resume path needs.
    if "_step_count" not in state:
        findings.append(make_finding("CKF050", f, "_step_count", "missing", "present",
                                 "state lacks _step_count: accelerate's resume fails with "
                                 "\"'Sine' object has no attribute '_step_count'\" (SimpleTuner #1137)"))

    # 4. The optimizer's param groups against the scheduler.
    if index < len(ck.optimizers):
        _check_optimizer_lrs(ck.optimizers[index], state, findings)

    # 5. Flags the user passed that the state will override.
    _check_flags(state, f, n, opts, findings)

    target = expected_le if expected_le is not None else le
    ref = reference_state(state, target, opts) if target >= 0 else None
    return SchedulerReport(sf, match, expected_le, ref)


def _target_lr(state: dict[str, Any], le: int, opts: Options) -> list[float] | None:
    ref = reference_state(state, le, opts) if le >= 0 else None
    return ref.last_lr if ref else None


def _bad_values(state: dict[str, Any], f: Any) -> list[Finding]:
    out = []

    def bad(key: str, why: str) -> None:
        shown = repr(state.get(key, "missing"))
        out.append(make_finding("CKF070", f, key, shown, why, f"{key} = {clip(shown, 80)}: {why}"))

    t0 = as_int(state.get("T_0"))
    if t0 is None or t0 < 1:
        bad("T_0", "a positive integer")
    if "T_mult" in state and (as_int(state["T_mult"]) is None or as_int(state["T_mult"]) < 1):  # type: ignore[operator]
        bad("T_mult", "an integer >= 1")
    le = as_int(state.get("last_epoch"))
    if le is None or le < -1:
        bad("last_epoch", "an integer >= -1 (-1: never stepped)")
    if as_real(state.get("eta_min")) is None or as_real(state.get("eta_min")) < 0:  # type: ignore[operator]
        bad("eta_min", "a finite number >= 0")
    bases = state.get("base_lrs")
    if not isinstance(bases, (list, tuple)) or not bases or any(as_real(b) is None or as_real(b) < 0 for b in bases):  # type: ignore[operator]
        bad("base_lrs", "a non-empty list of finite numbers >= 0")
    return out


def _check_sine_internals(state: dict[str, Any], le: int, f: Any, findings: list[Finding]) -> None:
    t0 = as_int(state["T_0"])
    t_mult = as_int(state.get("T_mult", 1)) or 1
    ref = sine_state(le, t0, t_mult, as_real(state["eta_min"]), [as_real(b) for b in state["base_lrs"]])  # type: ignore[arg-type, misc]
    t_cur, t_i, expected = ref.T_cur, ref.T_i, ref.last_lr
    if as_int(state.get("T_cur")) != t_cur:
        findings.append(make_finding("CKF020", f, "T_cur", state.get("T_cur"), t_cur,
                                 f"T_cur is {state.get('T_cur')!r}; at last_epoch {le} (T_0={t0}, T_mult={t_mult}) it is {t_cur}"))
    if as_int(state.get("T_i")) != t_i:
        findings.append(make_finding("CKF021", f, "T_i", state.get("T_i"), t_i,
                                 f"T_i is {state.get('T_i')!r}; at last_epoch {le} the cycle length is {t_i}"))
    stored = state.get("_last_lr")
    if expected is None or not isinstance(stored, (list, tuple)) or len(stored) != len(expected) or not all(
        as_real(s) is not None and lr_matches(s, e) for s, e in zip(stored, expected)
    ):
        findings.append(make_finding("CKF022", f, "_last_lr", stored, expected,
                                 f"_last_lr is {stored!r}; the fixed sine at T_cur={t_cur}, T_i={t_i} gives {expected}"))


def _check_optimizer_lrs(of: Any, state: dict[str, Any], findings: list[Finding]) -> None:
    last = state.get("_last_lr")
    bases = state.get("base_lrs")
    for i, pg in enumerate(of.param_groups):
        if isinstance(last, (list, tuple)) and i < len(last) and pg.lr is not None and as_real(last[i]) is not None:
            if not lr_matches(pg.lr, last[i]):
                findings.append(make_finding("CKF040", of.path, f"param_groups[{i}].lr", pg.lr, last[i],
                                         f"optimizer lr {pg.lr!r} differs from the scheduler's _last_lr[{i}] = {last[i]!r}"))
        if isinstance(bases, (list, tuple)) and i < len(bases) and pg.initial_lr is not None and as_real(bases[i]) is not None:
            if not lr_matches(pg.initial_lr, bases[i]):
                findings.append(make_finding("CKF041", of.path, f"param_groups[{i}].initial_lr", pg.initial_lr, bases[i],
                                         f"optimizer initial_lr {pg.initial_lr!r} differs from base_lrs[{i}] = {bases[i]!r}"))


def _check_flags(state: dict[str, Any], f: Any, n: int | None, opts: Options, findings: list[Finding]) -> None:
    def differ(key: str, flag: str, found: Any, wanted: Any) -> None:
        findings.append(make_finding("CKF060", f, key, found, wanted,
                                 f"{flag} gives {key} = {wanted!r} but the state holds {found!r}; on resume the state wins"))

    if opts.lr_end is not None and not close(state.get("eta_min"), opts.lr_end):
        differ("eta_min", "--lr-end", state.get("eta_min"), opts.lr_end)
    if opts.learning_rate is not None:
        bases = state.get("base_lrs") or []
        if not all(close(b, opts.learning_rate) for b in bases):
            differ("base_lrs", "--learning-rate", bases, [opts.learning_rate] * max(1, len(bases)))
    if opts.lr_warmup_steps is not None and n is not None and as_int(state.get("T_0")) != opts.lr_warmup_steps * n:
        differ("T_0", f"--lr-warmup-steps x {n} processes", state.get("T_0"), opts.lr_warmup_steps * n)
    if opts.t_mult is not None and as_int(state.get("T_mult", 1)) != opts.t_mult:
        differ("T_mult", "--t-mult", state.get("T_mult"), opts.t_mult)


def _missing_scheduler(ck: Checkpoint, choice: RulesChoice) -> Finding:
    """The finding for a missing ``scheduler.bin``: CKF126 when the trainer builds the scheduler its launch
    configures (its rules ship no formula but name a factory: the state to create is that LambdaLR), else CKF001
    (SimpleTuner: the sine; plain accelerate's own code)."""
    path = ck.path / "scheduler.bin"
    configured = not any(r.formula for r in choice.rules) and any(r.factory for r in choice.rules)
    if configured:
        return make_finding("CKF126", path, None, "missing", "present",
                            f"scheduler.bin is missing: accelerate cannot resume from this checkpoint; the {choice.title} "
                            "build the scheduler their --lr_scheduler names, and a state of another class would "
                            "not load")
    return make_finding("CKF001", path, None, "missing", "present",
                        "scheduler.bin is missing: accelerate cannot resume from this checkpoint")
