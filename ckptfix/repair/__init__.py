"""``ckptfix repair``: plan (pure, ``plan.py``), apply (the only writer, ``apply.py``), pipeline (``run.py``)."""

from ckptfix.repair.plan import (
    ABSENT,
    Change,
    FilePlan,
    Refusal,
    RepairPlan,
    plan_repair,
)

__all__ = ["ABSENT", "Change", "FilePlan", "Refusal", "RepairPlan", "plan_repair"]
