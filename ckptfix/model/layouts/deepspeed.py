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
from typing import Any

from ckptfix.errors import UnreadableFile
from ckptfix.formats.allowlist import DEEPSPEED_STATE
from ckptfix.formats.limits import Limits
from ckptfix.formats.objects import Opaque
from ckptfix.formats.source import Store
from ckptfix.formats.torchfile import open_torch_file
from ckptfix.model.checkpoint import (
    Checkpoint,
    EngineState,
    FileProblem,
    OptimizerFile,
    SchedulerFile,
    TrainingState,
)
from ckptfix.model.layouts.accelerate import load_accelerate
from ckptfix.model.layouts.interface import Folder, Layout
from ckptfix.model.readers import int_field, optimizer_from, problem_of
from ckptfix.records import replace

__all__ = ["STEP_SOURCE", "DeepSpeedLayout", "attach_engine", "find_tag", "read_engine"]

STEP_SOURCE = "deepspeed global_steps"
ACCELERATE_TAG = "pytorch_model"  # accelerate's MODEL_NAME: save_checkpoint(output_dir, "pytorch_model")
MODEL_STATES = re.compile(r"^(?:zero_pp_rank_0_)?mp_rank_00_model_states\.pt$")
MAX_LATEST = 4096
_OPTIM_STATES = re.compile(r"^(?:bf16_)?zero_pp_rank_(\d+)_mp_rank_(\d+)_optim_states\.pt$")


def _names(store: Store, folder: Any) -> list[str]:
    try:
        return [e.name for e in store.list(folder)]
    except OSError:
        return []


def model_states_file(store: Store, tag_dir: Any) -> Any:
    """The tag folder's model-states file (``mp_rank_00_model_states.pt``, or ZeRO-3's), or None."""
    found = sorted(n for n in _names(store, tag_dir) if MODEL_STATES.match(n))
    exact = [n for n in found if n == "mp_rank_00_model_states.pt"]
    name = (exact or found or [None])[0]
    return tag_dir / name if name is not None else None


def read_latest(store: Store, folder: Any) -> str | None:
    """The tag the ``latest`` file names, when it is a plain folder name."""
    if store.kind(folder / "latest") != "file":
        return None
    try:
        raw = store.read(folder / "latest", MAX_LATEST, "DeepSpeed latest file", root=folder)
        tag = raw.decode("utf-8").strip()
    except (UnreadableFile, UnicodeDecodeError):
        return None
    if not tag or "/" in tag or "\\" in tag or tag in (".", "..") or "\n" in tag:
        return None
    return tag


def find_tag(store: Store, folder: Any, dirs: frozenset[str] | None = None) -> Any:
    """The tag folder a resume would load: named by ``latest``, else accelerate's, else the only one.
    ``dirs``: the names of ``folder``'s subfolders, when the caller has listed it already."""
    tag = read_latest(store, folder)
    if tag is not None and store.kind(folder / tag) == "dir":
        return folder / tag
    if store.kind(folder / ACCELERATE_TAG) == "dir" and model_states_file(store, folder / ACCELERATE_TAG):
        return folder / ACCELERATE_TAG
    if dirs is None:
        try:
            dirs = frozenset(e.name for e in store.list(folder) if e.is_dir)
        except OSError:
            return None
    candidates = [folder / d for d in sorted(dirs) if not d.startswith(".")
                  and model_states_file(store, folder / d) is not None]
    return candidates[0] if len(candidates) == 1 else None


