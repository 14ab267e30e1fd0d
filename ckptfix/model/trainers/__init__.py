"""Trainer resume models: which trainer wrote a checkpoint, and what its resume will do with it.

``interface.py`` = ``TrainerModel`` (pure data and functions; see there); one module per trainer;
``spec.py`` = ``--trainer NAME[SPEC]`` and the installed package. ``TRAINERS`` is the registry, in the
order ``detect_trainer`` tries them (plain accelerate claims every folder and comes last).
"""

from __future__ import annotations

from ckptfix.model.trainers.accelerate import ACCELERATE, AUTO_DIR, AUTO_NAME, auto_index
from ckptfix.model.trainers.diffusers import DIFFUSERS
from ckptfix.model.trainers.interface import (
    LastEpochFrom,
    LatestPick,
    ResumeFile,
    SavesOn,
    TrainerModel,
    TrainerRules,
    Version,
    VersionRange,
    format_version,
    parse_version,
)
from ckptfix.model.trainers.kohya import KOHYA, STATE_NAME
from ckptfix.model.trainers.simpletuner import SIMPLETUNER, simpletuner_key
from ckptfix.model.trainers.spec import TrainerSpec, installed_version, parse_trainer_spec
from ckptfix.model.trainers.transformers import TRANSFORMERS

__all__ = [
    "ACCELERATE", "AUTO_DIR", "AUTO_NAME", "DIFFUSERS", "KOHYA", "NAMES", "SIMPLETUNER", "STATE_NAME", "TRAINERS",
    "TRANSFORMERS", "LastEpochFrom", "LatestPick", "ResumeFile", "SavesOn", "TrainerModel", "TrainerRules",
    "TrainerSpec", "Version", "VersionRange", "auto_index", "detect_trainer", "format_version", "get_trainer",
    "installed_version", "parse_spec", "parse_trainer_spec", "parse_version", "simpletuner_key",
]

#: Tried in this order by ``detect_trainer``.
TRAINERS: tuple[TrainerModel, ...] = (SIMPLETUNER, KOHYA, TRANSFORMERS, DIFFUSERS, ACCELERATE)
NAMES: tuple[str, ...] = tuple(t.name for t in TRAINERS)
_BY_NAME = {t.name: t for t in TRAINERS}


def get_trainer(name: str) -> TrainerModel:
    """The model called ``name`` (``KeyError`` otherwise)."""
    return _BY_NAME[name]


def parse_spec(text: str) -> TrainerSpec:
    """``parse_trainer_spec`` against the registered trainers."""
    return parse_trainer_spec(text, NAMES)


def detect_trainer(folder_name: str, names: frozenset[str], parent_name: str = "") -> TrainerModel:
    """The first trainer that claims a checkpoint folder (plain accelerate when none does)."""
    for t in TRAINERS:
        if t.detect(folder_name, names, parent_name):
            return t
    return ACCELERATE
