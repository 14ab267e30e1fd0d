"""The globals a checkpoint pickle may name, and the inert values ckptfix builds for them.

Nothing here imports or calls the real objects: each allowed global maps to a small pure function
of the decoded arguments. Anything not listed is refused by the decoder, reported by name.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

from ckptfix.formats.objects import DTYPES, STORAGE_TYPES, Opaque, StorageRef, TensorRef, TorchDevice, TorchSize
from ckptfix.records import Record


class BadArguments(ValueError):
    """An allowed global was called with arguments it never gets from torch."""


# allowed globals that hash the items of their first argument: the decoder charges that work first
HASHING_BUILDERS = frozenset({"collections.OrderedDict", "builtins.set", "builtins.frozenset", "__builtin__.set",
                              "__builtin__.frozenset"})


class AllowedGlobal(Record):
    """A global a pickle may name, and the inert builder that stands in for it."""

    module: str
    name: str
    call: Callable[[tuple], Any] | None  # for REDUCE / NEWOBJ; None: a value, not callable

    def __post_init__(self) -> None:
        # not a field: callable and hashes nothing of its arguments, so the decoder's hot path may call it directly
        self.__dict__["plain_call"] = self.call is not None and self.qualname not in HASHING_BUILDERS

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


class StorageType(Record):
    """A typed storage class (``torch.FloatStorage`` ...): its element dtype and size, looked up once."""

    name: str

    def __post_init__(self) -> None:
        # not fields (they follow from the name): the element dtype and its size in bytes
        self.__dict__["dtype"], self.__dict__["itemsize"], _fmt = STORAGE_TYPES[self.name]


class DType(Record):
    """A ``torch.<dtype>`` named in a pickle (by name only)."""

    name: str


def _tuple_arg(args: tuple, i: int) -> tuple:
    v = args[i]
    if type(v) is not tuple:
        if not isinstance(v, (tuple, list)):
            raise BadArguments(f"argument {i} must be a tuple of ints")
        v = tuple(v)
    for x in v:
        if type(x) is not int:  # bool is excluded too: type(True) is bool
            raise BadArguments(f"argument {i} must be a tuple of ints")
    return v


def rebuild_tensor(args: tuple) -> TensorRef:
    """One per tensor in a state dict (thousands per optimizer): checks kept, calls kept few."""
    if len(args) < 4 or not isinstance(args[0], StorageRef) or not isinstance(args[1], int):
        raise BadArguments("tensor rebuild expects (storage, offset, size, stride, ...)")
    shape, stride = _tuple_arg(args, 2), _tuple_arg(args, 3)
    return tensor_of(args[0], args[1], shape, stride, view_extent(shape, stride), len(args) > 4 and args[4] is True)


# torch keeps sizes, strides and offsets as int64; optimizer and scheduler states hold tensors of at most
# a few dimensions, so MAX_DIMS = 64 refuses nothing real. Every value is checked against these bounds before any arithmetic:
# a crafted shape of 2,000 references to one 8,000-bit integer multiplied into a 16-million-bit product
# (quadratic: minutes); bounded, the same file is refused after a few comparisons.
MAX_DIMS = 64
INT64_MAX = (1 << 63) - 1


def view_extent(shape: tuple[int, ...], stride: tuple[int, ...]) -> int | None:
    """Elements from a view's first to one past its last, in its storage (None: the view is empty).

    ``BadArguments`` for anything torch cannot have written: more than ``MAX_DIMS`` dimensions, a size or
    stride outside int64, or a number of elements beyond int64 (checked as the product grows)."""
    if len(shape) != len(stride):
        raise BadArguments("tensor rebuild: inconsistent size/stride/offset")
    if len(shape) > MAX_DIMS:
        raise BadArguments(f"tensor rebuild: {len(shape)} dimensions (torch allows {MAX_DIMS})")
    numel = extent = 1
    for s, st in zip(shape, stride):
        if s < 0 or s > INT64_MAX or not -INT64_MAX <= st <= INT64_MAX:
            raise BadArguments("tensor rebuild: a size or stride outside int64")
        numel *= s
        if numel > INT64_MAX:
            raise BadArguments("tensor rebuild: more elements than int64 can count")
        extent += (s - 1) * st  # each term below 2**126: bounded
    return extent if numel else None


def tensor_of(storage: StorageRef, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], extent: int | None,
              requires_grad: bool) -> TensorRef:
    """The tensor, once its view fits its storage (``extent`` from ``view_extent``)."""
    if offset < 0 or offset > INT64_MAX:
        raise BadArguments("tensor rebuild: inconsistent size/stride/offset")
    if extent is not None and offset + extent > storage.numel:
        raise BadArguments("tensor rebuild: view reaches past the end of its storage")
    return TensorRef(storage, offset, shape, stride, requires_grad)


def _rebuild_parameter(args: tuple) -> TensorRef:
    if not args or not isinstance(args[0], TensorRef):
        raise BadArguments("parameter rebuild expects a tensor")
    return args[0]


def _ordered_dict(args: tuple) -> OrderedDict:
    """A real ``collections.OrderedDict`` (a plain builtin, nothing to run): a rewrite writes it back as one."""
    if args and not (len(args) == 1 and isinstance(args[0], (list, tuple))):
        raise BadArguments("OrderedDict expects no arguments or a list of pairs")
    return OrderedDict(args[0]) if args else OrderedDict()


def _counter(args: tuple) -> Counter:
    # torch's weights-only loader allows collections.Counter: MultiStepLR keeps its milestones in one, pickled
    # as Counter({milestone: count}) by REDUCE. A real Counter is built (inert: a dict subclass from the stdlib);
    # torch_writer refuses to write one back, so a repair never silently turns it into a plain dict.
    if not args:
        return Counter()
    if len(args) != 1 or type(args[0]) is not dict:
        raise BadArguments("Counter expects no arguments or one dict")
    return Counter(args[0])


def _codecs_encode(args: tuple) -> bytes:
    if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
        raise BadArguments("_codecs.encode expects (str, 'latin1')")
    return args[0].encode("latin1")


def _empty_bytes(args: tuple) -> bytes:
    if args:
        raise BadArguments("bytes expects no arguments (protocol <= 2 writes b'' as bytes())")
    return b""


def _container(kind: type) -> Callable[[tuple], Any]:
    def build(args: tuple) -> Any:
        if len(args) > 1:
            raise BadArguments(f"{kind.__name__} expects at most one argument")
        items = args[0] if args else ()
        if not isinstance(items, (list, tuple, set, frozenset)):
            raise BadArguments(f"{kind.__name__} expects a list")
        return kind(items)

    return build


def _size(args: tuple) -> TorchSize:
    if len(args) != 1:
        raise BadArguments("torch.Size expects one tuple")
    return TorchSize(_tuple_arg(args, 0))


def _device(args: tuple) -> TorchDevice:
    if not args or len(args) > 2 or not all(type(a) in (str, int) for a in args):
        raise BadArguments("torch.device expects a name (and an index)")
    return TorchDevice(args)


def _opaque(kind: str) -> Callable[[tuple], Opaque]:
    def build(args: tuple) -> Opaque:
        return Opaque(kind, ())

    return build


def _build_table(entries: list[AllowedGlobal]) -> dict[tuple[str, str], AllowedGlobal]:
    return {(e.module, e.name): e for e in entries}


_TORCH: list[AllowedGlobal] = [
    AllowedGlobal("collections", "OrderedDict", _ordered_dict),
    AllowedGlobal("collections", "Counter", _counter),
    AllowedGlobal("builtins", "set", _container(set)),
    AllowedGlobal("builtins", "frozenset", _container(frozenset)),
    AllowedGlobal("builtins", "bytearray", _container(bytearray)),
    AllowedGlobal("__builtin__", "set", _container(set)),
    AllowedGlobal("__builtin__", "frozenset", _container(frozenset)),  # protocol <= 2 spelling
    AllowedGlobal("__builtin__", "bytes", _empty_bytes),  # protocol <= 2 pickles b"" as bytes()
    AllowedGlobal("_codecs", "encode", _codecs_encode),
    AllowedGlobal("torch._utils", "_rebuild_tensor_v2", rebuild_tensor),
    AllowedGlobal("torch._utils", "_rebuild_tensor", rebuild_tensor),
    AllowedGlobal("torch._utils", "_rebuild_parameter", _rebuild_parameter),
    AllowedGlobal("torch", "Size", _size),
    AllowedGlobal("torch", "device", _device),
]
_TORCH += [AllowedGlobal("torch", n, None) for n in STORAGE_TYPES]
_TORCH += [AllowedGlobal("torch", n, None) for n in DTYPES]

# accelerate loads random_states_*.pkl with torch's weights_only loader plus exactly these numpy
# globals (accelerate/utils/other.py TORCH_SAFE_GLOBALS); we decode them as opaque values.
_NUMPY_RNG: list[AllowedGlobal] = [
    AllowedGlobal("numpy.core.multiarray", "_reconstruct", _opaque("numpy.ndarray")),
    AllowedGlobal("numpy._core.multiarray", "_reconstruct", _opaque("numpy.ndarray")),
    AllowedGlobal("numpy", "ndarray", None),
    AllowedGlobal("numpy", "dtype", _opaque("numpy.dtype")),
    AllowedGlobal("numpy.dtypes", "UInt32DType", None),
]

TORCH_STATE = _build_table(_TORCH)
RNG_STATE = _build_table(_TORCH + _NUMPY_RNG)


# -- DCP metadata allowlist --------------------------------------------------------------------------
# torch.distributed.checkpoint writes ``.metadata`` with plain ``pickle.dump`` of a ``Metadata``
# dataclass and reads it back with ``pickle.load`` (full code execution). Checked against torch 2.13
# output (and the older ``_shard`` location of TensorProperties), a legitimate file names only:
#   torch.distributed.checkpoint.metadata: Metadata, TensorStorageMetadata, BytesStorageMetadata,
#       ChunkStorageMetadata, TensorProperties, MetadataIndex, StorageMeta, _MEM_FORMAT_ENCODING
#   torch.distributed.checkpoint.filesystem: _StorageInfo
#   torch.serialization._get_layout (how torch.layout pickles), torch.Size, torch.<dtype>,
#   pathlib.PosixPath / WindowsPath / PurePosixPath / PureWindowsPath (StorageMeta.checkpoint_id)
# Every one decodes to an inert ``Opaque`` record; nothing is imported or built.
def _dcp_object(kind: str, check: Callable[[tuple], bool]) -> Callable[[tuple], Opaque]:
    def build(args: tuple) -> Opaque:
        if not check(args):
            raise BadArguments(f"{kind} called with arguments torch never writes")
        return Opaque(kind)

    return build


def _no_args(args: tuple) -> bool:
    return args == ()


def _one_int(args: tuple) -> bool:
    return len(args) == 1 and type(args[0]) is int


def _one_str(args: tuple) -> bool:
    return len(args) == 1 and type(args[0]) is str


def _strs(args: tuple) -> bool:
    return all(type(a) is str for a in args)


_DCP_CLASSES = [
    ("torch.distributed.checkpoint.metadata", n, _no_args)
    for n in ("Metadata", "TensorStorageMetadata", "BytesStorageMetadata", "ChunkStorageMetadata",
              "TensorProperties", "MetadataIndex", "StorageMeta")
] + [
    ("torch.distributed.checkpoint.metadata", "_MEM_FORMAT_ENCODING", _one_int),
    ("torch.distributed._shard.sharded_tensor.metadata", "TensorProperties", _no_args),
    ("torch.distributed._shard.sharded_tensor.metadata", "MEM_FORMAT_ENCODING", _one_int),
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo", _no_args),
    ("torch.serialization", "_get_layout", _one_str),
] + [("pathlib", n, _strs) for n in ("PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath")]

DCP_METADATA: dict[tuple[str, str], AllowedGlobal] = {
    (m, n): AllowedGlobal(m, n, _dcp_object(f"{m}.{n}", check)) for m, n, check in _DCP_CLASSES
}
DCP_METADATA[("torch", "Size")] = TORCH_STATE[("torch", "Size")]
DCP_METADATA.update({("torch", n): TORCH_STATE[("torch", n)] for n in DTYPES if ("torch", n) in TORCH_STATE})


# -- DeepSpeed tag folder: <tag>/mp_rank_*_model_states.pt and <tag>/*_optim_states.pt -------------
# Used only for the files inside a DeepSpeed tag folder (``ckptfix.model.layouts.deepspeed``); DeepSpeed
# itself loads them with ``weights_only=False``. Checked against files written by DeepSpeed 0.19.8
# (engine ``_save_checkpoint`` / ``_save_zero_checkpoint``, ZeRO stage 1, accelerate 1.15). Every entry
# is inert data decoded without importing or building anything:
class AttributedDict(dict, Opaque):
    """An ``OrderedDict`` that was pickled with instance attributes (a module ``state_dict()`` carries
    ``_metadata``, per-module version numbers): a plain dict whose attribute state is dropped, as torch's
    own weights-only loader keeps it as ``__dict__`` and nothing reads it. It is an ``Opaque`` only so that
    the decoder's BUILD accepts it."""

    def __init__(self, items: Any = ()) -> None:
        dict.__init__(self, items)
        object.__setattr__(self, "kind", "collections.OrderedDict")
        object.__setattr__(self, "args", ())


