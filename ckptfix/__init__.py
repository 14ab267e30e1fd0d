"""ckptfix: inspect and repair LR-scheduler state in training checkpoints.

The Python API (``docs/api.md``)::

    import ckptfix

    result = ckptfix.check("output/", lr_end=1e-6)      # CheckResult: what `inspect --latest --json` prints
    if not result.launch:                               # launch on 0 (consistent) and 4 (nothing to resume)
        for f in result.findings:
            print(f.code, f.message, "fix:", f.fix)
        ckptfix.repair("output/", lr_end=1e-6)          # RepairResult: what `repair --latest --json` prints

    ckptfix.guard_load_state(accelerator)               # in a training script: refuse a bad checkpoint
                                                        # before accelerator.load_state() reads it

Importing ``ckptfix`` is cheap: the names below load their modules on first use (never torch, never rich).

``ckptfix.repair`` is both the repair layer's package and the API function: calling the package runs
``ckptfix.api.run.repair`` (``_CallablePackage``), so ``ckptfix.repair(path)`` works and every
``ckptfix.repair.<module>`` stays the real module (for imports, ``monkeypatch``, ``mock.patch``).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "CheckResult", "CheckpointRefused", "CheckpointRepair", "CheckpointResult", "CkptfixError", "FindingResult",
    "Options", "RepairResult", "UsageError", "__version__", "check", "guard_load_state", "repair",
]

if TYPE_CHECKING:
    from ckptfix.analysis.options import Options
    from ckptfix.api.hook import CheckpointRefused, guard_load_state
    from ckptfix.api.results import CheckpointRepair, CheckpointResult, CheckResult, FindingResult, RepairResult
    from ckptfix.api.run import check, repair
    from ckptfix.errors import CkptfixError, UsageError

# name -> module that defines it (imported on first access: ``ckptfix --help`` and the gate stay light)
_LAZY = {
    "check": "ckptfix.api.run",
    "guard_load_state": "ckptfix.api.hook", "CheckpointRefused": "ckptfix.api.hook",
    "CheckResult": "ckptfix.api.results", "CheckpointResult": "ckptfix.api.results",
    "FindingResult": "ckptfix.api.results", "RepairResult": "ckptfix.api.results",
    "CheckpointRepair": "ckptfix.api.results",
    "CkptfixError": "ckptfix.errors", "UsageError": "ckptfix.errors", "Options": "ckptfix.analysis.options",
}


class _CallablePackage(types.ModuleType):
    """The ``ckptfix.repair`` package, callable as ``ckptfix.api.run.repair`` (with its signature)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return importlib.import_module("ckptfix.api.run").repair(*args, **kwargs)

    @property
    def __signature__(self) -> Any:
        import inspect  # noqa: PLC0415 - ~5 ms of imports ckptfix itself (the gate) must not pay

        return inspect.signature(importlib.import_module("ckptfix.api.run").repair)


class _Package(types.ModuleType):
    """``ckptfix`` itself: when the import system binds the ``repair`` subpackage, it becomes callable."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "repair" and isinstance(value, types.ModuleType) and not isinstance(value, _CallablePackage):
            value.__class__ = _CallablePackage
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name == "repair":  # the subpackage, made callable by _Package.__setattr__ when it is bound
        importlib.import_module("ckptfix.repair")
        return globals()["repair"]
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ckptfix' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
