"""A guard for training scripts: check the checkpoint ``accelerator.load_state()`` is about to read.

``guard_load_state(accelerator)`` registers a hook with accelerate's
``Accelerator.register_load_state_pre_hook``. accelerate calls it inside ``load_state`` with the
folder it resolved (the one given, or the latest ``checkpoints/checkpoint_<i>`` with automatic naming)
after choosing what to load and before ``load_accelerator_state`` reads the model, optimizer and
scheduler files. The hook runs ``ckptfix.check`` on that folder and raises ``CheckpointRefused``
(naming the findings and the command that fixes them) when the gate would fail, so a wrong learning
rate is never loaded; with ``repair=True`` it first runs ``ckptfix.repair`` (on the main process only;
the others wait) and refuses only what remains.

Under DeepSpeed and FSDP accelerate loads the model (and DeepSpeed its optimizer) *before* calling
pre-hooks; the scheduler and the rest are still loaded after. accelerate is not imported here: the hook
only needs the ``accelerator`` object it is given.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from ckptfix.api.results import CheckResult, FindingResult, RepairResult
from ckptfix.api.run import check
from ckptfix.api.run import repair as repair_path
from ckptfix.errors import CkptfixError

__all__ = ["CheckpointRefused", "guard_load_state"]

_CHECK_OPTIONS = ("num_processes", "step", "learning_rate", "lr_end", "lr_warmup_steps", "t_mult")


class CheckpointRefused(CkptfixError):
    """``load_state`` was stopped before reading a checkpoint whose scheduler state ckptfix would not pass.

    ``result`` is the check of that checkpoint (``CheckResult``), ``repair`` the repair tried first
    (``RepairResult``, with ``guard_load_state(..., repair=True)``), ``findings`` what is wrong."""

    def __init__(self, message: str, result: CheckResult, repair: RepairResult | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.repair = repair
        self.findings: tuple[FindingResult, ...] = result.findings


def _command(path: Path, options: dict[str, Any]) -> str:
    flags = [f"--{k.replace('_', '-')} {v}" for k, v in options.items() if v is not None]
    return " ".join(["ckptfix repair", shlex.quote(str(path)), *flags])


def _message(path: Path, result: CheckResult, repaired: RepairResult | None, options: dict[str, Any]) -> str:
    shown = [f for f in result.findings if f.severity != "info"]
    lines = [f"ckptfix: load_state refused {path} (exit {result.exit_code}): its scheduler state would resume "
             "with a wrong learning rate or fail"]
    for f in shown:
        lines.append(f"  {f.code} {f.severity}: {f.message}")
        lines.append(f"    fix: {f.fix}")
    if repaired is not None:
        for ck in repaired.checkpoints:
            for reason in dict.fromkeys(r.reason for r in ck.refusals):
                lines.append(f"  repair refused: {reason}")
            if ck.error:
                lines.append(f"  repair {ck.status}: {ck.error}")
        lines.append("  (guard_load_state takes the flags as keyword arguments: --lr-warmup-steps W is "
                     "lr_warmup_steps=W)")
    else:
        lines.append(f"  then: {_command(path, options)} --dry-run, or guard_load_state(accelerator, repair=True)")
    return "\n".join(lines)


def guard_load_state(accelerator: Any, *, repair: bool = False, strict: bool = False, optimizer_lr: bool = False,
                     num_processes: int | None = None, step: int | None = None, learning_rate: float | None = None,
                     lr_end: float | None = None, lr_warmup_steps: int | None = None,
                     t_mult: int | None = None) -> Any:
    """Check (with ``repair=True``: repair, then check) every checkpoint ``accelerator.load_state()`` loads.

    The keyword options are ``ckptfix inspect``'s flags: what the run was launched with (``None``: not
    stated; ckptfix then uses the evidence in the checkpoint). ``strict`` refuses warnings too;
    ``optimizer_lr`` lets the repair also set the optimizer's stored lr (``--optimizer-lr``). Returns
    accelerate's handle (``handle.remove()`` unregisters). Raises ``CheckpointRefused`` from
    ``load_state`` when the checkpoint does not pass.
    """
    options = {"num_processes": num_processes, "step": step, "learning_rate": learning_rate, "lr_end": lr_end,
               "lr_warmup_steps": lr_warmup_steps, "t_mult": t_mult}
    do_repair = repair

    def hook(models: list[Any], input_dir: str | os.PathLike[str]) -> None:
        path = Path(input_dir)
        repaired: RepairResult | None = None
        if do_repair:
            try:
                if getattr(accelerator, "is_main_process", True):
                    repaired = _repair(path, options, optimizer_lr)
            finally:  # never leave the other processes waiting
                wait = getattr(accelerator, "wait_for_everyone", None)
                if wait is not None:
                    wait()  # the other processes read only what the main process has finished writing
        result = check(path, latest=False, strict=strict, **options)
        if result.exit_code != 0:
            raise CheckpointRefused(_message(path, result, repaired, options), result, repaired)

    return accelerator.register_load_state_pre_hook(hook)


def _repair(path: Path, options: dict[str, Any], optimizer_lr: bool) -> RepairResult | None:
    try:
        return repair_path(path, latest=False, optimizer_lr=optimizer_lr, **options)
    except CkptfixError:
        return None  # the check that follows names what is wrong
