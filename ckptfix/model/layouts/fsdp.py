"""FSDP sharded state: accelerate's ``save_state`` with ``SHARDED_STATE_DICT`` writes DCP folders.

``save_fsdp_optimizer`` calls ``torch.distributed.checkpoint.save({"optimizer": <FQN-keyed optimizer state>},
checkpoint_id=<dir>/optimizer_{i})`` and ``save_fsdp_model`` does the same under ``pytorch_model_fsdp_{i}``;
accelerate still writes ``scheduler.bin`` and ``random_states_{rank}.pkl`` beside them (the accelerate
reader handles those, and SimpleTuner's ``training_state.json``).

A DCP folder holds ``.metadata`` (a plain pickle of ``torch.distributed.checkpoint.metadata.Metadata``) and
``__{rank}_{n}.distcp`` data files. ckptfix decodes ``.metadata`` without running it (``formats/dcp.py``),
and reads from it:

- ``state_dict_metadata``: every key (``optimizer.state.<param fqn>.<name>``, ``optimizer.param_groups.<g>.<name>``)
  with its tensor size and dtype;
- ``storage_data``: where each item lives (``relative_path``, ``offset``, ``length``): the shard files
  that must exist;
- the optimizer's step count: each ``...step`` item is one tiny ``torch.save`` blob (a 0-d tensor or a
  Python number) inside a shard; only those blobs (about 1 KB each) are read, at the offsets
  ``.metadata`` gives. The moments and weights are never read.
"""

from __future__ import annotations

import re
from typing import Any

from ckptfix.errors import CkptfixError, UnreadableFile
from ckptfix.formats.allowlist import TORCH_STATE, DType
from ckptfix.formats.dcp import DcpRecord, decode_metadata
from ckptfix.formats.limits import Limits
from ckptfix.formats.objects import DTYPES, Opaque, StorageRef, TensorRef
from ckptfix.formats.source import Store, Window
from ckptfix.formats.torchfile import decode_torch
from ckptfix.model.checkpoint import (
    Checkpoint,
    FileProblem,
    OptimizerFile,
    ShardedState,
)
from ckptfix.model.layouts.accelerate import load_accelerate
from ckptfix.model.layouts.interface import Folder, Layout
from ckptfix.model.optimizer_step import StepCount, optimizer_step_count
from ckptfix.model.readers import problem_of
from ckptfix.records import replace

__all__ = ["FsdpLayout", "dcp_dirs", "optimizer_view", "read_dcp_folder"]

_MAX_BLOB = 1 << 20  # a torch.save of one scalar is ~1.3 KB
OPTIM_DIR = re.compile(r"^optimizer(?:_\d+)?$")
MODEL_DIR = re.compile(r"^pytorch_model_fsdp(?:_\d+)?$")


def dcp_dirs(store: Store, folder: Any) -> list[Any]:
    """The DCP folders of a checkpoint (``optimizer_*/``, ``pytorch_model_fsdp_*/`` holding ``.metadata``)."""
    try:
        entries = store.list(folder)
    except OSError:
        return []
    return [folder / e.name for e in entries
            if e.is_dir and (OPTIM_DIR.match(e.name) or MODEL_DIR.match(e.name)) and store.kind(folder / e.name / ".metadata") == "file"]


