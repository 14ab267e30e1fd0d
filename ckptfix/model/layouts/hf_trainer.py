"""Hugging Face ``transformers.Trainer`` checkpoints: ``checkpoint-N/`` as ``Trainer._save_checkpoint`` writes it.

==========================  ===========================================================================
file                        what ckptfix reads
==========================  ===========================================================================
``trainer_state.json``      ``global_step`` (the step), ``max_steps``, ``logging_steps``, the last
                            ``log_history`` entry carrying ``learning_rate`` (and its ``step``)
``scheduler.pt``            ``torch.save(lr_scheduler.state_dict())``: transformers' schedulers are
                            ``LambdaLR`` (``lr_lambdas`` saved as ``{}`` or ``None``): profile unchecked
``optimizer.pt``            ``torch.save(optimizer.state_dict())``: step count and param-group LRs,
                            as for accelerate's ``optimizer.bin``
``rng_state.pth``,          one per process (``rng_state_{rank}.pth``; a single ``rng_state.pth`` when
``rng_state_{rank}.pth``    one process): counted, never decoded (full pickles with numpy objects)
``config.json``             ``transformers_version``: from 4.51 (PR #36973) the logged LR is the LR of
                            the step just taken, before the scheduler advanced
``*.safetensors``           headers only
==========================  ===========================================================================

``training_args.bin`` (a pickle of ``TrainingArguments``, decoded as inert records by ``model/run_config.py``, never
run) is read only when ``scheduler.pt`` holds a ``LambdaLR``, whose lambda the run's schedule settings give,
or when ``optimizer.pt`` or ``scheduler.pt`` is missing: its ``save_only_model`` says why. Not read:
``scaler.pt`` (scanned by the safety scan only). A Trainer run with DeepSpeed also has a DeepSpeed tag
folder and ``latest``: its engine state is attached as for the ``deepspeed`` layout.
"""

from __future__ import annotations

import re
from typing import Any

from ckptfix.coerce import as_int, as_real
from ckptfix.errors import UnreadableFile
from ckptfix.formats.jsonfile import read_json
from ckptfix.formats.limits import Limits
from ckptfix.formats.source import Store
from ckptfix.model.checkpoint import Checkpoint, LoggedLR, TrainerState, TrainingState
from ckptfix.model.layouts.accelerate import load_accelerate
from ckptfix.model.layouts.deepspeed import attach_engine, find_tag
from ckptfix.model.layouts.interface import Folder, Layout
from ckptfix.model.readers import TRAINER_STATE, read_optimizer, read_scheduler, read_state_file
from ckptfix.model.trainers import TRANSFORMERS
from ckptfix.records import replace

__all__ = ["TRAINER_STATE", "HfTrainerLayout", "count_processes", "last_logged_lr", "read_trainer_state"]

TRAINER_TORCH_FILES = ("scheduler.pt", "optimizer.pt")
TRAINING_ARGS = "training_args.bin"


def _lambda_state(state: object) -> bool:
    """A LambdaLR's state (its lambda is not saved: the run's configuration says it)."""
    return isinstance(state, dict) and "lr_lambdas" in state
_RNG = re.compile(r"^rng_state(?:_(\d+))?\.pth$")


def last_logged_lr(log_history: Any) -> LoggedLR | None:
    """The ``log_history`` entry with ``learning_rate`` at the highest ``step`` (the last one logged)."""
    best: LoggedLR | None = None
    if not isinstance(log_history, list):
        return None
    for entry in log_history:
        if not isinstance(entry, dict):
            continue
        step, lr = as_int(entry.get("step")), as_real(entry.get("learning_rate"))
        if step is None or lr is None:
            continue
        if best is None or step >= best.step:
            best = LoggedLR(step, lr)
    return best


