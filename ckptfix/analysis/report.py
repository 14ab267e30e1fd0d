"""What the analysis concludes about one checkpoint: steps, profile, findings, exit code."""

from __future__ import annotations

from typing import Literal

from ckptfix.analysis.findings import Finding, exit_code
from ckptfix.model.checkpoint import Checkpoint, SchedulerFile
from ckptfix.records import Record
from ckptfix.schedulers.detect import ProfileMatch
from ckptfix.schedulers.profiles import UNCHECKED
from ckptfix.schedulers.reference import SineState

__all__ = ["CheckpointReport", "Options", "SchedulerReport", "StepInfo", "Verdict"]

#: What ``inspect`` says of one checkpoint, from its exit code; "unchecked" (exit 0): nothing wrong was
#: found, but every scheduler is one ckptfix cannot check (LambdaLR, unknown classes).
Verdict = Literal["consistent", "unchecked", "findings", "unreadable"]


class Options(Record):
    """Values the user states on the command line; ``None`` means not given."""

    num_processes: int | None = None
    step: int | None = None
    learning_rate: float | None = None
    lr_end: float | None = None
    lr_warmup_steps: int | None = None
    t_mult: int | None = None
    strict: bool = False


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
    reference: SineState | None  # the fixed sine at the checkpoint's N x step (what a repair writes)

    @property
    def profile(self) -> str | None:
        """The detected profile; None when the file could not be read."""
        return self.match.profile if self.match else None


class CheckpointReport(Record):
    """Everything ``inspect`` says about one checkpoint; its exit code follows from the findings."""

    checkpoint: Checkpoint
    steps: StepInfo
    num_processes: int
    num_processes_source: str
    schedulers: tuple[SchedulerReport, ...]
    findings: tuple[Finding, ...] = ()
    strict: bool = False
    position_checked: bool = False  # a trainer check compared a scheduler's position (trainer_checks.py)

    @property
    def exit_code(self) -> int:
        return exit_code(self.findings, self.strict)

    @property
    def unchecked(self) -> bool:
        """Every scheduler of the checkpoint is one no check applies to (and there is one)."""
        return (bool(self.schedulers) and not self.position_checked
                and all(sr.profile == UNCHECKED for sr in self.schedulers))

    @property
    def verdict(self) -> Verdict:
        code = self.exit_code
        if code == 0 and self.unchecked:
            return "unchecked"
        return {3: "unreadable", 1: "findings", 0: "consistent"}[code]
