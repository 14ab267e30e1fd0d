"""What the analysis concludes about one checkpoint: steps, profile, findings, exit code."""

from __future__ import annotations

import math
from typing import Any, Literal

from ckptfix.analysis.findings import Finding, exit_code
from ckptfix.analysis.options import Options
from ckptfix.exitcodes import FINDINGS, OK, worst
from ckptfix.model.checkpoint import Checkpoint, SchedulerFile
from ckptfix.model.trainers import TrainerRules
from ckptfix.records import Record
from ckptfix.schedulers.detect import ProfileMatch
from ckptfix.schedulers.profiles import SINE_FAMILY, UNCHECKED
from ckptfix.schedulers.reference import TargetState

__all__ = [
    "CheckpointReport", "Options", "PreviewStep", "ProcessEstimate", "ResumePreview", "RulesChoice", "RunFacts",
    "ScheduleCheck", "SchedulerReport", "StepInfo", "Verdict",
]

#: What ``inspect`` says of one checkpoint, from its exit code; "unchecked" (exit 0, 1 with ``--strict``): nothing
#: wrong was found, but every scheduler is one ckptfix cannot check (LambdaLR, unknown classes).
Verdict = Literal["consistent", "unchecked", "findings", "unreadable"]


class RunFacts(Record):
    """What the pipeline learned beyond the user's ``Options`` (``analysis/run.py``), for the analysis of one
    checkpoint.

    ``installed``: the trainer packages installed where ckptfix runs, as (distribution, version) pairs;
    None until the pipeline looks them up (only when the releases disagree on a checkpoint), () for none.
    ``run_processes``: N established by other checkpoints of the same output folder, and which:
    (N, "checkpoint-20 ...")."""

    installed: tuple[tuple[str, str], ...] | None = None
    run_processes: tuple[int, str] | None = None


class StepInfo(Record):
    """Every source of the checkpoint's step side by side, the one chosen and whether they agree."""

    folder: int | None
    training_state: int | None
    optimizer: int | None
    epoch_step: int | None
    chosen: int | None
    source: str | None  # "--step" | "training_state.json" | "folder name" | "optimizer"
    agree: bool


class SchedulerReport(Record):
    """One scheduler file: the profile that wrote it, and the fixed formula's state at this step."""

    file: SchedulerFile
    match: ProfileMatch | None
    expected_last_epoch: int | None
    reference: TargetState | None  # the target formula at the checkpoint's N x step (what a repair writes)

    @property
    def profile(self) -> str | None:
        """The detected profile; None when the file could not be read."""
        return self.match.profile if self.match else None

    @property
    def by_family(self) -> bool:
        """Whether its family's checks (``schedule_checks.py``) judge it: a state read that is not a sine state."""
        return self.file.state is not None and self.profile not in SINE_FAMILY


class ProcessEstimate(Record):
    """N with its source, or ``value`` None ("unknown") with the candidates and why."""

    value: int | None
    source: str
    lower_bound: int = 1
    candidates: tuple[int, ...] = ()
    why: str = ""
    exact: bool = False  # from the flag or from files that give N exactly
    from_run: tuple[int, str] | None = None  # the ``RunFacts.run_processes`` it came from

    @property
    def known(self) -> bool:
        return self.value is not None


class RulesChoice(Record):
    """The trainer whose resume is modelled, the rules (one per release range) and why those."""

    trainer: str  # model name (simpletuner, kohya, ...)
    title: str  # SimpleTuner
    rules: tuple[TrainerRules, ...]
    source: str  # how the releases were chosen, for users

    @property
    def label(self) -> str:
        return " / ".join(r.label for r in self.rules)


class PreviewStep(Record):
    """One optimizer step after the resume: the LR it will use and the target's."""

    step: int
    lr: float | None  # None: not known (the optimizer file could not be read)
    expected: float  # the target formula's LR, truncated as the trainer stores it
    ok: bool


class ResumePreview(Record):
    """The first steps of a resume under one set of trainer rules."""

    rules: tuple[str, ...]  # labels of the release ranges it holds for ("SimpleTuner 1.0 to < 4.9.3")
    last_epoch_from: str  # "stored" | "epoch_step" | "global_step"
    num_processes: int
    stored_last_epoch: int | None
    resumed_last_epoch: int  # L: what the scheduler holds after the trainer's resume
    true_last_epoch: int  # N × g: where the uninterrupted run is
    runs: str  # the formula the resumed trainer runs (a profile name)
    target: str
    steps: tuple[PreviewStep, ...]  # the first DISPLAY_STEPS, plus the first wrong one when later
    first_wrong: int | None = None  # the first step whose LR differs from the target
    #: The first step from g + 2 on (where the scheduler, not optimizer.bin's lr, sets the LR) that differs.
    scheduler_wrong: int | None = None
    scheduler_found: float | None = None  # the LR there
    scheduler_expected: float | None = None  # the target's there
    found: float | None = None  # its LR
    expected: float | None = None  # the target's there
    max_diff: float = 0.0  # over the steps scanned
    scanned: int = 0

    @property
    def ok(self) -> bool:
        return self.first_wrong is None

    @property
    def offset_steps(self) -> int | float:
        """How many optimizer steps ahead (> 0) or behind the resumed position is (an int when whole;
        ±inf beyond a float, for a hostile 4,000-digit epoch_step)."""
        d = self.resumed_last_epoch - self.true_last_epoch
        q, r = divmod(d, self.num_processes)
        if r == 0:
            return q
        try:
            return d / self.num_processes
        except OverflowError:
            return math.inf if d > 0 else -math.inf