def read_trainer_state(store: Store, folder: Any, limits: Limits) -> tuple[TrainerState, TrainingState]:
    """``trainer_state.json`` (and the transformers version from ``config.json``). ``global_step`` is the step only
    when it is a JSON integer (``TrainerState.load_from_json`` keeps the value as written, and the resume's
    ``global_step // steps_per_epoch`` and ``range()`` need an int); the values the resume reads are recorded."""
    path = folder / TRAINER_STATE
    version = _transformers_version(store, folder, limits)
    training, data = read_state_file(path, TRAINER_STATE, root=folder, limits=limits, store=store)
    if data is None:
        return TrainerState(path, None, None, None, None, version, training.problem), training
    gs = training.global_step
    ts = TrainerState(path, gs, as_int(data.get("max_steps")), as_int(data.get("logging_steps")),
                      last_logged_lr(data.get("log_history")), version)
    return ts, training


def _transformers_version(store: Store, folder: Any, limits: Limits) -> str | None:
    path = folder / "config.json"
    if store.kind(path) != "file":
        return None
    try:
        data = read_json(path, limits, store=store, root=folder)
    except UnreadableFile:
        return None  # config.json is the model's: not ours to judge
    v = data.get("transformers_version") if isinstance(data, dict) else None
    return v if isinstance(v, str) and len(v) < 64 else None


def count_processes(names: list[str]) -> int:
    """``rng_state_{rank}.pth`` files, or 1 for a single ``rng_state.pth`` (the Trainer's one-process name)."""
    ranks = {m.group(1) for n in names if (m := _RNG.match(n))}
    if not ranks:
        return 0
    numbered = ranks - {None}
    return len(numbered) if numbered else 1


class HfTrainerLayout(Layout):
    """``transformers.Trainer``: the files only the Trainer writes (``model/trainers/transformers.py``: ``detect``,
    a half-written save included). A Trainer run with DeepSpeed gets the engine state attached too."""

    name = "hf-trainer"
    trainer = "transformers"
    rank_files_exact = "rng_state*.pth (the Trainer saves one per process)"
    previews_resume = False  # the Trainer steps its scheduler once per optimizer step: trainer_checks.py
    # The Trainer's scheduler.pt is a LambdaLR: nothing ckptfix writes would be loaded.
    repair_refusal = ("Hugging Face Trainer checkpoint: ckptfix reports its findings but does not rewrite "
                      "scheduler.pt (a LambdaLR); fix the run's settings instead")

    def detect(self, folder: Folder) -> bool:
        return TRANSFORMERS.detect(folder.path.name, folder.listing.names)

    def load(self, folder: Folder, limits: Limits) -> Checkpoint:
        store, path = folder.store, folder.path
        base = load_accelerate(folder, limits)  # weights, problems listing the folder, accelerate's files if any
        names = folder.sorted_names()
        schedulers, optimizers = list(base.schedulers), list(base.optimizers)
        bytes_read = base.bytes_read
        if "scheduler.pt" in names:
            sf, n = read_scheduler(path / "scheduler.pt", root=path, limits=limits, store=store)
            schedulers.append(sf)
            bytes_read += n
        if "optimizer.pt" in names:
            of = read_optimizer(path / "optimizer.pt", root=path, limits=limits, store=store)
            optimizers.append(of)
            bytes_read += of.bytes_read
        trainer_state, training_state = (read_trainer_state(store, path, limits) if TRAINER_STATE in names
                                         else (None, base.training_state))
        run_config = None
        if TRAINING_ARGS in names and (any(_lambda_state(sf.state) for sf in schedulers)
                                       or not all(n in names for n in TRAINER_TORCH_FILES)):
            # a LambdaLR does not save its lambda: the run's schedule is in its TrainingArguments; and why the
            # resume will not restore the schedule: save_only_model=True says it (read only then)
            from ckptfix.model.run_config import read_training_args  # noqa: PLC0415 - 0.9 ms of imports, only then

            run_config = read_training_args(path / TRAINING_ARGS, root=path, limits=limits, store=store)
        ck = replace(
            base,
            layout=self.name,
            schedulers=tuple(schedulers),
            optimizers=tuple(optimizers),
            training_state=training_state,
            trainer_state=trainer_state,
            num_processes=count_processes(names) or base.num_processes,
            bytes_read=bytes_read,
            run_config=run_config,
        )
        if find_tag(store, path) is not None:  # Trainer + DeepSpeed: the engine holds optimizer (+ scheduler)
            ck = attach_engine(ck, store, limits, step_source=False)
        return ck
