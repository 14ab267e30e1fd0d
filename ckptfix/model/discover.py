"""Find checkpoint folders under PATH, and the one a resume would pick ("latest").

SimpleTuner picks the highest N among entries starting with ``checkpoint`` and not ending in
``tmp``; folders still being written end in ``-tmp`` and are never read for a verdict.
"""

from __future__ import annotations

import re
from typing import Any

from ckptfix.errors import PathMissing, UsageError
from ckptfix.formats.source import LOCAL, Store
from ckptfix.model.checkpoint import Discovery, Skipped

__all__ = ["checkpoint_number", "discover", "is_in_progress", "targets"]

_CKPT = re.compile(r"^checkpoint-(\d+)(?:-.+)?$")
_MARKERS = ("scheduler.bin", "optimizer.bin", "training_state.json", ".guard", "random_states_0.pkl")


def checkpoint_number(name: str) -> int | None:
    m = _CKPT.match(name)
    return int(m.group(1)) if m else None


def is_in_progress(name: str) -> bool:
    return name.endswith("tmp")


def _looks_like_checkpoint(store: Store, path: Any, names: set[str]) -> bool:
    return checkpoint_number(path.name) is not None or any(m in names for m in _MARKERS)


def discover(path: Any, store: Store = LOCAL) -> Discovery:
    """What PATH holds: one checkpoint folder, or an output folder of them (possibly none yet: an empty
    folder, or only ``-tmp`` ones). ``PathMissing`` when nothing is there, ``UsageError`` for a file."""
    path = store.path(path)
    kind = store.kind(path)
    if kind is None:
        raise PathMissing(f"{path}: no such file or directory")
    if kind != "dir":
        raise UsageError(f"{path}: not a folder (give a checkpoint-N folder or a run's output folder)")
    try:
        entries = store.list(path)
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot list: {exc.strerror or exc}") from None
    if _looks_like_checkpoint(store, path, {e.name for e in entries}):
        if is_in_progress(path.name):
            skipped = (Skipped(path, "being written (-tmp): not read"),)
            return Discovery(path, (), skipped, None, is_single=True)
        return Discovery(path, (path,), (), path, is_single=True)

    found: list[tuple[int, str, Any]] = []
    skipped: list[Skipped] = []
    for e in entries:
        if not e.name.startswith("checkpoint"):
            continue
        child = path / e.name
        if not (e.is_dir or store.kind(child) == "dir"):
            continue
        n = checkpoint_number(e.name)
        if is_in_progress(e.name):
            skipped.append(Skipped(child, "being written (-tmp): not read"))
        elif n is None:
            skipped.append(Skipped(child, "name is not checkpoint-<N>[-suffix]"))
        else:
            found.append((n, e.name, child))
    found.sort()
    ordered = tuple(p for _, _, p in found)
    return Discovery(path, ordered, tuple(skipped), ordered[-1] if ordered else None)


def targets(disc: Discovery, latest_only: bool) -> tuple[Any, ...]:
    """The checkpoints a command works on: all of them (oldest first), or only the latest."""
    if latest_only:
        return (disc.latest,) if disc.latest is not None else ()
    return disc.checkpoints
