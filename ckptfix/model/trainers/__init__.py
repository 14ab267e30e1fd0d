"""Trainer resume models: which trainer wrote a checkpoint, and what its resume will do with it.

``interface.py`` = ``TrainerModel`` (pure data and functions; see there); one module per trainer;
``spec.py`` = ``--trainer NAME[SPEC]`` and the installed package. ``TRAINERS`` is the registry, in the
order ``detect_trainer`` and ``claim_entry`` try them (plain accelerate claims every folder and comes last).
Every function here reads ``TRAINERS`` when it is called: nothing else in ckptfix lists the trainers.
"""

from __future__ import annotations

from ckptfix.errors import UsageError
from ckptfix.model.trainers.accelerate import ACCELERATE, AUTO_DIR, AUTO_NAME, auto_index
from ckptfix.model.trainers.diffusers import DIFFUSERS
from ckptfix.model.trainers.interface import (
    FolderClaim,
    LastEpochFrom,
    LatestPick,
    LaunchFlag,
    LoadedTogether,
    ResumeCount,
    ResumeFile,
    SavesOn,
    TrainerModel,
    TrainerRules,
    Version,
    VersionRange,
    WriterRules,
    checkpoint_number,
    format_version,
    parse_version,
)
from ckptfix.model.trainers.kohya import KOHYA, STATE_NAME
from ckptfix.model.trainers.simpletuner import SIMPLETUNER, simpletuner_key
from ckptfix.model.trainers.spec import TrainerSpec, installed_version, parse_trainer_spec
from ckptfix.model.trainers.transformers import TRANSFORMERS

__all__ = [
    "ACCELERATE", "AUTO_DIR", "AUTO_NAME", "DEFAULT_TRAINER", "DIFFUSERS", "KOHYA", "SIMPLETUNER", "STATE_NAME",
    "TRAINERS", "TRANSFORMERS", "FolderClaim", "LastEpochFrom", "LatestPick", "LaunchFlag", "LoadedTogether", "ResumeCount",
    "ResumeFile", "SavesOn", "TrainerModel", "TrainerRules", "TrainerSpec", "Version", "VersionRange", "WriterRules", "auto_index", "checkpoint_markers", "checkpoint_number",
    "claim_entry", "containers", "detect_trainer", "fallback_for", "format_version", "get_trainer", "hinted_trainer",
    "installed_version", "parse_spec", "parse_trainer_spec", "parse_version", "simpletuner_key", "trainer_names",
    "trainer_of", "trainer_option",
]

#: The registry, in the order detection and discovery try them; plain accelerate claims every folder: last.
TRAINERS: tuple[TrainerModel, ...] = (SIMPLETUNER, KOHYA, TRANSFORMERS, DIFFUSERS, ACCELERATE)
#: Whose latest rule an output folder without any checkpoint folder follows (ckptfix's default).
DEFAULT_TRAINER: TrainerModel = SIMPLETUNER


def trainer_names() -> tuple[str, ...]:
    """The names ``--trainer`` accepts."""
    return tuple(t.name for t in TRAINERS)


def get_trainer(name: str) -> TrainerModel:
    """The model called ``name`` (``KeyError`` otherwise)."""
    for t in TRAINERS:
        if t.name == name:
            return t
    raise KeyError(name)


def parse_spec(text: str) -> TrainerSpec:
    """``parse_trainer_spec`` against the registered trainers."""
    return parse_trainer_spec(text, trainer_names())


def trainer_option(text: str) -> TrainerSpec:
    """A ``--trainer`` value as a spec; ``UsageError`` saying what is known when it names nothing modelled."""
    try:
        return parse_spec(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def trainer_of(spec: str | None) -> TrainerModel | None:
    """The model a ``--trainer`` value names (None: none given, detect it from the folders)."""
    return get_trainer(trainer_option(spec).name) if spec else None


def detect_trainer(folder_name: str, names: frozenset[str], parent_name: str = "") -> TrainerModel:
    """The first trainer that claims a checkpoint folder (the last, the fallback of fallbacks, when none does)."""
    for t in TRAINERS:
        if t.detect(folder_name, names, parent_name):
            return t
    return TRAINERS[-1]


def containers() -> tuple[TrainerModel, ...]:
    """The trainers whose checkpoints sit in a folder of their own inside a project folder (``container``)."""
    return tuple(t for t in TRAINERS if t.container is not None)


def claim_entry(name: str, container: str | None = None) -> tuple[TrainerModel, FolderClaim] | None:
    """The first trainer (in registry order) that claims an entry ``name`` of an output folder, with its claim:
    among the trainers whose checkpoints sit in ``container`` (None: in the output folder itself)."""
    for t in TRAINERS:
        if t.container == container:
            c = t.claim(name)
            if c is not None:
                return t, c
    return None


def checkpoint_markers() -> frozenset[str]:
    """Files that make a folder a checkpoint folder whatever its name (every trainer's ``markers``)."""
    return frozenset().union(*(t.markers for t in TRAINERS))


def hinted_trainer(entry_names: list[str]) -> tuple[TrainerModel, str] | None:
    """The first trainer whose ``hint`` the entry names of an output folder give, and why."""
    for t in TRAINERS:
        why = t.hint(entry_names)
        if why:
            return t, why
    return None


def fallback_for(name: str) -> TrainerModel:
    """The first fallback trainer (``TrainerModel.fallback``) that writes a checkpoint folder named ``name``."""
    return next((t for t in TRAINERS if t.fallback and t.is_checkpoint_name(name)), TRAINERS[-1])
