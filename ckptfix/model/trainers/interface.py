"""The trainer-model interface: what a trainer's resume does with a checkpoint it wrote.

A ``TrainerModel`` is pure data and pure functions over names and records (the model layer's loaders
read the files; a trainer model only interprets them). For each trainer it answers:

* ``detect``: whether a checkpoint folder (its name and file names) was written by this trainer;
* ``rules``: per version range (``TrainerRules``), which ranks call ``save_state``, where the resume
  takes the step from, what it does to the LR scheduler after ``accelerator.load_state``
  (``last_epoch_from``), which files its resume reads, and which sine formula the stock trainer ships;
* ``latest``: which folder of an output folder its resume picks as "latest", and how sure that is
  (``LatestPick``);
* ``is_checkpoint_name`` / ``claim`` / ``folder_step``: the folder names it writes (what discovery reads as its
  checkpoints, and skips with a reason), and the step a name carries; ``markers``, ``container``, ``hint``,
  ``fallback``: what says, in an output folder, that it wrote the checkpoints (``model/discover.py`` asks).

Every rule cites its source in ``docs/trainers.md``. *To add a trainer*, write a module with a
``TrainerModel`` subclass and add an instance to ``TRAINERS`` in ``__init__.py`` (docs/design.md lists the
steps; ``tests/model/test_trainer_interface.py`` registers a throwaway trainer and sees it work).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

from ckptfix.records import Record

__all__ = [
    "FolderClaim", "LastEpochFrom", "LatestPick", "LaunchFlag", "LoadedTogether", "ResumeCount", "ResumeFile",
    "ResumeValue", "SavesOn", "SchedulerStepping", "TrainerModel", "TrainerRules", "Version", "VersionRange",
    "WriterRules", "checkpoint_number", "format_version", "highest", "parse_version",
]

#: A release number as a tuple of ints: ``(4, 10, 1)``.
Version = tuple[int, ...]

#: Where the resume puts the scheduler's ``last_epoch`` after ``load_state``: ``stored`` = left as
#: ``scheduler.bin`` holds it; ``epoch_step`` / ``global_step`` = that value of the trainer's state file
#: times the *resuming* process count (SimpleTuner's override).
LastEpochFrom = Literal["stored", "epoch_step", "global_step"]

#: Which ranks call ``accelerator.save_state`` in a plain multi-process (DDP) run: ``main`` = rank 0 only,
#: so ``random_states_*.pkl`` counts only 1; ``all`` = every rank writes its own.
SavesOn = Literal["main", "all"]

#: How a trainer steps its LR scheduler: ``prepared`` = accelerate's ``AcceleratedScheduler`` (the scheduler is
#: passed to ``accelerator.prepare``): N ``step()`` calls per optimizer step with N processes, one with
#: ``split_batches`` or ``step_scheduler_with_optimizer=False`` (accelerate 1.16 ``scheduler.py`` L60-82);
#: ``once`` = once per optimizer step, whatever N (the transformers Trainer).
SchedulerStepping = Literal["prepared", "once"]

_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")
_CHECKPOINT_N = re.compile(r"^checkpoint-(\d+)(?:-.+)?$")


def checkpoint_number(name: str) -> int | None:
    """N of ``checkpoint-N`` and ``checkpoint-N-<suffix>``, the names SimpleTuner, the diffusers scripts and the
    transformers Trainer write (None for any other name)."""
    m = _CHECKPOINT_N.match(name)
    return int(m.group(1)) if m else None


def parse_version(text: str) -> Version | None:
    """``"4.10.1"`` -> ``(4, 10, 1)``; the leading numeric part only (``"3.1.6.dev0"`` -> ``(3, 1, 6)``);
    None when there is none."""
    m = _VERSION.match(text or "")
    if m is None:
        return None
    return tuple(int(p) for p in m.group(1).split("."))


def format_version(v: Version) -> str:
    return ".".join(str(p) for p in v)


def _cmp(a: Version, b: Version) -> int:
    n = max(len(a), len(b))
    a2, b2 = a + (0,) * (n - len(a)), b + (0,) * (n - len(b))
    return (a2 > b2) - (a2 < b2)


class VersionRange(Record):
    """Releases ``low`` (inclusive) to ``high`` (exclusive); None = unbounded."""

    low: Version | None = None
    high: Version | None = None

    def contains(self, v: Version) -> bool:
        return (self.low is None or _cmp(v, self.low) >= 0) and (self.high is None or _cmp(v, self.high) < 0)

    def intersect(self, other: VersionRange) -> VersionRange | None:
        """The releases in both ranges, or None when there are none."""
        lows = [x for x in (self.low, other.low) if x is not None]
        highs = [x for x in (self.high, other.high) if x is not None]
        low = max(lows, key=_key) if lows else None
        high = min(highs, key=_key) if highs else None
        if low is not None and high is not None and _cmp(low, high) >= 0:
            return None
        return VersionRange(low, high)

    @property
    def label(self) -> str:
        if self.low is None and self.high is None:
            return "every version"
        if self.low is None:
            return f"< {format_version(self.high)}"  # type: ignore[arg-type]
        if self.high is None:
            return f">= {format_version(self.low)}"
        return f"{format_version(self.low)} to < {format_version(self.high)}"


def highest(names: Sequence[str], key: Callable[[str], int | None]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names with the highest ``key`` (several on a tie), and the names whose ``key`` fails (None); both sorted."""
    keyed: list[tuple[int, str]] = []
    broken: list[str] = []
    for n in names:
        k = key(n)
        if k is None:
            broken.append(n)
        else:
            keyed.append((k, n))
    if not keyed:
        return (), tuple(sorted(broken))
    top = max(k for k, _ in keyed)
    return tuple(sorted(n for k, n in keyed if k == top)), tuple(sorted(broken))


