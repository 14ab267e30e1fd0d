"""Typed results: what ``inspect --json`` and ``repair --json`` print, as records.

One source for both: the CLI's ``--json`` document is ``result.to_json()`` of these records
(``render/json_doc.py``, ``render/plan.py``), and ``ckptfix.check()`` / ``ckptfix.repair()`` return
them. Field names and meanings are the JSON document's (``docs/json.md``, schema in
``ckptfix/schema/ckptfix.schema.json``); lists are tuples, values taken from a checkpoint (``found``,
``expected``, a scheduler's ``values``) are plain JSON values (non-finite floats as ``"nan"``/``"inf"``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ckptfix import __version__
from ckptfix.analysis.findings import Finding, Rule
from ckptfix.analysis.report import CheckpointReport, Options, ResumePreview
from ckptfix.api.next_steps import next_command, placeholders
from ckptfix.api.values import SCHEDULER_KEYS, jsonable
from ckptfix.exitcodes import LAUNCH_CODES, status_of
from ckptfix.model.checkpoint import Discovery
from ckptfix.records import Record

if TYPE_CHECKING:  # the repair pipeline is imported only by what repairs (inspect --json never does)
    from ckptfix.repair.run import CheckpointOutcome, RepairOutcome

__all__ = [
    "SCHEMA_VERSION", "ChangeResult", "CheckResult", "CheckpointRepair", "CheckpointResult", "CodeResult", "ErrorResult",
    "ExplainResult", "FileAction", "FileProfile", "FindingResult", "NextCommand", "OptimizerResult", "PreviewResult",
    "PreviewStepResult", "Processes", "Reference", "RefusalResult", "RepairResult", "Result", "SchedulerResult",
    "SkippedResult", "Steps", "Tool", "TrainerRead", "TrainerRelease", "TrainerResult", "WeightsResult", "check_result",
    "error_result", "explain_result", "next_step", "repair_result",
]

#: Bumped on breaking changes of the document (a field removed or its meaning changed).
SCHEMA_VERSION = 1


class Result(Record):
    """A record that is also a JSON object: ``to_json()`` gives the ``--json`` form."""

    def to_json(self) -> dict[str, Any]:
        return {name: _json(getattr(self, name)) for name in self.__record_fields__}


def _json(v: Any) -> Any:
    if isinstance(v, Result):
        return v.to_json()
    if isinstance(v, (tuple, list)):
        return [_json(x) for x in v]
    return v


class Tool(Result):
    name: str
    version: str
    command: str


class SkippedResult(Result):
    """A folder that looks like a checkpoint but was not read (``checkpoint-N-tmp``: still being written)."""

    path: str
    reason: str


class Steps(Result):
    """Every source of the checkpoint's optimizer step, the one used (``chosen``, from ``source``) and
    whether the available sources agree."""

    folder: int | None
    training_state: int | None
    optimizer: int | None
    epoch_step: int | None
    chosen: int | None
    source: str | None
    agree: bool


class Processes(Result):
    """The number of training processes N and where it comes from; or None (unknown) with the
    candidates and why (``analysis/processes.py``)."""

    value: int | None
    source: str
    exact: bool | None = None  # from --num-processes or files that give N exactly
    lower_bound: int | None = None
    candidates: tuple[int, ...] = ()
    why: str = ""


class TrainerRead(Result):
    """A file the trainer's resume reads: whether it must exist, and what happens without it."""

    file: str
    required: bool
    if_missing: str


class TrainerRelease(Result):
    """What one release range of the trainer does on resume (docs/trainers.md, with sources)."""

    label: str
    last_epoch_from: str  # stored | epoch_step | global_step
    saves_on: str
    step_from: str
    formula: str
    verified: bool
    reads: tuple[TrainerRead, ...]
    sources: tuple[str, ...]


class TrainerResult(Result):
    """Whose resume is modelled (``name``), which trainer the files say wrote it, and for which releases."""

    name: str
    detected: str | None
    source: str
    releases: tuple[TrainerRelease, ...]


