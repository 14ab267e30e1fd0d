"""Shared test helpers: where things are, and tree hashes (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CORPUS = ROOT / "tests" / "corpus"


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file below root (hidden ones included), by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def adamw_state(shapes: list[tuple[int, ...]], steps: int = 3) -> dict:
    """A real ``torch.optim.AdamW`` state dict after ``steps`` steps on parameters of ``shapes``."""
    import torch

    params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    opt = torch.optim.AdamW(params, lr=1e-3)
    for _ in range(steps):
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()
    return opt.state_dict()