def _key(v: Version) -> tuple[int, ...]:
    return v + (0,) * (8 - len(v))


class ResumeFile(Record):
    """A file the trainer's own resume code reads (beyond accelerate's ``load_state``)."""

    name: str
    required: bool  # False: read when present, the resume goes on without it
    if_missing: str  # what the resume does without it
    #: How the resume reads it, and what it does when the file is not plain UTF-8 without a byte-order mark
    #: (a UTF-16/32 file, a byte-order mark): "" when ckptfix does not check it.
    if_undecodable: str = ""


class ResumeValue(Record):
    """A value of a trainer state file that the resume computes with, and what the resume does when it is not a
    JSON integer: ``effects`` maps a kind (``formats.jsonfile.json_kind``, plus ``huge`` for a step beyond int64)
    to what happens; a kind not listed is what the resume expects (or is judged elsewhere: the resume preview)."""

    file: str  # the state file ("training_state.json" stands for SimpleTuner's training_state-rank{r}.json too)
    key: str
    effects: tuple[tuple[str, str], ...]
    source: str = ""
    #: The finding a value the resume cannot use gives (CKF119: SimpleTuner's ``epoch_step``, which positions
    #: the LR schedule; CKF117 for the others).
    code: str = "CKF117"

    def effect(self, kind: str) -> str | None:
        return next((text for k, text in self.effects if k == kind), None)


class LoadedTogether(Record):
    """Files the trainer's resume loads only when every one of them is there: without one it loads none of
    them, and says nothing (the transformers Trainer's ``optimizer.pt`` and ``scheduler.pt``).

    ``files``: one entry per file, each the names (``formats.scan.name_matches`` patterns on the paths below the
    checkpoint folder) any of which counts as that file; ``labels``: how messages name each entry."""

    files: tuple[tuple[str, ...], ...]
    labels: tuple[str, ...]
    if_missing: str  # what the resume does then
    source: str = ""


class TrainerRules(Record):
    """What one trainer does on resume, for one range of its releases (sources: docs/trainers.md)."""

    trainer: str
    versions: VersionRange
    last_epoch_from: LastEpochFrom
    saves_on: SavesOn
    step_from: str  # where the resume takes its step ("training_state.json global_step", ...)
    #: The sine formula the stock trainer ships (a profile name), or None when the trainer runs whatever
    #: scheduler the user configures (its scheduler.bin is restored as saved).
    formula: str | None
    reads: tuple[ResumeFile, ...] = ()
    #: Verified on these releases; a range open to the future says so.
    verified: str = ""
    sources: tuple[str, ...] = ()
    #: Values of its state files the resume computes with (what it does with a value that is no JSON integer).
    values: tuple[ResumeValue, ...] = ()
    #: The step the resume counts from when its state file, or the step in it, is missing (SimpleTuner's
    #: ``StateTracker`` default: 0; then a value that is no JSON integer is not modelled either). None: the
    #: checkpoint's own step.
    step_if_missing: int | None = None
    #: How its scheduler steps (``SchedulerStepping``).
    stepping: SchedulerStepping = "prepared"
    #: The factory that builds its scheduler from the run's configuration, by the name
    #: ``schedulers/families/schedules.py`` ``FACTORIES`` gives it; None: the user's own code (plain accelerate).
    factory: str | None = None
    #: Files its resume loads only together (``LoadedTogether``): one missing, the resume silently skips them all.
    together: tuple[LoadedTogether, ...] = ()

    @property
    def label(self) -> str:
        """``SimpleTuner >= 4.10.0`` (the name alone for a trainer without version ranges)."""
        if self.versions.low is None and self.versions.high is None:
            return self.trainer
        return f"{self.trainer} {self.versions.label}"


