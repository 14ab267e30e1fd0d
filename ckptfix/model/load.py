"""Read one checkpoint folder into a ``Checkpoint``: the I/O edge of the model layer.

Reads only metadata: the pickles of ``scheduler*.bin`` / ``optimizer*.bin`` (plus the few 0-d step
storages), trainer JSON, safetensors headers. Never imports torch, never runs pickle code.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ckptfix.errors import ResourceLimit, UnreadableFile, UnsafePickle
from ckptfix.formats.jsonfile import read_json
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.safetensors_header import read_safetensors_header
from ckptfix.formats.torchfile import open_torch_file
from ckptfix.model.checkpoint import (
    Checkpoint,
    FileProblem,
    OptimizerFile,
    ParamGroup,
    SchedulerFile,
    TrainingState,
    WeightFile,
)
from ckptfix.model.discover import checkpoint_number
from ckptfix.model.optimizer_step import optimizer_step_count

_NUMBERED = r"(?:_\d+)?"
_SCHEDULER = re.compile(rf"^scheduler{_NUMBERED}\.bin$")
_OPTIMIZER = re.compile(rf"^optimizer{_NUMBERED}\.bin$")
_RNG = re.compile(r"^random_states_(\d+)\.pkl$")
_HF_RNG = re.compile(r"^rng_state(?:_\d+)?\.pth$")


def problem_of(exc: UnreadableFile) -> FileProblem:
    kind = "unsafe-pickle" if isinstance(exc, UnsafePickle) else "resource-limit" if isinstance(exc, ResourceLimit) else "unreadable"
    refused = tuple(getattr(exc, "refused", ()) or ())
    return FileProblem(exc.path, kind, str(exc), refused)


def check_inside(folder: Path, path: Path) -> None:
    """Symlinks are followed only when they stay inside the checkpoint folder."""
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(folder.resolve()):
            raise UnreadableFile(path, f"symlink leads outside the checkpoint folder (to {target}): not read")


def _numbered(name: str) -> int:
    m = re.search(r"_(\d+)\.", name)
    return int(m.group(1)) if m else 0


def load_checkpoint(folder: Path, limits: Limits = DEFAULT_LIMITS) -> Checkpoint:
    from ckptfix.model.layouts import detect_layout  # the layouts build on this module
    from ckptfix.model.layouts.detect import Listing

    folder = Path(folder)
    try:
        listing = Listing.of(folder)
    except OSError:
        return load_accelerate(folder, limits)  # reports the folder as unreadable
    layout = detect_layout(folder, listing)
    if layout is not None:
        return layout.load(folder, limits)
    return load_accelerate(folder, limits, names=sorted(listing.names))  # no second listing


def load_accelerate(folder: Path, limits: Limits = DEFAULT_LIMITS, names: list[str] | None = None) -> Checkpoint:
    """The accelerate layout (``scheduler*.bin``, ``optimizer*.bin``, ``random_states_*.pkl``).

    ``names``: the folder's entries when the caller has listed it already.
    """
    folder = Path(folder)
    try:
        if names is None:
            names = sorted(p.name for p in folder.iterdir())
    except OSError as exc:  # permission denied, or removed (a rolling checkpoint deleted) since discovery
        problem = FileProblem(folder, "unreadable", f"{folder}: cannot list: {exc.strerror or exc}")
        return Checkpoint(folder, checkpoint_number(folder.name), None, (), (), 0, other_problems=(problem,))
    bytes_read = 0

    schedulers = []
    for name in sorted((n for n in names if _SCHEDULER.match(n)), key=_numbered):
        sf, n = _load_scheduler(folder, folder / name, limits)
        schedulers.append(sf)
        bytes_read += n
    optimizers = []
    for name in sorted((n for n in names if _OPTIMIZER.match(n)), key=_numbered):
        of = _load_optimizer(folder, folder / name, limits)
        optimizers.append(of)
        bytes_read += of.bytes_read
    ts = _load_training_state(folder / "training_state.json", limits) if "training_state.json" in names else None
    weights = tuple(_load_weights(folder, limits))
    rng = sum(1 for n in names if _RNG.match(n))
    others, n = _scan_other_pickles(folder, names, limits)
    bytes_read += n
    return Checkpoint(
        path=folder,
        folder_step=checkpoint_number(folder.name),
        training_state=ts,
        optimizers=tuple(optimizers),
        schedulers=tuple(schedulers),
        num_processes=rng,
        weights=weights,
        has_guard=".guard" in names,
        has_manifest="checkpoint_manifest.json" in names,
        other_problems=others,
        bytes_read=bytes_read,
    )


# Files trainers write but never load on resume: not scanned (a pickled TrainingArguments is code).
_NOT_LOADED = ("training_args.bin",)


def _scan_other_pickles(folder: Path, names: list[str], limits: Limits) -> tuple[tuple[FileProblem, ...], int]:
    """Safety-scan every other pickle the resume path loads (RNG states, sampler, scaler, custom objects)."""
    from ckptfix.formats.scan import UNSAFE, classify, scan_file

    problems, nbytes = [], 0
    for name in names:
        if _SCHEDULER.match(name) or _OPTIMIZER.match(name) or name in _NOT_LOADED:
            continue
        kind = "random-states" if _HF_RNG.match(name) else classify(name)
        if kind is None or kind == "dcp-metadata":
            continue
        res = scan_file(folder / name, kind, root=folder, limits=limits)
        nbytes += res.bytes_read
        if not res.ok:
            problems.append(FileProblem(res.path, "unsafe-pickle" if res.status == UNSAFE else "unreadable",
                                        res.message, tuple(res.refused)))
    return tuple(problems), nbytes


def _load_scheduler(folder: Path, path: Path, limits: Limits) -> tuple[SchedulerFile, int]:
    try:
        check_inside(folder, path)
        with open_torch_file(path, limits=limits) as tf:
            obj, fmt, n = tf.obj, tf.format, tf.bytes_read
    except UnreadableFile as exc:
        return SchedulerFile(path, None, problem=problem_of(exc)), 0
    if not isinstance(obj, dict):
        problem = FileProblem(path, "unreadable", f"{path}: holds a {type(obj).__name__}, not a scheduler state dict")
        return SchedulerFile(path, None, fmt, problem), n
    return SchedulerFile(path, obj, fmt), n


def _load_optimizer(folder: Path, path: Path, limits: Limits) -> OptimizerFile:
    try:
        check_inside(folder, path)
        with open_torch_file(path, limits=limits) as tf:
            obj = tf.obj
            if not isinstance(obj, dict) or "param_groups" not in obj:
                raise UnreadableFile(path, "holds no optimizer state dict (no param_groups)")
            step = optimizer_step_count(obj, tf.read_scalar)
            groups = tuple(_param_group(g) for g in obj.get("param_groups") or () if isinstance(g, dict))
            return OptimizerFile(path, step, groups, None, tf.bytes_read, tf.size)
    except UnreadableFile as exc:
        return OptimizerFile(path, None, problem=problem_of(exc))


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _param_group(g: dict) -> ParamGroup:
    return ParamGroup(_number(g.get("lr")), _number(g.get("initial_lr")), tuple(str(k) for k in g))


def _int_field(data: dict, key: str) -> int | None:
    v = data.get(key)
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    return v if isinstance(v, int) else None


def _load_training_state(path: Path, limits: Limits) -> TrainingState:
    try:
        data = read_json(path, limits)
        if not isinstance(data, dict):
            raise UnreadableFile(path, "expected a JSON object")
        gs = _int_field(data, "global_step")
        if "global_step" in data and (gs is None or gs < 0):
            raise UnreadableFile(path, f"global_step is {data['global_step']!r}, not a step number")
    except UnreadableFile as exc:
        return TrainingState(path, None, None, None, problem_of(exc))
    return TrainingState(path, gs, _int_field(data, "epoch_step"), _int_field(data, "epoch"))


def _load_weights(folder: Path, limits: Limits) -> list[WeightFile]:
    out = []
    for p in sorted(folder.rglob("*.safetensors")):
        if ".ckptfix" in p.parts:
            continue
        try:
            check_inside(folder, p)
            h = read_safetensors_header(p, limits)
            out.append(WeightFile(p, h.tensors, h.data_bytes))
        except UnreadableFile as exc:
            out.append(WeightFile(p, None, None, problem_of(exc)))
    return out
