"""Typed results: what every ``--json`` document holds, and what ``ckptfix.check()`` / ``ckptfix.repair()``
return, as records: the one result model.

One source for every output: the CLI's ``--json`` document is ``result.to_json()`` of these records
(``render/json_doc.py``, ``render/plan.py``; restore's documents: ``restore_results.py``), ``ckptfix.check()`` /
``ckptfix.repair()`` return them, and the JSON Schema (``ckptfix/schema/ckptfix.schema.json``, ``ckptfix schema``) is generated
from their annotations (``schema.py``): a field's type (with the keywords of ``fields.py`` or its own
``Annotated`` description) is what the schema says of it, a record's docstring describes its object. Field
names and meanings are the JSON document's (``docs/json.md``); lists are tuples, values taken from a
checkpoint (``found``, ``expected``, a scheduler's ``values``) are plain JSON values (non-finite floats as
``"nan"``/``"inf"``). Records are built with keywords (``check_result``, ``repair_result``...).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

from ckptfix import __version__
from ckptfix.analysis.findings import Finding, Rule
from ckptfix.analysis.report import CheckpointReport, Options, ResumePreview
from ckptfix.analysis.unchecked import unchecked_note
from ckptfix.api.next_steps import next_command, placeholders
from ckptfix.api.values import SCHEDULER_KEYS, jsonable
from ckptfix.exitcodes import LAUNCH_CODES, status_of
from ckptfix.model.checkpoint import Discovery
from ckptfix.records import Record

if TYPE_CHECKING:  # the repair pipeline is imported only by what repairs (inspect --json never does)
    from ckptfix.api.fields import (
        Code,
        ExitCode,
        FileKind,
        Lr,
        NonNegative,
        PathText,
        Positive,
        Profile,
        Real,
        Severity,
        Status,
        Step,
        Target,
    )
    from ckptfix.repair.run import CheckpointOutcome, RepairOutcome

__all__ = [
    "SCHEMA_VERSION", "ChangeResult", "CheckResult", "CheckpointRepair", "CheckpointResult", "CodeResult",
    "ErrorResult", "ExplainResult", "FileAction", "FileProfile", "FindingResult", "NextCommand", "OptimizerResult",
    "PreviewResult", "PreviewStepResult", "Processes", "Reference", "RefusalResult", "RepairResult", "Result",
    "ScheduleInput", "ScheduleResult", "SchedulerResult", "SkippedResult", "Steps", "Tool", "TrainerRead", "TrainerRelease", "TrainerResult",
    "WeightsResult", "check_result", "error_result", "explain_result", "next_step", "repair_result", "skipped",
    "tool",
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
    """Which program wrote the document, and which of its commands."""

    name: Annotated[str, {"const": "ckptfix"}]
    version: str
    command: Annotated[str, {"enum": ["inspect", "repair", "restore", "explain", "merge"]}]


class SkippedResult(Result):
    """A folder that looks like a checkpoint but was not read (``checkpoint-N-tmp``: still being written)."""

    path: PathText
    reason: str


class Steps(Result):
    """Every source of the checkpoint's optimizer step, the one used (``chosen``, from ``source``) and
    whether the available sources agree."""

    folder: Annotated[Step, "N of the folder name checkpoint-N"]
    training_state: Annotated[Step, "global_step of training_state.json (or the trainer's own state file)"]
    optimizer: Annotated[Step, "the optimizer's step count"]
    epoch_step: Annotated[Step, "SimpleTuner's epoch_step (not the step; its resume uses it)"]
    chosen: Annotated[Step, "the step the checks (and a repair) use"]
    source: Annotated[str | None, "where chosen comes from: --step, training_state.json, folder name, optimizer"]
    agree: Annotated[bool, "whether the available sources agree"]
    state_file: Annotated[str | None, "the record training_state comes from: training_state.json (SimpleTuner), "
                                      "trainer_state.json (Hugging Face), global_steps (DeepSpeed); null: none"] = None


class Processes(Result):
    """N, the number of training processes, and where it comes from (docs/trainers.md, 'N'); value null:
    unknown, see candidates and why (``analysis/processes.py``)."""

    value: Annotated[int | None, {"minimum": 1}]
    source: str
    exact: Annotated[bool | None, "from --num-processes or files that give N exactly"] = None
    lower_bound: Annotated[int | None, {"minimum": 1}] = None
    candidates: tuple[Positive, ...] = ()
    why: str = ""


class TrainerRead(Result):
    """A file the trainer's resume reads: whether it must exist, and what happens without it."""

    file: str
    required: bool
    if_missing: str


