"""A typed, read-only model of one checkpoint folder: what its files say, nothing judged yet."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ckptfix.model.leftovers import Leftover
from ckptfix.model.optimizer_step import StepCount
from ckptfix.records import Record

#: Why a file could not be read safely.
ProblemKind = Literal["unreadable", "unsafe-pickle", "resource-limit"]


class FileProblem(Record):
    """A file that could not be read safely (exit 3)."""

    path: Path
    kind: ProblemKind
    message: str
    refused: tuple[tuple[str, str, int], ...] = ()


class SchedulerFile(Record):
    """A ``scheduler*.bin`` as decoded (or the problem that stopped it)."""

    path: Path
    state: dict[str, Any] | None  # decoded state dict (plain Python values), None when unreadable
    format: str | None = None  # "zip" | "legacy"
    problem: FileProblem | None = None


class ParamGroup(Record):
    """The LR fields of one optimizer param group."""

    lr: float | None
    initial_lr: float | None
    keys: tuple[str, ...]


class OptimizerFile(Record):
    """An ``optimizer*.bin``: its step count, param groups and the bytes read of it."""

    path: Path
    step: StepCount | None
    param_groups: tuple[ParamGroup, ...] = ()
    problem: FileProblem | None = None
    bytes_read: int = 0
    size: int = 0


class StateValue(Record):
    """One value of a trainer state file that the trainer's resume computes with, as the file holds it."""

    key: str
    kind: str  # formats.jsonfile.json_kind: "int", "missing", "bool", "null", "string", "float", "fraction", ...
    value: Any = None  # as decoded (None when missing): what a repair's recheck compares with
    text: str = ""  # the value's JSON text as written (clipped), for messages; "" when missing


class TrainingState(Record):
    """The trainer's own record of the step."""

    path: Path
    global_step: int | None  # None: missing, or not a usable step (``values`` says which)
    epoch_step: int | None
    epoch: int | None
    problem: FileProblem | None = None
    # Which record the step came from: SimpleTuner's training_state.json, Hugging Face's
    # trainer_state.json, or DeepSpeed's global_steps (mp_rank_00_model_states.pt).
    source: str = "training_state.json"
    raw: bytes = b""  # the file as read: a repair (epoch_step, the encoding) edits these bytes
    #: The values the trainer's resume reads from this file (model/readers.py ``RESUME_KEYS``), as written.
    values: tuple[StateValue, ...] = ()
    #: How the file is encoded when it is not plain UTF-8 without a byte-order mark (what the trainers read).
    encoding: str | None = None

    def value(self, key: str) -> StateValue | None:
        return next((v for v in self.values if v.key == key), None)


class LoggedLR(Record):
    """One ``log_history`` entry of a Hugging Face Trainer that carries ``learning_rate``."""

    step: int
    learning_rate: float


class TrainerState(Record):
    """Hugging Face Trainer's ``trainer_state.json`` (and the transformers version from ``config.json``)."""

    path: Path
    global_step: int | None
    max_steps: int | None
    logging_steps: int | None
    last_logged_lr: LoggedLR | None
    transformers_version: str | None = None
    problem: FileProblem | None = None


class EngineState(Record):
    """DeepSpeed's ``<tag>/mp_rank_00_model_states.pt``: step counters and scheduler, tensors never read."""

    path: Path
    tag: str | None  # the tag folder (named by the ``latest`` file)
    global_steps: int | None
    skipped_steps: int | None
    global_samples: int | None = None
    dp_world_size: int | None = None
    zero_stage: int | None = None
    ds_version: str | None = None
    has_lr_scheduler: bool = False  # DeepSpeed owns the scheduler (no scheduler.bin then)
    optim_shards: int = 0  # zero_pp_rank_*_mp_rank_00_optim_states.pt files
    problem: FileProblem | None = None


class ShardedState(Record):
    """A torch.distributed.checkpoint folder (FSDP SHARDED_STATE_DICT): what its ``.metadata`` says."""

    path: Path  # the folder, e.g. optimizer_0/
    entries: int  # keys in state_dict_metadata
    step_entries: int  # of which per-parameter ``step`` entries
    shards: tuple[str, ...]  # *.distcp files present
    missing_shards: tuple[str, ...] = ()  # named by .metadata but absent
    dcp_version: str | None = None
    problem: FileProblem | None = None


class WeightFile(Record):
    """A ``*.safetensors`` file, from its header alone."""

    path: Path
    tensors: int | None
    data_bytes: int | None
    problem: FileProblem | None = None


