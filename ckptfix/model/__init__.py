"""What a checkpoint folder holds, as read: layouts per trainer (``layouts/``), discovery of checkpoints
and the one a resume picks, the optimizer's step count. Nothing is judged here."""

from ckptfix.model.checkpoint import Checkpoint, Discovery, FileProblem, OptimizerFile, SchedulerFile, Skipped
from ckptfix.model.discover import checkpoint_number, discover, targets
from ckptfix.model.load import load_checkpoint
from ckptfix.model.optimizer_step import StepCount, optimizer_step_count

__all__ = [
    "Checkpoint", "Discovery", "FileProblem", "OptimizerFile", "SchedulerFile", "Skipped", "StepCount",
    "checkpoint_number", "discover", "load_checkpoint", "optimizer_step_count", "targets",
]
