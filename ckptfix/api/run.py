"""``ckptfix.check`` and ``ckptfix.repair``: the CLI's pipelines, returning typed results.

The same analysis and repair as ``ckptfix inspect`` / ``ckptfix repair``, with the same options (the one
record, ``analysis/options.py``: by keyword, ``lr_end=1e-6``, or whole, ``options=Options(...)``) and the
same contract: with ``latest`` (the default) a folder that does not exist yet is a run before its first
checkpoint, "nothing to resume" (exit code 4, ``result.launch``), not an error. Results hold exactly what
their ``--json`` document holds (``results.py``). Nothing is printed.
"""

from __future__ import annotations

import os
from inspect import Parameter
from pathlib import Path
from typing import Any, Callable, TypeVar

from ckptfix.analysis.options import Options, with_option_parameters
from ckptfix.analysis.run import inspect_path, worst_exit
from ckptfix.api.results import CheckResult, RepairResult, check_result, repair_result
from ckptfix.errors import PathMissing
from ckptfix.exitcodes import NOTHING_TO_RESUME
from ckptfix.model.checkpoint import Discovery
from ckptfix.repair.run import RepairOutcome, repair_path

__all__ = ["check", "nothing_to_resume", "options_of", "repair", "with_option_keywords"]

F = TypeVar("F", bound=Callable[..., Any])


def options_of(command: str, who: str, options: Options | None, flags: dict[str, Any]) -> Options:
    """``options`` (default: none stated) with the keyword ``flags`` set; ``TypeError`` for a keyword that is no
    option of ``command`` (``"inspect"`` or ``"repair"``), naming the function ``who``."""
    return (options or Options()).with_flags(command, who, **flags)


def with_option_keywords(command: str) -> Callable[[F], F]:
    """The function's ``**flags`` shown as one keyword parameter per option of ``command`` (``help()``,
    ``inspect.signature``): the signature is derived from the record, never written by hand."""

    return with_option_parameters(command, lambda s: Parameter(
        s.name, Parameter.KEYWORD_ONLY, default=s.default,
        annotation=f"{s.type.__name__} | None" if s.default is None else s.type.__name__))


def nothing_to_resume(path: str | os.PathLike[str], exc: PathMissing) -> Discovery:
    """The discovery of an output folder that does not exist yet: a run before its first checkpoint."""
    return Discovery(Path(path), (), latest_reason=f"nothing to resume: {exc}")


@with_option_keywords("inspect")
def check(path: str | os.PathLike[str], latest: bool = True, *, jobs: int = 1, options: Options | None = None,
          **flags: Any) -> CheckResult:
    """Check the scheduler state of the checkpoint(s) under ``path``; write nothing (``ckptfix inspect``).

    ``path`` is a ``checkpoint-N`` folder or a run's output folder. ``latest`` (the default) checks only
    the checkpoint a resume would pick; ``latest=False`` checks every one. The options are the CLI's flags
    (``lr_end=1e-6`` is ``--lr-end 1e-6``; ``trainer="simpletuner==3.1.6"``, ``target="simpletuner-sine-v2"``):
    what the run was launched with, ``None`` when not known; or ``options=ckptfix.Options(...)``.

    ``result.exit_code`` is the gate's: 0 consistent, 1 findings, 3 unreadable, 4 nothing to resume (no
    checkpoint yet; with ``latest``, also a folder that does not exist yet). ``result.launch``: launch the
    training (0 or 4); ``result.ok``: every checked checkpoint is consistent (0). Raises
    ``ckptfix.UsageError`` when ``path`` is a file, or does not exist and ``latest`` is False; an unreadable or
    hostile file is a finding, not an error."""
    opts = options_of("inspect", "check", options, flags)
    try:
        disc, reports = inspect_path(Path(path), opts, latest_only=latest, jobs=jobs)
    except PathMissing as exc:
        if not latest:
            raise
        disc, reports = nothing_to_resume(path, exc), []
    return check_result(disc, reports, worst_exit(reports), "inspect", target=path, latest=latest, opts=opts)


@with_option_keywords("repair")
def repair(path: str | os.PathLike[str], latest: bool = True, *, dry_run: bool = False,
           options: Options | None = None, **flags: Any) -> RepairResult:
    """Repair the scheduler state of the checkpoint(s) under ``path``, as ``ckptfix repair`` does.

    Plans, applies (backup in ``<checkpoint>/.ckptfix/``, atomic replace, verified; ``dry_run``: plan
    only) and analyses again. The options are ``check``'s, plus ``recreate`` and ``optimizer_lr``
    (``--recreate``, ``--optimizer-lr``). ``result.exit_code`` is the CLI's: 0 repaired or nothing to do, 1
    something remains (``result.checkpoints[i].refusals`` say why), 3 an unreadable file was refused, 4
    nothing to resume (as ``check``). Raises ``ckptfix.UsageError`` for a bad ``path``. Undo with
    ``ckptfix restore``."""
    opts = options_of("repair", "repair", options, flags)
    try:
        outcome = repair_path(Path(path), opts, latest_only=latest, dry_run=dry_run)
    except PathMissing as exc:
        if not latest:
            raise
        outcome = RepairOutcome(nothing_to_resume(path, exc), (), dry_run, NOTHING_TO_RESUME)
    return repair_result(outcome)
