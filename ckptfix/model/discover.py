"""Find checkpoint folders under PATH, and the one(s) the trainer's resume would pick ("latest").

Layouts recognised (``model/trainers/`` holds each trainer's names and latest rule):

* ``checkpoint-N[-suffix]`` folders (SimpleTuner, the diffusers scripts, the transformers Trainer);
* kohya sd-scripts' state folders ``<name>-step00000100-state``, ``<name>-000001-state``, ``<name>-state``;
* accelerate's automatic naming: PATH is the project folder holding ``checkpoints/`` or that
  ``checkpoints/`` folder, with ``checkpoint_<i>`` inside.

Folders still being written end in ``tmp`` and are never read for a verdict. "Latest" follows the
trainer that wrote the folder (``--trainer``, else detected from the newest checkpoint folders).
"""

from __future__ import annotations

import re
from typing import Any

from ckptfix.errors import PathMissing, UsageError
from ckptfix.formats.source import LOCAL, Store
from ckptfix.model.checkpoint import Discovery, Skipped
from ckptfix.model.trainers import (
    ACCELERATE,
    AUTO_DIR,
    AUTO_NAME,
    DIFFUSERS,
    KOHYA,
    SIMPLETUNER,
    STATE_NAME,
    TrainerModel,
    detect_trainer,
)
from ckptfix.records import replace

__all__ = ["checkpoint_number", "discover", "is_in_progress", "targets"]

_CKPT = re.compile(r"^checkpoint-(\d+)(?:-.+)?$")
_PLAIN = re.compile(r"^checkpoint-\d+$")
_MARKERS = ("scheduler.bin", "optimizer.bin", "training_state.json", ".guard", "random_states_0.pkl",
            "train_state.json")
#: How many of the newest checkpoint-N folders are listed to tell which trainer wrote an output folder.
_DETECT_NEWEST = 3


def checkpoint_number(name: str) -> int | None:
    m = _CKPT.match(name)
    return int(m.group(1)) if m else None


def is_in_progress(name: str) -> bool:
    return name.endswith("tmp")


def _looks_like_checkpoint(store: Store, path: Any, names: set[str]) -> bool:
    return (checkpoint_number(path.name) is not None or any(m in names for m in _MARKERS)
            or (AUTO_NAME.match(path.name) is not None and path.parent.name == AUTO_DIR))


def _names(store: Store, folder: Any) -> frozenset[str]:
    try:
        return frozenset(e.name for e in store.list(folder))
    except OSError:
        return frozenset()


def _is_dir(store: Store, folder: Any, entry: Any) -> bool:
    return entry.is_dir or store.kind(folder / entry.name) == "dir"


def discover(path: Any, store: Store = LOCAL, trainer: TrainerModel | None = None) -> Discovery:
    """What PATH holds: one checkpoint folder, or an output folder of them (possibly none yet: an empty
    folder, or only ``-tmp`` ones). ``PathMissing`` when nothing is there, ``UsageError`` for a file.

    ``trainer``: whose latest rule to follow (``--trainer``); None = detect it from the folders."""
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
    names = frozenset(e.name for e in entries)
    if _looks_like_checkpoint(store, path, set(names)):
        detected = trainer or detect_trainer(path.name, names, path.parent.name)
        source = "--trainer" if trainer else f"detected from {path.name}"
        if is_in_progress(path.name):
            skipped = (Skipped(path, "being written (-tmp): not read"),)
            return Discovery(path, (), skipped, None, is_single=True, trainer=detected.name, trainer_source=source)
        return Discovery(path, (path,), (), path, is_single=True, trainer=detected.name, trainer_source=source,
                         latest_candidates=(path,), latest_reason="a single checkpoint folder")

    auto_root = _auto_root(store, path, entries)
    if auto_root is not None:
        return _discover_in(store, path, auto_root, store.list(auto_root) if auto_root != path else entries,
                            trainer or ACCELERATE, "--trainer" if trainer else "checkpoints/checkpoint_<i> folders")
    return _discover_in(store, path, path, entries, trainer, "--trainer" if trainer else "")


def _auto_root(store: Store, path: Any, entries: Any) -> Any:
    """The ``checkpoints/`` folder of accelerate's automatic naming, when PATH is it or its project folder
    (and PATH holds no checkpoint-N folder of its own: then ``checkpoints`` is a stray name in a run folder)."""
    if any(AUTO_NAME.match(e.name) for e in entries) and path.name == AUTO_DIR:
        return path
    if any(checkpoint_number(e.name) is not None for e in entries):
        return None
    for e in entries:
        if e.name == AUTO_DIR and _is_dir(store, path, e):
            inner = _names(store, path / AUTO_DIR)
            if any(AUTO_NAME.match(n) for n in inner):
                return path / AUTO_DIR
    return None