class WriterRules(Record):
    """Who saves a checkpoint, for one range of a trainer's releases, and the files that date it: what a
    checkpoint's files say about the release that *wrote* it (which need not be the one that resumes it).

    ``saves_on``: which ranks call ``save_state`` (so what ``random_states_*.pkl`` counts); ``writes``: files every
    checkpoint these releases save holds that the releases before them never write (SimpleTuner's
    ``checkpoint_manifest.json`` from 4.0.6): their presence, or absence, narrows the writing release."""

    versions: VersionRange
    saves_on: SavesOn
    writes: tuple[str, ...] = ()
    source: str = ""


class LaunchFlag(Record):
    """A flag of the trainer's resuming launch that changes what the resume does and that ckptfix cannot see
    in the checkpoint: the user states it with the ckptfix option ``option`` (a field of ``analysis.Options``)."""

    option: str  # the Options field: "skip_until_initial_step"
    trainer_flag: str  # how the trainer spells it: "--skip_until_initial_step"
    default: bool  # what the trainer does when the launch does not give it
    yes: str  # the ckptfix flags that state each choice
    no: str


class ResumeCount(Record):
    """How many optimizer steps the resumed run takes, as the trainer's loop counts them, against the steps the
    uninterrupted run has left, for one value of its ``LaunchFlag``.

    ``takes``/``remaining`` None: not known (the configuration is not in the checkpoint); then ``at_least`` is the
    least number of steps the resumed run takes more than remain, when that much is known. ``follows``: the
    resumed run takes exactly the steps that remain (None: not known); ``raises``: the resume stops instead
    (why). ``how``: the trainer's arithmetic, with its source lines."""

    choice: bool
    takes: int | None
    remaining: int | None
    follows: bool | None
    how: str
    at_least: int | None = None
    raises: str = ""
    start: int | None = None  # the trainer's own step count when its loop starts


class LatestPick(Record):
    """Which folders of an output folder a trainer's "latest" rule picks (names, not paths).

    ``chosen``: one name when the rule decides; several when the rule leaves it to something undefined
    (``os.listdir`` order on a tie) — the resume may take any of them; none when it picks nothing.
    ``sure``: the rule decides (False: a tie, or a trainer without a latest rule). ``broken_by``: names that
    make the rule fail (SimpleTuner: a fresh start instead of a resume; the diffusers scripts: a crash),
    with ``chosen`` then holding what the rule would pick without them. ``reason``: one sentence for users.
    """

    chosen: tuple[str, ...]
    sure: bool
    reason: str
    broken_by: tuple[str, ...] = ()
    broken_effect: str = ""
    #: Several names the rule cannot order, left to ``os.listdir`` order (CKF112); False for a trainer that
    #: picks nothing itself (kohya: ``--resume`` names the folder).
    tie: bool = False


class FolderClaim(Record):
    """What a trainer makes of an entry of an output folder named like its checkpoints (``TrainerModel.claim``).

    ``order``: where it sorts among them (the step its name carries, or a save index); None when it is named
    like one but is none (discovery lists it as skipped, saying ``reason``). ``confirm``: the name alone is too
    loose (kohya's ``<name>-state``): it is read only when it holds checkpoint files (else skipped, saying
    ``reason``). ``decisive``: the name alone says which trainer wrote the output folder."""

    order: int | None
    reason: str = ""
    confirm: bool = False
    decisive: bool = False