class _Items:
    """Where each fully-qualified key lives, and a reader for small items."""

    def __init__(self, store: Store, folder: Any, root: Any, meta: DcpRecord, limits: Limits):
        self.store, self.folder, self.root, self.limits = store, folder, root, limits
        self.where: dict[str, DcpRecord] = {}
        storage = meta.get("storage_data")
        if isinstance(storage, dict):
            for index, info in storage.items():
                if isinstance(index, DcpRecord) and isinstance(info, DcpRecord) and isinstance(index.get("fqn"), str):
                    self.where.setdefault(index.get("fqn"), info)
        self.bytes_read = 0

    def shards(self) -> set[str]:
        return set(self.shard_ends())

    def shard_ends(self) -> dict[str, int]:
        """Each shard named by .metadata, with the byte where its last item ends."""
        ends: dict[str, int] = {}
        for i in self.where.values():
            rel, off, length = i.get("relative_path"), i.get("offset"), i.get("length")
            if isinstance(rel, str):
                end = off + length if isinstance(off, int) and isinstance(length, int) else 0
                ends[rel] = max(ends.get(rel, 0), end)
        return ends

    def read_many(self, fqns: list[str]) -> list[int | float | bool]:
        """``read`` of each; on object storage their byte ranges are announced first, per shard, so they
        come in one round trip (``ByteSource.prefetch``), not one each."""
        by_shard: dict[str, list[tuple[int, int]]] = {}
        for fqn in fqns:
            info = self.where.get(fqn)
            rel = info.get("relative_path") if info is not None else None
            off, length = (info.get("offset"), info.get("length")) if info is not None else (None, None)
            if isinstance(rel, str) and isinstance(off, int) and isinstance(length, int) and 0 < length <= _MAX_BLOB:
                by_shard.setdefault(rel, []).append((off, off + length))
        for rel, ranges in by_shard.items() if len(fqns) > 1 else ():
            try:
                shard = self.store.open(self.folder / rel, root=self.root)
            except UnreadableFile:
                continue  # read() reports it
            try:
                if shard.wants_prefetch:
                    shard.prefetch(ranges)
            finally:
                shard.close()
        return [self.read(fqn) for fqn in fqns]

    def read(self, fqn: str) -> int | float | bool:
        info = self.where.get(fqn)
        if info is None:
            raise UnreadableFile(self.folder / ".metadata", f"no storage entry for {fqn}")
        rel, off, length = info.get("relative_path"), info.get("offset"), info.get("length")
        if (not isinstance(rel, str) or "/" in rel or "\\" in rel or rel.startswith(".")
                or not isinstance(off, int) or not isinstance(length, int) or length > _MAX_BLOB):
            raise UnreadableFile(self.folder / ".metadata", f"storage entry of {fqn} is not a small item in a shard")
        if info.get("transform_descriptors"):
            raise UnreadableFile(self.folder / rel, f"{fqn} is stored transformed (compressed): not read")
        path = self.folder / rel
        shard = self.store.open(path, root=self.root)
        try:
            tf = decode_torch(Window(shard, off, length), TORCH_STATE, self.limits)
            obj = tf.obj
            value = tf.read_scalar(obj) if isinstance(obj, TensorRef) else obj
        finally:
            self.bytes_read += shard.bytes_read
            shard.close()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnreadableFile(path, f"{fqn} holds a {type(value).__name__}, not a number")
        return value


def _tensor_meta(rec: Any) -> tuple[str, tuple[int, ...]]:
    dtype, size = "float32", ()
    if isinstance(rec, DcpRecord):
        props = rec.get("properties")
        d = props.get("dtype") if isinstance(props, DcpRecord) else None
        if isinstance(d, DType) and d.name in DTYPES:
            dtype = d.name
        s = rec.get("size")
        if isinstance(s, tuple) and all(isinstance(x, int) for x in s):
            size = s
    return dtype, size


_GROUP_COUNTERS = ("step", "k", "train_mode")  # param-group values the step reader may ask for


def optimizer_view(meta: DcpRecord, items: _Items, prefix: str = "optimizer") -> dict[str, Any]:
    """An optimizer ``state_dict()``-shaped view of the DCP keys (values are lazy references).

    Per-parameter tensors become ``TensorRef`` records whose storage key is the DCP key, so the step
    reader's ``read_scalar`` can fetch just those; param-group counters are read as numbers.
    """
    sdm = meta.get("state_dict_metadata")
    planner = meta.get("planner_data")
    state: dict[str, dict[str, Any]] = {}
    groups: dict[int, dict[str, Any]] = {}
    if not isinstance(sdm, dict):
        return {"state": {}, "param_groups": []}
    for fqn, rec in sdm.items():
        if not isinstance(fqn, str):
            continue
        path = planner.get(fqn) if isinstance(planner, dict) else None
        parts = tuple(path) if isinstance(path, (tuple, list)) else None
        if parts is None or len(parts) < 4 or parts[0] != prefix:
            continue
        if parts[1] == "state" and isinstance(parts[2], str) and isinstance(parts[3], str):
            if isinstance(rec, DcpRecord) and rec.kind.endswith("TensorStorageMetadata"):
                dtype, size = _tensor_meta(rec)
                numel = 1
                for s in size:
                    numel *= s
                itemsize = DTYPES[dtype][0]
                ref = TensorRef(StorageRef(fqn, dtype, itemsize, "dcp", numel), 0, size, _contiguous(size))
                state.setdefault(parts[2], {})[parts[3]] = ref
            else:
                state.setdefault(parts[2], {})[parts[3]] = _LazyBytes(fqn)
        elif parts[1] == "param_groups" and isinstance(parts[2], int) and isinstance(parts[3], str):
            groups.setdefault(parts[2], {})[parts[3]] = None
    for gi, g in groups.items():
        for key in _GROUP_COUNTERS:
            if key in g:
                try:
                    g[key] = items.read(f"{prefix}.param_groups.{gi}.{key}")
                except CkptfixError:
                    g[key] = None
    # pickled Python values in the per-parameter state (e.g. an int ``step``) are read when they are counters
    for pstate in state.values():
        for key, v in list(pstate.items()):
            if isinstance(v, _LazyBytes):
                pstate[key] = items.read(v.fqn) if key in _GROUP_COUNTERS else v
    # FSDP keys the per-parameter state by FQN; a torch state dict (and the step reader) by integer id
    by_id = {i: state[name] for i, name in enumerate(state)}
    return {"state": by_id, "param_groups": [groups[i] for i in sorted(groups)]}


