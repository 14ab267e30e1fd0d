"""FSDP sharded state: accelerate's ``save_state`` with ``SHARDED_STATE_DICT`` writes DCP folders.

``save_fsdp_optimizer`` calls ``torch.distributed.checkpoint.save({"optimizer": <FQN-keyed optimizer state>},
checkpoint_id=<dir>/optimizer_{i})`` and ``save_fsdp_model`` does the same under ``pytorch_model_fsdp_{i}``;
accelerate still writes ``scheduler.bin`` and ``random_states_{rank}.pkl`` beside them (the accelerate
reader handles those, and SimpleTuner's ``training_state.json``).

A DCP folder holds ``.metadata`` (a plain pickle of ``torch.distributed.checkpoint.metadata.Metadata``) and
``__{rank}_{n}.distcp`` data files. ckptfix decodes ``.metadata`` with the scan's ``DCP_METADATA`` allowlist
(``formats/scan.py``), keeping each dataclass's fields as a record, and reads from it:

- ``state_dict_metadata``: every key (``optimizer.state.<param fqn>.<name>``, ``optimizer.param_groups.<g>.<name>``)
  with its tensor size and dtype;
- ``storage_data``: where each item lives (``relative_path``, ``offset``, ``length``): the shard files
  that must exist;
- the optimizer's step count: each ``...step`` item is one tiny ``torch.save`` blob (a 0-d tensor or a
  Python number) inside a shard; only those blobs (about 1 KB each) are read, at the offsets
  ``.metadata`` gives. The moments and weights are never read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ckptfix.errors import CkptfixError, ResourceLimit, UnreadableFile, UnsafePickle
from ckptfix.formats import pickle_vm
from ckptfix.formats.allowlist import TORCH_STATE, AllowedGlobal, DType
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.objects import DTYPES, Opaque, StorageRef, TensorRef
from ckptfix.formats.scan import DCP_METADATA
from ckptfix.formats.torchfile import (
    _decode,  # one embedded torch.save blob, through a _Window
)
from ckptfix.formats.zipdir import CountingFile
from ckptfix.model.checkpoint import (
    Checkpoint,
    FileProblem,
    OptimizerFile,
    ShardedState,
)
from ckptfix.model.layouts.detect import OPTIM_DIR, dcp_dirs
from ckptfix.model.layouts.detect import is_fsdp as detect  # noqa: F401
from ckptfix.model.load import check_inside, load_accelerate, problem_of
from ckptfix.model.optimizer_step import StepCount, optimizer_step_count
from ckptfix.records import replace

NAME = "fsdp"
_MAX_BLOB = 1 << 20  # a torch.save of one scalar is ~1.3 KB


# -- .metadata: the scan's allowlist, with the dataclasses kept as records ---------------------------
class Record:
    """A DCP dataclass decoded as its class name and the fields its BUILD state gave (never built)."""

    __slots__ = ("kind", "fields")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fields: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def __repr__(self) -> str:
        return f"Record({self.kind.rsplit('.', 1)[-1]}, {self.fields!r})"


_DATACLASSES = {
    "Metadata", "TensorStorageMetadata", "BytesStorageMetadata", "ChunkStorageMetadata", "TensorProperties",
    "MetadataIndex", "StorageMeta", "_StorageInfo",
}


def _as_record(g: AllowedGlobal) -> AllowedGlobal:
    def build(args: tuple) -> Record:
        g.call(args)  # type: ignore[misc]  # the scan's argument checks (raise BadArguments)
        return Record(g.qualname)

    return AllowedGlobal(g.module, g.name, build)


DCP_RECORDS = {key: (_as_record(g) if g.name in _DATACLASSES else g) for key, g in DCP_METADATA.items()}


_TP_FIELDS = ("dtype", "layout", "requires_grad", "memory_format", "pin_memory")


class _RecordVM(pickle_vm._VM):
    """The restricted decoder, plus BUILD into a ``Record`` (the decoder drops an Opaque's state)."""

    def _build(self, obj: Any, state: Any) -> None:
        if isinstance(obj, Record):
            if obj.kind.endswith(".TensorProperties") and isinstance(state, tuple) and len(state) == len(_TP_FIELDS):
                state = dict(zip(_TP_FIELDS, state))  # its __getstate__ is a tuple, in this order
            if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)):
                state = {**(state[0] or {}), **(state[1] if isinstance(state[1], dict) else {})}  # (dict, slots)
            if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
                raise pickle_vm._Malformed(f"BUILD state of {obj.kind} is not a field dict")
            obj.fields.update(state)
            return
        super()._build(obj, state)


