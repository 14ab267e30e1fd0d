"""Discover → load → analyse: the whole read-only pipeline for one PATH."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.findings import Finding, make_finding
from ckptfix.analysis.options import Options
from ckptfix.analysis.report import CheckpointReport, RunFacts
from ckptfix.analysis.schedule_options import check_schedule_options
from ckptfix.analysis.trainer_rules import check_trainer_option
from ckptfix.exitcodes import NOTHING_TO_RESUME, worst
from ckptfix.formats.source import LOCAL, Store
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.discover import discover, targets
from ckptfix.model.load import load_checkpoint
from ckptfix.model.trainers import TRAINERS, installed_version, trainer_of
from ckptfix.records import Record, replace

__all__ = [
    "POOL_MIN_CHECKPOINTS", "SIBLINGS_READ", "Analysis", "analyse_again", "analyse_path", "default_jobs",
    "discover_for", "discovery_findings", "inspect_one", "inspect_path", "installed_trainers", "prepare_options",
    "release_matters", "settle_processes", "with_installed_release", "worst_exit",
]

# Below this many checkpoints a worker pool costs more (fork + result transfer) than it saves.
POOL_MIN_CHECKPOINTS = 8


def worst_exit(reports: list[CheckpointReport]) -> int:
    """The worst exit code of the reports (3 > 1 > 0); no checkpoint at all is "nothing to resume" (4)."""
    return worst((r.exit_code for r in reports), NOTHING_TO_RESUME)


def default_jobs() -> int:
    return min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def prepare_options(opts: Options) -> Options:
    """Check ``--trainer`` / ``--target`` and the schedule options (``UsageError``) before any file is read."""
    check_trainer_option(opts)
    check_schedule_options(opts)
    return opts


def installed_trainers() -> tuple[tuple[str, str], ...]:
    """(distribution, version) of the trainers with several modelled release ranges installed here."""
    return tuple((t.package, v) for t in TRAINERS if t.package and len(t.rules) > 1
                 and (v := installed_version(t.package)) is not None)


def release_matters(report: CheckpointReport) -> bool:
    """Whether the modelled releases disagree on this checkpoint (their resume previews differ) or N is
    unknown (a release that saves on every rank would settle it): then the installed release is worth
    looking up."""
    if report.trainer is None or len(report.trainer.rules) < 2:
        return False
    outcomes = {(p.first_wrong, p.scheduler_wrong) for p in report.resume}
    return len(outcomes) > 1 or report.num_processes is None


def analyse_again(report: CheckpointReport, opts: Options, facts: RunFacts,
                  disc: Discovery | None = None) -> CheckpointReport:
    """The checkpoint of ``report``, as read already, analysed again with what the pipeline learned since."""
    return _with_discovery(analyse(report.checkpoint, opts, facts), disc)


def with_installed_release(reports: list[CheckpointReport], opts: Options, facts: RunFacts = RunFacts(),
                           disc: Discovery | None = None) -> tuple[list[CheckpointReport], RunFacts]:
    """Reports on which the releases disagree, analysed again (never read again) with the release installed
    here (when there is one and ``--trainer`` was not given). The lookup (importlib.metadata: ~30 ms of imports)
    is made only then."""
    if opts.trainer is not None or facts.installed is not None or not any(release_matters(r) for r in reports):
        return reports, facts
    found = replace(facts, installed=installed_trainers())
    if not found.installed:
        return reports, found
    return [analyse_again(r, opts, found, disc) if release_matters(r) else r for r in reports], found


def discover_for(path: Path, opts: Options, store: Store = LOCAL) -> Discovery:
    """``discover`` with the latest rule of ``--trainer`` when given."""
    return discover(path, store, trainer_of(opts.trainer))


def discovery_findings(disc: Discovery, path: Path) -> list[Finding]:
    """What discovery says about the checkpoint at ``path`` as a resume target: the trainer's latest rule
    fails (CKF113) or leaves the choice to ``os.listdir`` order (CKF112, info)."""
    if path not in disc.picks or disc.is_single:
        return []
    if disc.latest_issue:
        return [make_finding("CKF113", disc.root, None, None, None,
                             f"{disc.trainer}: {disc.latest_issue}. {path.name} is what the rule would pick "
                             "otherwise")]
    if disc.latest_tie:
        return [make_finding("CKF112", path, None, [p.name for p in disc.picks], None, disc.latest_reason)]
    return []


def _with_discovery(report: CheckpointReport, disc: Discovery | None) -> CheckpointReport:
    extra = discovery_findings(disc, report.checkpoint.path) if disc is not None else []
    return replace(report, findings=report.findings + tuple(extra)) if extra else report


def inspect_one(path: Path, opts: Options, store: Store = LOCAL, disc: Discovery | None = None,
                facts: RunFacts = RunFacts()) -> CheckpointReport:
    """Read the checkpoint at ``path`` (once) and analyse it."""
    return _with_discovery(analyse(load_checkpoint(path, store=store), opts, facts), disc)


class Analysis(Record):
    """What the read-only pipeline gives for one PATH: the discovery, a report per checkpoint (oldest first),
    and what it learned on the way (``RunFacts``: repair analyses its result again with them)."""

    disc: Discovery
    reports: tuple[CheckpointReport, ...]
    facts: RunFacts


def analyse_path(
    path: Path,
    opts: Options = Options(),
    *,
    latest_only: bool = False,
    progress: Callable[[Path], None] | None = None,
    jobs: int = 1,
    store: Store = LOCAL,
    facts: RunFacts = RunFacts(),
    disc: Discovery | None = None,
) -> Analysis:
    """Discover → read each checkpoint once → analyse, as often as the pipeline learns something that changes
    a verdict: the installed release of the trainer, N from the other checkpoints (``settle_processes``).

    With ``jobs > 1`` and at least POOL_MIN_CHECKPOINTS checkpoints, forked workers share the decoding
    (CPU-bound pure Python); results come back in order. Reports are plain data. ``disc``: PATH's discovery
    under ``opts``, when the caller has made it already (the CLI, telling a run from a root of runs)."""
    opts = prepare_options(opts)
    if disc is None:
        disc = discover_for(path, opts, store)
    todo = list(targets(disc, latest_only))
    reports = []
    for ck_path, report in zip(todo, _run(todo, opts, jobs, store, disc, facts)):
        if progress:
            progress(ck_path)
        reports.append(report)
    reports, facts = with_installed_release(reports, opts, facts, disc)
    return Analysis(disc, tuple(settle_processes(reports, disc, opts, store, facts)), facts)


def inspect_path(
    path: Path,
    opts: Options = Options(),
    latest_only: bool = False,
    progress: Callable[[Path], None] | None = None,
    jobs: int = 1,
    store: Store = LOCAL,
    disc: Discovery | None = None,
) -> tuple[Discovery, list[CheckpointReport]]:
    """Analyse every checkpoint under ``path`` (or only the latest), oldest first: ``analyse_path``'s
    discovery and reports."""
    done = analyse_path(path, opts, latest_only=latest_only, progress=progress, jobs=jobs, store=store, disc=disc)
    return done.disc, list(done.reports)


#: Other checkpoints read at most to learn N for one whose own files do not tell it.
SIBLINGS_READ = 3


def settle_processes(reports: list[CheckpointReport], disc: Discovery, opts: Options,
                     store: Store = LOCAL, facts: RunFacts = RunFacts()) -> list[CheckpointReport]:
    """Reports whose N is unknown, analysed again (not read again) with the N every other checkpoint of the
    output folder established from its own evidence (when they agree). Without checkpoints in ``reports`` that
    know N (``--latest``), up to ``SIBLINGS_READ`` of the newest others are read for it."""
    unknown = [r for r in reports if r.num_processes is None]
    if not unknown or disc.is_single or opts.num_processes is not None:
        return reports
    known = {r.checkpoint.path: r for r in reports if r.num_processes is not None}
    if not known:
        done = {r.checkpoint.path for r in reports}
        for path in [p for p in reversed(disc.checkpoints) if p not in done][:SIBLINGS_READ]:
            r = inspect_one(path, opts, store, facts=facts)
            if r.num_processes is not None:
                known[path] = r
    values = {r.num_processes for r in known.values()}
    if len(values) != 1:
        return reports
    n = values.pop()
    assert n is not None
    which = ", ".join(f"{p.name}: {r.num_processes_source}" for p, r in list(known.items())[:2])
    again = replace(facts, run_processes=(n, which))
    return [analyse_again(r, opts, again, disc) if r.num_processes is None else r for r in reports]


def _run(paths: list[Path], opts: Options, jobs: int, store: Store, disc: Discovery,
         facts: RunFacts) -> Iterator[CheckpointReport]:
    one = partial(inspect_one, opts=opts, store=store, disc=disc, facts=facts)
    if store.remote:  # fetched together, their reads sharing round trips (threads, not forked workers)
        from ckptfix.formats.prefetch import TORCH_READS  # noqa: PLC0415 - object storage only

        yield from store.load_together(paths, one, TORCH_READS)
        return
    if jobs <= 1 or len(paths) < POOL_MIN_CHECKPOINTS:
        yield from (one(p) for p in paths)
        return
    import multiprocessing  # noqa: PLC0415 - only for large folders: 5 ms of imports the single-checkpoint gate skips

    if "fork" not in multiprocessing.get_all_start_methods():  # workers inherit the imported modules
        yield from (one(p) for p in paths)
        return
    chunk = max(1, len(paths) // (jobs * 4))
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(one, paths, chunksize=chunk)
