"""Which layout a checkpoint folder has: cheap predicates (a directory listing, a small file).

Kept apart from the layout loaders so that telling an accelerate folder from the others imports
none of them; ``ckptfix.model.layouts`` imports a loader only for the layout it detects.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ckptfix.records import Record


class Listing(Record):
    """One directory listing of a checkpoint folder, shared by every predicate."""

    names: frozenset[str]
    dirs: frozenset[str]

    @classmethod
    def of(cls, folder: Path) -> Listing:
        names, dirs = set(), set()
        with os.scandir(folder) as it:
            for e in it:
                names.add(e.name)
                if e.is_dir(follow_symlinks=False):
                    dirs.add(e.name)
        return cls(frozenset(names), frozenset(dirs))

# -- Hugging Face Trainer ----------------------------------------------------------------------
TRAINER_STATE = "trainer_state.json"
TRAINER_TORCH_FILES = ("scheduler.pt", "optimizer.pt")


def is_hf_trainer(folder: Path, listing: Listing | None = None) -> bool:
    names = (listing or Listing.of(folder)).names
    if TRAINER_STATE in names:
        return True
    accelerate_files = any(n.startswith(("scheduler", "optimizer")) and n.endswith(".bin") for n in names)
    return not accelerate_files and any(n in names for n in TRAINER_TORCH_FILES)


# -- DeepSpeed ----------------------------------------------------------------------------------
ACCELERATE_TAG = "pytorch_model"  # accelerate's MODEL_NAME: save_checkpoint(output_dir, "pytorch_model")
MODEL_STATES = re.compile(r"^(?:zero_pp_rank_0_)?mp_rank_00_model_states\.pt$")
MAX_LATEST = 4096


def model_states_file(tag_dir: Path) -> Path | None:
    try:
        found = sorted(p for p in tag_dir.iterdir() if MODEL_STATES.match(p.name))
    except OSError:
        return None
    exact = [p for p in found if p.name == "mp_rank_00_model_states.pt"]
    return (exact or found or [None])[0]


def read_latest(folder: Path) -> str | None:
    p = folder / "latest"
    if not p.is_file() or p.stat().st_size > MAX_LATEST:
        return None
    try:
        tag = p.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not tag or "/" in tag or "\\" in tag or tag in (".", "..") or "\n" in tag:
        return None
    return tag


def find_tag(folder: Path) -> Path | None:
    """The tag folder a resume would load: named by ``latest``, else accelerate's, else the only one."""
    tag = read_latest(folder)
    if tag is not None and (folder / tag).is_dir():
        return folder / tag
    if (folder / ACCELERATE_TAG).is_dir() and model_states_file(folder / ACCELERATE_TAG):
        return folder / ACCELERATE_TAG
    try:
        candidates = [d for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")
                      and model_states_file(d) is not None]
    except OSError:
        return None
    return candidates[0] if len(candidates) == 1 else None


def is_deepspeed(folder: Path, listing: Listing | None = None) -> bool:
    listing = listing or Listing.of(folder)
    if "latest" not in listing.names and not any(not d.startswith(".") for d in listing.dirs):
        return False  # no tag file and no sub-folder: the common accelerate case, decided without I/O
    return find_tag(folder) is not None


# -- FSDP (torch.distributed.checkpoint) ------------------------------------------------------------
OPTIM_DIR = re.compile(r"^optimizer(?:_\d+)?$")
MODEL_DIR = re.compile(r"^pytorch_model_fsdp(?:_\d+)?$")


def dcp_dirs(folder: Path) -> list[Path]:
    return [d for d in sorted(folder.iterdir())
            if (OPTIM_DIR.match(d.name) or MODEL_DIR.match(d.name)) and d.is_dir() and (d / ".metadata").is_file()]


def is_fsdp(folder: Path, listing: Listing | None = None) -> bool:
    listing = listing or Listing.of(folder)
    if not any(OPTIM_DIR.match(d) or MODEL_DIR.match(d) for d in listing.dirs):
        return False
    return bool(dcp_dirs(folder))
