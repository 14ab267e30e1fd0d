"""The run's configuration, where each trainer keeps it, read on request (never on the gate's default path).

A LambdaLR does not save its lambda, and a resume rebuilds the schedule from the configuration the run is
launched with, so the schedule's parameters live in the trainers' own files:

- the HF Trainer: ``training_args.bin`` in each checkpoint (a pickle of ``TrainingArguments``, decoded as inert
  records by ``formats.config_pickle``: never run) and ``trainer_state.json`` (``max_steps``, ``global_step``).
- kohya sd-scripts: the header metadata of the ``.safetensors`` it saves next to each ``-state`` folder
  (``train_network.py`` L1003-1064 at 48d368f: ``ss_lr_scheduler``, ``ss_lr_warmup_steps``,
  ``ss_max_train_steps``, ``ss_learning_rate``, ``ss_gradient_accumulation_steps``, ``ss_num_batches_per_epoch``,
  ``ss_num_epochs``; ``ss_steps``/``ss_epoch`` at L1301-1303; every value a string, L1223). sd-scripts writes no
  ``ss_lr_scheduler_num_cycles``/``_power``/``_args``/``_type`` and no ``ss_lr_decay_steps``: read when a fork
  writes them, never assumed. ``--no_metadata`` leaves none of these keys.
- SimpleTuner: nothing in 3.1.6 (checkpoint or output folder; with ``--report_to=tensorboard`` accelerate writes
  the arguments to ``<logging_dir>/<project>/<time>/hparams.yml``, YAML, not read here). From 4.8 (checked in
  4.10.1), with ``--report_to`` including ``simpletuner``, ``<output_dir>/training_metrics.json`` holds a subset
  under ``"config"`` (``local_metrics.py`` ``_CONFIG_KEYS``): ``lr_scheduler``, ``lr_warmup_steps``,
  ``learning_rate``, ``max_train_steps``, ``gradient_accumulation_steps``, ``num_train_epochs``,
  ``train_batch_size`` (not ``lr_end``, ``lr_power`` or ``lr_num_cycles``), rewritten at every launch.

Each reader returns a ``RunConfig``: values under ckptfix's own names (``KEYS``), each with the file and key it
came from; a file that cannot be read safely gives a ``FileProblem`` instead of values, never an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ckptfix.coerce import as_int, as_real
from ckptfix.errors import UnreadableFile
from ckptfix.formats.config_pickle import ConfigRecord, EnumValue, read_config_pickle
from ckptfix.formats.jsonfile import parse_json
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.safetensors_header import read_safetensors_header
from ckptfix.formats.source import LOCAL, Store
from ckptfix.model.checkpoint import FileProblem
from ckptfix.model.readers import problem_of
from ckptfix.model.trainers.kohya import kohya_weights_name
from ckptfix.records import Record

__all__ = [
    "KEYS", "READERS", "ConfigValue", "RunConfig", "kohya_weights_name", "read_config", "read_kohya_metadata",
    "read_simpletuner_metrics", "read_trainer_state", "read_training_args",
]

#: ckptfix's names for the values the schedule needs (each reader fills those its file has)
KEYS = (
    "lr_scheduler", "lr_scheduler_kwargs", "warmup_steps", "warmup_ratio", "decay_steps", "max_steps",
    "num_train_epochs", "learning_rate", "lr_end", "lr_power", "num_cycles", "gradient_accumulation_steps",
    "per_device_train_batch_size", "num_batches_per_epoch", "num_processes", "split_batches", "save_only_model",
    "optimizer", "global_step", "epoch",
)


class ConfigValue(Record):
    """One value and where it came from (``"training_args.bin: lr_scheduler_type"``)."""

    value: Any
    source: str


class RunConfig(Record):
    """What one configuration file says: ``values`` by ``KEYS`` name, or the ``problem`` that stopped it."""

    trainer: str
    path: Any
    values: Mapping[str, ConfigValue]
    problem: FileProblem | None = None
    notes: tuple[str, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        v = self.values.get(key)
        return default if v is None else v.value

    def source(self, key: str) -> str | None:
        v = self.values.get(key)
        return None if v is None else v.source


def _failed(trainer: str, exc: UnreadableFile) -> RunConfig:
    return RunConfig(trainer, exc.path, {}, problem_of(exc))


# --- HF Trainer ---------------------------------------------------------------------------------------------

def _plain(v: Any) -> Any:
    """An enum as its value; records, tuples and lists as plain values (for the lr_scheduler_kwargs dict)."""
    if isinstance(v, EnumValue):
        return v.value
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _kwargs(v: Any, notes: list[str]) -> dict[str, Any] | None:
    if v is None:
        return None
    if isinstance(v, str):  # a JSON string on the command line
        try:
            v = json.loads(v) if v.strip() else {}
        except (json.JSONDecodeError, RecursionError, ValueError):
            notes.append(f"lr_scheduler_kwargs {v[:60]!r} is not JSON: not read.")
            return None
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        notes.append(f"lr_scheduler_kwargs is a {type(v).__name__}, not a mapping: not read.")
        return None
    return _plain(v)


def read_training_args(path: Any, *, root: Any = None, limits: Limits = DEFAULT_LIMITS,
                       store: Store = LOCAL) -> RunConfig:
    """The HF Trainer's ``training_args.bin``: the schedule's name and parameters, the warmup (``warmup_steps``,
    and ``warmup_ratio`` before transformers 5), ``max_steps``, epochs, learning rate, accumulation, batch size,
    ``save_only_model``, and the saving run's world size and ``split_batches``."""
    try:
        obj = read_config_pickle(path, limits, store=store, root=root)
    except UnreadableFile as exc:
        return _failed("hf-trainer", exc)
    name = path.name if hasattr(path, "name") else str(path)
    if not isinstance(obj, ConfigRecord) or not obj.kind.endswith("TrainingArguments"):
        what = obj.kind if isinstance(obj, ConfigRecord) else type(obj).__name__
        return RunConfig("hf-trainer", path, {}, FileProblem(path, "unreadable", f"{path}: holds a {what}, not "
                                                                                   "TrainingArguments"))
    notes: list[str] = []
    out: dict[str, ConfigValue] = {}

    def put(key: str, value: Any, field: str) -> None:
        if value is not None:
            out[key] = ConfigValue(value, f"{name}: {field}")

    f = obj.fields
    sched = f.get("lr_scheduler_type")
    put("lr_scheduler", sched.value if isinstance(sched, EnumValue) else sched if isinstance(sched, str) else None,
        "lr_scheduler_type")
    if "lr_scheduler_kwargs" in f:
        put("lr_scheduler_kwargs", _kwargs(f["lr_scheduler_kwargs"], notes), "lr_scheduler_kwargs")
    for key, field, conv in (("warmup_steps", "warmup_steps", as_real), ("warmup_ratio", "warmup_ratio", as_real),
                             ("max_steps", "max_steps", as_int), ("num_train_epochs", "num_train_epochs", as_real),
                             ("learning_rate", "learning_rate", as_real),
                             ("gradient_accumulation_steps", "gradient_accumulation_steps", as_int),
                             ("per_device_train_batch_size", "per_device_train_batch_size", as_int)):
        v = conv(f.get(field))
        if key == "warmup_steps" and isinstance(f.get(field), int) and not isinstance(f.get(field), bool):
            v = f[field]  # an int stays an int: a count of steps, not a ratio
        put(key, v, field)
    if isinstance(f.get("save_only_model"), bool):
        put("save_only_model", f["save_only_model"], "save_only_model")
    optim = f.get("optim")
    put("optimizer", optim.value if isinstance(optim, EnumValue) else optim if isinstance(optim, str) else None, "optim")
    state = f.get("distributed_state")
    if isinstance(state, ConfigRecord):
        put("num_processes", as_int(state.get("num_processes")), "distributed_state.num_processes")
    acc = f.get("accelerator_config")
    acc_fields = acc.fields if isinstance(acc, ConfigRecord) else acc if isinstance(acc, dict) else {}
    if isinstance(acc_fields.get("split_batches"), bool):
        put("split_batches", acc_fields["split_batches"], "accelerator_config.split_batches")
    return RunConfig("hf-trainer", path, out, None, tuple(notes))