class _LazyBytes(Opaque):
    def __init__(self, fqn: str):
        object.__setattr__(self, "kind", "dcp-bytes")
        object.__setattr__(self, "args", (fqn,))

    @property
    def fqn(self) -> str:
        return self.args[0]


def _contiguous(size: tuple[int, ...]) -> tuple[int, ...]:
    stride, acc = [], 1
    for s in reversed(size):
        stride.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(stride))


def read_dcp_folder(store: Store, d: Any, root: Any, limits: Limits) -> tuple[ShardedState, OptimizerFile | None, int]:
    """One DCP folder: what its ``.metadata`` says, its shards, and (``optimizer_*/``) the step count."""
    md = d / ".metadata"
    is_optim = bool(OPTIM_DIR.match(d.name))
    try:
        listed = {e.name: e for e in store.list(d)}
    except OSError:
        listed = {}
    present = tuple(sorted(n for n in listed if n.endswith(".distcp")))
    try:
        with store.open(md, root=root) as src:
            meta = decode_metadata(src, limits)
            size = src.size
    except UnreadableFile as exc:
        problem = problem_of(exc)
        return ShardedState(d, 0, 0, present, problem=problem), (OptimizerFile(md, None, problem=problem) if is_optim else None), 0
    sdm = meta.get("state_dict_metadata")
    keys = [k for k in sdm if isinstance(k, str)] if isinstance(sdm, dict) else []
    items = _Items(store, d, root, meta, limits)
    ends = items.shard_ends()
    missing = tuple(sorted(set(ends) - set(present)))
    sizes = {n: _size(store, d / n, listed[n].size) for n in set(ends) & set(present)}
    short = sorted(n for n, sz in sizes.items() if sz < ends[n])
    version = meta.get("version")
    problem = None
    if missing:
        problem = FileProblem(d / missing[0], "unreadable",
                              f"{d}: .metadata names shard(s) that are missing: {', '.join(missing)}; the state cannot be loaded")
    elif short:
        problem = FileProblem(d / short[0], "unreadable",
                              f"{d / short[0]}: truncated: {sizes[short[0]]:,} bytes, .metadata places "
                              f"items up to byte {ends[short[0]]:,}")
    state = ShardedState(d, len(keys), sum(1 for k in keys if k.endswith(".step")), present, missing,
                         version if isinstance(version, str) else None, problem)
    if not is_optim:
        return state, None, 0
    if problem is not None:
        return state, OptimizerFile(md, StepCount(None, "unknown", str(md), "shards missing or truncated"), (), None, size, size), size
    try:
        view = optimizer_view(meta, items)
        step = optimizer_step_count(view, lambda refs: items.read_many([t.storage.key for t in refs]))
    except CkptfixError as exc:
        step = StepCount(None, "unknown", str(md), f"step items could not be read: {exc}")
    groups = ()
    return state, OptimizerFile(md, step, groups, None, size + items.bytes_read, size), size + items.bytes_read


def _size(store: Store, path: Any, listed: int | None) -> int:
    """A shard's size: from the listing when it says, else from opening it (local listings do not)."""
    if listed is not None:
        return listed
    try:
        with store.open(path) as src:
            return src.size
    except UnreadableFile:
        return 0


class FsdpLayout(Layout):
    """accelerate + FSDP ``SHARDED_STATE_DICT``: DCP folders beside ``scheduler.bin``."""

    name = "fsdp"

    def detect(self, folder: Folder) -> bool:
        if not any(OPTIM_DIR.match(d) or MODEL_DIR.match(d) for d in folder.listing.dirs):
            return False
        return bool(dcp_dirs(folder.store, folder.path))

    def load(self, folder: Folder, limits: Limits) -> Checkpoint:
        ck = load_accelerate(folder, limits)  # scheduler.bin, random_states_*.pkl, training_state.json
        sharded, optimizers, problems, nbytes = [], list(ck.optimizers), list(ck.other_problems), 0
        for d in dcp_dirs(folder.store, folder.path):
            state, opt, n = read_dcp_folder(folder.store, d, folder.path, limits)
            sharded.append(state)
            nbytes += n
            if opt is not None:
                optimizers.append(opt)
            if state.problem is not None and (opt is None or opt.problem is None):
                problems.append(state.problem)
        return replace(ck, layout=self.name, sharded=tuple(sharded), optimizers=tuple(optimizers),
                       other_problems=tuple(problems), bytes_read=ck.bytes_read + nbytes)
