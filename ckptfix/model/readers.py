"""Readers of the files every layout shares: scheduler and optimizer states, trainer JSON, weights,
the safety scan of the other pickles. Each returns a model record; a file that cannot be read safely
becomes a ``FileProblem`` in it, never an exception.

All reads go through a ``Store`` (``ckptfix.formats.source``): the local disk by default.
"""

from __future__ import annotations

import re
from typing import Any

from ckptfix.coerce import as_int
from ckptfix.errors import ResourceLimit, UnreadableFile, UnsafePickle
from ckptfix.formats.jsonfile import parse_json, read_json
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.safetensors_header import read_safetensors_header
from ckptfix.formats.scan import UNSAFE, classify, scan_file
from ckptfix.formats.source import LOCAL, Entry, Store
from ckptfix.formats.torchfile import TorchFile, open_torch_file
from ckptfix.model.checkpoint import (
    FileProblem,
    OptimizerFile,
    ParamGroup,
    SchedulerFile,
    TrainingState,
    WeightFile,
)
from ckptfix.model.optimizer_step import StepCount, optimizer_step_count

__all__ = [
    "NOT_WALKED", "OPTIMIZER_FILE", "RNG_FILE", "SCHEDULER_FILE", "file_index", "int_field", "optimizer_from",
    "param_group", "problem_of", "RANK_STATE_FILE", "read_optimizer", "read_rank_states", "read_scheduler",
    "read_train_state", "read_training_state", "read_weights", "rng_ranks", "scan_other_pickles",
]

_NUMBERED = r"(?:_\d+)?"
SCHEDULER_FILE = re.compile(rf"^scheduler{_NUMBERED}\.bin$")
OPTIMIZER_FILE = re.compile(rf"^optimizer{_NUMBERED}\.bin$")
RNG_FILE = re.compile(r"^random_states_(\d+)\.pkl$")
#: SimpleTuner's per-rank trainer state (rank r > 0; not the sampler's training_state-rank{r}-<id>.json).
RANK_STATE_FILE = re.compile(r"^training_state-rank(\d+)\.json$")
KOHYA_STATE = "train_state.json"
_HF_RNG = re.compile(r"^rng_state(?:_\d+)?\.pth$")
# Files trainers write but never load on resume: not scanned (a pickled TrainingArguments is code).
_NOT_LOADED = ("training_args.bin",)


#: What a checkpoint's walk leaves out: ckptfix's own backups and lock.
NOT_WALKED = frozenset({".ckptfix"})

def problem_of(exc: UnreadableFile) -> FileProblem:
    """The model's record of a file that could not be read safely."""
    kind = "unsafe-pickle" if isinstance(exc, UnsafePickle) else "resource-limit" if isinstance(exc, ResourceLimit) else "unreadable"
    refused = tuple(getattr(exc, "refused", ()) or ())
    return FileProblem(exc.path, kind, str(exc), refused)


def file_index(name: str) -> int:
    """``optimizer_1.bin`` -> 1, ``optimizer.bin`` -> 0: pairs each optimizer with its scheduler."""
    m = re.search(r"_(\d+)\.", name)
    return int(m.group(1)) if m else 0


def int_field(data: dict, key: str) -> int | None:
    """``data[key]`` as an int (an integral float counts), None when absent or not a whole number."""
    return as_int(data.get(key))


def param_group(g: dict) -> ParamGroup:
    """The LR fields of one decoded optimizer param group."""
    lr, initial = g.get("lr"), g.get("initial_lr")
    return ParamGroup(_number(lr), _number(initial), tuple(str(k) for k in g))


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def read_scheduler(path: Any, *, root: Any, limits: Limits = DEFAULT_LIMITS, store: Store = LOCAL) -> tuple[SchedulerFile, int]:
    """A ``scheduler*.bin`` (or ``scheduler.pt``) and the bytes read of it."""
    try:
        with open_torch_file(path, limits=limits, store=store, root=root) as tf:
            obj, fmt, n = tf.obj, tf.format, tf.bytes_read
    except UnreadableFile as exc:
        return SchedulerFile(path, None, problem=problem_of(exc)), 0
    if not isinstance(obj, dict):
        problem = FileProblem(path, "unreadable", f"{path}: holds a {type(obj).__name__}, not a scheduler state dict")
        return SchedulerFile(path, None, fmt, problem), n
    return SchedulerFile(path, obj, fmt), n


def optimizer_from(path: Any, sd: Any, tf: TorchFile) -> OptimizerFile:
    """An optimizer state dict decoded from ``tf`` (its step counters read from ``tf``'s storages)."""
    if not isinstance(sd, dict) or "param_groups" not in sd:
        step = StepCount(None, "unknown", str(path), "no optimizer state dict found in the file")
        return OptimizerFile(path, step, (), None, tf.bytes_read, tf.size)
    step = optimizer_step_count(sd, tf.read_scalars)
    groups = tuple(param_group(g) for g in sd.get("param_groups") or () if isinstance(g, dict))
    return OptimizerFile(path, step, groups, None, tf.bytes_read, tf.size)


def read_optimizer(path: Any, *, root: Any, limits: Limits = DEFAULT_LIMITS, store: Store = LOCAL) -> OptimizerFile:
    """An ``optimizer*.bin`` (or ``optimizer.pt``): step count and param-group LRs."""
    try:
        with open_torch_file(path, limits=limits, store=store, root=root) as tf:
            obj = tf.obj
            if not isinstance(obj, dict) or "param_groups" not in obj:
                raise UnreadableFile(path, "holds no optimizer state dict (no param_groups)")
            return optimizer_from(path, obj, tf)
    except UnreadableFile as exc:
        return OptimizerFile(path, None, problem=problem_of(exc))