class PreviewStepResult(Result):
    step: int
    lr: Any
    expected: Any
    ok: bool


class PreviewResult(Result):
    """The LRs the resumed run uses for its first steps under one resume rule, against the target."""

    releases: tuple[str, ...]
    last_epoch_from: str
    num_processes: int
    stored_last_epoch: int | None
    resumed_last_epoch: int
    true_last_epoch: int
    offset_steps: Any
    runs: str
    target: str
    ok: bool
    first_wrong_step: int | None
    found: Any
    expected: Any
    scheduler_wrong_step: int | None
    scheduler_found: Any
    scheduler_expected: Any
    max_diff: Any
    steps_checked: int
    steps: tuple[PreviewStepResult, ...]


class OptimizerResult(Result):
    file: str
    step: int | None
    family: str | None
    step_source: str | None
    note: str | None
    schedule_free: bool
    lr: tuple[Any, ...]
    initial_lr: tuple[Any, ...]
    bytes_read: int
    size: int


class Reference(Result):
    """The target formula at the checkpoint's N × step: what a repair writes."""

    profile: str
    last_epoch: int
    T_cur: int
    T_i: int
    last_lr: tuple[Any, ...] | None
    total_steps: int | None = None  # the v2 target only


class SchedulerResult(Result):
    file: str
    format: str | None
    profile: str | None  # sine, simpletuner-sine-v1, simpletuner-sine-v2, simpletuner-cosine, unchecked; None: unreadable
    scheduler_kind: str | None
    evidence: tuple[str, ...]
    values: dict[str, Any] | None
    expected_last_epoch: int | None
    reference: Reference | None


class WeightsResult(Result):
    file: str
    tensors: int
    data_bytes: int


class FindingResult(Result):
    """One finding: its stable code and name, severity, where (file, key), what was found and expected,
    the message, and the rule's fix."""

    code: str
    name: str
    severity: str
    file: str | None
    key: str | None
    found: Any
    expected: Any
    message: str
    fix: str


class CheckpointResult(Result):
    """What ``inspect`` says about one checkpoint."""

    path: str
    name: str
    verdict: str
    exit_code: int
    layout: str
    steps: Steps
    num_processes: Processes
    trainer: TrainerResult | None
    target: str
    resume_preview: tuple[PreviewResult, ...]
    stock_resume_preview: PreviewResult | None  # what an unmodified trainer (its own formula) resumes with
    optimizers: tuple[OptimizerResult, ...]
    schedulers: tuple[SchedulerResult, ...]
    weights: tuple[WeightsResult, ...]
    has_guard: bool
    has_manifest: bool
    bytes_read: int
    findings: tuple[FindingResult, ...]


class NextCommand(Result):
    """The command to run next: what the human output's last line advises (there with ``--dry-run`` added,
    to see the plan first). A launcher runs it when ``ready`` (docs/exit-codes.md)."""

    command: str  # one shell line (paths quoted): ckptfix repair out --latest --optimizer-lr
    argv: tuple[str, ...]  # the same as words, for subprocess.run
    kind: str  # repair | explain (repair cannot fix a finding: read what to do)
    needs: str | None  # placeholders to fill in first ("W: the run's --lr_warmup_steps"), or None
    ready: bool  # a repair that runs as it is (no placeholder)


class CheckResult(Result):
    """``ckptfix.check()`` / ``inspect --json``: every checked checkpoint, and the gate's exit code."""

    schema_version: int
    tool: Tool
    root: str
    latest: str | None
    latest_candidates: tuple[str, ...]  # every checkpoint the trainer's resume may pick (two on a rolling tie)
    latest_reason: str | None
    latest_issue: str | None
    trainer: str | None
    trainer_source: str | None
    exit_code: int
    status: str  # the exit code in a word (ckptfix/exitcodes.py): ok, findings, unreadable, nothing-to-resume
    skipped: tuple[SkippedResult, ...]
    checkpoints: tuple[CheckpointResult, ...]
    next: NextCommand | None = None  # None: nothing to do

    @property
    def ok(self) -> bool:
        """Every checked checkpoint is consistent (exit code 0). False for "nothing to resume" (4), where the
        training still launches: ``launch``."""
        return self.exit_code == 0

    @property
    def launch(self) -> bool:
        """Launch the training: the gate passes (0) or there is nothing to resume yet (4, a first launch)."""
        return self.exit_code in LAUNCH_CODES

    @property
    def findings(self) -> tuple[FindingResult, ...]:
        """Every finding of every checked checkpoint, in order."""
        return tuple(f for c in self.checkpoints for f in c.findings)


