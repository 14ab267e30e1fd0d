"""DeepSpeed engine checkpoints, as accelerate's ``save_state`` writes them for a DeepSpeed run.

accelerate calls ``engine.save_checkpoint(output_dir, "pytorch_model")``; DeepSpeed's ``_save_checkpoint``
writes the tag folder and ``latest`` (the tag's name), and accelerate adds ``random_states_{rank}.pkl`` and,
when the LR scheduler is *not* handed to DeepSpeed (any torch scheduler; accelerate passes only DeepSpeed's
own ``lr_schedules`` classes or a config ``scheduler`` section to the engine), ``scheduler.bin``.

==========================================  ===========================================================
file                                        what ckptfix reads (metadata only: no tensor is read)
==========================================  ===========================================================
``latest``                                  the tag (sub-folder) name; else ``pytorch_model``, else the
                                            one sub-folder holding model states
``<tag>/mp_rank_00_model_states.pt``        ``global_steps`` (the step when there is no
(ZeRO-3: ``zero_pp_rank_0_mp_rank_00_``     ``training_state.json``), ``skipped_steps`` (fp16 overflow:
``model_states.pt``)                        the engine did not step the scheduler), ``global_samples``,
                                            ``dp_world_size``, ``ds_version``, ``lr_scheduler`` (the
                                            scheduler's state dict when DeepSpeed owns it, else None),
                                            ``optimizer`` (only without ZeRO)
``<tag>/*zero_pp_rank_{r}_mp_rank_00_``     ``optimizer_state_dict.base_optimizer_state``: the wrapped
``optim_states.pt``                         torch optimizer's state dict (step count, param groups) of
                                            rank 0; ``zero_stage``; the other ranks are counted
==========================================  ===========================================================

These files hold a few DeepSpeed objects (``ZeroStageEnum``, ``LossScaler``, ``fragment_address``) and a
model ``state_dict`` with ``_metadata``: they are decoded with ``DEEPSPEED_STATE`` (``formats/allowlist.py``),
which builds each as an inert record; any other global is refused as everywhere else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ckptfix.errors import UnreadableFile
from ckptfix.formats.allowlist import DEEPSPEED_STATE
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.objects import Opaque
from ckptfix.formats.torchfile import open_torch_file
from ckptfix.model.checkpoint import (
    Checkpoint,
    EngineState,
    FileProblem,
    OptimizerFile,
    SchedulerFile,
    TrainingState,
)
from ckptfix.model.layouts.detect import find_tag, model_states_file
from ckptfix.model.layouts.detect import is_deepspeed as detect  # noqa: F401
from ckptfix.model.load import (
    _int_field,
    _param_group,
    check_inside,
    load_accelerate,
    problem_of,
)
from ckptfix.model.optimizer_step import StepCount, optimizer_step_count
from ckptfix.records import replace

NAME = "deepspeed"
STEP_SOURCE = "deepspeed global_steps"
_OPTIM_STATES = re.compile(r"^(?:bf16_)?zero_pp_rank_(\d+)_mp_rank_(\d+)_optim_states\.pt$")


def _zero_stage(v: Any) -> int | None:
    if isinstance(v, Opaque) and v.args and isinstance(v.args[0], int):
        return v.args[0]
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _optimizer_from(path: Path, sd: Any, tf: Any) -> OptimizerFile:
    if not isinstance(sd, dict) or "param_groups" not in sd:
        step = StepCount(None, "unknown", str(path), "no optimizer state dict found in the DeepSpeed file")
        return OptimizerFile(path, step, (), None, tf.bytes_read, tf.size)
    step = optimizer_step_count(sd, tf.read_scalar)
    groups = tuple(_param_group(g) for g in sd.get("param_groups") or () if isinstance(g, dict))
    return OptimizerFile(path, step, groups, None, tf.bytes_read, tf.size)


def _read_optim_states(tag_dir: Path, folder: Path, limits: Limits) -> tuple[OptimizerFile | None, int, int | None]:
    """Rank 0's ZeRO optimizer file -> (optimizer, number of rank files, zero stage)."""
    files = sorted((p for p in tag_dir.iterdir() if _OPTIM_STATES.match(p.name)),
                   key=lambda p: tuple(int(x) for x in _OPTIM_STATES.match(p.name).groups()))  # type: ignore[union-attr]
    if not files:
        return None, 0, None
    path = files[0]
    try:
        check_inside(folder, path)
        with open_torch_file(path, DEEPSPEED_STATE, limits) as tf:
            obj = tf.obj
            osd = obj.get("optimizer_state_dict") if isinstance(obj, dict) else None
            if not isinstance(osd, dict):
                raise UnreadableFile(path, "holds no optimizer_state_dict")
            stage = _zero_stage(osd.get("zero_stage"))
            base = osd.get("base_optimizer_state")
            if base is None:  # ZeRO-3 keeps the wrapped optimizer's state as "optimizer_state_dict"
                base = osd.get("optimizer_state_dict")
            return _optimizer_from(path, base, tf), len(files), stage
    except UnreadableFile as exc:
        return OptimizerFile(path, None, problem=problem_of(exc)), len(files), None