class TrainerRelease(Result):
    """What one release range of the trainer does on resume (docs/trainers.md, with sources)."""

    label: str
    last_epoch_from: Annotated[str, {"enum": ["stored", "epoch_step", "global_step"]}]
    saves_on: str
    step_from: str
    formula: str | None
    verified: Annotated[str, "which releases' code the rule was checked in"]
    reads: tuple[TrainerRead, ...]
    sources: tuple[str, ...]


class TrainerResult(Result):
    """Whose resume is modelled (``name``), which trainer the files say wrote the checkpoint (``detected``), and
    for which releases."""

    name: str
    detected: str | None
    source: str
    releases: tuple[TrainerRelease, ...]


class PreviewStepResult(Result):
    """One step of the resumed run: its LR, the target's, and whether they agree."""

    step: int
    lr: Real
    expected: Real
    ok: bool


class PreviewResult(Result):
    """The LRs the resumed run uses for its first steps under the trainer's resume rule(s), against the target
    formula (docs/trainers.md, 'Resume preview')."""

    releases: tuple[str, ...]
    last_epoch_from: Annotated[str, "stored, epoch_step or global_step; several joined with / when their resumes "
                                    "give the same LRs"]
    num_processes: Positive
    stored_last_epoch: int | None
    resumed_last_epoch: int
    true_last_epoch: int
    offset_steps: Real
    runs: str
    target: str
    ok: bool
    first_wrong_step: int | None
    found: Real
    expected: Real
    scheduler_wrong_step: int | None
    scheduler_found: Real
    scheduler_expected: Real
    max_diff: Real
    steps_checked: NonNegative
    steps: tuple[PreviewStepResult, ...]


class OptimizerResult(Result):
    """One optimizer file: its step count (and how it was counted) and each param group's LRs."""

    file: PathText
    step: Step
    family: str | None
    step_source: str | None
    note: str | None
    schedule_free: bool
    lr: tuple[Lr, ...]
    initial_lr: tuple[Lr, ...]
    bytes_read: NonNegative
    size: NonNegative
    problem: Annotated[str | None, "why the file could not be read safely (null: it was read)"] = None


class Reference(Result):
    """The target formula (sine, or simpletuner-sine-v2 with --target) at the checkpoint's N × step: what a
    repair writes."""

    profile: Target
    last_epoch: int
    T_cur: int
    T_i: int
    last_lr: tuple[Lr, ...] | None
    total_steps: Annotated[int | None, "the v2 target only"] = None


class ScheduleInput(Result):
    """One input of the resuming run's schedule, and where it came from."""

    input: Annotated[str, "warmup, total, num_cycles, power, lr_end, min_lr_rate, decay_steps, kwargs, learning_rate "
                          "or name"]
    value: Annotated[Any, "its value (any JSON value)"]
    source: Annotated[str, "a flag (--max-train-steps) or a file and key (training_args.bin: max_steps)"]


class ScheduleResult(Result):
    """A scheduler state that is not a sine state, checked by its family under the resuming trainer's model
    (docs/formulas.md, 'Every scheduler family')."""

    family: Annotated[str, "the scheduler family recognised (torch's class name, or SimpleTuner's)"]
    also: Annotated[tuple[str, ...], "other families whose states look the same (LambdaLR and MultiplicativeLR)"]
    position: Annotated[int | None, "the stored position (last_epoch; last_step for SimpleTuner's hard restarts)"]
    expected_position: Annotated[int | None, "k x the checkpoint's step (null: not known)"]
    steps_per_optimizer_step: Annotated[Real, "k: the writing run's scheduler steps per optimizer step"]
    steps_source: Annotated[str, "why that k"]
    resumer_steps_per_optimizer_step: Annotated[Real, "the resuming run's k"]
    checked: Annotated[str, "what was verified: the LRs, the position only, or nothing",
                       {"enum": ["lr", "position", "none"]}]
    needs: Annotated[tuple[str, ...], "what would let ckptfix check more"]
    writer_schedule: Annotated[str | None, "the schedule the writing run built (a LambdaLR)"]
    resumer_schedule: Annotated[str | None, "the schedule the resuming run builds (a LambdaLR)"]
    config: Annotated[tuple[ScheduleInput, ...], "the resuming run's schedule inputs, each with its source"]
    readings: Annotated[tuple[str, ...], "when the position is not k x step: every reading that fits"]
    rewrite: Annotated[dict[str, Any] | None, "the position keys a repair would write (null: none)"]
    refusal: Annotated[str | None, "why repair would not rewrite the position"]
    source: Annotated[str, "where the family's math comes from"]


