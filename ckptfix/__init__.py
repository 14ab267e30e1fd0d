"""ckptfix: inspect and repair LR-scheduler state in training checkpoints.

The Python API (``docs/api.md``)::

    import ckptfix

    result = ckptfix.check("output/", latest=True)      # CheckResult: what `inspect --json` prints
    if not result.ok:
        for f in result.findings:
            print(f.code, f.message, "fix:", f.fix)
        ckptfix.repair("output/", latest=True)          # RepairResult: what `repair --json` prints

    ckptfix.guard_load_state(accelerator)               # in a training script: refuse a bad checkpoint
                                                        # before accelerator.load_state() reads it

Importing ``ckptfix`` is cheap: the names below load their modules on first use (never torch, never rich).

``ckptfix.repair`` is the function, although a subpackage has that name too: the package module keeps
the function when the import system would bind the subpackage there (``_Package``). Import the
subpackage's modules by name (``from ckptfix.repair.plan import plan_repair``); ``sys.modules`` has them.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "CheckResult", "CheckpointRefused", "CheckpointRepair", "CheckpointResult", "CkptfixError", "FindingResult",
    "RepairResult", "UsageError", "__version__", "check", "guard_load_state", "repair",
]

if TYPE_CHECKING:
    from ckptfix.api.hook import CheckpointRefused, guard_load_state
    from ckptfix.api.results import CheckpointRepair, CheckpointResult, CheckResult, FindingResult, RepairResult
    from ckptfix.api.run import check, repair
    from ckptfix.errors import CkptfixError, UsageError

# name -> module that defines it (imported on first access: ``ckptfix --help`` and the gate stay light)
_LAZY = {
    "check": "ckptfix.api.run", "repair": "ckptfix.api.run",
    "guard_load_state": "ckptfix.api.hook", "CheckpointRefused": "ckptfix.api.hook",
    "CheckResult": "ckptfix.api.results", "CheckpointResult": "ckptfix.api.results",
    "FindingResult": "ckptfix.api.results", "RepairResult": "ckptfix.api.results",
    "CheckpointRepair": "ckptfix.api.results",
    "CkptfixError": "ckptfix.errors", "UsageError": "ckptfix.errors",
}


class _Package(types.ModuleType):
    """``ckptfix`` itself: an API function's name is never rebound to the subpackage of the same name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return  # the import system binding ckptfix.repair (the subpackage): keep the API function
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ckptfix' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 - only when an API name is first used

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
