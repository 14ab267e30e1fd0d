"""What a repair would change in one checkpoint: pure, computed from the analysis, writes nothing.

A ``RepairPlan`` is all-or-nothing per checkpoint: either every inconsistent scheduler file gets a
complete list of ``Change``\\ s, or the checkpoint is refused (with the reason and the exit code the
refusal gives) and no file of it is touched.

Target state of a rewrite (the ``sine`` profile at the checkpoint's step ``g``, ``N`` processes):

* ``last_epoch = N × g``; ``T_0 = --lr-warmup-steps × N`` else the stored ``T_0``; ``T_mult`` from
  ``--t-mult`` else stored (else 1); ``eta_min`` from ``--lr-end`` else stored; ``base_lrs`` from
  ``--learning-rate`` (every group) else stored;
* ``(T_cur, T_i) = sine_position(last_epoch, T_0, T_mult)``; ``_last_lr`` = the truncated fixed sine;
* ``total_steps`` dropped; ``_step_count`` kept when present, else ``last_epoch + 1`` (what the
  reference ``Sine`` holds after stepping fresh to ``last_epoch``);
* every other key kept, value and type. A flag equal (within float tolerance) to the stored value
  keeps the stored value, so no type flips from ``0`` to ``0.0``.

Creating ``scheduler.bin`` (missing, or ``--recreate`` for an unreadable one) uses the key set of a real
``ckptfix.schedulers.Sine(...).state_dict()`` (``SINE_STATE_TEMPLATE``: static, checked against the class by a
test, so planning never imports torch), ``T_0 = W × N``
(``--lr-warmup-steps`` required), ``eta_min = --lr-end`` else 0 (the ``Sine`` default; a note says
so), base LRs from ``--learning-rate`` else the optimizer's ``initial_lr`` else its ``lr``.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, Literal

from ckptfix.analysis.findings import Finding
from ckptfix.analysis.report import CheckpointReport, Options, SchedulerReport
from ckptfix.analysis.resume_checks import STOCK_TAIL, describe, preview_all, stock_note
from ckptfix.analysis.schedule_checks import created_state
from ckptfix.analysis.state_checks import trainer_state_files
from ckptfix.coerce import as_int, as_real, close
from ckptfix.errors import UnreadableFile
from ckptfix.exitcodes import FINDINGS, OK, worst
from ckptfix.formats.objects import TorchDevice, TorchSize
from ckptfix.formats.source.durable import DISK
from ckptfix.formats.source.writable import WritableStore
from ckptfix.model.discover import is_in_progress
from ckptfix.model.layouts import get_layout
from ckptfix.records import Record
from ckptfix.repair.actions.interface import ABSENT, Change, RepairAction, same
from ckptfix.repair.actions.optimizer_lr import NotPatchable, OptimizerLrPatch, human_size, plan_patch
from ckptfix.repair.actions.scheduler import SchedulerWrite
from ckptfix.repair.actions.training_state import ENCODING, PLAIN, TrainingStateWrite
from ckptfix.repair.actions.training_state import KEY as EPOCH_STEP
from ckptfix.repair.schedule_plan import note as family_note
from ckptfix.repair.schedule_plan import plan_schedule_files
from ckptfix.schedulers.formulas import sine_step_count
from ckptfix.schedulers.profiles import SIMPLETUNER_SINE_V2, SINE_FAMILY
from ckptfix.schedulers.reference import TargetState, sine_state_template, target_state
from ckptfix.text import clip

__all__ = ["DROPPED_KEYS", "OWNED_KEYS", "REWRITE_FIXES", "PlanAction", "Refusal", "RepairPlan", "plan_repair"]

#: Keys ckptfix owns when it rewrites a state to the ``sine`` profile (cli-contract.md).
OWNED_KEYS = ("T_0", "T_i", "T_mult", "T_cur", "eta_min", "last_epoch", "base_lrs", "_last_lr")
DROPPED_KEYS = ("total_steps",)
#: Findings on a scheduler file that a rewrite fixes.
REWRITE_FIXES = frozenset({"CKF011", "CKF012", "CKF020", "CKF021", "CKF022", "CKF030", "CKF031",
                           "CKF050", "CKF060", "CKF070", "CKF114"})
_PROFILE_CODES = frozenset({"CKF030", "CKF031", "CKF114"})
#: The family checks' findings on SimpleTuner's epoch_step that setting it to the step fixes.
_FAMILY_EPOCH_CODES = frozenset({"CKF122", "CKF124"})
#: A missing scheduler.bin: the sine's (CKF001) or the configured scheduler's (CKF126).
_MISSING_CODES = ("CKF001", "CKF126")
#: Every finding on epoch_step that setting it to the step fixes.
_EPOCH_CODES = _FAMILY_EPOCH_CODES | {"CKF111"}
_INPUT_KEYS = ("last_epoch", "T_0", "T_mult", "eta_min", "base_lrs")
_DERIVED_KEYS = ("T_cur", "T_i", "_last_lr")


#: What ``repair`` does to one checkpoint, in one word.
PlanAction = Literal["rewrite", "create", "nothing", "refuse"]


class Refusal(Record):
    """Why a checkpoint is left untouched, and the exit code that gives."""

    file: Path | None
    reason: str
    exit_code: int  # 1: a flag is missing / not fixable; 3: unreadable or hostile input


class RepairPlan(Record):
    """Everything ``repair`` would do to one checkpoint: its actions, or why it refuses (all or nothing)."""

    checkpoint: Path
    report: CheckpointReport
    actions: tuple[RepairAction, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    notes: tuple[str, ...] = ()
    step: int | None = None
    step_source: str | None = None
    num_processes: int | None = 1
    num_processes_source: str = ""
    #: Files examined and left as they are (consistent, unchecked, or refused).
    untouched: tuple[Path, ...] = ()

    @property
    def action(self) -> PlanAction:
        if self.refusals:
            return "refuse"
        kinds = {a.kind for a in self.actions}
        if "create" in kinds:
            return "create"
        if kinds:
            return "rewrite"
        return "nothing"

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for a in self.actions for c in a.changes)

    @property
    def to_write(self) -> tuple[RepairAction, ...]:
        """The scheduler files to write (rewrite or create)."""
        return tuple(a for a in self.actions if a.kind != "patch")

    @property
    def to_patch(self) -> tuple[RepairAction, ...]:
        """The optimizer files ``--optimizer-lr`` patches (8 bytes per value)."""
        return tuple(a for a in self.actions if a.kind == "patch")

    @property
    def exit_code_if_not_applied(self) -> int:
        """Exit code of a dry run: what inspect says, at least 1 when something would change.

        A step disagreement resolved by ``--step`` does not count (``repair`` uses the given step)."""
        waived = frozenset({"CKF010"}) if self.step_source == "--step" else frozenset()
        changes = FINDINGS if self.actions else OK
        return worst([self.report.exit_code_waiving(waived), changes, *(r.exit_code for r in self.refusals)])


def _not_writable(v: Any, path: str = "", depth: int = 0) -> str | None:
    """What ``formats/torch_writer.py`` cannot write back with its type, and where (``a set at 'extra'``),
    or None: builtin scalars and containers of exactly those types, ``OrderedDict``, ``Counter``, ``torch.Size`` and
    ``torch.device`` (the reader's ``TorchSize`` / ``TorchDevice``) are written as torch.save writes them;
    a tensor, a set, bytes, a dtype or any other object would change type or lose its data."""
    at = f" at {path}" if path else ""
    if depth > 16:
        return f"values nested more than 16 levels deep{at}"
    t = type(v)
    if v is None or t in (bool, int, float, str, TorchSize, TorchDevice):
        return None
    if t in (list, tuple):
        return next((w for i, x in enumerate(v) if (w := _not_writable(x, f"{path}[{i}]", depth + 1))), None)
    if t is dict or t is OrderedDict or t is Counter:  # Counter: MultiStepLR's milestones
        for k, x in v.items():
            if type(k) not in (str, int):
                return f"a key of type {type(k).__name__}{at}"
            w = _not_writable(x, f"{path}[{k!r:.40}]" if path else f"{k!r:.40}", depth + 1)
            if w:
                return w
        return None
    what = v.describe() if hasattr(v, "describe") else f"a {type(v).__name__}"
    return f"{what}{at}"


# --- planning ----------------------------------------------------------------------------------


class _Ctx:
    """What planning one checkpoint has decided so far."""

    def __init__(self, report: CheckpointReport, opts: Options, recreate: bool, g: int | None, n: int | None) -> None:
        self.report, self.opts, self.recreate, self.g, self.n = report, opts, recreate, g, n
        self.refusals: list[Refusal] = []
        self.notes: list[str] = []
        self.covered: set[int] = set()  # id() of findings an action fixes

    def refuse(self, file: Path | None, reason: str, code: int = 1) -> None:
        self.refusals.append(Refusal(file, reason, code))


def plan_repair(report: CheckpointReport, opts: Options = Options(), store: WritableStore = DISK) -> RepairPlan:
    """The repair plan of one analysed checkpoint (see the module docstring for the target state), to be
    carried out through ``store``: an action it cannot carry out (``RepairAction.refusal``) refuses the plan.

    ``opts.recreate`` rebuilds unreadable scheduler files; ``opts.optimizer_lr`` adds the ``--optimizer-lr``
    patches of optimizer*.bin (``optimizer_lr.py``; it reads the optimizer's pickle, never its tensors, and
    writes nothing)."""
    recreate, optimizer_lr = opts.recreate, opts.optimizer_lr
    ck = report.checkpoint
    steps = report.steps
    step_ok = steps.chosen is not None and (steps.agree or steps.source == "--step")
    ctx = _Ctx(report, opts, recreate, steps.chosen if step_ok else None, report.num_processes)
    _refuse_what_cannot_be_planned(ctx)
    writes = _plan_scheduler_files(ctx) + _plan_family_files(ctx)
    state_writes = _plan_state_files(ctx, writes)
    _check_resume(ctx, writes, state_writes)
    _refuse_the_rest(ctx)
    patches = _plan_optimizer_lr(ctx, writes) if optimizer_lr and not ctx.refusals else []
    actions = _carried_out(ctx, (*writes, *state_writes, *patches), store)
    written = {a.path for a in actions}
    untouched = tuple(sf.path for sf in ck.schedulers if sf.path not in written)
    return RepairPlan(ck.path, report, actions, tuple(_dedupe(ctx.refusals)), tuple(ctx.notes),
                      ctx.g, steps.source if ctx.g is not None else None, ctx.n, report.num_processes_source,
                      untouched)


def _refuse_what_cannot_be_planned(ctx: _Ctx) -> None:
    """Refusals that need no planning: a folder still being written, a Trainer checkpoint with errors, an
    unreadable or hostile file (unless ``--recreate`` rebuilds it), an unknown or disputed step, an unknown N."""
    report, opts, recreate = ctx.report, ctx.opts, ctx.recreate
    ck, steps = report.checkpoint, report.steps
    if is_in_progress(ck.path.name):
        ctx.refuse(ck.path, "folder name ends in tmp: a checkpoint still being written is never touched")
    refusal = get_layout(ck.layout).repair_refusal
    if refusal is not None and any(f.severity in ("error", "fatal") for f in report.findings):
        ctx.refuse(ck.path, refusal)
        ctx.covered.update(id(f) for f in report.findings)

    # Unreadable / hostile files: refuse, except scheduler files that --recreate rebuilds.
    sched_paths = {sf.path for sf in ck.schedulers}
    for f in report.findings:
        if f.code in ("CKF002", "CKF003"):
            fpath = _file_path(report, f.file)
            if recreate and fpath in sched_paths:
                continue
            hint = " (--recreate rebuilds scheduler files only)" if recreate else (
                "; --recreate rebuilds it from the optimizer" if fpath in sched_paths else "")
            ctx.refuse(fpath, f"cannot be read safely: {f.message}{hint}", 3)
            ctx.covered.add(id(f))

    if not steps.agree and opts.step is None:
        ctx.refuse(ck.path, "step sources disagree (" + _sources(report) + "): pass --step G to say which is right")
    elif steps.chosen is None and _needs_step(report, recreate):
        ctx.refuse(ck.path, "the checkpoint's step is unknown (no training_state.json, folder number or "
                   "optimizer count): pass --step G")

    if ctx.n is None and ctx.g is not None and (_needs_step(report, recreate)
                                                 or any(f.code == "CKF110" for f in report.findings)):
        est = report.processes
        cands = ", ".join(str(c) for c in est.candidates) if est else ""
        ctx.refuse(ck.path, f"N (training processes) is unknown ({est.why if est else 'no evidence'}; candidates "
                   f"{cands}): what repair writes (last_epoch = N × step) depends on it. Pass --num-processes N")
        # the rewrite those findings need is refused for N: one refusal says it, not one per finding
        ctx.covered.update(id(f) for f in report.findings if f.code in REWRITE_FIXES | {"CKF110", "CKF111",
                                                                                        *_MISSING_CODES})


def _plan_scheduler_files(ctx: _Ctx) -> list[SchedulerWrite]:
    """Each scheduler file's rewrite (or re-creation), and the missing ``scheduler.bin`` (CKF001) created."""
    report, ck = ctx.report, ctx.report.checkpoint
    writes: list[SchedulerWrite] = []
    if ctx.n is None:
        return writes
    for i, sr in enumerate(report.schedulers):
        w = _plan_scheduler(ctx, sr, i)
        if w is not None:
            writes.append(w)
    missing = next((f.code for f in report.findings if f.code in _MISSING_CODES), None)
    if missing is not None:
        w = _plan_create(ctx, ck.path / "scheduler.bin", 0, missing)
        if w is not None:
            writes.append(w)
        if len(ck.optimizers) > 1:
            ctx.notes.append(f"{len(ck.optimizers)} optimizer files but no scheduler file: only scheduler.bin "
                             "(for optimizer.bin) is created")
    return writes


def _plan_family_files(ctx: _Ctx) -> list[SchedulerWrite]:
    """The position rewrites of the scheduler files checked by their family (``schedule_plan.py``)."""
    if ctx.g is None or ctx.refusals:
        return []
    planned = plan_schedule_files(ctx.report)
    ctx.covered.update(planned.covered)
    for f in ctx.report.findings:
        if f.code == "CKF125":  # the optimizer's stored lr: --optimizer-lr's patch (below), or said here
            ctx.covered.add(id(f))
            if not ctx.opts.optimizer_lr:
                ctx.refuse(_file_path(ctx.report, f.file), f"CKF125: {f.message}; pass --optimizer-lr to set it")
    for path, why in planned.refusals:
        ctx.refuse(path, why)
    checks = {c.file.path: c for c in ctx.report.schedule_checks}
    ctx.notes.extend(family_note(w, checks[w.path]) for w in planned.writes)
    return list(planned.writes)


def _refuse_the_rest(ctx: _Ctx) -> None:
    """Catch-all: every error/fatal finding is either fixed by a file plan or refused."""
    report, opts = ctx.report, ctx.opts
    for f in report.findings:
        if f.severity not in ("error", "fatal") or id(f) in ctx.covered:
            continue
        if f.code == "CKF010" and opts.step is not None:
            ctx.notes.append(f"step sources disagree; using --step {opts.step}. repair writes only scheduler "
                             "files, so training_state.json / the folder name still disagree")
            continue
        if f.code == "CKF010":
            continue  # refused above with a clearer message
        if f.code == "CKF115":  # the first resumed step at optimizer.bin's lr: --optimizer-lr's patch below fixes it
            if not opts.optimizer_lr:
                ctx.notes.append("the first step after the resume still runs at optimizer.bin's lr (CKF115): add "
                                 "--optimizer-lr to set it to the scheduler's")
            continue
        ctx.refuse(_file_path(report, f.file), f"{f.code}: {f.message} (not something repair can fix)",
                   3 if f.severity == "fatal" else 1)


def _carried_out(ctx: _Ctx, planned: tuple[RepairAction, ...], store: WritableStore) -> tuple[RepairAction, ...]:
    """The planned actions, or none (all or nothing: a refused checkpoint keeps every file as it is); an action
    ``store`` cannot carry out refuses them all, before anything is written."""
    if ctx.refusals:
        return ()
    for a in planned:
        why = a.refusal(store)
        if why is not None:
            ctx.refuse(a.path, why)
    if ctx.refusals:
        return ()
    if planned and store.caveat:
        ctx.notes.append(store.caveat)
    return planned


def _plan_state_files(ctx: _Ctx, writes: list[SchedulerWrite]) -> list[TrainingStateWrite]:
    """Rewrites of SimpleTuner's ``training_state.json`` (and each ``training_state-rank{r}.json``,
    ``actions/training_state.py``):

    * its encoding, when SimpleTuner cannot decode it (CKF006): plain UTF-8, every value kept;
    * its ``epoch_step``, when the releases in question include one before 4.10 (they resume with
      ``last_epoch = epoch_step × N``) and it is not the checkpoint's step as a JSON integer: a wrong integer
      (CKF111), a value that is no integer (CKF119), or none (SimpleTuner reads 0)."""
    report, g = ctx.report, ctx.g
    choice, ck = report.trainer, report.checkpoint
    if ctx.refusals:
        return []
    reading = [r for r in choice.rules if r.last_epoch_from == "epoch_step"] if choice is not None else []
    sets_epoch = g is not None and ctx.n is not None and bool(reading) and _resume_matters(report, writes)
    resume_fix = tuple(sorted({f.code for f in report.findings if f.code in _EPOCH_CODES and f.key == EPOCH_STEP}))
    out = []
    for ts in trainer_state_files(ck):
        if ts.source != "training_state.json":
            continue  # kohya's and the Trainer's files: reported, not rewritten (CKF006's fix says how)
        own = [f for f in report.findings if f.file == str(ts.path) and f.code in ("CKF006", "CKF119")]
        changes = []
        if ts.encoding is not None and any(f.code == "CKF006" for f in own):
            changes.append(Change(ts.path, ENCODING, ts.encoding, PLAIN, ("CKF006",)))
        v = ts.value(EPOCH_STEP)
        if sets_epoch and v is not None and not (v.kind == "int" and v.value == g):
            if ts.global_step is not None and ts.global_step != g:
                ctx.refuse(ts.path, f"{ts.path.name} says global_step {ts.global_step}, not step {g}: SimpleTuner "
                           f"resumes from global_step {ts.global_step} (its step count, and its LR position, restart "
                           "there); ckptfix does not rewrite global_step. Use the checkpoint whose files agree")
                continue
            fixes = tuple(sorted(set(resume_fix) | {f.code for f in own if f.code == "CKF119"}))
            changes.append(Change(ts.path, EPOCH_STEP, ABSENT if v.kind == "missing" else v.value, g, fixes))
        if not changes:
            continue
        ctx.covered.update(id(f) for f in own)
        if any(c.key == EPOCH_STEP for c in changes):  # the family checks' resume findings on it (CKF122, CKF124)
            ctx.covered.update(id(f) for f in report.findings if f.file == str(ts.path) and f.key == EPOCH_STEP
                               and f.code in _FAMILY_EPOCH_CODES)
        expect = tuple((sv.key, ABSENT if sv.kind == "missing" else sv.value) for sv in ts.values)
        out.append(TrainingStateWrite(ts.path, tuple(changes), expect, ts.raw))
    epoch_changes = [(w.path.name, c.old) for w in out for c in w.changes if c.key == EPOCH_STEP]
    if epoch_changes:
        newer = [r.label for r in choice.rules if r.last_epoch_from != "epoch_step"]  # type: ignore[union-attr]
        olds = ", ".join("none" if old is ABSENT else clip(repr(old), 40) for _name, old in epoch_changes)
        ctx.notes.append(
            f"{EPOCH_STEP} {olds} -> {g} in {', '.join(name for name, _old in epoch_changes)}: "
            f"{', '.join(r.label for r in reading)} resume with last_epoch = {EPOCH_STEP} × N, and nothing else reads "
            "the stored value (docs/trainers.md)"
            + (f"; {', '.join(newer)} resume(s) with global_step × N and do(es) not read it" if newer else ""))
    recoded = [w for w in out if any(c.key == ENCODING for c in w.changes)]
    if recoded:
        ctx.notes.append(f"{', '.join(w.path.name for w in recoded)}: written again as plain UTF-8 (SimpleTuner "
                         "reads it with json.load(open(path)), which fails on a byte-order mark or UTF-16/32); every "
                         "value and the rest of the text are kept")
    return out


def _resume_matters(report: CheckpointReport, writes: list[SchedulerWrite]) -> bool:
    """Whether the first scheduler is one whose resume position ckptfix models (a checked sine state, or a family
    check that setting ``epoch_step`` to the step fixes)."""
    if any(c.fix_epoch_step for c in report.schedule_checks):
        return True
    if not report.schedulers:
        return bool(writes)
    return report.schedulers[0].profile in SINE_FAMILY or bool(writes)


def _check_resume(ctx: _Ctx, writes: list[SchedulerWrite], state_writes: list[TrainingStateWrite]) -> None:
    """Replay the resume on the files as the plan leaves them: CKF111 is covered when every release in
    question then resumes on the target formula from the second step on; otherwise refuse, saying why.
    Also says what the stock trainer does with the repaired state when it runs another formula."""
    report, g, n = ctx.report, ctx.g, ctx.n
    resume_findings = [f for f in report.findings if f.code == "CKF111"]
    if g is None or n is None or report.trainer is None or not report.schedulers or ctx.refusals:
        return
    first = report.schedulers[0]
    by_path = {w.path: w for w in writes}
    state = by_path[first.file.path].target if first.file.path in by_path else first.file.state
    if state is None or first.profile not in SINE_FAMILY:
        return  # the family checks planned (and verified) theirs: schedule_plan.py
    new_epoch = next((w.new_value() for w in state_writes if w.path.name == "training_state.json"), None)
    after = preview_all(report.checkpoint, g, n, report.trainer, list(report.schedulers), ctx.opts, state=state,
                        epoch_step=new_epoch)
    wrong = [p for p in after if p.scheduler_wrong is not None]
    if wrong:
        for p in wrong:
            how, what = describe(p, g)
            ctx.refuse(report.checkpoint.path, f"after this repair, {how}: {what}. ckptfix cannot make that resume "
                       "right" + ("; pass --trainer with the release that resumes" if len(after) > 1 else ""))
    else:
        ctx.covered.update(id(f) for f in resume_findings)
    if (writes or state_writes) and report.stock is not None:
        stock = preview_all(report.checkpoint, g, n, report.trainer, list(report.schedulers), ctx.opts,
                            runs=report.stock.runs, state=state, epoch_step=new_epoch, tail=STOCK_TAIL)
        if stock:
            ctx.notes.append(stock_note(report.trainer.title, stock[-1], g))


def _plan_optimizer_lr(ctx: _Ctx, writes: list[SchedulerWrite]) -> list[OptimizerLrPatch]:
    """``--optimizer-lr``: the patches of optimizer*.bin that make each param group's lr (and initial_lr)
    the scheduler's after the repair. Reads the optimizer's pickle, never its tensors; writes nothing.
    Refusals (a file not laid out as torch writes it) go to ``ctx``: then nothing is written at all."""
    ck = ctx.report.checkpoint
    patches: list[OptimizerLrPatch] = []
    for index, state in enumerate(_scheduler_targets(ctx.report, writes)):
        if state is None or index >= len(ck.optimizers):
            continue
        opt_path = ck.optimizers[index].path
        try:
            p = plan_patch(opt_path, state)
        except NotPatchable as exc:
            ctx.refuse(opt_path, f"--optimizer-lr: {opt_path.name}: {exc}. Run repair without --optimizer-lr to "
                       "fix the scheduler only (the scheduler sets the right LR from the second step on)", 1)
            continue
        except UnreadableFile as exc:
            ctx.refuse(opt_path, f"--optimizer-lr: {exc}", 3)
            continue
        if p is not None:
            patches.append(p)
            n = sum(1 for w in p.writes if w.what.startswith("param_groups"))
            ctx.notes.append(f"{opt_path.name}: --optimizer-lr replaces {n} 8-byte float(s) in {p.entry} and its "
                             f"CRC-32; tensors are never read. The whole file ({human_size(p.size)}) is copied to a "
                             "temporary file in the same folder (needs that much free space) and read twice for "
                             "SHA-256; the backup records the patch, not a copy")
    return patches


def _scheduler_targets(report: CheckpointReport, writes: list[SchedulerWrite]) -> list[dict[str, Any] | None]:
    """Per scheduler index: the state the scheduler file holds after the repair (None: not a checked sine)."""
    by_path = {w.path: w for w in writes}
    families = {c.file.path: c for c in report.schedule_checks}
    out: list[dict[str, Any] | None] = []
    for sr in report.schedulers:
        w = by_path.pop(sr.file.path, None)
        c = families.get(sr.file.path)
        if c is not None:  # a family's: the uninterrupted run's LR at the next step, its base LRs as stored
            out.append({"_last_lr": list(c.first_lrs), "base_lrs": (sr.file.state or {}).get("base_lrs")}
                       if c.first_lrs is not None else None)
        elif w is not None:
            out.append(w.target)
        elif sr.file.state is not None and sr.profile in SINE_FAMILY:
            out.append(sr.file.state)
        else:
            out.append(None)
    for w in by_path.values():  # a created scheduler.bin (CKF001) pairs with optimizer.bin
        if w.kind == "create" and w.path.name == "scheduler.bin" and not out:
            out.append(w.target)
    return out


def _file_path(report: CheckpointReport, text: str | None) -> Any:
    """The path object a finding's file names: the checkpoint's own (a local ``Path`` or an object
    storage path, which ``Path()`` would mangle), else a local ``Path``."""
    if not text:
        return None
    ck = report.checkpoint
    for p in (ck.path, *(f.path for f in ck.schedulers), *(o.path for o in ck.optimizers)):
        if str(p) == text:
            return p
    return ck.path / text.rsplit("/", 1)[-1] if text.startswith(str(ck.path) + "/") and "/" not in text[len(str(ck.path)) + 1:] else Path(text)


def _dedupe(refusals: list[Refusal]) -> list[Refusal]:
    seen, out = set(), []
    for r in refusals:
        if (r.file, r.reason) not in seen:
            seen.add((r.file, r.reason))
            out.append(r)
    return out


def _sources(report: CheckpointReport) -> str:
    s = report.steps
    parts = [f"training_state.json says {s.training_state}" if s.training_state is not None else None,
             f"folder name says {s.folder}" if s.folder is not None else None,
             f"optimizer says {s.optimizer}" if s.optimizer is not None else None]
    return ", ".join(p for p in parts if p)


def _needs_step(report: CheckpointReport, recreate: bool) -> bool:
    """Whether any file would be rewritten or created (so the step matters)."""
    if any(f.code in _MISSING_CODES for f in report.findings):
        return True
    if recreate and any(sf.problem for sf in report.checkpoint.schedulers):
        return True
    for f in report.findings:
        if f.code in REWRITE_FIXES and f.severity in ("error", "fatal", "warning"):
            return True
    return False


def _file_findings(report: CheckpointReport, path: Path) -> list[Finding]:
    return [f for f in report.findings if f.file == str(path)]


def _plan_scheduler(ctx: _Ctx, sr: SchedulerReport, index: int) -> SchedulerWrite | None:
    """The rewrite (or, with ``--recreate``, the re-creation) of one scheduler file; None: left as it is."""
    sf = sr.file
    if sf.state is None:
        if ctx.recreate and sf.problem is not None:
            return _plan_create(ctx, sf.path, index, "CKF003" if sf.problem.kind == "unsafe-pickle" else "CKF002",
                                replaces_unreadable=True)
        return None
    if sr.profile not in SINE_FAMILY:  # not a sine state: its family's rewrite (schedule_plan.py), never this one
        return None
    fixable = [f for f in _file_findings(ctx.report, sf.path) if f.code in REWRITE_FIXES]
    if not fixable:
        return None
    if ctx.g is None:
        return None  # refused for the step already
    state = sf.state
    odd = _not_writable(state)
    if odd:
        ctx.refuse(sf.path, f"{sf.path.name} holds {clip(odd, 120)}: ckptfix writes back numbers, strings, lists, "
                   "dicts, OrderedDict, torch.Size and torch.device with their type, and does not rewrite a state "
                   "whose other values would change type or lose their data")
        ctx.covered.update(id(f) for f in fixable)  # refused once, for this reason
        return None

    target = _rewrite_values(ctx, sf.path, state)
    if target is None:
        return None

    by_key: dict[str, set[str]] = {}
    for f in fixable:
        by_key.setdefault(f.key or "", set()).add(f.code)
    profile_codes = {f.code for f in fixable if f.code in _PROFILE_CODES}
    input_codes = set().union(*(by_key.get(k, set()) for k in _INPUT_KEYS)) if by_key else set()

    changes: list[Change] = []
    for key, new in target.items():
        old = state.get(key, ABSENT)
        if key in state and same(old, new):
            continue
        fixes = set(by_key.get(key, set()))
        if key in _DERIVED_KEYS or key == "last_epoch":
            fixes |= profile_codes
        if key in _DERIVED_KEYS:
            fixes |= input_codes
        changes.append(Change(sf.path, key, old, new, tuple(sorted(fixes))))
    for key in DROPPED_KEYS if ctx.opts.target != SIMPLETUNER_SINE_V2 else ():
        if key in state:
            changes.append(Change(sf.path, key, state[key], ABSENT, tuple(sorted(profile_codes | by_key.get(key, set())))))
    for f in fixable:
        ctx.covered.add(id(f))
    if not changes:
        ctx.notes.append(f"{sf.path.name}: findings {', '.join(sorted({f.code for f in fixable}))} but the state "
                         "already holds the reference values")
        return None
    return SchedulerWrite(sf.path, "rewrite", tuple(changes), state)


def _rewrite_values(ctx: _Ctx, path: Path, state: dict[str, Any]) -> dict[str, Any] | None:
    """Owned keys (+ ``_step_count`` when absent) at the reference position; None after a refusal."""
    opts, n, g = ctx.opts, ctx.n, ctx.g
    assert g is not None and n is not None  # planned only once both are known
    # each input: (the number the formula uses, the value written: the stored one, its type kept, when equal)
    t0, t_mult, eta, bases = _t0(ctx, path, state), _t_mult(ctx, path, state), _eta(ctx, path, state), _bases(ctx, path, state)
    if t0 is None or t_mult is None or eta is None or bases is None:
        return None  # refused (each unusable input said why)
    ref = target_state(opts.target, n * g, t0[0], t_mult[0], float(eta[0]), bases[0])
    return _owned_values(ref, t0[1], t_mult[1], eta[1], bases[1],
                         None if "_step_count" in state else _step_count(opts.target, ref.last_epoch))


def _owned_values(ref: TargetState, t0: Any, t_mult: Any, eta_min: Any, base_lrs: Any,
                  step_count: int | None) -> dict[str, Any]:
    """What a rewrite or a creation writes: the keys ckptfix owns (``OWNED_KEYS``, in that order) with the
    target's position ``ref`` and the given inputs, ``total_steps`` when the target keeps it (v2), and
    ``_step_count`` when given."""
    out: dict[str, Any] = dict(zip(OWNED_KEYS, (t0, ref.T_i, t_mult, ref.T_cur, eta_min, ref.last_epoch, base_lrs,
                                                ref.last_lr), strict=True))
    if ref.total_steps is not None:
        out["total_steps"] = ref.total_steps
    if step_count is not None:
        out["_step_count"] = step_count
    return out


def _t0(ctx: _Ctx, path: Path, state: dict[str, Any]) -> tuple[int, Any] | None:
    """``T_0 = --lr-warmup-steps × N``, else the stored ``T_0``; None after a refusal."""
    stored, w, n = as_int(state.get("T_0")), ctx.opts.lr_warmup_steps, ctx.n
    if w == 0:
        ctx.refuse(path, "--lr-warmup-steps 0 gives T_0 = 0: the sine needs a warmup of at least 1 step")
        return None
    if w is not None:
        assert n is not None
        t0 = w * n
        return t0, state["T_0"] if stored == t0 and type(state.get("T_0")) is int else t0
    if stored is not None and stored >= 1:
        return stored, state["T_0"]
    ctx.refuse(path, f"T_0 = {state.get('T_0', 'missing')!r} is unusable: pass --lr-warmup-steps W (T_0 = W × N)")
    return None


def _t_mult(ctx: _Ctx, path: Path, state: dict[str, Any]) -> tuple[int, Any] | None:
    """``--t-mult``, else the stored ``T_mult`` (1 when absent); None after a refusal."""
    stored, given = as_int(state.get("T_mult", 1)), ctx.opts.t_mult
    if given is not None:
        keep = "T_mult" in state and stored == given and type(state["T_mult"]) is int
        return given, state["T_mult"] if keep else given
    if stored is not None and stored >= 1:
        return stored, state.get("T_mult", 1)
    ctx.refuse(path, f"T_mult = {state.get('T_mult')!r} is unusable: pass --t-mult M")
    return None


def _eta(ctx: _Ctx, path: Path, state: dict[str, Any]) -> tuple[float, Any] | None:
    """``--lr-end``, else the stored ``eta_min``; None after a refusal."""
    stored, given = as_real(state.get("eta_min")), ctx.opts.lr_end
    if given is not None:
        return given, state["eta_min"] if close(state.get("eta_min"), given) else given
    if stored is not None and stored >= 0:
        return stored, state["eta_min"]
    ctx.refuse(path, f"eta_min = {state.get('eta_min', 'missing')!r} is unusable: pass --lr-end E")
    return None


def _bases(ctx: _Ctx, path: Path, state: dict[str, Any]) -> tuple[list[float], Any] | None:
    """``--learning-rate`` for every group, else the stored ``base_lrs``; None after a refusal."""
    bases, given = state.get("base_lrs"), ctx.opts.learning_rate
    listed = isinstance(bases, (list, tuple)) and bool(bases)
    usable = listed and all((r := as_real(b)) is not None and r >= 0 for b in bases)  # type: ignore[union-attr]
    if given is not None:
        if usable and all(close(b, given) for b in bases):  # type: ignore[union-attr]
            return [float(b) for b in bases], bases  # type: ignore[union-attr]
        optimizers = ctx.report.checkpoint.optimizers
        count = len(bases) if listed else max(1, len(optimizers[0].param_groups) if optimizers else 1)  # type: ignore[arg-type]
        return [given] * count, [given] * count  # a new list (never the stored tuple's type)
    if usable:
        return [float(b) for b in bases], bases  # type: ignore[union-attr]
    ctx.refuse(path, f"base_lrs = {bases!r} is unusable: pass --learning-rate LR")
    return None


def _step_count(target: str, last_epoch: int) -> int:
    """``_step_count`` for a state that lacks it: what the target's class holds at ``last_epoch`` (SimpleTuner's
    v2 never increments it: 0)."""
    return 0 if target == SIMPLETUNER_SINE_V2 else sine_step_count(last_epoch)


def _builds_sine(ctx: _Ctx) -> bool:
    """Whether the resuming trainer builds the sine (SimpleTuner's default, unless ``--lr-scheduler`` names another
    schedule); the other trainers build what their launch configures (``TrainerRules.formula`` None)."""
    choice, name = ctx.report.trainer, ctx.opts.lr_scheduler
    ships = choice is not None and any(r.formula is not None for r in choice.rules)
    return (ships or choice is None) and name in (None, "sine")


def _create_configured(ctx: _Ctx, path: Path, what: str, code: str, replaces_unreadable: bool) -> SchedulerWrite | None:
    """The scheduler the trainer builds from its configuration (a LambdaLR: ``schedule_checks.created_state``), or a
    refusal saying what is missing; never a sine state the trainer would not load."""
    state, why = created_state(ctx.report, ctx.opts)
    if state is None:
        ctx.refuse(path, f"to {what}: {why}", 3 if replaces_unreadable else 1)
        return None
    ctx.notes.append(f"{path.name}: {why}")
    changes = tuple(Change(path, k, ABSENT, v, (code,)) for k, v in state.items())
    return SchedulerWrite(path, "create", changes, None, replaces_unreadable)


def _plan_create(ctx: _Ctx, path: Path, index: int, code: str, replaces_unreadable: bool = False) -> SchedulerWrite | None:
    opts, n, g = ctx.opts, ctx.n, ctx.g
    ck = ctx.report.checkpoint
    for f in ctx.report.findings:
        if f.code == code and (f.file == str(path) or code in _MISSING_CODES):
            ctx.covered.add(id(f))
    what = f"re-create {path.name} (the stored one is unreadable)" if replaces_unreadable else f"create the missing {path.name}"
    if not _builds_sine(ctx):
        return _create_configured(ctx, path, what, code, replaces_unreadable)
    if not opts.lr_warmup_steps:
        ctx.refuse(path, f"to {what}, ckptfix needs the run's --lr-warmup-steps W (T_0 = W × N); pass it, "
                   "with --lr-end E for eta_min", 3 if replaces_unreadable else 1)
        return None
    if g is None:
        return None  # refused for the step already
    opt = ck.optimizers[index] if index < len(ck.optimizers) else None
    if opt is None or opt.problem is not None or not opt.param_groups:
        ctx.refuse(path, f"to {what}, ckptfix needs a readable optimizer file with param groups "
                   f"({'optimizer.bin' if index == 0 else f'optimizer_{index}.bin'})", 3 if replaces_unreadable else 1)
        return None
    bases: list[float] = []
    for gi, pg in enumerate(opt.param_groups):
        b = opts.learning_rate if opts.learning_rate is not None else (pg.initial_lr if pg.initial_lr is not None else pg.lr)
        if b is None or not math.isfinite(b) or b < 0:
            ctx.refuse(path, f"to {what}: param group {gi} of {opt.path.name} has no usable initial_lr/lr; pass --learning-rate LR")
            return None
        bases.append(float(b))
    eta = float(opts.lr_end) if opts.lr_end is not None else 0.0
    if opts.lr_end is None:
        ctx.notes.append(f"{path.name}: eta_min = 0 (the Sine default) because --lr-end was not given; pass "
                         "--lr-end with the run's --lr_end to match it")
    assert n is not None
    t0 = opts.lr_warmup_steps * n
    t_mult = opts.t_mult if opts.t_mult is not None else 1
    ref = target_state(opts.target, n * g, t0, t_mult, eta, bases)
    values = _owned_values(ref, t0, t_mult, eta, bases, _step_count(opts.target, ref.last_epoch))
    template = sine_state_template(len(bases))
    target = {k: values.get(k, v) for k, v in template.items()}
    for k, v in values.items():
        target.setdefault(k, v)
    changes = tuple(Change(path, k, ABSENT, v, (code,)) for k, v in target.items())
    return SchedulerWrite(path, "create", changes, None, replaces_unreadable)
