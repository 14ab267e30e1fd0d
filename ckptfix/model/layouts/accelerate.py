"""accelerate's ``save_state`` layout (SimpleTuner's default): the reader lives in ``model/load.py``.

``scheduler*.bin`` and ``optimizer*.bin`` (torch files of the state dicts), ``random_states_{rank}.pkl``
(one per process: N), SimpleTuner's ``training_state.json`` (the step), safetensors weights.
"""

from __future__ import annotations

from pathlib import Path

from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.model.checkpoint import Checkpoint

NAME = "accelerate"


def detect(folder: Path) -> bool:
    """The default: any folder no other layout claims."""
    from ckptfix.model.layouts import detect_layout

    return detect_layout(folder) is None


def load(folder: Path, limits: Limits = DEFAULT_LIMITS) -> Checkpoint:
    from ckptfix.model.load import load_accelerate

    return load_accelerate(folder, limits)