def decode_metadata(path: Path, limits: Limits = DEFAULT_LIMITS) -> Record:
    """Decode a DCP ``.metadata`` without running it; raises ``UnreadableFile`` / ``UnsafePickle``."""
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFile(path, "empty file (0 bytes)")
    if size > limits.max_pickle_bytes:
        raise ResourceLimit(path, f"DCP metadata is {size:,} bytes; the limit is {limits.max_pickle_bytes:,}")
    data = path.read_bytes()
    # run_pickle() with _RecordVM in place of _VM (same error handling, same limits)
    vm = _RecordVM(data, DCP_RECORDS, None, limits)
    try:
        value = vm.run(0)
        error = None
    except (pickle_vm._Malformed, pickle_vm.BadArguments) as exc:
        value, error = None, f"{exc} (at byte {vm.op_at})"
    except (IndexError, ValueError, TypeError, KeyError, UnicodeDecodeError, OverflowError, RecursionError) as exc:
        value, error = None, f"malformed pickle: {type(exc).__name__} (at byte {vm.op_at})"
    except pickle_vm._LimitHit as exc:
        raise ResourceLimit(path, f"DCP metadata: {exc}") from None
    if vm.refused:
        raise UnsafePickle(path, [(r.module, r.name, r.offset) for r in vm.refused])
    if error is not None:
        raise UnreadableFile(path, f"DCP metadata cannot be decoded: {error}")
    if vm.pos != len(data):
        raise UnreadableFile(path, f"DCP metadata has {len(data) - vm.pos:,} bytes after its STOP")
    if not isinstance(value, Record) or not value.kind.endswith(".Metadata"):
        raise UnreadableFile(path, "DCP metadata does not hold a Metadata object")
    return value


# -- reading one small item (a step) from a shard -----------------------------------------------------
class _Window(CountingFile):
    """``length`` bytes at ``start`` of a shard, seen as a whole file (one embedded ``torch.save`` blob)."""

    def __init__(self, path: Path, start: int, length: int):
        super().__init__(path)
        if start < 0 or length <= 0 or start + length > self.size:
            self.close()
            raise UnreadableFile(path, f"item at {start}+{length} lies outside the {self.size}-byte shard (truncated?)")
        self._start, self.size = start, length

    def _out_of_range(self, offset: int, n: int) -> str:
        return f"truncated item: needs bytes {offset}..{offset + n} of {self.size}"


class _Items:
    """Where each fully-qualified key lives, and a reader for small items."""

    def __init__(self, folder: Path, root: Path, meta: Record, limits: Limits):
        self.folder, self.root, self.limits = folder, root, limits
        self.where: dict[str, Record] = {}
        storage = meta.get("storage_data")
        if isinstance(storage, dict):
            for index, info in storage.items():
                if isinstance(index, Record) and isinstance(info, Record) and isinstance(index.get("fqn"), str):
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
        check_inside(self.root, path)
        win = _Window(path, off, length)
        try:
            tf = _decode(path, win, TORCH_STATE, self.limits)
            obj = tf.obj
            value = tf.read_scalar(obj) if isinstance(obj, TensorRef) else obj
        finally:
            self.bytes_read += win.bytes_read
            win.close()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnreadableFile(path, f"{fqn} holds a {type(value).__name__}, not a number")
        return value