def read_engine(folder: Path, limits: Limits = DEFAULT_LIMITS):
    """-> (EngineState | None, optimizers, schedulers, bytes_read) from the tag folder of ``folder``."""
    tag_dir = find_tag(folder)
    if tag_dir is None:
        return None, [], [], 0
    ms = model_states_file(tag_dir)
    optimizers: list[OptimizerFile] = []
    schedulers: list[SchedulerFile] = []
    nbytes = 0
    opt, shards, stage = _read_optim_states(tag_dir, folder, limits)
    if ms is None:
        problem = FileProblem(tag_dir, "unreadable", f"{tag_dir}: DeepSpeed tag folder without mp_rank_00_model_states.pt")
        engine = EngineState(tag_dir / "mp_rank_00_model_states.pt", tag_dir.name, None, None, optim_shards=shards,
                             zero_stage=stage, problem=problem)
        return engine, [opt] if opt else [], [], 0
    try:
        check_inside(folder, ms)
        with open_torch_file(ms, DEEPSPEED_STATE, limits) as tf:
            obj = tf.obj
            if not isinstance(obj, dict):
                raise UnreadableFile(ms, f"holds a {type(obj).__name__}, not DeepSpeed's model-states dict")
            sched = obj.get("lr_scheduler")
            if isinstance(sched, dict):
                schedulers.append(SchedulerFile(ms, dict(sched), tf.format))
            if opt is None and isinstance(obj.get("optimizer"), dict):  # no ZeRO: the optimizer is here
                opt = _optimizer_from(ms, obj["optimizer"], tf)
            nbytes = tf.bytes_read
            ver = obj.get("ds_version")
            engine = EngineState(
                ms, tag_dir.name, _int_field(obj, "global_steps"), _int_field(obj, "skipped_steps"),
                _int_field(obj, "global_samples"), _int_field(obj, "dp_world_size"), stage,
                ver if isinstance(ver, str) else None, isinstance(sched, dict), shards,
            )
    except UnreadableFile as exc:
        engine = EngineState(ms, tag_dir.name, None, None, optim_shards=shards, zero_stage=stage, problem=problem_of(exc))
    if opt is not None:
        optimizers.append(opt)
        nbytes += opt.bytes_read
    return engine, optimizers, schedulers, nbytes


def attach_engine(ck: Checkpoint, limits: Limits = DEFAULT_LIMITS, step_source: bool = True) -> Checkpoint:
    """Add the DeepSpeed engine's state to a checkpoint read by another loader.

    ``step_source``: use ``global_steps`` as the step when the folder has no ``training_state.json``.
    """
    engine, optimizers, schedulers, nbytes = read_engine(ck.path, limits)
    if engine is None:
        return ck
    ts = ck.training_state
    if step_source and ts is None and engine.problem is None and engine.global_steps is not None:
        ts = TrainingState(engine.path, engine.global_steps, None, None, source=STEP_SOURCE)
    others = ck.other_problems + ((engine.problem,) if engine.problem else ())
    return replace(
        ck,
        engine=engine,
        optimizers=ck.optimizers + tuple(optimizers),
        schedulers=ck.schedulers + tuple(schedulers),
        training_state=ts,
        num_processes=ck.num_processes or (engine.dp_world_size or 0),
        other_problems=others,
        bytes_read=ck.bytes_read + nbytes,
    )


def load(folder: Path, limits: Limits = DEFAULT_LIMITS) -> Checkpoint:
    ck = load_accelerate(Path(folder), limits)  # scheduler.bin, random_states_*.pkl, training_state.json
    return attach_engine(replace(ck, layout=NAME), limits)
