"""Runs checked side by side, their records yielded in the runs' order as they finish.

* Local disk: ``jobs`` forked worker processes (decoding is pure Python: one core each), each run read
  whole by one worker (``--jobs``; a run's own checkpoints are not split again).
* Object storage: ``REMOTE_RUNS`` runs at a time in threads of one process, sharing the store (one listing
  per root) and its round trips: the readers of every run in flight join the same batches
  (``formats/source/remote/batch.py``), so each checkpoint costs the rounds it costs alone. A run's fetched
  bytes are released once its record is out (``Store.release``).

Memory stays flat in the number of runs: at most a window of records waits to be yielded in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any

from ckptfix.fleet.runs import Run
from ckptfix.formats.source import Store

__all__ = ["POOL_MIN_RUNS", "REMOTE_RUNS", "check_runs"]

#: Below this many runs, forking workers costs more than it saves.
POOL_MIN_RUNS = 4
#: Runs read at the same time on object storage.
REMOTE_RUNS = 32

Work = Callable[[Run], dict[str, Any]]
Progress = Callable[[int, int, str], None]  # (done, total, the run in flight)

_work: list[Work] = []  # the worker process's function (set once per worker by ``_start``; never in the parent)


def _start(work: Work) -> None:
    _work.append(work)


def _call(run: Run) -> dict[str, Any]:
    return _work[0](run)


def check_runs(runs: Sequence[Run], work: Work, store: Store, jobs: int = 1,
               progress: Progress | None = None, parallel: bool = True) -> Iterator[dict[str, Any]]:
    """``work(run)`` for every run, records yielded in order; ``progress`` called before each run is awaited
    and once at the end. ``parallel=False``: one after the other, in this process."""
    total = len(runs)
    results: Iterator[dict[str, Any]]
    if not parallel:
        results = (work(r) for r in runs)
    elif store.remote:
        results = _threads(runs, work, store)
    elif jobs > 1 and total >= POOL_MIN_RUNS:
        results = _processes(runs, work, jobs)
    else:
        results = (work(r) for r in runs)
    for done, run in enumerate(runs):
        if progress:
            progress(done, total, run.rel)
        yield next(results)
    if progress:
        progress(total, total, "")


def _processes(runs: Sequence[Run], work: Work, jobs: int) -> Iterator[dict[str, Any]]:
    """The first run here (its imports, done once, are inherited by the workers), the others in forked
    workers; ``gc.freeze`` keeps the collector from writing to (and so copying) the pages they share."""
    import gc  # noqa: PLC0415 - only for many local runs
    import multiprocessing  # noqa: PLC0415 - only for many local runs

    yield work(runs[0])
    if "fork" not in multiprocessing.get_all_start_methods():  # workers inherit the imported modules
        yield from (work(r) for r in runs[1:])
        return
    chunk = max(1, min(8, len(runs) // (jobs * 8)))
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(jobs, initializer=_start, initargs=(work,)) as pool:
            yield from pool.imap(_call, runs[1:], chunksize=chunk)
    finally:
        gc.unfreeze()


def _threads(runs: Sequence[Run], work: Work, store: Store) -> Iterator[dict[str, Any]]:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - object storage only

    todo = iter(runs)
    with ThreadPoolExecutor(REMOTE_RUNS, thread_name_prefix="ckptfix-run") as pool:
        pending = deque((r, pool.submit(work, r)) for r in islice(todo, REMOTE_RUNS * 2))
        while pending:
            run, future = pending.popleft()
            record = future.result()
            store.release(run.path)
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(work, nxt)))
            yield record
