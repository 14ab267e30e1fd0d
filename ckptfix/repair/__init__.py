"""``ckptfix repair``: plan (pure, ``plan.py``), actions (``actions/``: one per file to change),
apply (the only writer, ``apply.py``), pipeline (``run.py``)."""

from ckptfix.repair.actions.interface import ABSENT, Change, RepairAction
from ckptfix.repair.actions.optimizer_lr import OptimizerLrPatch
from ckptfix.repair.actions.scheduler import SchedulerWrite
from ckptfix.repair.plan import Refusal, RepairPlan, plan_repair

__all__ = ["ABSENT", "Change", "OptimizerLrPatch", "Refusal", "RepairAction", "RepairPlan", "SchedulerWrite", "plan_repair"]
