"""Plain values the restricted decoder produces in place of torch / numpy objects.

Nothing here imports torch: a decoded pickle is made of builtins plus these frozen records.
"""

from __future__ import annotations

from ckptfix.records import Record

# torch storage class name -> (dtype name, element size in bytes, struct format or None)
STORAGE_TYPES: dict[str, tuple[str, int, str | None]] = {
    "DoubleStorage": ("float64", 8, "d"),
    "FloatStorage": ("float32", 4, "f"),
    "HalfStorage": ("float16", 2, "e"),
    "BFloat16Storage": ("bfloat16", 2, None),
    "LongStorage": ("int64", 8, "q"),
    "IntStorage": ("int32", 4, "i"),
    "ShortStorage": ("int16", 2, "h"),
    "CharStorage": ("int8", 1, "b"),
    "ByteStorage": ("uint8", 1, "B"),
    "BoolStorage": ("bool", 1, "?"),
    "ComplexFloatStorage": ("complex64", 8, None),
    "ComplexDoubleStorage": ("complex128", 16, None),
    "UntypedStorage": ("uint8", 1, "B"),
}

# torch dtype attribute name -> (element size, struct format or None)
DTYPES: dict[str, tuple[int, str | None]] = {
    "float64": (8, "d"), "double": (8, "d"),
    "float32": (4, "f"), "float": (4, "f"),
    "float16": (2, "e"), "half": (2, "e"),
    "bfloat16": (2, None),
    "int64": (8, "q"), "long": (8, "q"),
    "int32": (4, "i"), "int": (4, "i"),
    "int16": (2, "h"), "short": (2, "h"),
    "int8": (1, "b"), "uint8": (1, "B"), "bool": (1, "?"),
    "uint16": (2, "H"), "uint32": (4, "I"), "uint64": (8, "Q"),
    "complex64": (8, None), "complex128": (16, None),
    "float8_e4m3fn": (1, None), "float8_e5m2": (1, None),
}


# StorageRef and TensorRef: one per storage / tensor, thousands per optimizer pickle. Mutable (a frozen
# __init__ costs 3x), slotted, with their own __init__ (the generic one costs 5x).
class StorageRef(Record, frozen=False):
    """A storage referenced by persistent id: its bytes live in the zip entry ``<prefix>/data/<key>``."""

    __slots__ = ("key", "dtype", "itemsize", "location", "numel")
    key: str
    dtype: str  # element dtype name, e.g. "float32"
    itemsize: int
    location: str
    numel: int  # number of elements the pickle declares

    def __init__(self, key: str, dtype: str, itemsize: int, location: str, numel: int) -> None:
        self.key = key
        self.dtype = dtype
        self.itemsize = itemsize
        self.location = location
        self.numel = numel

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


class TensorRef(Record, frozen=False):
    """A tensor as the pickle describes it; no bytes are read until a value is asked for."""

    __slots__ = ("storage", "offset", "shape", "stride", "requires_grad")
    storage: StorageRef
    offset: int  # storage offset, in elements
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    requires_grad: bool

    def __init__(self, storage: StorageRef, offset: int, shape: tuple[int, ...], stride: tuple[int, ...],
                 requires_grad: bool = False) -> None:
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.stride = stride
        self.requires_grad = requires_grad

    @property
    def dtype(self) -> str:
        return self.storage.dtype

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def describe(self) -> str:
        return f"tensor({self.dtype}, shape={list(self.shape)})"


class Opaque(Record):
    """An allowlisted object decoded without being built (numpy arrays in RNG states, dtypes, ...)."""

    kind: str  # "module.name" of the allowlisted global that made it
    args: tuple = ()

    def describe(self) -> str:
        return f"<{self.kind}>"


class Refused(Record):
    """Stands in for a global outside the allowlist; the decode reports it and never builds it."""

    module: str
    name: str
    offset: int


# torch types a state may hold next to its numbers, decoded as the builtin they derive from but remembering
# the type, so that a rewrite (formats/torch_writer.py) writes them back as torch.save does.
class TorchSize(tuple):
    """A ``torch.Size``: a tuple of ints (``torch.Size([2, 3])`` pickles as ``torch.Size((2, 3))``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"torch.Size({list(self)!r})"


class TorchDevice(str):
    """A ``torch.device``: its text (``"cuda:1"``), and the arguments its pickle rebuilt it from
    (``("cuda", 1)``; torch pickles ``torch.device("cpu")`` as ``("cpu",)``)."""

    args: tuple[str | int, ...]

    def __new__(cls, args: tuple[str | int, ...]) -> TorchDevice:
        obj = super().__new__(cls, ":".join(str(a) for a in args))
        obj.args = tuple(args)
        return obj

    def __repr__(self) -> str:
        return f"torch.device({', '.join(repr(a) for a in self.args)})"