class SchedulerResult(Result):
    """One scheduler file: the formula that wrote its state, and the values ckptfix shows."""

    file: PathText
    format: str | None
    profile: Annotated[Profile, "the formula that wrote the state; null when the file could not be read"]
    scheduler_kind: str | None
    evidence: tuple[str, ...]
    values: Annotated[dict[str, Any] | None, "the stored scheduler values ckptfix shows, as decoded (null: unreadable)",
                      {"propertyNames": {"enum": list(SCHEDULER_KEYS)}}]
    expected_last_epoch: Annotated[int | None, "N x the checkpoint's step"]
    reference: Reference | None
    basis: Annotated[str | None, "how the profile was recognised: by its LR and its keys, its LR, its keys, or the "
                                 "nearest match; null when the file could not be read",
                     {"enum": ["lr+keys", "lr", "keys", "nearest", "none", None]}] = None
    schedule: Annotated[ScheduleResult | None, "its family's checks, for a state that is not a sine state"] = None


class WeightsResult(Result):
    """A weights file: how many tensors and bytes of tensor data it holds (read from its header only)."""

    file: PathText
    tensors: int | None  # None: the header could not be read
    data_bytes: int | None


class FindingResult(Result):
    """One finding: its stable code and name, severity, where (file, key), what was found and expected,
    the message, and the rule's fix."""

    code: Code
    name: Annotated[str, {"pattern": "^[a-z0-9-]+$"}]
    severity: Severity
    file: str | None
    key: str | None
    found: Annotated[Any, "the value found (any JSON value)"]
    expected: Annotated[Any, "the value expected (any JSON value)"]
    message: str
    fix: Annotated[str, "what to do (the rule's fix, as ckptfix explain CODE prints it)"]


class CheckpointResult(Result):
    """What ``inspect`` says about one checkpoint."""

    path: PathText
    name: str
    verdict: Annotated[str, {"enum": ["consistent", "unchecked", "findings", "unreadable"]}]
    exit_code: ExitCode
    layout: str
    steps: Steps
    num_processes: Processes
    trainer: TrainerResult | None
    target: Target
    resume_preview: tuple[PreviewResult, ...]
    stock_resume_preview: Annotated[PreviewResult | None, "what an unmodified trainer (its own formula) resumes "
                                                          "with; null when it runs the target"]
    optimizers: tuple[OptimizerResult, ...]
    schedulers: tuple[SchedulerResult, ...]
    weights: tuple[WeightsResult, ...]
    has_guard: bool
    has_manifest: bool
    bytes_read: NonNegative
    findings: tuple[FindingResult, ...]
    unchecked: Annotated[str | None, "for an \"unchecked\" checkpoint (exit 0; 1 with --strict): what is not checked in "
                         "each scheduler file and what checking it would need (analysis/unchecked.py); null otherwise"] = None


class NextCommand(Result):
    """The command to run next: what the human output's last line advises (there with ``--dry-run`` added, to
    see the plan first). A launcher runs it when ``ready`` (docs/exit-codes.md)."""

    command: Annotated[str, "one shell line, paths quoted", {"minLength": 1}]
    argv: Annotated[tuple[str, ...], "the same command as words (for subprocess.run)", {"minItems": 2}]
    kind: Annotated[str, "explain: repair cannot fix a finding; read what to do", {"enum": ["repair", "explain"]}]
    needs: Annotated[str | None, "placeholders to fill in before it runs (W: the run's --lr_warmup_steps; ...), "
                                 "or null"]
    ready: Annotated[bool, "a repair that runs as it is: what a launcher runs on exit 1"]


