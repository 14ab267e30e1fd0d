"""The schedule a run builds, with where each value came from (pure): the writing run's and the resuming run's.

A ``LambdaLR`` does not save its lambda, so the LR at a position comes from the configuration the run is
launched with. Two sources say it:

* the run's configuration files, where the trainer keeps them (``Checkpoint.run_config``, read by
  ``model/run_config.py``: the HF Trainer's ``training_args.bin``, kohya's ``.safetensors`` metadata, SimpleTuner's
  ``training_metrics.json``; the HF Trainer's total from ``trainer_state.json`` ``max_steps``): what the run that
  *wrote* the checkpoint was launched with;
* the options the user states (``--lr-scheduler NAME``, ``--lr-warmup-steps``, ``--max-train-steps``, ...): what
  the *resuming* run will be launched with.

The writing run's inputs take the files first, then the options (the same launch, unless a file says otherwise);
the resuming run's take the options first, then the files (an unchanged launch). Each input keeps its source
(``--max-train-steps``, ``training_args.bin: max_steps``), and the trainer's factory (``TrainerRules.factory``:
``schedules.FACTORIES``) builds the ``Schedule`` from them with the run's N.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ckptfix.analysis.options import Options
from ckptfix.analysis.schedule_options import scheduler_kwargs
from ckptfix.coerce import as_real
from ckptfix.model.checkpoint import Checkpoint
from ckptfix.records import Record
from ckptfix.schedulers.families.schedules import FACTORIES, Schedule, ScheduleInputs, build_schedule

__all__ = ["FLAGS", "ScheduleSpec", "resumer_spec", "writer_spec"]

#: ``ScheduleInputs`` field -> (``Options`` field, flag).
FLAGS: dict[str, tuple[str, str]] = {
    "name": ("lr_scheduler", "--lr-scheduler"),
    "warmup": ("lr_warmup_steps", "--lr-warmup-steps"),
    "total": ("max_train_steps", "--max-train-steps"),
    "num_cycles": ("lr_num_cycles", "--lr-num-cycles"),
    "power": ("lr_power", "--lr-power"),
    "lr_end": ("lr_end", "--lr-end"),
    "min_lr_rate": ("lr_min_lr_rate", "--lr-min-lr-rate"),
    "decay_steps": ("lr_num_decay_steps", "--lr-num-decay-steps"),
    "kwargs": ("lr_scheduler_kwargs", "--lr-scheduler-kwargs"),
    "learning_rate": ("learning_rate", "--learning-rate"),
}
#: ``ScheduleInputs`` field -> ``model/run_config.py`` ``KEYS`` name.
_CONFIG = {
    "name": "lr_scheduler", "warmup": "warmup_steps", "warmup_ratio": "warmup_ratio", "total": "max_steps",
    "num_cycles": "num_cycles", "power": "lr_power", "lr_end": "lr_end", "decay_steps": "decay_steps",
    "kwargs": "lr_scheduler_kwargs", "learning_rate": "learning_rate",
}
#: What each input is called in a message asking for it.
_ASK = {k: flag for k, (_field, flag) in FLAGS.items()}


class ScheduleSpec(Record):
    """One run's schedule inputs (``inputs``: None without a scheduler name), each with its source, and the
    schedule the trainer's factory builds from them for ``processes`` (None with ``why`` when it cannot: an input
    it needs is not known, or the library refuses the combination)."""

    inputs: ScheduleInputs | None
    sources: tuple[tuple[str, str], ...] = ()
    schedule: Schedule | None = None
    processes: int | None = None
    why: str = ""

    def source(self, key: str) -> str | None:
        return next((src for k, src in self.sources if k == key), None)

    def shown(self) -> tuple[tuple[str, Any, str], ...]:
        """(input, value, source) of each known input, for reports."""
        if self.inputs is None:
            return ()
        return tuple((k, getattr(self.inputs, k), src) for k, src in self.sources)

    @property
    def label(self) -> str:
        """``linear (warmup 3, total 12)`` for messages."""
        if self.inputs is None:
            return "unknown"
        c = self.inputs
        parts = [f"{k} {getattr(c, k)}" for k in ("warmup", "total", "num_cycles", "power", "min_lr_rate")
                 if getattr(c, k) is not None]
        return c.name + (f" ({', '.join(parts)})" if parts else "")


def _stated(opts: Options) -> dict[str, tuple[Any, str]]:
    out: dict[str, tuple[Any, str]] = {}
    for key, (field, flag) in FLAGS.items():
        v = getattr(opts, field)
        if v is None:
            continue
        out[key] = (scheduler_kwargs(v) if key == "kwargs" else v, flag)
    return out


def _from_files(ck: Checkpoint, state: Mapping[str, Any] | None) -> dict[str, tuple[Any, str]]:
    """What the run's configuration files say (the writing run's launch), and the base LR the state was built
    with as the learning rate of last resort."""
    out: dict[str, tuple[Any, str]] = {}
    rc = ck.run_config
    if rc is not None and rc.problem is None:
        for key, ours in _CONFIG.items():
            v, src = rc.get(ours), rc.source(ours)
            if v is None or src is None:
                continue
            if key == "total" and (not isinstance(v, int) or v <= 0):
                continue  # max_steps -1: the total comes from the epochs (trainer_state.json below)
            out[key] = (v, src)
    ts = ck.trainer_state
    if ts is not None and ts.problem is None and ts.max_steps is not None and ts.max_steps > 0:
        out["total"] = (ts.max_steps, f"{ts.path.name}: max_steps")  # the total the Trainer built its schedule with
    return out


def _with_base_lr(values: dict[str, tuple[Any, str]], state: Mapping[str, Any] | None) -> dict[str, tuple[Any, str]]:
    """The learning rate of last resort: the base LR the state was built with (``base_lrs[0]``, the optimizer's
    ``initial_lr``; polynomial divides by it)."""
    bases = state.get("base_lrs") if state is not None else None
    if "learning_rate" not in values and isinstance(bases, (list, tuple)) and bases and as_real(bases[0]) is not None:
        values["learning_rate"] = (as_real(bases[0]), "the scheduler state's base_lrs[0]")
    return values


def _spec(values: dict[str, tuple[Any, str]], factory: str | None, n: int | None) -> ScheduleSpec:
    if "name" not in values:
        return ScheduleSpec(None, why="the scheduler's name is not known: pass --lr-scheduler NAME")
    inputs = ScheduleInputs(**{k: v for k, (v, _src) in values.items()})
    sources = tuple((k, src) for k, (_v, src) in values.items())
    if factory is None or factory not in FACTORIES:
        return ScheduleSpec(inputs, sources, None, n, "the trainer's own code builds its scheduler (no factory "
                            "ckptfix models): the LambdaLR's lambda is not known")
    if n is None:
        return ScheduleSpec(inputs, sources, None, n, "N (training processes) is not known")
    try:
        schedule = build_schedule(factory, inputs, n)
    except ValueError as exc:
        return ScheduleSpec(inputs, sources, None, n, _missing(inputs, str(exc)))
    return ScheduleSpec(inputs, sources, schedule, n)


def _missing(inputs: ScheduleInputs, why: str) -> str:
    """The library's reason, with the flags that would supply what is missing."""
    asks = [flag for key, flag in _ASK.items() if getattr(inputs, key) is None
            and any(word in why for word in (key, *_WORDS.get(key, ())))]
    return why + (f" (pass {', '.join(asks)})" if asks else "")


_WORDS = {"warmup": ("num_warmup_steps", "warmup"), "total": ("num_training_steps", "max_steps", "max_train_steps"),
          "learning_rate": ("initial lr", "default lr", "learning rate"), "decay_steps": ("num_decay_steps",)}


def writer_spec(ck: Checkpoint, opts: Options, factory: str | None, n: int | None,
                state: Mapping[str, Any] | None = None) -> ScheduleSpec:
    """The schedule the run that wrote ``ck`` built: its configuration files first, then the options."""
    values = _stated(opts)
    values.update(_from_files(ck, state))
    return _spec(_ordered(_with_base_lr(values, state)), factory, n)


def resumer_spec(ck: Checkpoint, opts: Options, factory: str | None, n: int | None,
                 state: Mapping[str, Any] | None = None) -> ScheduleSpec:
    """The schedule the resuming run builds: the options first, then the configuration files."""
    values = _from_files(ck, state)
    values.update(_stated(opts))
    return _spec(_ordered(_with_base_lr(values, state)), factory, n)


def _ordered(values: dict[str, tuple[Any, str]]) -> dict[str, tuple[Any, str]]:
    order = list(ScheduleInputs.__record_fields__)
    return {k: values[k] for k in order if k in values}
