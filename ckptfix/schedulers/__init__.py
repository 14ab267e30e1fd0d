"""Reference schedulers (pure math) and profile detection.

Importing this package never imports torch: ``Sine`` (a torch ``LRScheduler``) is loaded lazily on
first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .formulas import (
    LR_QUANTUM,
    cosine_position,
    lr_matches,
    simpletuner_cosine_lr,
    simpletuner_sine_v1_lr,
    simpletuner_sine_v2_lr,
    sine_lr,
    sine_position,
    sine_step_count,
    truncate_lr,
    v1_position,
)

if TYPE_CHECKING:
    from .torch_sine import Sine

__all__ = [
    "LR_QUANTUM",
    "cosine_position",
    "lr_matches",
    "simpletuner_cosine_lr",
    "simpletuner_sine_v1_lr",
    "simpletuner_sine_v2_lr",
    "sine_lr",
    "sine_position",
    "sine_step_count",
    "truncate_lr",
    "v1_position",
    "Sine",
]


def __getattr__(name: str) -> Any:
    if name == "Sine":
        from .torch_sine import Sine

        return Sine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
