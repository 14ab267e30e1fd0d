"""Runs under a root: every folder, to a depth, whose checkpoints a trainer model recognises.

A *run* is an output folder the single-run pipeline reads (``holds_run`` decides, with the trainers' own
discovery): it holds ``checkpoint-N`` folders, kohya state folders, accelerate's
``checkpoints/checkpoint_<i>``, only ``-tmp`` folders (a run with nothing to resume yet), or it is a
checkpoint folder itself. The walk never enters a run, a hidden folder (``.ckptfix/``, ``.git/``) or a
symbolic link to a folder, and goes at most ``depth`` levels below the root (the root is level 0).

Runs are named by their path relative to the root (``.`` for the root itself), in sorted order: the same
on every machine that lists the same tree, which is what ``--shard`` and ``merge`` rely on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ckptfix.errors import UsageError
from ckptfix.formats.source import Store
from ckptfix.model.checkpoint import Discovery
from ckptfix.model.discover import discover
from ckptfix.model.trainers import TrainerModel
from ckptfix.records import Record

__all__ = ["DEFAULT_DEPTH", "Run", "find_runs", "holds_run", "is_root_of_runs", "run_discovery", "runs_digest"]

#: How many levels below a root a run may lie (``--depth``): ``root/project/run`` is level 2.
DEFAULT_DEPTH = 3


class Run(Record):
    """One run: the root it was found under (as the user gave it), its path relative to the root, and the
    store's path of it."""

    root: str
    rel: str
    path: Any

    @property
    def key(self) -> str:
        """What ``--shard`` hashes and ``merge`` orders by: the path relative to the root (POSIX)."""
        return self.rel


def _child(path: Any, rel: str, name: str) -> tuple[Any, str]:
    return path / name, name if rel == "." else f"{rel}/{name}"


def find_runs(store: Store, root: str, path: Any, depth: int, holds_run: Callable[[Any], bool]) -> Iterator[Run]:
    """The runs at or below ``path`` (``root`` is how the user named it), sorted by their relative path.
    A folder that cannot be listed is left out (the single-run pipeline reports a run's own problems)."""
    pending: list[tuple[Any, str, int]] = [(path, ".", 0)]
    found: list[Run] = []
    while pending:
        folder, rel, level = pending.pop()
        if holds_run(folder):
            found.append(Run(root, rel, folder))
            continue
        if level >= depth:
            continue
        try:
            entries = store.list(folder)
        except OSError:
            continue
        for e in entries:
            if e.is_dir and not e.name.startswith("."):
                child, child_rel = _child(folder, rel, e.name)
                pending.append((child, child_rel, level + 1))
    found.sort(key=lambda r: r.rel)
    yield from found


def run_discovery(store: Store, path: Any, trainer: TrainerModel | None = None) -> Discovery | None:
    """The single-run pipeline's discovery of ``path`` (``model/discover.py``, with ``trainer``'s latest rule when
    given) when it finds a run there: checkpoints a trainer model recognises, ``-tmp`` ones only (nothing to
    resume yet), or a checkpoint folder itself; None otherwise."""
    try:
        disc = discover(path, store, trainer)
    except (UsageError, OSError):
        return None
    return disc if disc.checkpoints or disc.skipped or disc.is_single else None


def holds_run(store: Store, path: Any) -> bool:
    """Whether the single-run pipeline finds a run at ``path`` (``run_discovery``)."""
    return run_discovery(store, path) is not None


def is_root_of_runs(store: Store, path: Any, depth: int) -> bool:
    """Whether PATH is no run itself but holds runs below it (then ``inspect PATH`` checks them all)."""
    if holds_run(store, path):
        return False
    return next(find_runs(store, str(path), path, depth, lambda p: holds_run(store, p)), None) is not None


def runs_digest(keys: Iterable[str]) -> str:
    """A fingerprint of the runs found (SHA-256 of their sorted keys): shards that saw the same tree agree."""
    import hashlib  # noqa: PLC0415 - 2.6 ms of OpenSSL for the one-PATH gate, which never shards

    h = hashlib.sha256()
    for k in sorted(keys):
        h.update(k.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()