def _attributed_ordered_dict(args: tuple) -> AttributedDict:
    return AttributedDict(_ordered_dict(args))


def _enum_member(kind: str) -> Callable[[tuple], Opaque]:
    def build(args: tuple) -> Opaque:
        if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], (int, str)):
            raise BadArguments(f"{kind} expects one int or str value")
        return Opaque(kind, (args[0],))

    return build


def _plain_object(kind: str) -> Callable[[tuple], Opaque]:
    def build(args: tuple) -> Opaque:  # NEWOBJ with no arguments, then BUILD with its __dict__ (dropped)
        if args:
            raise BadArguments(f"{kind} is created without arguments")
        return Opaque(kind, ())

    return build


_DEEPSPEED: list[AllowedGlobal] = [
    # mp_rank_00_model_states.pt "module": the model state_dict, an OrderedDict with ``_metadata``.
    AllowedGlobal("collections", "OrderedDict", _attributed_ordered_dict),
    # zero_pp_rank_*_optim_states.pt: "zero_stage" is an IntEnum member (stage number kept as args[0]);
    # "loss_scaler" a LossScaler/DynamicLossScaler holding numbers only (cur_scale, cur_iter, ...);
    # "param_slice_mappings" maps names to fragment_address(numel, start) dataclasses.
    AllowedGlobal("deepspeed.runtime.zero.config", "ZeroStageEnum", _enum_member("deepspeed.runtime.zero.config.ZeroStageEnum")),
    AllowedGlobal("deepspeed.runtime.fp16.loss_scaler", "LossScaler", _plain_object("deepspeed.runtime.fp16.loss_scaler.LossScaler")),
    AllowedGlobal("deepspeed.runtime.fp16.loss_scaler", "DynamicLossScaler", _plain_object("deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler")),
    AllowedGlobal("deepspeed.utils.tensor_fragment", "fragment_address", _plain_object("deepspeed.utils.tensor_fragment.fragment_address")),
]
DEEPSPEED_STATE = _build_table(_TORCH + _DEEPSPEED)  # later entries win: OrderedDict -> AttributedDict


def value_of(g: AllowedGlobal) -> Any:
    """What a non-callable allowed global stands for when it appears as a plain value."""
    if g.module == "torch" and g.name in STORAGE_TYPES:
        return StorageType(g.name)
    if g.module == "torch" and g.name in DTYPES:
        return DType(g.name)
    return Opaque(g.qualname)