def _discover_in(store: Store, root: Any, folder: Any, entries: Any, trainer: TrainerModel | None,
                 trainer_source: str) -> Discovery:
    found: list[tuple[Any, str, Any]] = []
    skipped: list[Skipped] = []
    not_folders: dict[str, Any] = {}  # checkpoint-like names that are no folder: a latest rule may still pick them
    auto = folder != root or folder.name == AUTO_DIR
    for e in entries:
        child = folder / e.name
        is_kohya = not auto and STATE_NAME.match(e.name) is not None and not e.name.startswith("checkpoint")
        if not (e.name.startswith("checkpoint") or is_kohya):
            continue
        if not _is_dir(store, folder, e):
            not_folders[e.name] = child
            continue
        if is_in_progress(e.name):
            skipped.append(Skipped(child, "being written (-tmp): not read"))
        elif auto:
            m = AUTO_NAME.match(e.name)
            if m is None:
                skipped.append(Skipped(child, "name is not checkpoint_<i> (accelerate's automatic naming)"))
            else:
                found.append((int(m.group(1)), e.name, child))
        elif is_kohya:
            inner = _names(store, child)
            if any(m in inner for m in _MARKERS):
                found.append((KOHYA.folder_step(e.name) or 0, e.name, child))
            else:
                skipped.append(Skipped(child, "named like a kohya state folder but holds no checkpoint files"))
        else:
            n = checkpoint_number(e.name)
            if n is None:
                skipped.append(Skipped(child, "name is not checkpoint-<N>[-suffix]"))
            else:
                found.append((n, e.name, child))
    found.sort(key=lambda t: (t[0], t[1]))
    ordered = tuple(p for _, _, p in found)
    if trainer is None:
        trainer, trainer_source = _detect(store, found, [e.name for e in entries])
    return _with_latest(Discovery(root, ordered, tuple(skipped), None, trainer=trainer.name,
                                  trainer_source=trainer_source), trainer, [e.name for e in entries], found,
                        not_folders)


def _detect(store: Store, found: list[tuple[Any, str, Any]], names: list[str]) -> tuple[TrainerModel, str]:
    """The trainer of an output folder: kohya state folders say kohya; otherwise the first trainer-specific
    file among the newest ``checkpoint-N`` folders (SimpleTuner's ``training_state.json``, the Trainer's
    ``trainer_state.json``); else a ``checkpoint-N-<suffix>`` name (``-rolling``, ``-tmp``: only SimpleTuner
    writes them) says SimpleTuner, and plain ``checkpoint-N`` folders the diffusers scripts."""
    if not found:
        return SIMPLETUNER, "no checkpoint folder: SimpleTuner's rule (ckptfix's default)"
    if any(not name.startswith("checkpoint") for _, name, _ in found):
        return KOHYA, "kohya state folder names"
    newest = sorted(found, key=lambda t: (t[0], t[1]), reverse=True)[:_DETECT_NEWEST]
    for _, name, child in newest:
        t = detect_trainer(name, _names(store, child), child.parent.name)
        if t not in (DIFFUSERS, ACCELERATE):
            return t, f"detected from {name}"
    suffixed = next((n for n in sorted(names) if checkpoint_number(n) is not None and not _PLAIN.match(n)), None)
    if suffixed is not None:
        return SIMPLETUNER, f"detected from {suffixed} (a suffix only SimpleTuner writes)"
    return DIFFUSERS, f"detected from {newest[0][1]} (checkpoint-N without a trainer state file)"


def _with_latest(disc: Discovery, trainer: TrainerModel, entry_names: list[str],
                 found: list[tuple[Any, str, Any]], not_folders: dict[str, Any]) -> Discovery:
    """The latest pick of ``trainer``'s rule. An entry that is no folder but that the rule picks by its name (a
    dangling symlink ``checkpoint-50``, a loop, a file) is a pick too, and a checkpoint to check: the resume
    would load it and fail (``load_checkpoint`` marks it ``not_a_folder``, the analysis reports it)."""
    if trainer.picks_folders_only:
        entry_names = [n for n in entry_names if n not in not_folders]
    pick = trainer.latest(entry_names)
    by_name = {name: p for _, name, p in found}
    blocked = tuple(not_folders[n] for n in pick.chosen if n in not_folders)
    candidates = tuple(by_name[n] for n in pick.chosen if n in by_name) + blocked
    issue = None
    if pick.broken_by:
        issue = pick.broken_effect
    unread = [n for n in pick.chosen if n not in by_name and n not in not_folders]
    if unread:
        what = ", ".join(unread)
        issue = ((issue + "; ") if issue else "") + (
            f"its latest rule picks {what}, which ckptfix does not read (being written, or not a checkpoint folder): "
            "the resume would load it")
    latest = candidates[0] if len(candidates) == 1 and pick.sure and not issue else None
    return replace(disc, checkpoints=disc.checkpoints + blocked, latest=latest, latest_candidates=candidates,
                   latest_reason=pick.reason, latest_sure=pick.sure and not issue, latest_issue=issue)


def targets(disc: Discovery, latest_only: bool) -> tuple[Any, ...]:
    """The checkpoints a command works on: all of them (oldest first), or what the resume may pick."""
    if latest_only:
        return disc.picks
    return disc.checkpoints
