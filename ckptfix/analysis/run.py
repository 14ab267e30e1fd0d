"""Discover → load → analyse: the whole read-only pipeline for one PATH."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.report import CheckpointReport, Options
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.discover import discover
from ckptfix.model.load import load_checkpoint


def worst_exit(reports: list[CheckpointReport]) -> int:
    return max((r.exit_code for r in reports), default=0)


def inspect_path(
    path: Path,
    opts: Options = Options(),
    latest_only: bool = False,
    progress: Callable[[Path], None] | None = None,
) -> tuple[Discovery, list[CheckpointReport]]:
    disc = discover(path)
    targets = disc.checkpoints
    if latest_only:
        targets = (disc.latest,) if disc.latest else ()
    reports = []
    for ck_path in targets:
        if progress:
            progress(ck_path)
        reports.append(analyse(load_checkpoint(ck_path), opts))
    return disc, reports