def _tensor_meta(rec: Any) -> tuple[str, tuple[int, ...]]:
    dtype, size = "float32", ()
    if isinstance(rec, Record):
        props = rec.get("properties")
        d = props.get("dtype") if isinstance(props, Record) else None
        if isinstance(d, DType) and d.name in DTYPES:
            dtype = d.name
        s = rec.get("size")
        if isinstance(s, tuple) and all(isinstance(x, int) for x in s):
            size = s
    return dtype, size


_GROUP_COUNTERS = ("step", "k", "train_mode")  # param-group values the step reader may ask for


def optimizer_view(meta: Record, items: _Items, prefix: str = "optimizer") -> dict[str, Any]:
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
            if isinstance(rec, Record) and rec.kind.endswith("TensorStorageMetadata"):
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


def read_dcp_folder(d: Path, root: Path, limits: Limits) -> tuple[ShardedState, OptimizerFile | None, int]:
    md = d / ".metadata"
    is_optim = bool(OPTIM_DIR.match(d.name))
    present = tuple(sorted(p.name for p in d.iterdir() if p.name.endswith(".distcp")))
    try:
        check_inside(root, md)
        meta = decode_metadata(md, limits)
    except (UnreadableFile, OSError) as exc:
        problem = problem_of(exc) if isinstance(exc, UnreadableFile) else FileProblem(md, "unreadable", f"{md}: {exc}")
        return ShardedState(d, 0, 0, present, problem=problem), (OptimizerFile(md, None, problem=problem) if is_optim else None), 0
    sdm = meta.get("state_dict_metadata")
    keys = [k for k in sdm if isinstance(k, str)] if isinstance(sdm, dict) else []
    items = _Items(d, root, meta, limits)
    ends = items.shard_ends()
    missing = tuple(sorted(set(ends) - set(present)))
    short = sorted(n for n in set(ends) & set(present) if (d / n).stat().st_size < ends[n])
    version = meta.get("version")
    problem = None
    if missing:
        problem = FileProblem(d / missing[0], "unreadable",
                              f"{d}: .metadata names shard(s) that are missing: {', '.join(missing)}; the state cannot be loaded")
    elif short:
        problem = FileProblem(d / short[0], "unreadable",
                              f"{d / short[0]}: truncated: {(d / short[0]).stat().st_size:,} bytes, .metadata places "
                              f"items up to byte {ends[short[0]]:,}")
    state = ShardedState(d, len(keys), sum(1 for k in keys if k.endswith(".step")), present, missing,
                         version if isinstance(version, str) else None, problem)
    if not is_optim:
        return state, None, 0
    size = md.stat().st_size
    if problem is not None:
        return state, OptimizerFile(md, StepCount(None, "unknown", str(md), "shards missing or truncated"), (), None, size, size), size
    try:
        view = optimizer_view(meta, items)
        step = optimizer_step_count(view, lambda t: items.read(t.storage.key))
    except CkptfixError as exc:
        step = StepCount(None, "unknown", str(md), f"step items could not be read: {exc}")
    groups = ()
    return state, OptimizerFile(md, step, groups, None, size + items.bytes_read, size), size + items.bytes_read


def load(folder: Path, limits: Limits = DEFAULT_LIMITS) -> Checkpoint:
    folder = Path(folder)
    ck = load_accelerate(folder, limits)  # scheduler.bin, random_states_*.pkl, training_state.json
    sharded, optimizers, problems, nbytes = [], list(ck.optimizers), list(ck.other_problems), 0
    for d in dcp_dirs(folder):
        state, opt, n = read_dcp_folder(d, folder, limits)
        sharded.append(state)
        nbytes += n
        if opt is not None:
            optimizers.append(opt)
        if state.problem is not None and (opt is None or opt.problem is None):
            problems.append(state.problem)
    return replace(ck, layout=NAME, sharded=tuple(sharded), optimizers=tuple(optimizers),
                   other_problems=tuple(problems), bytes_read=ck.bytes_read + nbytes)