def read_trainer_state(path: Any, *, root: Any = None, limits: Limits = DEFAULT_LIMITS,
                       store: Store = LOCAL) -> RunConfig:
    """The HF Trainer's ``trainer_state.json``: ``max_steps`` (the total the schedule was built with when
    ``max_steps`` was not set: epochs × steps per epoch), ``global_step``, ``num_train_epochs``, ``epoch``."""
    try:
        raw = store.read(path, limits.max_json_bytes, "JSON file", root=root)
        data = parse_json(path, raw)
        if not isinstance(data, dict):
            raise UnreadableFile(path, "expected a JSON object")
    except UnreadableFile as exc:
        return _failed("hf-trainer", exc)
    name = path.name if hasattr(path, "name") else str(path)
    out = {}
    for key, field, conv in (("max_steps", "max_steps", as_int), ("global_step", "global_step", as_int),
                             ("num_train_epochs", "num_train_epochs", as_real), ("epoch", "epoch", as_real)):
        v = conv(data.get(field))
        if v is not None:
            out[key] = ConfigValue(v, f"{name}: {field}")
    return RunConfig("hf-trainer", path, out)


# --- kohya sd-scripts -------------------------------------------------------------------------------------

#: ss_* key -> ckptfix's name. The first block is what train_network.py writes (48d368f L1007-1019, L1302-1303);
#: the second what forks add (read if present).
KOHYA_KEYS = {
    "ss_lr_scheduler": "lr_scheduler", "ss_lr_warmup_steps": "warmup_steps", "ss_max_train_steps": "max_steps",
    "ss_learning_rate": "learning_rate", "ss_gradient_accumulation_steps": "gradient_accumulation_steps",
    "ss_num_batches_per_epoch": "num_batches_per_epoch", "ss_num_epochs": "num_train_epochs",
    "ss_optimizer": "optimizer", "ss_steps": "global_step", "ss_epoch": "epoch",
    "ss_lr_scheduler_num_cycles": "num_cycles", "ss_lr_scheduler_power": "lr_power",
    "ss_lr_decay_steps": "decay_steps", "ss_lr_scheduler_args": "lr_scheduler_kwargs",
}
_INT = re.compile(r"^[+-]?\d+$")


