"""``ckptfix.check`` and ``ckptfix.repair``: the CLI's pipelines, returning typed results.

The same analysis and repair as ``ckptfix inspect`` / ``ckptfix repair``, with the same options, and
results holding exactly what their ``--json`` document holds (``results.py``). Nothing is printed.
"""

from __future__ import annotations

import os
from pathlib import Path

from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_path, worst_exit
from ckptfix.api.results import CheckResult, RepairResult, check_result, repair_result
from ckptfix.repair.run import repair_path

__all__ = ["check", "repair"]


def check(
    path: str | os.PathLike[str],
    latest: bool = True,
    *,
    num_processes: int | None = None,
    step: int | None = None,
    learning_rate: float | None = None,
    lr_end: float | None = None,
    lr_warmup_steps: int | None = None,
    t_mult: int | None = None,
    strict: bool = False,
    jobs: int = 1,
    trainer: str | None = None,
    target: str = "sine",
) -> CheckResult:
    """Check the scheduler state of the checkpoint(s) under ``path``; write nothing.

    ``path`` is a ``checkpoint-N`` folder or a run's output folder. ``latest`` (the default) checks only
    the checkpoint a resume would pick; ``latest=False`` checks every one. The keyword options are the
    CLI's flags (``--num-processes`` ...): what the run was launched with, ``None`` when not known;
    ``trainer`` (``"simpletuner==3.1.6"``) and ``target`` (``"simpletuner-sine-v2"``) are ``--trainer`` and
    ``--target``. ``result.exit_code`` is the gate's exit code (``result.ok``: 0). Raises ``ckptfix.UsageError`` when
    ``path`` is not a checkpoint or output folder; an unreadable or hostile file is a finding, not an error.
    """
    opts = Options(num_processes=num_processes, step=step, learning_rate=learning_rate, lr_end=lr_end,
                   lr_warmup_steps=lr_warmup_steps, t_mult=t_mult, strict=strict, trainer=trainer, target=target)
    disc, reports = inspect_path(Path(path), opts, latest_only=latest, jobs=jobs)
    return check_result(disc, reports, worst_exit(reports), "inspect", target=path, latest=latest, opts=opts)


def repair(
    path: str | os.PathLike[str],
    latest: bool = True,
    *,
    dry_run: bool = False,
    num_processes: int | None = None,
    step: int | None = None,
    learning_rate: float | None = None,
    lr_end: float | None = None,
    lr_warmup_steps: int | None = None,
    t_mult: int | None = None,
    recreate: bool = False,
    optimizer_lr: bool = False,
    trainer: str | None = None,
    target: str = "sine",
) -> RepairResult:
    """Repair the scheduler state of the checkpoint(s) under ``path``, as ``ckptfix repair`` does.

    Plans, applies (backup in ``<checkpoint>/.ckptfix/``, atomic replace, verified; ``dry_run``: plan
    only) and analyses again. ``result.exit_code`` is the CLI's: 0 repaired or nothing to do, 1 something
    remains (``result.checkpoints[i].refusals`` say why), 3 an unreadable file was refused. Raises
    ``ckptfix.UsageError`` for a bad ``path``. Undo with ``ckptfix restore``.
    """
    opts = Options(num_processes=num_processes, step=step, learning_rate=learning_rate, lr_end=lr_end,
                   lr_warmup_steps=lr_warmup_steps, t_mult=t_mult, trainer=trainer, target=target)
    outcome = repair_path(Path(path), opts, latest_only=latest, dry_run=dry_run, recreate=recreate,
                          optimizer_lr=optimizer_lr)
    return repair_result(outcome)
