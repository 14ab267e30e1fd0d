"""Repair actions (``interface.py``): the scheduler-file write (``scheduler.py``) and the optimizer
lr patch (``optimizer_lr.py``)."""

from ckptfix.repair.actions.interface import (
           ABSENT,
           ActionKind,
           Change,
           Fault,
           Journal,
           RepairAction,
           apply_changes,
           same,
)
from ckptfix.repair.actions.optimizer_lr import NotPatchable, OptimizerLrPatch, plan_patch, restore
from ckptfix.repair.actions.scheduler import SchedulerWrite

__all__ = ["ABSENT", "ActionKind", "Change", "Fault", "Journal", "NotPatchable", "OptimizerLrPatch", "RepairAction",
           "SchedulerWrite", "apply_changes", "plan_patch", "restore", "same"]