class CheckResult(Result):
    """``ckptfix inspect --json``, ``ckptfix.check()``: every checked checkpoint, and the gate's exit code."""

    schema_version: Annotated[int, {"const": SCHEMA_VERSION}]
    tool: Annotated[Tool, {"properties": {"command": {"const": "inspect"}}}]
    root: PathText
    latest: Annotated[str | None, "the checkpoint a resume would pick"]
    latest_candidates: Annotated[tuple[PathText, ...], "every checkpoint the trainer's resume may pick (two on a "
                                                       "rolling tie)"]
    latest_reason: str | None
    latest_issue: str | None
    trainer: str | None
    trainer_source: str | None
    exit_code: ExitCode
    status: Status
    skipped: tuple[SkippedResult, ...]
    checkpoints: tuple[CheckpointResult, ...]
    next: Annotated[NextCommand | None, "the command to run next; null when there is nothing to do"] = None

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
    """What repair does to one file."""

    file: PathText
    action: FileKind


class ChangeResult(Result):
    """One value a repair changes (``old_absent``: the key was not there; ``new_absent``: it is dropped)."""

    file: PathText
    key: str
    old: Annotated[Any, "the stored value (null and old_absent: the key was not there)"]
    new: Annotated[Any, "the value written (null and new_absent: the key is dropped)"]
    old_absent: bool
    new_absent: bool
    fixes: tuple[Code, ...]


class RefusalResult(Result):
    """Why repair leaves a checkpoint untouched, and the exit code that gives."""

    file: str | None
    reason: str
    exit_code: ExitCode


class FileProfile(Result):
    """The formula that wrote one scheduler file's state."""

    file: PathText
    profile: Profile
    family: Annotated[str | None, "its scheduler family, for a state that is not a sine state (checked by its "
                                  "family: schedulers[].schedule)"] = None


class CheckpointRepair(Result):
    """What ``repair`` planned and did for one checkpoint, with the findings before and after."""

    path: PathText
    name: str
    action: Annotated[str, {"enum": ["rewrite", "create", "nothing", "refuse"]}]
    status: Annotated[str, {"enum": ["applied", "nothing", "refused", "dry-run", "failed", "locked"]}]
    exit_code: ExitCode
    steps: Steps
    num_processes: Processes
    files: tuple[FileAction, ...]
    changes: tuple[ChangeResult, ...]
    refusals: tuple[RefusalResult, ...]
    notes: tuple[str, ...]
    profile_before: tuple[FileProfile, ...]
    profile_after: tuple[FileProfile, ...]
    backup: Annotated[str | None, "the .ckptfix/backup-* folder (ckptfix restore undoes the repair)"]
    written: tuple[PathText, ...]
    error: str | None
    restored: Annotated[bool | None, "after a failure: whether every file is the original again"]
    kept_foreign: Annotated[bool, "after a failure: another process replaced a file meanwhile, and its version "
                                  "was kept"]
    cleaned: Annotated[tuple[str, ...], "what a killed repair had left and this one removed"]
    findings_before: tuple[FindingResult, ...]
    findings_after: tuple[FindingResult, ...]
    torch_checked: Annotated[bool, "the written files were also loaded with torch.load(weights_only=True)"] = False
    holder: Annotated[str | None, "status locked: who holds the checkpoint's lock (pid, host, since when)"] = None


class RepairResult(Result):
    """``ckptfix repair --json``, ``ckptfix.repair()``: every checkpoint's plan and outcome, and the exit code."""

    schema_version: Annotated[int, {"const": SCHEMA_VERSION}]
    tool: Annotated[Tool, {"properties": {"command": {"const": "repair"}}}]
    root: PathText
    latest: str | None
    dry_run: bool
    exit_code: ExitCode
    status: Status
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

    code: Code
    name: Annotated[str, {"minLength": 1}]
    severity: Severity
    summary: str
    explanation: str
    fix: str
    repair: Annotated[str | None, "the flags ckptfix repair needs to fix it ('' none; W, E, G, N are placeholders); "
                                  "null when repair does not fix it"]