class ScheduleCheck(Record):
    """What ``schedule_checks.py`` says of one scheduler file that is not a sine state.

    ``family``: the scheduler family recognised (``also``: others whose states look the same); ``position`` the
    stored one (``last_epoch``), ``expected_position`` ``k × step`` with ``k`` = ``steps_per_step`` (the writing run's
    scheduler steps per optimizer step, ``steps_source`` saying why) and the resuming run's
    ``resumer_steps_per_step``; ``checked``: what was verified (``lr``: the LRs, from the state or the run's
    configuration; ``position``: the position only; ``none``), ``needs`` what would check more; ``writer`` /
    ``resumer``: the schedules the two runs build (a LambdaLR), ``config`` the resuming run's inputs as (input,
    value, source); ``readings``: when the position is not ``k × step``, every reading that fits; ``rewrite``: the
    position keys a repair writes (None: none planned, ``refusal`` says why when one was considered);
    ``fix_epoch_step``: setting SimpleTuner's ``epoch_step`` to the step makes the resume follow; ``first_lrs``: the
    uninterrupted run's LRs at the first step after the checkpoint."""

    file: SchedulerFile
    family: str
    also: tuple[str, ...] = ()
    position: int | None = None
    expected_position: int | None = None
    steps_per_step: float | None = None
    steps_source: str = ""
    resumer_steps_per_step: float | None = None
    checked: Literal["lr", "position", "none"] = "none"
    needs: tuple[str, ...] = ()
    writer: str | None = None
    resumer: str | None = None
    config: tuple[tuple[str, Any, str], ...] = ()
    readings: tuple[str, ...] = ()
    rewrite: dict[str, Any] | None = None
    refusal: str | None = None
    fix_epoch_step: bool = False
    source: str = ""
    #: The LRs the uninterrupted run uses at the first step after the checkpoint (what ``--optimizer-lr`` writes).
    first_lrs: tuple[float, ...] | None = None


class CheckpointReport(Record):
    """Everything ``inspect`` says about one checkpoint; its exit code follows from the findings."""

    checkpoint: Checkpoint
    steps: StepInfo
    num_processes: int | None  # None: unknown (see ``processes``)
    num_processes_source: str
    schedulers: tuple[SchedulerReport, ...]
    findings: tuple[Finding, ...] = ()
    strict: bool = False
    position_checked: bool = False  # a trainer check compared a scheduler's position (trainer_checks.py)
    processes: ProcessEstimate | None = None  # N with its evidence, or the candidates
    trainer: RulesChoice | None = None  # whose resume is modelled, for which releases
    resume: tuple[ResumePreview, ...] = ()  # the resume preview, one per distinct resume rule
    target: str = "sine"  # the formula checked against (--target)
    #: When the stock trainer ships another formula than the target: a resume by the stock trainer.
    stock: ResumePreview | None = None
    #: The scheduler files that are not sine states, checked by their family (``schedule_checks.py``).
    schedule_checks: tuple[ScheduleCheck, ...] = ()

    @property
    def exit_code(self) -> int:
        return self.exit_code_waiving()

    def exit_code_waiving(self, waived: frozenset[str] = frozenset()) -> int:
        """The exit code, the findings ``waived`` left out (a step disagreement settled by ``--step``): the
        findings' (``findings.exit_code``), and with ``--strict`` at least 1 for a checkpoint nothing checked."""
        return worst([exit_code(self.findings, self.strict, waived), FINDINGS if self.strict and self.unchecked else OK])

    @property
    def unchecked(self) -> bool:
        """No scheduler of the checkpoint has its LR checked (and there is one): a position compared with the step
        (``position_checked``, a family's "position" check) or no position at all (ReduceLROnPlateau) leaves the
        resumed LRs unverified, so it is never "consistent"."""
        return (bool(self.schedulers)
                and all(sr.profile == UNCHECKED for sr in self.schedulers)
                and not any(c.checked == "lr" for c in self.schedule_checks))

    @property
    def verdict(self) -> Verdict:
        code = exit_code(self.findings, self.strict)
        if code == 0 and self.unchecked:
            return "unchecked"  # exit 1 with --strict
        return {3: "unreadable", 1: "findings", 0: "consistent"}[code]