class Checkpoint(Record):
    """One checkpoint folder: every file ckptfix reads, as read."""

    path: Path
    folder_step: int | None  # N of checkpoint-N
    training_state: TrainingState | None
    optimizers: tuple[OptimizerFile, ...]
    schedulers: tuple[SchedulerFile, ...]
    num_processes: int  # count of random_states_*.pkl (0: none found)
    weights: tuple[WeightFile, ...] = ()
    has_guard: bool = False
    has_manifest: bool = False
    other_problems: tuple[FileProblem, ...] = ()  # other pickles that failed the safety scan
    bytes_read: int = 0
    layout: str = "accelerate"  # "accelerate" | "hf-trainer" | "deepspeed" | "fsdp"
    trainer_state: TrainerState | None = None  # hf-trainer
    engine: EngineState | None = None  # deepspeed
    sharded: tuple[ShardedState, ...] = ()  # fsdp (optimizer_0/, pytorch_model_fsdp_0/, ...)
    # every file below the folder (relative, "/"-separated; not .ckptfix/), when the layout listed them:
    # what the resume-files rule (analysis/resume_files.py) checks against
    files: tuple[str, ...] | None = None
    repair_leftovers: tuple[Leftover, ...] = ()  # what a killed ckptfix repair left (model/leftovers.py)
    #: The trainer that wrote it (``model/trainers``: simpletuner, kohya, transformers, diffusers, accelerate).
    trainer: str = "accelerate"
    #: Ranks of the ``random_states_{rank}.pkl`` files (``num_processes`` counts them).
    rng_ranks: tuple[int, ...] = ()
    #: SimpleTuner's ``training_state-rank{r}.json`` (ranks r > 0 that called ``save_state``), by rank.
    rank_states: tuple[tuple[int, TrainingState], ...] = ()
    #: What the entry is when it is not a folder (a dangling symlink, a loop, a file): a trainer's latest rule
    #: picked it by name (``discover``); nothing was read.
    not_a_folder: str | None = None
    #: Where the folder leads when it is a symbolic link (the files were read there, as the trainer reads them).
    link_target: Any = None
    #: The run's configuration (``model/run_config.py``'s ``RunConfig``, typed Any: that module imports this one),
    #: read where the trainer keeps it and only when a rule needs it: the Trainer's ``training_args.bin`` when
    #: ``optimizer.pt`` or ``scheduler.pt`` is missing, kohya's ``.safetensors`` metadata beside its state folder.
    run_config: Any = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def problems(self) -> list[FileProblem]:
        out: list[FileProblem] = []
        out += [s.problem for s in self.schedulers if s.problem]
        out += [o.problem for o in self.optimizers if o.problem]
        if self.training_state and self.training_state.problem:
            out.append(self.training_state.problem)
        out += [ts.problem for _r, ts in self.rank_states if ts.problem]
        out += [w.problem for w in self.weights if w.problem]
        out += list(self.other_problems)
        return out

    @property
    def optimizer_step(self) -> int | None:
        if self.optimizers and self.optimizers[0].step is not None:
            return self.optimizers[0].step.value
        return None


class Skipped(Record):
    """A folder discovery passed over, and why."""

    path: Path
    reason: str


class Discovery(Record):
    """What PATH holds: checkpoint folders to check (oldest first), skipped ones, and the latest.

    ``latest`` is the one folder the trainer's resume picks, when its rule decides; ``latest_candidates``
    every folder it may pick (several on a tie its rule leaves to ``os.listdir`` order, or for a trainer
    without a latest rule); ``latest_issue`` says when the rule itself fails (SimpleTuner then starts a new
    run) or picks a folder ckptfix does not read."""

    root: Path
    checkpoints: tuple[Path, ...]
    skipped: tuple[Skipped, ...] = ()
    latest: Path | None = None
    is_single: bool = False
    trainer: str | None = None  # whose latest rule was applied
    trainer_source: str = ""  # "--trainer", "detected from checkpoint-30", ...
    latest_candidates: tuple[Path, ...] = ()
    latest_reason: str = ""
    latest_sure: bool = True
    latest_issue: str | None = None
    #: The rule leaves the order of several candidates to ``os.listdir`` (CKF112).
    latest_tie: bool = False

    @property
    def picks(self) -> tuple[Path, ...]:
        """What a resume may load: the candidates, else the latest, else nothing."""
        if self.latest_candidates:
            return self.latest_candidates
        return (self.latest,) if self.latest is not None else ()