def _zero_stage(v: Any) -> int | None:
    if isinstance(v, Opaque) and v.args and isinstance(v.args[0], int):
        return v.args[0]
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _read_optim_states(store: Store, tag_dir: Any, folder: Any, limits: Limits) -> tuple[OptimizerFile | None, int, int | None]:
    """Rank 0's ZeRO optimizer file -> (optimizer, number of rank files, zero stage)."""
    names = sorted((n for n in _names(store, tag_dir) if _OPTIM_STATES.match(n)),
                   key=lambda n: tuple(int(x) for x in _OPTIM_STATES.match(n).groups()))  # type: ignore[union-attr]
    if not names:
        return None, 0, None
    path = tag_dir / names[0]
    try:
        with open_torch_file(path, DEEPSPEED_STATE, limits, store=store, root=folder) as tf:
            obj = tf.obj
            osd = obj.get("optimizer_state_dict") if isinstance(obj, dict) else None
            if not isinstance(osd, dict):
                raise UnreadableFile(path, "holds no optimizer_state_dict")
            stage = _zero_stage(osd.get("zero_stage"))
            base = osd.get("base_optimizer_state")
            if base is None:  # ZeRO-3 keeps the wrapped optimizer's state as "optimizer_state_dict"
                base = osd.get("optimizer_state_dict")
            return optimizer_from(path, base, tf), len(names), stage
    except UnreadableFile as exc:
        return OptimizerFile(path, None, problem=problem_of(exc)), len(names), None


def read_engine(store: Store, folder: Any, limits: Limits):
    """-> (EngineState | None, optimizers, schedulers, bytes_read) from the tag folder of ``folder``."""
    tag_dir = find_tag(store, folder)
    if tag_dir is None:
        return None, [], [], 0
    ms = model_states_file(store, tag_dir)
    optimizers: list[OptimizerFile] = []
    schedulers: list[SchedulerFile] = []
    nbytes = 0
    opt, shards, stage = _read_optim_states(store, tag_dir, folder, limits)
    if ms is None:
        problem = FileProblem(tag_dir, "unreadable", f"{tag_dir}: DeepSpeed tag folder without mp_rank_00_model_states.pt")
        engine = EngineState(tag_dir / "mp_rank_00_model_states.pt", tag_dir.name, None, None, optim_shards=shards,
                             zero_stage=stage, problem=problem)
        return engine, [opt] if opt else [], [], 0
    try:
        with open_torch_file(ms, DEEPSPEED_STATE, limits, store=store, root=folder) as tf:
            obj = tf.obj
            if not isinstance(obj, dict):
                raise UnreadableFile(ms, f"holds a {type(obj).__name__}, not DeepSpeed's model-states dict")
            sched = obj.get("lr_scheduler")
            if isinstance(sched, dict):
                schedulers.append(SchedulerFile(ms, dict(sched), tf.format))
            if opt is None and isinstance(obj.get("optimizer"), dict):  # no ZeRO: the optimizer is here
                opt = optimizer_from(ms, obj["optimizer"], tf)
            nbytes = tf.bytes_read
            ver = obj.get("ds_version")
            engine = EngineState(
                ms, tag_dir.name, int_field(obj, "global_steps"), int_field(obj, "skipped_steps"),
                int_field(obj, "global_samples"), int_field(obj, "dp_world_size"), stage,
                ver if isinstance(ver, str) else None, isinstance(sched, dict), shards,
            )
    except UnreadableFile as exc:
        engine = EngineState(ms, tag_dir.name, None, None, optim_shards=shards, zero_stage=stage, problem=problem_of(exc))
    if opt is not None:
        optimizers.append(opt)
        nbytes += opt.bytes_read
    return engine, optimizers, schedulers, nbytes


def attach_engine(ck: Checkpoint, store: Store, limits: Limits, step_source: bool = True) -> Checkpoint:
    """Add the DeepSpeed engine's state to a checkpoint read by another loader.

    ``step_source``: use ``global_steps`` as the step when the folder has no ``training_state.json``.
    """
    engine, optimizers, schedulers, nbytes = read_engine(store, ck.path, limits)
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


class DeepSpeedLayout(Layout):
    name = "deepspeed"

    def detect(self, folder: Folder) -> bool:
        listing = folder.listing
        if "latest" not in listing.names and not any(not d.startswith(".") for d in listing.dirs):
            return False  # no tag file and no sub-folder: the common accelerate case, decided without I/O
        return find_tag(folder.store, folder.path, listing.dirs) is not None

    def load(self, folder: Folder, limits: Limits) -> Checkpoint:
        ck = load_accelerate(folder, limits)  # scheduler.bin, random_states_*.pkl, training_state.json
        return attach_engine(replace(ck, layout=self.name), folder.store, limits)