class FileAction(Result):
    file: str
    action: str  # rewrite | create | patch | nothing


class ChangeResult(Result):
    """One value a repair changes (``old_absent``: the key was not there; ``new_absent``: it is dropped)."""

    file: str
    key: str
    old: Any
    new: Any
    old_absent: bool
    new_absent: bool
    fixes: tuple[str, ...]


class RefusalResult(Result):
    file: str | None
    reason: str
    exit_code: int


class FileProfile(Result):
    file: str
    profile: str | None


class CheckpointRepair(Result):
    """What ``repair`` planned and did for one checkpoint, with the findings before and after."""

    path: str
    name: str
    action: str  # rewrite | create | nothing | refuse
    status: str  # applied | nothing | refused | dry-run | failed | locked
    exit_code: int
    steps: Steps
    num_processes: Processes
    files: tuple[FileAction, ...]
    changes: tuple[ChangeResult, ...]
    refusals: tuple[RefusalResult, ...]
    notes: tuple[str, ...]
    profile_before: tuple[FileProfile, ...]
    profile_after: tuple[FileProfile, ...]
    backup: str | None
    written: tuple[str, ...]
    error: str | None
    restored: bool | None
    kept_foreign: bool  # after a failure: another process's version of a file was kept, not overwritten
    cleaned: tuple[str, ...]  # what a killed repair had left and this one removed
    findings_before: tuple[FindingResult, ...]
    findings_after: tuple[FindingResult, ...]


class RepairResult(Result):
    """``ckptfix.repair()`` / ``repair --json``: every checkpoint's plan and outcome, and the exit code."""

    schema_version: int
    tool: Tool
    root: str
    latest: str | None
    dry_run: bool
    exit_code: int
    status: str
    skipped: tuple[SkippedResult, ...]
    checkpoints: tuple[CheckpointRepair, ...]

    @property
    def ok(self) -> bool:
        """Repaired, or nothing to do (exit code 0). False for "nothing to resume" (4): ``launch``."""
        return self.exit_code == 0

    @property
    def launch(self) -> bool:
        """Launch the training: nothing is left to fix (0) or there is nothing to resume yet (4)."""
        return self.exit_code in LAUNCH_CODES


class CodeResult(Result):
    """A finding code's catalogue entry (``ckptfix explain CODE``)."""

    code: str
    name: str
    severity: str
    summary: str
    explanation: str
    fix: str
    repair: str | None  # the flags `ckptfix repair` needs to fix it ("" none); None when repair does not fix it


class ExplainResult(Result):
    """``explain --json``: the code asked for, or every code."""

    schema_version: int
    tool: Tool
    exit_code: int
    status: str
    codes: tuple[CodeResult, ...]


class ErrorResult(Result):
    """What ``--json`` prints when no checkpoint was read: a usage error, nothing to resume (a first
    launch), an internal error. The API raises instead (``ckptfix.UsageError``)."""

    schema_version: int
    tool: Tool
    exit_code: int
    status: str
    error: str
    checkpoints: tuple[()] = ()


# --- building them ------------------------------------------------------------------------------


def _finding(f: Finding) -> FindingResult:
    return FindingResult(f.code, f.rule.name, f.severity, f.file, f.key, jsonable(f.found), jsonable(f.expected),
                         f.message, f.rule.fix)


