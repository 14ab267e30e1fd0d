"""Find checkpoint folders under PATH, and the one(s) the trainer's resume would pick ("latest").

Every name and rule comes from the trainer models (``model/trainers/``), asked in registry order: which
entries of an output folder are checkpoint folders (``claim``), which files make a folder one whatever its
name (``markers``), where a project folder keeps them (``container``: accelerate's ``checkpoints/``), which
trainer wrote them (``detect``, ``hint``, ``fallback``) and which one its resume picks (``latest``).

Folders still being written end in ``tmp`` and are never read for a verdict. "Latest" follows the
trainer that wrote the folder (``--trainer``, else detected from the newest checkpoint folders).
"""

from __future__ import annotations

from typing import Any

from ckptfix.errors import PathMissing, UsageError
from ckptfix.formats.source import LOCAL, Store
from ckptfix.model.checkpoint import Discovery, Skipped
from ckptfix.model.trainers import (
    DEFAULT_TRAINER,
    TrainerModel,
    checkpoint_markers,
    checkpoint_number,
    claim_entry,
    containers,
    detect_trainer,
    fallback_for,
    hinted_trainer,
)
from ckptfix.records import replace

__all__ = ["checkpoint_number", "discover", "is_in_progress", "targets"]

#: How many of the newest checkpoint folders are listed to tell which trainer wrote an output folder.
_DETECT_NEWEST = 3
_IN_PROGRESS = "being written (-tmp): not read"


def is_in_progress(name: str) -> bool:
    """A folder still being written (``checkpoint-N-tmp``): never read for a verdict, never written."""
    return name.endswith("tmp")


def _named_like_checkpoint(path: Any) -> bool:
    """The folder's name alone makes it a checkpoint folder: its trainer's own (``checkpoint-N``), or a
    container trainer's inside its container (``checkpoints/checkpoint_<i>``)."""
    claimed = claim_entry(path.name)
    if claimed is not None and claimed[1].order is not None and not claimed[1].confirm:
        return True
    return any(path.parent.name == t.container and t.is_checkpoint_name(path.name) for t in containers())


def _looks_like_checkpoint(path: Any, names: frozenset[str]) -> bool:
    return _named_like_checkpoint(path) or bool(names & checkpoint_markers())


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
    if _looks_like_checkpoint(path, names):
        detected = trainer or detect_trainer(path.name, names, path.parent.name)
        source = "--trainer" if trainer else f"detected from {path.name}"
        if is_in_progress(path.name):
            skipped = (Skipped(path, _IN_PROGRESS),)
            return Discovery(path, (), skipped, None, is_single=True, trainer=detected.name, trainer_source=source)
        return Discovery(path, (path,), (), path, is_single=True, trainer=detected.name, trainer_source=source,
                         latest_candidates=(path,), latest_reason="a single checkpoint folder")

    contained = _container(store, path, entries)
    if contained is not None:
        owner, folder = contained
        return _discover_in(store, path, folder, store.list(folder) if folder != path else entries, owner.container,
                            trainer or owner, "--trainer" if trainer else owner.naming)
    return _discover_in(store, path, path, entries, None, trainer, "--trainer" if trainer else "")


def _container(store: Store, path: Any, entries: Any) -> tuple[TrainerModel, Any] | None:
    """The trainer and folder of a container (accelerate's automatic naming: ``checkpoints/``), when PATH is it
    or its project folder (and PATH holds no checkpoint folder of its own, named so: then ``checkpoints`` is a
    stray name in a run folder)."""
    for t in containers():
        if path.name == t.container and any(t.is_checkpoint_name(e.name) for e in entries):
            return t, path
    if any(_named_like_checkpoint(path / e.name) for e in entries):
        return None
    for t in containers():
        for e in entries:
            if e.name == t.container and _is_dir(store, path, e):
                if any(t.is_checkpoint_name(n) for n in _names(store, path / e.name)):
                    return t, path / e.name
    return None


def _discover_in(store: Store, root: Any, folder: Any, entries: Any, container: str | None,
                 trainer: TrainerModel | None, trainer_source: str) -> Discovery:
    found: list[tuple[int, str, Any]] = []
    decisive: list[TrainerModel] = []  # trainers whose folder names alone say they wrote the output folder
    skipped: list[Skipped] = []
    not_folders: dict[str, Any] = {}  # checkpoint-like names that are no folder: a latest rule may still pick them
    for e in entries:
        child = folder / e.name
        claimed = claim_entry(e.name, container)
        if claimed is None:
            continue
        owner, claim = claimed
        if not _is_dir(store, folder, e):
            not_folders[e.name] = child
        elif is_in_progress(e.name):
            skipped.append(Skipped(child, _IN_PROGRESS))
        elif claim.order is None or (claim.confirm and not _names(store, child) & checkpoint_markers()):
            skipped.append(Skipped(child, claim.reason))
        else:
            found.append((claim.order, e.name, child))
            if claim.decisive:
                decisive.append(owner)
    found.sort(key=lambda t: (t[0], t[1]))
    ordered = tuple(p for _, _, p in found)
    if trainer is None:
        trainer, trainer_source = _detect(store, found, decisive, [e.name for e in entries])
    return _with_latest(Discovery(root, ordered, tuple(skipped), None, trainer=trainer.name,
                                  trainer_source=trainer_source), trainer, [e.name for e in entries], found,
                        not_folders)


def _detect(store: Store, found: list[tuple[int, str, Any]], decisive: list[TrainerModel],
            entry_names: list[str]) -> tuple[TrainerModel, str]:
    """The trainer of an output folder, from the strongest evidence: folder names only one trainer writes
    (kohya's state folders); else the first trainer-specific file among the newest checkpoint folders
    (SimpleTuner's ``training_state.json``, the Trainer's ``trainer_state.json``); else a trainer's ``hint`` (a
    ``checkpoint-N-<suffix>`` name: only SimpleTuner writes them); else the fallback trainer whose names the
    newest folder has (plain ``checkpoint-N``: the diffusers scripts)."""
    if not found:
        return DEFAULT_TRAINER, f"no checkpoint folder: {DEFAULT_TRAINER.title}'s rule (ckptfix's default)"
    if decisive:
        return decisive[0], decisive[0].naming
    newest = sorted(found, key=lambda t: (t[0], t[1]), reverse=True)[:_DETECT_NEWEST]
    for _, name, child in newest:
        t = detect_trainer(name, _names(store, child), child.parent.name)
        if not t.fallback:
            return t, f"detected from {name}"
    hinted = hinted_trainer(entry_names)
    if hinted is not None:
        return hinted
    t = fallback_for(newest[0][1])
    return t, f"detected from {newest[0][1]} ({t.evidence})"


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
                   latest_reason=pick.reason, latest_sure=pick.sure and not issue, latest_issue=issue,
                   latest_tie=pick.tie and len(candidates) > 1)


def targets(disc: Discovery, latest_only: bool) -> tuple[Any, ...]:
    """The checkpoints a command works on: all of them (oldest first), or what the resume may pick."""
    if latest_only:
        return disc.picks
    return disc.checkpoints