class ExplainResult(Result):
    """``ckptfix explain --json``: the code asked for, or every code."""

    schema_version: Annotated[int, {"const": SCHEMA_VERSION}]
    tool: Annotated[Tool, {"properties": {"command": {"const": "explain"}}}]
    exit_code: Annotated[int, {"const": 0}]
    status: Annotated[str, {"const": "ok"}]
    codes: Annotated[tuple[CodeResult, ...], {"minItems": 1}]


class ErrorResult(Result):
    """What ``--json`` prints when no checkpoint was read: a usage error, nothing to resume (a first launch),
    an internal error. The API raises instead (``ckptfix.UsageError``)."""

    schema_version: Annotated[int, {"const": SCHEMA_VERSION}]
    tool: Tool
    exit_code: ExitCode
    status: Status
    error: str
    checkpoints: tuple[()] = ()


# --- building them ------------------------------------------------------------------------------


def tool(command: str) -> Tool:
    """The ``tool`` of every document: ckptfix, its version, the command."""
    return Tool(name="ckptfix", version=__version__, command=command)


def _finding(f: Finding) -> FindingResult:
    return FindingResult(code=f.code, name=f.rule.name, severity=f.severity, file=f.file, key=f.key,
                         found=jsonable(f.found), expected=jsonable(f.expected), message=f.message, fix=f.rule.fix)


def skipped(disc: Discovery) -> tuple[SkippedResult, ...]:
    return tuple(SkippedResult(path=str(s.path), reason=s.reason) for s in disc.skipped)


def _steps(r: CheckpointReport, chosen: int | None, source: str | None) -> Steps:
    s, ts = r.steps, r.checkpoint.training_state
    return Steps(folder=s.folder, training_state=s.training_state, optimizer=s.optimizer, epoch_step=s.epoch_step,
                 chosen=chosen, source=source, agree=s.agree, state_file=ts.source if ts is not None else None)


def _optimizer(o: Any) -> OptimizerResult:
    st = o.step
    return OptimizerResult(
        file=str(o.path), step=st.value if st else None, family=st.family if st else None,
        step_source=st.source if st else None, note=st.note if st else None,
        schedule_free=st.schedule_free if st else False,
        lr=tuple(jsonable(g.lr) for g in o.param_groups), initial_lr=tuple(jsonable(g.initial_lr) for g in o.param_groups),
        bytes_read=o.bytes_read, size=o.size, problem=o.problem.message if o.problem is not None else None)


def _schedule(c: Any) -> ScheduleResult:
    return ScheduleResult(
        family=c.family, also=tuple(c.also), position=c.position, expected_position=c.expected_position,
        steps_per_optimizer_step=jsonable(c.steps_per_step), steps_source=c.steps_source,
        resumer_steps_per_optimizer_step=jsonable(c.resumer_steps_per_step), checked=c.checked, needs=tuple(c.needs),
        writer_schedule=c.writer, resumer_schedule=c.resumer,
        config=tuple(ScheduleInput(input=k, value=jsonable(v), source=src) for k, v, src in c.config),
        readings=tuple(c.readings), rewrite={k: jsonable(v) for k, v in c.rewrite.items()} if c.rewrite else None,
        refusal=c.refusal, source=c.source)


def _scheduler(sr: Any, check: Any = None) -> SchedulerResult:
    state, ref = sr.file.state, sr.reference
    return SchedulerResult(
        file=str(sr.file.path), format=sr.file.format, profile=sr.profile,
        scheduler_kind=sr.match.scheduler_kind if sr.match else None,
        evidence=tuple(sr.match.evidence) if sr.match else (),
        values={k: jsonable(state.get(k)) for k in SCHEDULER_KEYS if k in state} if state is not None else None,
        expected_last_epoch=sr.expected_last_epoch,
        reference=Reference(profile=ref.profile, last_epoch=ref.last_epoch, T_cur=ref.T_cur, T_i=ref.T_i,
                            last_lr=tuple(jsonable(ref.last_lr)) if ref.last_lr is not None else None,
                            total_steps=ref.total_steps) if ref else None,
        basis=sr.match.basis if sr.match else None, schedule=_schedule(check) if check is not None else None)