def _skipped(disc: Discovery) -> tuple[SkippedResult, ...]:
    return tuple(SkippedResult(str(s.path), s.reason) for s in disc.skipped)


def _checkpoint(r: CheckpointReport) -> CheckpointResult:
    ck, s = r.checkpoint, r.steps
    optimizers = tuple(
        OptimizerResult(
            str(o.path), o.step.value if o.step else None, o.step.family if o.step else None,
            o.step.source if o.step else None, o.step.note if o.step else None,
            o.step.schedule_free if o.step else False,
            tuple(jsonable(g.lr) for g in o.param_groups), tuple(jsonable(g.initial_lr) for g in o.param_groups),
            o.bytes_read, o.size)
        for o in ck.optimizers)
    schedulers = tuple(
        SchedulerResult(
            str(sr.file.path), sr.file.format, sr.profile, sr.match.scheduler_kind if sr.match else None,
            tuple(sr.match.evidence) if sr.match else (),
            {k: jsonable(sr.file.state.get(k)) for k in SCHEDULER_KEYS if k in sr.file.state}
            if sr.file.state is not None else None,
            sr.expected_last_epoch,
            Reference(sr.reference.profile, sr.reference.last_epoch, sr.reference.T_cur, sr.reference.T_i,
                      tuple(jsonable(sr.reference.last_lr)) if sr.reference.last_lr is not None else None,
                      sr.reference.total_steps)
            if sr.reference else None)
        for sr in r.schedulers)
    return CheckpointResult(
        str(ck.path), ck.name, r.verdict, r.exit_code, ck.layout,
        Steps(s.folder, s.training_state, s.optimizer, s.epoch_step, s.chosen, s.source, s.agree),
        _processes(r),
        _trainer(r), r.target, tuple(_preview(p) for p in r.resume),
        _preview(r.stock) if r.stock is not None else None,
        optimizers, schedulers,
        tuple(WeightsResult(str(w.path), w.tensors, w.data_bytes) for w in ck.weights),
        ck.has_guard, ck.has_manifest, ck.bytes_read,
        tuple(_finding(f) for f in r.findings))


def _processes(r: CheckpointReport) -> Processes:
    e = r.processes
    if e is None:
        return Processes(r.num_processes, r.num_processes_source)
    return Processes(r.num_processes, r.num_processes_source, e.exact, e.lower_bound, tuple(e.candidates), e.why)


def _trainer(r: CheckpointReport) -> TrainerResult | None:
    c = r.trainer
    if c is None:
        return None
    return TrainerResult(c.trainer, r.checkpoint.trainer, c.source, tuple(
        TrainerRelease(x.label, x.last_epoch_from, x.saves_on, x.step_from, x.formula, x.verified,
                       tuple(TrainerRead(f.name, f.required, f.if_missing) for f in x.reads), tuple(x.sources))
        for x in c.rules))


def _preview(p: ResumePreview) -> PreviewResult:
    return PreviewResult(
        tuple(p.rules), p.last_epoch_from, p.num_processes, p.stored_last_epoch, p.resumed_last_epoch,
        p.true_last_epoch, jsonable(p.offset_steps), p.runs, p.target, p.ok, p.first_wrong, jsonable(p.found),
        jsonable(p.expected), p.scheduler_wrong, jsonable(p.scheduler_found), jsonable(p.scheduler_expected),
        jsonable(p.max_diff), p.scanned,
        tuple(PreviewStepResult(st.step, jsonable(st.lr), jsonable(st.expected), st.ok) for st in p.steps))


def next_step(findings: Iterable[Finding], target: object, latest: bool, opts: Options) -> NextCommand | None:
    """The command that deals with ``findings`` (``api/next_steps.py``) on ``target`` as the user named it."""
    command = next_command(findings, target, latest, opts, dry_run=False)
    if command is None:
        return None
    argv = tuple(shlex.split(command))
    kind = argv[1]
    needs = placeholders(" ".join(argv[3:])) if kind == "repair" else None  # a path named W is not a placeholder
    return NextCommand(command, argv, kind, needs, kind == "repair" and needs is None)


