"""Find checkpoint folders under PATH, and the one a resume would pick ("latest").

SimpleTuner picks the highest N among entries starting with ``checkpoint`` and not ending in
``tmp``; folders still being written end in ``-tmp`` and are never read for a verdict.
"""

from __future__ import annotations

import re
from pathlib import Path

from ckptfix.errors import UsageError
from ckptfix.model.checkpoint import Discovery, Skipped

_CKPT = re.compile(r"^checkpoint-(\d+)(?:-.+)?$")
_MARKERS = ("scheduler.bin", "optimizer.bin", "training_state.json", ".guard", "random_states_0.pkl")


def checkpoint_number(name: str) -> int | None:
    m = _CKPT.match(name)
    return int(m.group(1)) if m else None


def is_in_progress(name: str) -> bool:
    return name.endswith("tmp")


def looks_like_checkpoint(path: Path) -> bool:
    return checkpoint_number(path.name) is not None or any((path / m).exists() for m in _MARKERS)


def discover(path: Path) -> Discovery:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    if not path.is_dir():
        raise UsageError(f"{path}: not a folder (give a checkpoint-N folder or a run's output folder)")
    if looks_like_checkpoint(path):
        if is_in_progress(path.name):
            skipped = (Skipped(path, "being written (-tmp): not read"),)
            return Discovery(path, (), skipped, None, is_single=True)
        return Discovery(path, (path,), (), path, is_single=True)

    found: list[tuple[int, str, Path]] = []
    skipped: list[Skipped] = []
    try:
        children = sorted(p for p in path.iterdir() if p.name.startswith("checkpoint"))
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None
    for child in children:
        if not child.is_dir():
            continue
        n = checkpoint_number(child.name)
        if is_in_progress(child.name):
            skipped.append(Skipped(child, "being written (-tmp): not read"))
        elif n is None:
            skipped.append(Skipped(child, "name is not checkpoint-<N>[-suffix]"))
        else:
            found.append((n, child.name, child))
    if not found and not skipped:
        raise UsageError(
            f"{path}: neither a checkpoint folder nor an output folder holding checkpoint-N folders"
        )
    found.sort()
    ordered = tuple(p for _, _, p in found)
    return Discovery(path, ordered, tuple(skipped), ordered[-1] if ordered else None)