def _checkpoint(r: CheckpointReport) -> CheckpointResult:
    ck = r.checkpoint
    checks = {c.file.path: c for c in r.schedule_checks}
    return CheckpointResult(
        path=str(ck.path), name=ck.name, verdict=r.verdict, exit_code=r.exit_code, layout=ck.layout,
        steps=_steps(r, r.steps.chosen, r.steps.source), num_processes=_processes(r), trainer=_trainer(r),
        target=r.target, resume_preview=tuple(_preview(p) for p in r.resume),
        stock_resume_preview=_preview(r.stock) if r.stock is not None else None,
        optimizers=tuple(_optimizer(o) for o in ck.optimizers),
        schedulers=tuple(_scheduler(sr, checks.get(sr.file.path)) for sr in r.schedulers),
        weights=tuple(WeightsResult(file=str(w.path), tensors=w.tensors, data_bytes=w.data_bytes) for w in ck.weights),
        has_guard=ck.has_guard, has_manifest=ck.has_manifest, bytes_read=ck.bytes_read,
        findings=tuple(_finding(f) for f in r.findings), unchecked=unchecked_note(r))


def _processes(r: CheckpointReport) -> Processes:
    e = r.processes
    if e is None:
        return Processes(value=r.num_processes, source=r.num_processes_source)
    return Processes(value=r.num_processes, source=r.num_processes_source, exact=e.exact, lower_bound=e.lower_bound,
                     candidates=tuple(e.candidates), why=e.why)


def _trainer(r: CheckpointReport) -> TrainerResult | None:
    c = r.trainer
    if c is None:
        return None
    return TrainerResult(name=c.trainer, detected=r.checkpoint.trainer, source=c.source, releases=tuple(
        TrainerRelease(label=x.label, last_epoch_from=x.last_epoch_from, saves_on=x.saves_on, step_from=x.step_from,
                       formula=x.formula, verified=x.verified,
                       reads=tuple(TrainerRead(file=f.name, required=f.required, if_missing=f.if_missing)
                                   for f in x.reads),
                       sources=tuple(x.sources))
        for x in c.rules))


def _preview(p: ResumePreview) -> PreviewResult:
    return PreviewResult(
        releases=tuple(p.rules), last_epoch_from=p.last_epoch_from, num_processes=p.num_processes,
        stored_last_epoch=p.stored_last_epoch, resumed_last_epoch=p.resumed_last_epoch,
        true_last_epoch=p.true_last_epoch, offset_steps=jsonable(p.offset_steps), runs=p.runs, target=p.target,
        ok=p.ok, first_wrong_step=p.first_wrong, found=jsonable(p.found), expected=jsonable(p.expected),
        scheduler_wrong_step=p.scheduler_wrong, scheduler_found=jsonable(p.scheduler_found),
        scheduler_expected=jsonable(p.scheduler_expected), max_diff=jsonable(p.max_diff), steps_checked=p.scanned,
        steps=tuple(PreviewStepResult(step=st.step, lr=jsonable(st.lr), expected=jsonable(st.expected), ok=st.ok)
                    for st in p.steps))


def next_step(findings: Iterable[Finding], target: object, latest: bool, opts: Options) -> NextCommand | None:
    """The command that deals with ``findings`` (``api/next_steps.py``) on ``target`` as the user named it."""
    command = next_command(findings, target, latest, opts, dry_run=False)
    if command is None:
        return None
    argv = tuple(shlex.split(command))
    kind = argv[1]
    needs = placeholders(" ".join(argv[3:])) if kind == "repair" else None  # a path named W is not a placeholder
    return NextCommand(command=command, argv=argv, kind=kind, needs=needs, ready=kind == "repair" and needs is None)


