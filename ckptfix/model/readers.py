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
from ckptfix.formats.jsonfile import decode_json_text, foreign_encoding, json_kind, parse_json
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
    StateValue,
    TrainingState,
    WeightFile,
)
from ckptfix.model.optimizer_step import StepCount, optimizer_step_count
from ckptfix.records import replace
from ckptfix.text import clip

__all__ = [
    "NOT_WALKED", "OPTIMIZER_FILE", "RESUME_KEYS", "RNG_FILE", "SCHEDULER_FILE", "TRAINER_STATE", "file_index",
    "int_field", "optimizer_from", "param_group", "problem_of", "RANK_STATE_FILE", "read_optimizer",
    "read_rank_states", "read_scheduler", "read_state_file", "read_train_state", "read_training_state",
    "read_weights", "rng_ranks", "scan_other_pickles",
]

_NUMBERED = r"(?:_\d+)?"
SCHEDULER_FILE = re.compile(rf"^scheduler{_NUMBERED}\.bin$")
OPTIMIZER_FILE = re.compile(rf"^optimizer{_NUMBERED}\.bin$")
RNG_FILE = re.compile(r"^random_states_(\d+)\.pkl$")
#: SimpleTuner's per-rank trainer state (rank r > 0; not the sampler's training_state-rank{r}-<id>.json).
RANK_STATE_FILE = re.compile(r"^training_state-rank(\d+)\.json$")
KOHYA_STATE = "train_state.json"
TRAINER_STATE = "trainer_state.json"
#: The values each trainer's resume reads from its state file (by the file's kind; the trainer models'
#: ``ResumeValue`` rules say what the resume does when one is not a JSON integer).
RESUME_KEYS: dict[str, tuple[str, ...]] = {
    "training_state.json": ("global_step", "epoch_step"),  # SimpleTuner (and its training_state-rank{r}.json)
    KOHYA_STATE: ("current_step",),
    TRAINER_STATE: ("global_step", "logging_steps", "eval_steps", "save_steps"),
}
#: Step counters: an int64 in every trainer; a larger integer is no step ("huge").
_STEP_KEYS = frozenset({"global_step", "current_step"})
#: Divisors of the transformers Trainer (global_step % logging_steps): 0 or false is "zero".
_DIVISOR_KEYS = frozenset({"logging_steps", "eval_steps"})
_INT64 = 1 << 63
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


def _values(data: dict[str, Any], keys: tuple[str, ...], raw: bytes) -> tuple[StateValue, ...]:
    out = []
    for key in keys:
        present = key in data
        v = data.get(key)
        kind = json_kind(v, present)
        if kind == "int" and key in _STEP_KEYS and v >= _INT64:
            kind = "huge"
        elif key in _DIVISOR_KEYS and present and (v is False or (kind == "int" and v == 0)):
            kind = "zero"
        text = ""
        if present and kind != "int":  # an odd value: shown as written (1e400, not the Infinity it parses to)
            from ckptfix.formats.json_edit import top_level_text  # noqa: PLC0415 - rare: keeps its regex off the gate's import

            try:
                text = top_level_text(decode_json_text(raw), key) or ""
            except (UnicodeDecodeError, LookupError):
                text = ""
        out.append(StateValue(key, kind, v, clip(text, 40) if text else repr(v) if present else ""))
    return tuple(out)


def read_state_file(path: Any, source: str, *, root: Any, limits: Limits = DEFAULT_LIMITS,
                    store: Store = LOCAL) -> tuple[TrainingState, dict[str, Any] | None]:
    """A trainer state file (``source``: ``training_state.json``, ``train_state.json`` or ``trainer_state.json``):
    its step, the values its resume reads (``RESUME_KEYS``) and its encoding, plus the decoded object (None when
    unreadable). A value the resume cannot use is recorded, not an error: the analysis says what the resume
    does with it; only a file that is no JSON object is unreadable."""
    try:
        raw = store.read(path, limits.max_json_bytes, "JSON file", root=root)
        data = parse_json(path, raw)
        if not isinstance(data, dict):
            raise UnreadableFile(path, "expected a JSON object")
    except UnreadableFile as exc:
        return TrainingState(path, None, None, None, problem_of(exc), source=source), None
    values = _values(data, RESUME_KEYS[source], raw)
    step_key = "current_step" if source == KOHYA_STATE else "global_step"
    step = next((v.value for v in values if v.key == step_key and v.kind == "int"), None)
    return TrainingState(path, step, None, None, source=source, raw=raw, values=values,
                         encoding=foreign_encoding(raw)), data


def read_training_state(path: Any, *, root: Any, limits: Limits = DEFAULT_LIMITS, store: Store = LOCAL) -> TrainingState:
    """SimpleTuner's ``training_state.json``: ``global_step``, ``epoch_step``, ``epoch`` (and its bytes)."""
    ts, data = read_state_file(path, "training_state.json", root=root, limits=limits, store=store)
    if data is None:
        return ts
    es = ts.value("epoch_step")
    return replace(ts, epoch_step=es.value if es is not None and es.kind in ("int", "negative") else None,
                   epoch=int_field(data, "epoch"))


def read_train_state(path: Any, *, root: Any, limits: Limits = DEFAULT_LIMITS, store: Store = LOCAL) -> TrainingState:
    """kohya sd-scripts' ``train_state.json``: ``current_step`` (the step) and ``current_epoch``."""
    ts, data = read_state_file(path, KOHYA_STATE, root=root, limits=limits, store=store)
    return ts if data is None else replace(ts, epoch=int_field(data, "current_epoch"))


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


