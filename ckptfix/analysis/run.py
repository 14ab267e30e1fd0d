"""Discover → load → analyse: the whole read-only pipeline for one PATH."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.report import CheckpointReport, Options
from ckptfix.exitcodes import NOTHING_TO_RESUME
from ckptfix.formats.source import LOCAL, Store
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.discover import discover, targets
from ckptfix.model.load import load_checkpoint

__all__ = ["POOL_MIN_CHECKPOINTS", "default_jobs", "inspect_one", "inspect_path", "worst_exit"]

# Below this many checkpoints a worker pool costs more (fork + result transfer) than it saves.
POOL_MIN_CHECKPOINTS = 8


def worst_exit(reports: list[CheckpointReport]) -> int:
    """The worst exit code of the reports (3 > 1 > 0); no checkpoint at all is "nothing to resume" (4)."""
    return max((r.exit_code for r in reports), default=NOTHING_TO_RESUME)


def default_jobs() -> int:
    return min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def inspect_one(path: Path, opts: Options, store: Store = LOCAL) -> CheckpointReport:
    return analyse(load_checkpoint(path, store=store), opts)


def inspect_path(
    path: Path,
    opts: Options = Options(),
    latest_only: bool = False,
    progress: Callable[[Path], None] | None = None,
    jobs: int = 1,
    store: Store = LOCAL,
) -> tuple[Discovery, list[CheckpointReport]]:
    """Analyse every checkpoint under ``path`` (or only the latest), oldest first.

    With ``jobs > 1`` and at least POOL_MIN_CHECKPOINTS checkpoints, forked workers share the
    decoding (CPU-bound pure Python); results come back in order. Reports are plain data.
    """
    disc = discover(path, store)
    todo = list(targets(disc, latest_only))
    reports = []
    for ck_path, report in zip(todo, _run(todo, opts, jobs, store)):
        if progress:
            progress(ck_path)
        reports.append(report)
    return disc, reports


def _run(paths: list[Path], opts: Options, jobs: int, store: Store) -> Iterator[CheckpointReport]:
    if store.remote:  # fetched together, their reads sharing round trips (threads, not forked workers)
        yield from store.load_together(paths, partial(inspect_one, opts=opts, store=store))
        return
    if jobs <= 1 or len(paths) < POOL_MIN_CHECKPOINTS:
        yield from (inspect_one(p, opts, store) for p in paths)
        return
    import multiprocessing  # noqa: PLC0415 - only for large folders: 5 ms of imports the single-checkpoint gate skips

    if "fork" not in multiprocessing.get_all_start_methods():  # workers inherit the imported modules
        yield from (inspect_one(p, opts, store) for p in paths)
        return
    chunk = max(1, len(paths) // (jobs * 4))
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(partial(inspect_one, opts=opts, store=store), paths, chunksize=chunk)
