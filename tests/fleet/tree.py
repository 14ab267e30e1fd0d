"""A root of runs built from copies of the real fixture checkpoints (every trainer's layout, a run with
nothing to resume yet, a hostile one), and the run names ``find_runs`` must give for it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.helpers import FIXTURES

#: run (relative to the root) -> the fixture folder copied there
RUNS = {
    "hostile": "hostile",
    "proj-a/r1": "output-run",
    "proj-a/r2": "sine-v1",
    "proj-a/r3": "sine-v2",
    "proj-b/auto": "other_trainers/accelerate-auto",
    "proj-b/diffusers": "other_trainers/diffusers",
    "proj-b/kohya": "other_trainers/kohya",
}
EMPTY = "proj-c/empty"  # only a checkpoint being written: a run with nothing to resume
DEEP = "proj-c/deep/er/run"  # level 4: beyond the default --depth 3


def make_root(root: Path) -> Path:
    """The root: RUNS, EMPTY, DEEP, and what is not a run (a hidden copy, a symbolic link to a run, notes)."""
    for rel, fixture in RUNS.items():
        shutil.copytree(FIXTURES / fixture, root / rel)
    (root / EMPTY / "checkpoint-5-tmp").mkdir(parents=True)
    (root / EMPTY / "checkpoint-5-tmp" / "optimizer.bin").write_bytes(b"PK\x03\x04 being written")
    shutil.copytree(FIXTURES / "sine-ok", root / DEEP)
    shutil.copytree(FIXTURES / "sine-ok", root / ".hidden" / "run")
    (root / "notes").mkdir()
    (root / "notes" / "README.txt").write_text("not a run\n")
    os.symlink(root / "proj-a" / "r1", root / "proj-a" / "link-to-r1")
    return root


def expected_runs(depth: int = 3) -> list[str]:
    found = [*RUNS, EMPTY] + ([DEEP] if depth >= 4 else [])
    return sorted(found)
