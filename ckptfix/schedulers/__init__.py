"""Reference schedulers (pure math) and profile detection.

Importing this package never imports torch: ``Sine`` (a torch ``LRScheduler``) is loaded lazily on
first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .detect import CandidateMatch, ProfileMatch, SineExpectation, detect_profile
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
from .profiles import PROFILE_NAMES, PROFILES, SINE, SINE_FAMILY, UNCHECKED, Position, Profile, get_profile
from .reference import SineState, sine_state

if TYPE_CHECKING:
    from .torch_sine import Sine  # noqa: F401  (lazy: see __getattr__)

__all__ = [
    "CandidateMatch",
    "PROFILE_NAMES",
    "PROFILES",
    "Position",
    "Profile",
    "ProfileMatch",
    "SineExpectation",
    "SineState",
    "SINE",
    "SINE_FAMILY",
    "UNCHECKED",
    "detect_profile",
    "get_profile",
    "LR_QUANTUM",
    "cosine_position",
    "lr_matches",
    "simpletuner_cosine_lr",
    "simpletuner_sine_v1_lr",
    "simpletuner_sine_v2_lr",
    "sine_lr",
    "sine_position",
    "sine_state",
    "sine_step_count",
    "truncate_lr",
    "v1_position",
]  # "Sine" is deliberately absent: a star-import must not pull in torch.


def __getattr__(name: str) -> Any:
    if name == "Sine":
        try:
            from .torch_sine import Sine  # noqa: PLC0415 - Sine imports torch: loaded on first use only
        except ModuleNotFoundError as exc:
            if exc.name != "torch":
                raise
            raise ModuleNotFoundError("ckptfix.schedulers.Sine is a torch LRScheduler and torch is not installed: "
                                      "pip install 'ckptfix[torch]'", name="torch") from None
        return Sine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
