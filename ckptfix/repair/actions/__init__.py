"""Repair actions (``interface.py``): the scheduler-file write (``scheduler.py``), the ``epoch_step`` write in
SimpleTuner's ``training_state.json`` (``training_state.py``) and the optimizer lr patch (``optimizer_lr.py``).

``ACTIONS`` is the registry ``ckptfix restore`` reads a backup's manifest with: every action class, so every
file repair writes (``RepairAction.FILES``); a manifest naming any other file is refused.
"""

from ckptfix.repair.actions.interface import (
           ABSENT,
           ActionKind,
           BackupEntry,
           Change,
           Fault,
           Journal,
           RepairAction,
           action_for,
           apply_changes,
           read_entry,
           same,
)
from ckptfix.repair.actions.optimizer_lr import NotPatchable, OptimizerLrPatch, plan_patch, restore
from ckptfix.repair.actions.scheduler import SchedulerWrite
from ckptfix.repair.actions.training_state import TrainingStateWrite

#: Every repair action class (what ``ckptfix restore`` accepts in a manifest).
ACTIONS: tuple[type[RepairAction], ...] = (SchedulerWrite, TrainingStateWrite, OptimizerLrPatch)

__all__ = ["ABSENT", "ACTIONS", "ActionKind", "BackupEntry", "Change", "Fault", "Journal", "NotPatchable",
           "OptimizerLrPatch", "RepairAction", "SchedulerWrite", "TrainingStateWrite", "action_for", "apply_changes", "plan_patch",
           "read_entry", "restore", "same"]