def check_result(disc: Discovery, reports: list[CheckpointReport], exit_code: int, command: str = "inspect",
                 target: object | None = None, latest: bool = False, opts: Options | None = None) -> CheckResult:
    """The typed result of an analysis (``analysis.run.inspect_path``); ``target`` (the PATH as the user
    named it: the root by default), ``latest`` and ``opts`` make ``next``, the command to run next."""
    nxt = next_step([f for r in reports for f in r.findings], disc.root if target is None else target, latest,
                    opts or Options())
    return CheckResult(
        schema_version=SCHEMA_VERSION, tool=tool(command), root=str(disc.root),
        latest=str(disc.latest) if disc.latest else None, latest_candidates=tuple(str(p) for p in disc.picks),
        latest_reason=disc.latest_reason, latest_issue=disc.latest_issue, trainer=disc.trainer,
        trainer_source=disc.trainer_source, exit_code=exit_code, status=status_of(exit_code), skipped=skipped(disc),
        checkpoints=tuple(_checkpoint(r) for r in reports), next=nxt)


def explain_result(rules: Iterable[Rule]) -> ExplainResult:
    """``explain --json``'s document: each rule's catalogue entry."""
    return ExplainResult(
        schema_version=SCHEMA_VERSION, tool=tool("explain"), exit_code=0, status=status_of(0),
        codes=tuple(CodeResult(code=r.code, name=r.name, severity=r.severity, summary=r.summary,
                               explanation=r.explanation, fix=r.fix, repair=r.repair) for r in rules))


def error_result(command: str, exit_code: int, error: str) -> ErrorResult:
    """The typed form of ``--json``'s document when nothing was read (``error`` says why)."""
    return ErrorResult(schema_version=SCHEMA_VERSION, tool=tool(command), exit_code=exit_code,
                       status=status_of(exit_code), error=error)


def _outcome(item: CheckpointOutcome) -> CheckpointRepair:
    # the repair package costs the inspect --json gate 16 ms of imports (measured, -X importtime): only here
    from ckptfix.repair.actions.interface import ABSENT  # noqa: PLC0415 - see above

    def _value(v: Any) -> Any:
        return None if v is ABSENT else jsonable(v)

    plan, res = item.plan, item.result
    return CheckpointRepair(
        path=str(plan.checkpoint), name=plan.checkpoint.name, action=plan.action, status=res.status,
        exit_code=item.exit_code, steps=_steps(plan.report, plan.step, plan.step_source),
        num_processes=Processes(value=plan.num_processes, source=plan.num_processes_source),
        files=tuple(FileAction(file=str(a.path), action=a.kind) for a in plan.actions)
        + tuple(FileAction(file=str(p), action="nothing") for p in plan.untouched),
        changes=tuple(ChangeResult(file=str(c.file), key=c.key, old=_value(c.old), new=_value(c.new),
                                   old_absent=c.old is ABSENT, new_absent=c.new is ABSENT, fixes=tuple(c.fixes))
                      for c in plan.changes),
        refusals=tuple(RefusalResult(file=str(r.file) if r.file else None, reason=r.reason, exit_code=r.exit_code)
                       for r in plan.refusals),
        notes=tuple(plan.notes),
        profile_before=_profiles(plan.report), profile_after=_profiles(item.after),
        backup=str(res.backup_dir) if res.backup_dir else None, written=tuple(str(p) for p in res.written),
        error=res.error, restored=res.restored, kept_foreign=res.kept_foreign, cleaned=tuple(str(c) for c in res.cleaned),
        findings_before=tuple(_finding(f) for f in plan.report.findings),
        findings_after=tuple(_finding(f) for f in item.after.findings), torch_checked=res.torch_checked,
        holder=res.holder)


def _profiles(report: CheckpointReport) -> tuple[FileProfile, ...]:
    families = {c.file.path: c.family for c in report.schedule_checks}
    return tuple(FileProfile(file=str(sr.file.path), profile=sr.profile, family=families.get(sr.file.path))
                 for sr in report.schedulers)


def repair_result(outcome: RepairOutcome) -> RepairResult:
    """The typed result of a repair (``repair.run.repair_path``)."""
    disc = outcome.disc
    return RepairResult(
        schema_version=SCHEMA_VERSION, tool=tool("repair"), root=str(disc.root),
        latest=str(disc.latest) if disc.latest else None, dry_run=outcome.dry_run, exit_code=outcome.exit_code,
        status=status_of(outcome.exit_code), skipped=skipped(disc), checkpoints=tuple(_outcome(i) for i in outcome.items))
