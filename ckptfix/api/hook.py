"""A guard for training scripts: check the checkpoint ``accelerator.load_state()`` is about to read.

``guard_load_state(accelerator)`` registers a hook with accelerate's
``Accelerator.register_load_state_pre_hook``. accelerate calls it inside ``load_state`` with the
folder it resolved (the one given, or the latest ``checkpoints/checkpoint_<i>`` with automatic naming)
after choosing what to load and before ``load_accelerator_state`` reads the model, optimizer and
scheduler files. The hook runs ``ckptfix.check`` on that folder and raises ``CheckpointRefused``
(naming the findings and the command that fixes them) when the gate would fail, so a wrong learning
rate is never loaded; with ``repair=True`` it first runs ``ckptfix.repair`` (on the main process only;
the others wait) and refuses only what remains. It takes every option the CLI takes (the record of
``analysis/options.py``), and says what it repaired through ``logging`` (the ``ckptfix`` logger).

Under DeepSpeed and FSDP accelerate loads the model (and DeepSpeed its optimizer) *before* calling
pre-hooks; the scheduler and the rest are still loaded after. accelerate is not imported here: the hook
only needs the ``accelerator`` object it is given.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ckptfix.analysis.options import Options
from ckptfix.api.next_steps import quote, repair_words
from ckptfix.api.results import CheckResult, FindingResult, RepairResult
from ckptfix.api.run import check, options_of, with_option_keywords
from ckptfix.api.run import repair as repair_path
from ckptfix.errors import CkptfixError

__all__ = ["LOGGER", "CheckpointRefused", "guard_load_state"]

#: Where the hook says what it repaired (INFO), what a repair could not fix (WARNING) and what it passed (DEBUG).
LOGGER = logging.getLogger("ckptfix")


class CheckpointRefused(CkptfixError):
    """``load_state`` was stopped before reading a checkpoint whose scheduler state ckptfix would not pass.

    ``result`` is the check of that checkpoint (``CheckResult``), ``repair`` the repair tried first
    (``RepairResult``, with ``guard_load_state(..., repair=True)``), ``findings`` what is wrong."""

    def __init__(self, message: str, result: CheckResult, repair: RepairResult | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.repair = repair
        self.findings: tuple[FindingResult, ...] = result.findings


def _command(path: Path, opts: Options) -> str:
    return " ".join(repair_words(path, False, opts))


def _message(path: Path, result: CheckResult, repaired: RepairResult | None, opts: Options) -> str:
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
        lines.append(f"  then: {_command(path, opts)} --dry-run, or guard_load_state(accelerator, repair=True)")
    return "\n".join(lines)


def _log_repair(path: Path, repaired: RepairResult) -> None:
    """What the repair did, through ``logging``: each change and the backup (INFO), what it refused (WARNING)."""
    for ck in repaired.checkpoints:
        if ck.status == "applied":
            changes = "; ".join(f"{c.file.rsplit('/', 1)[-1]} {c.key}: {'(none)' if c.old_absent else repr(c.old)} -> "
                                f"{'(dropped)' if c.new_absent else repr(c.new)}" for c in ck.changes)
            LOGGER.info("ckptfix repaired %s before load_state: %s; backup in %s (undo: ckptfix restore %s)",
                        ck.path, changes, ck.backup, quote(ck.path))
        elif ck.refusals or ck.error:
            why = "; ".join(dict.fromkeys([r.reason for r in ck.refusals] + ([ck.error] if ck.error else [])))
            LOGGER.warning("ckptfix could not repair %s (%s): %s", ck.path, ck.status, why)
        else:
            LOGGER.debug("ckptfix: nothing to repair in %s", ck.path)


@with_option_keywords("repair")
def guard_load_state(accelerator: Any, *, repair: bool = False, options: Options | None = None, **flags: Any) -> Any:
    """Check (with ``repair=True``: repair, then check) every checkpoint ``accelerator.load_state()`` loads.

    The options are ``ckptfix repair``'s flags as keywords (``lr_end=1e-6``, ``trainer="simpletuner"``,
    ``target=...``, ``strict``, ``optimizer_lr``, ``recreate``; or ``options=ckptfix.Options(...)``): what the
    run was launched with (``None``: not stated; ckptfix then uses the evidence in the checkpoint). The check
    uses the analysis options, the repair all of them. What a repair changed is logged (the ``ckptfix`` logger,
    INFO; what it could not fix, WARNING). Returns accelerate's handle (``handle.remove()`` unregisters).
    Raises ``CheckpointRefused`` from ``load_state`` when the checkpoint does not pass."""
    opts = options_of("repair", "guard_load_state", options, flags)
    do_repair = repair

    def hook(models: list[Any], input_dir: str | os.PathLike[str]) -> None:
        path = Path(input_dir)
        repaired: RepairResult | None = None
        if do_repair:
            try:
                if getattr(accelerator, "is_main_process", True):
                    repaired = _repair(path, opts)
            finally:  # never leave the other processes waiting
                wait = getattr(accelerator, "wait_for_everyone", None)
                if wait is not None:
                    wait()  # the other processes read only what the main process has finished writing
        result = check(path, latest=False, options=opts)
        if result.exit_code != 0:
            raise CheckpointRefused(_message(path, result, repaired, opts), result, repaired)
        LOGGER.debug("ckptfix: %s passes (exit 0): load_state goes on", path)

    return accelerator.register_load_state_pre_hook(hook)


def _repair(path: Path, opts: Options) -> RepairResult | None:
    try:
        repaired = repair_path(path, latest=False, options=opts)
    except CkptfixError as exc:
        LOGGER.warning("ckptfix could not repair %s: %s", path, exc)
        return None  # the check that follows names what is wrong
    _log_repair(path, repaired)
    return repaired