def check_result(disc: Discovery, reports: list[CheckpointReport], exit_code: int, command: str = "inspect",
                 target: object | None = None, latest: bool = False, opts: Options | None = None) -> CheckResult:
    """The typed result of an analysis (``analysis.run.inspect_path``); ``target`` (the PATH as the user
    named it: the root by default), ``latest`` and ``opts`` make ``next``, the command to run next."""
    nxt = next_step([f for r in reports for f in r.findings], disc.root if target is None else target, latest,
                    opts or Options())
    return CheckResult(SCHEMA_VERSION, Tool("ckptfix", __version__, command), str(disc.root),
                       str(disc.latest) if disc.latest else None, tuple(str(p) for p in disc.picks),
                       disc.latest_reason, disc.latest_issue, disc.trainer, disc.trainer_source,
                       exit_code, status_of(exit_code), _skipped(disc), tuple(_checkpoint(r) for r in reports), nxt)


def explain_result(rules: Iterable[Rule]) -> ExplainResult:
    """``explain --json``'s document: each rule's catalogue entry."""
    return ExplainResult(SCHEMA_VERSION, Tool("ckptfix", __version__, "explain"), 0, status_of(0),
                         tuple(CodeResult(r.code, r.name, r.severity, r.summary, r.explanation, r.fix, r.repair)
                               for r in rules))


def error_result(command: str, exit_code: int, error: str) -> ErrorResult:
    """The typed form of ``--json``'s document when nothing was read (``error`` says why)."""
    return ErrorResult(SCHEMA_VERSION, Tool("ckptfix", __version__, command), exit_code, status_of(exit_code), error)


def _outcome(item: CheckpointOutcome) -> CheckpointRepair:
    # the repair package costs the inspect --json gate 16 ms of imports (measured, -X importtime): only here
    from ckptfix.repair.actions.interface import ABSENT  # noqa: PLC0415 - see above

    def _value(v: Any) -> Any:
        return None if v is ABSENT else jsonable(v)

    plan, res = item.plan, item.result
    s = plan.report.steps
    return CheckpointRepair(
        str(plan.checkpoint), plan.checkpoint.name, plan.action, res.status, item.exit_code,
        Steps(s.folder, s.training_state, s.optimizer, s.epoch_step, plan.step, plan.step_source, s.agree),
        Processes(plan.num_processes, plan.num_processes_source),
        tuple(FileAction(str(a.path), a.kind) for a in plan.actions)
        + tuple(FileAction(str(p), "nothing") for p in plan.untouched),
        tuple(ChangeResult(str(c.file), c.key, _value(c.old), _value(c.new), c.old is ABSENT, c.new is ABSENT,
                           tuple(c.fixes)) for c in plan.changes),
        tuple(RefusalResult(str(r.file) if r.file else None, r.reason, r.exit_code) for r in plan.refusals),
        tuple(plan.notes),
        tuple(FileProfile(str(sr.file.path), sr.profile) for sr in plan.report.schedulers),
        tuple(FileProfile(str(sr.file.path), sr.profile) for sr in item.after.schedulers),
        str(res.backup_dir) if res.backup_dir else None,
        tuple(str(p) for p in res.written),
        res.error, res.restored, res.kept_foreign, tuple(str(c) for c in res.cleaned),
        tuple(_finding(f) for f in plan.report.findings),
        tuple(_finding(f) for f in item.after.findings))


def repair_result(outcome: RepairOutcome) -> RepairResult:
    """The typed result of a repair (``repair.run.repair_path``)."""
    disc = outcome.disc
    return RepairResult(SCHEMA_VERSION, Tool("ckptfix", __version__, "repair"), str(disc.root),
                        str(disc.latest) if disc.latest else None, outcome.dry_run, outcome.exit_code,
                        status_of(outcome.exit_code), _skipped(disc), tuple(_outcome(i) for i in outcome.items))
