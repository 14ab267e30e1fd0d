"""The second verification of what ``repair`` writes: ``torch.load(weights_only=True)``, when torch is installed.

ckptfix writes torch's format itself (``formats/torch_writer.py``) and always verifies a written file
with its own reader; torch is an optional extra (``pip install 'ckptfix[torch]'``). When torch is
importable, every written file is also loaded the way accelerate will load it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

__all__ = ["TORCH_EXTRA", "torch_installed", "torch_load"]

#: What to install for the torch cross-check (and the reference ``Sine`` class).
TORCH_EXTRA = "pip install 'ckptfix[torch]'"


def torch_installed() -> bool:
    """Whether ``import torch`` would find a module (without importing it: 3 s and 220 MB)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def torch_load(path: Path, **kwargs: Any) -> Any:
    """``torch.load(path, weights_only=True, **kwargs)``; only call it when ``torch_installed()``."""
    import torch  # noqa: PLC0415 - optional extra, 3 s to import: only to verify a file repair wrote

    return torch.load(path, weights_only=True, **kwargs)