def read_training_state(path: Any, *, root: Any, limits: Limits = DEFAULT_LIMITS, store: Store = LOCAL) -> TrainingState:
    """SimpleTuner's ``training_state.json``: ``global_step``, ``epoch_step``, ``epoch`` (and its bytes)."""
    try:
        raw = store.read(path, limits.max_json_bytes, "JSON file", root=root)
        data = parse_json(path, raw)
        if not isinstance(data, dict):
            raise UnreadableFile(path, "expected a JSON object")
        gs = int_field(data, "global_step")
        if "global_step" in data and (gs is None or gs < 0 or gs >= 1 << 63):  # a step counter is an int64
            raise UnreadableFile(path, f"global_step is {data['global_step']!r}, not a step number")
    except UnreadableFile as exc:
        return TrainingState(path, None, None, None, problem_of(exc))
    return TrainingState(path, gs, int_field(data, "epoch_step"), int_field(data, "epoch"), raw=raw)


def read_train_state(path: Any, *, root: Any, limits: Limits = DEFAULT_LIMITS, store: Store = LOCAL) -> TrainingState:
    """kohya sd-scripts' ``train_state.json``: ``current_step`` (the step) and ``current_epoch``."""
    try:
        data = read_json(path, limits, store=store, root=root)
        if not isinstance(data, dict):
            raise UnreadableFile(path, "expected a JSON object")
        step = int_field(data, "current_step")
        if "current_step" in data and (step is None or step < 0):
            raise UnreadableFile(path, f"current_step is {data['current_step']!r}, not a step number")
    except UnreadableFile as exc:
        return TrainingState(path, None, None, None, problem_of(exc), source=KOHYA_STATE)
    return TrainingState(path, step, None, int_field(data, "current_epoch"), source=KOHYA_STATE)


def read_rank_states(folder: Any, names: list[str], *, limits: Limits = DEFAULT_LIMITS,
                     store: Store = LOCAL) -> tuple[tuple[int, TrainingState], ...]:
    """Every ``training_state-rank{r}.json`` (SimpleTuner's state of rank r > 0), by rank."""
    out = []
    for name in names:
        m = RANK_STATE_FILE.match(name)
        if m:
            out.append((int(m.group(1)), read_training_state(folder / name, root=folder, limits=limits, store=store)))
    return tuple(sorted(out, key=lambda t: t[0]))


def rng_ranks(names: list[str]) -> tuple[int, ...]:
    """The ranks of the ``random_states_{rank}.pkl`` files."""
    return tuple(sorted(int(m.group(1)) for n in names if (m := RNG_FILE.match(n))))


def read_weights(folder: Any, *, limits: Limits = DEFAULT_LIMITS, store: Store = LOCAL,
                 dirs: frozenset[str] | None = None, below: list[tuple[Any, Entry]] | None = None,
                 ) -> tuple[WeightFile, ...]:
    """Every ``*.safetensors`` below ``folder`` (not in ``.ckptfix/``), from its header alone.

    ``dirs`` (the names of ``folder``'s subfolders) and ``below`` (``store.walk(folder, skip={".ckptfix"})``):
    what the caller has listed already, so that a checkpoint's folders are listed once."""
    if dirs is None:
        try:
            dirs = frozenset(e.name for e in store.list(folder) if e.is_dir)
        except OSError:
            dirs = frozenset()
    odd = sorted(d for d in dirs if d.endswith(".safetensors"))  # the resume would try to load it as a file
    out = [WeightFile(folder / name, None, None, FileProblem(
        folder / name, "unreadable", f"{folder / name}: not a regular file (a directory): not read")) for name in odd]
    if below is None:
        below = store.walk(folder, skip=NOT_WALKED)
    prefix = len(str(folder)) + 1
    for p, _entry in below:
        if not p.name.endswith(".safetensors") or str(p)[prefix:].replace("\\", "/").split("/")[0] in odd:
            continue
        try:
            h = read_safetensors_header(p, limits, store=store, root=folder)
            out.append(WeightFile(p, h.tensors, h.data_bytes))
        except UnreadableFile as exc:
            out.append(WeightFile(p, None, None, problem_of(exc)))
    return tuple(out)


def scan_other_pickles(folder: Any, names: list[str], *, limits: Limits = DEFAULT_LIMITS,
                       store: Store = LOCAL) -> tuple[tuple[FileProblem, ...], int]:
    """Safety-scan every other pickle the resume path loads (RNG states, sampler, scaler, custom objects)."""
    problems, nbytes = [], 0
    for name in names:
        if SCHEDULER_FILE.match(name) or OPTIMIZER_FILE.match(name) or name in _NOT_LOADED:
            continue
        kind = "random-states" if _HF_RNG.match(name) else classify(name)
        if kind is None or kind == "dcp-metadata":
            continue
        res = scan_file(folder / name, kind, root=folder, limits=limits, store=store)
        nbytes += res.bytes_read
        if not res.ok:
            problems.append(FileProblem(res.path, "unsafe-pickle" if res.status == UNSAFE else "unreadable",
                                        res.message, tuple(res.refused)))
    return tuple(problems), nbytes