class TrainerModel(ABC):
    """One trainer's resume, as data and pure functions (see the module docstring)."""

    #: The name users pass to ``--trainer`` and reports show (``simpletuner``, ``kohya`` ...).
    name: ClassVar[str]
    #: How reports name it (``SimpleTuner``).
    title: ClassVar[str]
    #: The distribution whose installed version selects the rules (``importlib.metadata``), or None.
    package: ClassVar[str | None] = None
    #: Rules per version range, oldest first; a trainer without version ranges has one.
    rules: ClassVar[tuple[TrainerRules, ...]]
    #: Whether ``latest`` only ever sees folders: the trainer's rule checks ``os.path.isdir`` (the transformers
    #: Trainer), or a folder is named by hand (kohya). False: the rule lists names, and a file, a dangling
    #: symbolic link or a loop named like a checkpoint can be its pick.
    picks_folders_only: ClassVar[bool] = False
    #: Files that make a folder a checkpoint folder whatever its name (discovery of one folder given as PATH).
    markers: ClassVar[frozenset[str]] = frozenset()
    #: The folder of a project folder that holds its checkpoints (accelerate's automatic naming: ``checkpoints``),
    #: or None: its checkpoints sit in the output folder itself.
    container: ClassVar[str | None] = None
    #: How reports name the folders that say this trainer wrote an output folder (a decisive ``claim``, or
    #: its ``container``).
    naming: ClassVar[str] = ""
    #: ``detect`` claims folders by default (no file of another trainer): such a claim settles which trainer
    #: wrote an output folder only when nothing else does (the diffusers scripts, plain accelerate).
    fallback: ClassVar[bool] = False
    #: What a fallback claim rests on, for reports ("checkpoint-N without a trainer state file").
    evidence: ClassVar[str] = ""
    #: Who saves and which files date a checkpoint, per writing release (empty: the ``rules``' ``saves_on``, with
    #: no file that dates a release); see ``writers_of``.
    writers: ClassVar[tuple[WriterRules, ...]] = ()
    #: A launch flag that changes how the resumed run counts its steps (``resume_count``), or None.
    launch_flag: ClassVar[LaunchFlag | None] = None

    @abstractmethod
    def detect(self, folder_name: str, names: frozenset[str], parent_name: str = "") -> bool:
        """Whether the checkpoint folder ``folder_name`` holding ``names`` was written by this trainer."""

    @abstractmethod
    def is_checkpoint_name(self, name: str) -> bool:
        """Whether a folder so named is one of its checkpoint folders (discovery reads it)."""

    def claim(self, name: str) -> FolderClaim | None:
        """What this trainer makes of an output folder's entry ``name`` (None: not a name of its)."""
        if not self.is_checkpoint_name(name):
            return None
        return FolderClaim(self.folder_step(name) or 0)

    def hint(self, names: Sequence[str]) -> str | None:
        """Why an output folder's entry ``names`` suggest this trainer, when no checkpoint's files say which
        trainer wrote them (weaker than files); None when they do not."""
        return None

    @abstractmethod
    def latest(self, names: Sequence[str]) -> LatestPick:
        """The folder(s) this trainer's resume picks among the folder ``names`` of an output folder."""

    def folder_step(self, name: str) -> int | None:
        """The optimizer step a folder's name carries (None: the name carries none)."""
        return None

    def writer_rules(self) -> tuple[WriterRules, ...]:
        """``writers``, or one per ``rules`` range (its ``saves_on``, no dating files)."""
        return self.writers or tuple(WriterRules(r.versions, r.saves_on, (), "; ".join(r.sources)) for r in self.rules)

    def writers_of(self, names: frozenset[str], presumed: Sequence[VersionRange] = ()) -> tuple[WriterRules, ...]:
        """The releases that can have written a checkpoint holding the top-level files ``names``: those whose
        dating files (``WriterRules.writes``) are exactly the dating files present. ``presumed`` (the resuming
        releases): the same release wrote it unless its files say otherwise, so of those, the ranges that meet
        ``presumed`` are kept when there are any."""
        writers = self.writer_rules()
        present = frozenset(n for w in writers for n in w.writes) & names
        fits = tuple(w for w in writers if frozenset(w.writes) == present) or writers
        kept = tuple(w for w in fits if any(w.versions.intersect(v) is not None for v in presumed))
        return kept or fits

    def config_file(self, folder_name: str) -> tuple[str, str] | None:
        """A file beside the checkpoint folder (in its parent) that holds the run's configuration, and its kind
        (``model/run_config.py``'s readers: ``safetensors-metadata``), or None."""
        return None

    def resume_count(self, step: int, epoch: int | None, folder_name: str, config: Mapping[str, Any],
                     choice: bool) -> ResumeCount | None:
        """How the resumed run counts its steps from a checkpoint at ``step`` (``epoch``: the epoch its state file
        records; ``config``: the run's configuration by ``model/run_config.KEYS`` name), launched with
        ``launch_flag`` = ``choice``; None when the trainer's loop takes the steps that remain whatever its launch."""
        return None

    def rules_for(self, versions: VersionRange | None) -> tuple[TrainerRules, ...]:
        """The rules of every range that meets ``versions`` (None: all of them), oldest first."""
        if versions is None:
            return self.rules
        return tuple(r for r in self.rules if r.versions.intersect(versions) is not None)