def _kohya_value(key: str, s: str) -> Any:
    """``str(v)`` back to ``v``: "None" is None, "True"/"False" bools, digits an int (a warmup given as an int is a
    count), anything float-like a float (a warmup given as a float is a ratio of the total), else the string."""
    if s == "None":
        return None
    if s in ("True", "False"):
        return s == "True"
    if _INT.match(s.strip()):
        return int(s)
    if key in ("ss_lr_scheduler", "ss_optimizer", "ss_lr_scheduler_args"):
        return s
    try:
        f = float(s)
    except ValueError:
        return s
    return f if as_real(f) is not None else s


def read_kohya_metadata(path: Any, *, root: Any = None, limits: Limits = DEFAULT_LIMITS,
                        store: Store = LOCAL) -> RunConfig:
    """The training metadata in the header of a ``.safetensors`` kohya's ``train_network.py`` saved (the
    tensors are never read)."""
    try:
        header = read_safetensors_header(path, limits, store=store, root=root)
    except UnreadableFile as exc:
        return _failed("kohya", exc)
    name = path.name if hasattr(path, "name") else str(path)
    md = header.metadata
    out = {}
    for key, ours in KOHYA_KEYS.items():
        raw = md.get(key)
        if isinstance(raw, str):
            v = _kohya_value(key, raw)
            if v is not None:
                out[ours] = ConfigValue(v, f"{name} metadata: {key}")
    notes = []
    if "ss_lr_scheduler" not in md:
        notes.append("no ss_lr_scheduler: not written by train_network.py, or saved with --no_metadata.")
    return RunConfig("kohya", path, out, None, tuple(notes))


# --- SimpleTuner -------------------------------------------------------------------------------------------

_ST_KEYS = {
    "lr_scheduler": ("lr_scheduler", None), "lr_warmup_steps": ("warmup_steps", as_int),
    "learning_rate": ("learning_rate", as_real), "max_train_steps": ("max_steps", as_int),
    "gradient_accumulation_steps": ("gradient_accumulation_steps", as_int),
    "num_train_epochs": ("num_train_epochs", as_real), "train_batch_size": ("per_device_train_batch_size", as_int),
    "optimizer": ("optimizer", None),
}


def read_simpletuner_metrics(path: Any, *, root: Any = None, limits: Limits = DEFAULT_LIMITS,
                             store: Store = LOCAL) -> RunConfig:
    """``<output_dir>/training_metrics.json`` (SimpleTuner >= 4.8 with ``--report_to`` including ``simpletuner``):
    the ``config`` subset its local tracker keeps, from the latest launch."""
    try:
        raw = store.read(path, limits.max_json_bytes, "JSON file", root=root)
        data = parse_json(path, raw)
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise UnreadableFile(path, "expected a JSON object with a 'config' object")
    except UnreadableFile as exc:
        return _failed("simpletuner", exc)
    name = path.name if hasattr(path, "name") else str(path)
    out = {}
    for field, (ours, conv) in _ST_KEYS.items():
        v = data["config"].get(field)
        v = conv(v) if conv is not None else v if isinstance(v, str) else None
        if v is not None:
            out[ours] = ConfigValue(v, f"{name}: config.{field}")
    notes = ("lr_end, lr_power and lr_num_cycles are not kept there: pass them as flags.",)
    return RunConfig("simpletuner", path, out, None, notes)


#: The readers by the kind of file a trainer model names (``TrainerModel.config_file``).
READERS = {"safetensors-metadata": read_kohya_metadata, "training-args": read_training_args,
           "training-metrics": read_simpletuner_metrics}


def read_config(kind: str, path: Any, *, root: Any = None, limits: Limits = DEFAULT_LIMITS,
                store: Store = LOCAL) -> RunConfig | None:
    """The run's configuration from ``path`` with the reader of ``kind`` (``READERS``); None when there is no such
    file (a file that cannot be read safely gives its ``problem``)."""
    if store.kind(path) != "file":
        return None
    return READERS[kind](path, root=root, limits=limits, store=store)
