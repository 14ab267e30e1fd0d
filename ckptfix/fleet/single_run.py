"""The one place the fleet calls the single-run pipelines, and builds each run's JSON from their documents.

Each function takes a ``Run`` and returns its *run record*: a plain JSON object (what a line of
``--jsonl`` holds, docs/fleet.md) with the run's exit code, its per-checkpoint words counted (``verdicts``:
inspect's verdicts, repair's statuses), the command to run next and the run's own ``--json`` document
(``document``: exactly what ``ckptfix inspect RUN --json`` would print). Records are small and picklable:
a worker process sends them back, and nothing of a run's decoded state outlives its record.

A run's own problem never stops the others: a run that cannot be listed (or vanished since the walk) is
``unreadable`` (3), and a bug while reading one is reported in its record (5), the scan going on.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ckptfix.analysis.options import Options
from ckptfix.analysis.run import inspect_path, worst_exit
from ckptfix.api.fleet_results import FleetRun
from ckptfix.api.results import check_result, error_result, repair_result
from ckptfix.errors import PathMissing, StorageUnreadable, UsageError
from ckptfix.exitcodes import INTERNAL, NOTHING_TO_RESUME, UNREADABLE, status_of
from ckptfix.fleet.runs import Run
from ckptfix.formats.source import Store

__all__ = ["error_record", "inspect_run", "list_run", "repair_run", "run_record"]


def run_record(run: Run, exit_code: int, verdicts: Counter[str], document: dict[str, Any],
               next_command: str | None = None) -> dict[str, Any]:
    """A run's record: ``FleetRun`` (``api/fleet_results.py``) as JSON, its ``document`` the single-run one."""
    return FleetRun(record="run", root=run.root, run=run.rel, path=str(run.path), exit_code=exit_code,
                    status=status_of(exit_code), checkpoints=sum(verdicts.values()),
                    verdicts=dict(sorted(verdicts.items())), next=next_command,
                    document=document).to_json()  # document: the single-run JSON already


def error_record(run: Run, command: str, exit_code: int, message: str) -> dict[str, Any]:
    """The record of a run that could not be read at all (``document``: the ``--json`` error document)."""
    return run_record(run, exit_code, Counter(), error_result(command, exit_code, message).to_json())


def _failed(run: Run, command: str, exc: Exception) -> dict[str, Any]:
    if isinstance(exc, PathMissing):
        return error_record(run, command, NOTHING_TO_RESUME, f"nothing to resume: {exc}")
    if isinstance(exc, (UsageError, StorageUnreadable)):
        return error_record(run, command, UNREADABLE, str(exc))
    what = f"{type(exc).__name__}: {exc}"[:300]
    return error_record(run, command, INTERNAL, f"ckptfix {command}: internal error ({what}). This is a bug in "
                        f"ckptfix, not in your checkpoint; please report it with `ckptfix --debug {command} {run.path}`")


def inspect_run(run: Run, store: Store, opts: Options, latest_only: bool) -> dict[str, Any]:
    """``ckptfix inspect RUN [--latest] --json`` as a run record."""
    try:
        disc, reports = inspect_path(run.path, opts, latest_only=latest_only, jobs=1, store=store)
    except Exception as exc:  # noqa: BLE001 - one run's problem is reported in its record; the others go on
        return _failed(run, "inspect", exc)
    code = worst_exit(reports)
    result = check_result(disc, reports, code, "inspect", target=str(run.path), latest=latest_only, opts=opts)
    return run_record(run, code, Counter(r.verdict for r in reports), result.to_json(),
                      result.next.command if result.next is not None else None)


def list_run(run: Run, store: object = None, latest_only: bool = False) -> dict[str, Any]:
    """``ckptfix restore RUN --list --json`` as a run record (``verdicts``: checkpoints with and without backups;
    ``store``: restore reads the local disk only)."""
    from ckptfix.api.restore_results import list_result  # noqa: PLC0415 - inspect never imports restore
    from ckptfix.repair.restore import list_path  # noqa: PLC0415 - inspect never imports restore

    outcome = list_path(Path(run.path), latest_only=latest_only)
    kinds = Counter("unreadable" if i.exit_code else "backups" if i.backups else "no-backup" for i in outcome.items)
    return run_record(run, outcome.exit_code, kinds, list_result(outcome).to_json())


def repair_run(run: Run, store: Store, opts: Options, latest_only: bool, dry_run: bool) -> dict[str, Any]:
    """``ckptfix repair RUN [--latest] --json`` as a run record (``verdicts``: each checkpoint's status)."""
    from ckptfix.repair.run import repair_path  # noqa: PLC0415 - inspect never imports the repair pipeline

    try:
        outcome = repair_path(run.path, opts, latest_only=latest_only, dry_run=dry_run, store=store)
    except Exception as exc:  # noqa: BLE001 - one run's problem is reported in its record; the others go on
        return _failed(run, "repair", exc)
    return run_record(run, outcome.exit_code, Counter(i.result.status for i in outcome.items),
                      repair_result(outcome).to_json())
