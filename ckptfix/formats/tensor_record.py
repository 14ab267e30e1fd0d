"""torch.save's tensor record, decoded in one step instead of ~30 interpreted opcodes.

Nearly every opcode of an optimizer pickle belongs to a tensor record. Once the first record has
named its globals and strings, torch writes every later one with the same bytes but for memo
indices, the storage key and the integers::

    BINGET <_rebuild_tensor_v2> MARK MARK BINGET <'storage'> BINGET <FloatStorage> BINUNICODE key PUT
    BINGET <'cpu'> numel TUPLE PUT BINPERSID offset <size tuple> <stride tuple> NEWFALSE
    BINGET <OrderedDict> EMPTY_TUPLE REDUCE PUT TUPLE PUT REDUCE PUT

One compiled regular expression recognises that layout. ``RecordDecoder.decode`` then builds exactly what
interpreting those opcodes builds — the same persistent-id tuple, the same builder calls, the same
memo stores in the same order — and returns None whenever anything differs from the common case
(another layout, an index stored and read inside the record, a builder that refuses its arguments),
so that the interpreter runs the record itself and reports any error at its exact opcode.
``tests/test_tensor_record.py`` checks both paths give the same result on real and mutated pickles.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from ckptfix.formats.allowlist import AllowedGlobal, BadArguments, tensor_of, view_extent
from ckptfix.formats.objects import StorageRef

_INT = rb"(?:K.|M..|J....)"  # BININT1 / BININT2 / BININT


def _put(name: str) -> bytes:
    """BINPUT / LONG_BINPUT, captured as ``name``."""
    return rb"(?P<" + name.encode() + rb">q.|r....)"


def _tuple(name: str) -> bytes:
    """A size or stride tuple: EMPTY_TUPLE, or 1-3 ints then TUPLE1/2/3, or MARK up to 16 ints TUPLE;
    then a PUT or not. At most MAX_OPS opcodes a record, so the VM can tell beforehand that its budget
    suffices."""
    return (rb"(?P<" + name.encode() + rb">\)|" + _INT + rb"{1,3}[\x85\x86\x87]|\(" + _INT + rb"{0,16}t)"
            + rb"(?P<put_" + name.encode() + rb">q.|r....)?")


# Fixed-width neighbours share one group. ``decode`` unpacks ``m.groups()`` in this order (positional
# unpacking: the names are for the reader, and cost nothing).
_RECORD = re.compile(
    rb"h.\(\((?P<refs>h.h.X.)\x00\x00\x00(?P<key>[0-9]{1,20})" + _put("put_key")
    + rb"h(?P<loc_numel>." + _INT + rb")t" + _put("put_pid") + rb"Q(?P<offset>" + _INT + rb")"
    + _tuple("size") + _tuple("stride") + rb"(?P<grad_hooks>[\x88\x89]h.)\)R" + _put("put_hooks")
    + rb"t" + _put("put_args") + rb"R" + _put("put_tensor"),
    re.DOTALL,
)
_match = _RECORD.match

_TUPLE_OPS = {0x85: 1, 0x86: 2, 0x87: 3}

# Opcodes of a record besides its two tuples: BINGET MARK MARK BINGET BINGET BINUNICODE PUT BINGET
# <int> TUPLE PUT BINPERSID <int> NEWTRUE/NEWFALSE BINGET EMPTY_TUPLE REDUCE PUT TUPLE PUT REDUCE PUT
_FIXED_OPS = 22
MAX_OPS = _FIXED_OPS + 2 * (16 + 2 + 1)


_u32 = struct.Struct("<xI").unpack  # LONG_BINPUT's operand, from the opcode's 5 bytes

_WIDTH = {0x4B: 1, 0x4D: 2, 0x4A: 4}  # operand bytes of BININT1 / BININT2 / BININT


def _int(g: bytes) -> int:
    n = len(g)
    if n == 2:
        return g[1]
    if n == 3:
        return g[1] | g[2] << 8
    return int.from_bytes(g[1:], "little", signed=True)


def _parse_tuple(seg: bytes) -> tuple[tuple[int, ...], int] | None:
    """(the tuple, its opcode count) for the bytes of one size/stride tuple, None if malformed."""
    if seg == b")":
        return (), 1
    marked = seg[0] == 0x28
    i = 1 if marked else 0
    end = len(seg) - 1
    vals = []
    while i < end:
        width = _WIDTH[seg[i]]
        vals.append(_int(seg[i:i + 1 + width]))
        i += 1 + width
    if not marked and _TUPLE_OPS[seg[end]] != len(vals):
        return None  # e.g. two ints then TUPLE3: the interpreter reports the stack it finds
    return tuple(vals), len(vals) + (2 if marked else 1)



def _parse_view(shape_seg: bytes, stride_seg: bytes) -> tuple[tuple[int, ...], tuple[int, ...], int | None, int] | None:
    """(size, stride, extent, opcodes) of a record's two tuples; None when the builder would refuse them."""
    shape, stride = _parse_tuple(shape_seg), _parse_tuple(stride_seg)
    if shape is None or stride is None:
        return None
    try:
        extent = view_extent(shape[0], stride[0])
    except BadArguments:
        return None
    return shape[0], stride[0], extent, shape[1] + stride[1]


class RecordDecoder:
    """Decodes tensor records for one VM run; caches the size/stride pairs it has parsed.

    Only for the allowlist's own ``_rebuild_tensor_v2`` builder, whose checks it applies through
    the same functions (``view_extent``, ``tensor_of``).
    """

    __slots__ = ("persistent_load", "_views", "_numels")

    def __init__(self, persistent_load: Any):
        self.persistent_load = persistent_load
        self._views: dict[bytes, dict[bytes, Any]] = {}  # size bytes -> stride bytes -> view
        self._numels: dict[bytes, int] = {}  # location index and numel bytes -> numel

    def decode(self, data: bytes, at: int, memo: dict) -> tuple[Any, int, int] | None:
        """(tensor, end offset, opcodes) for the record starting at ``at``, memo updated; or None,
        with the memo untouched."""
        m = _match(data, at)
        if m is None:
            return None
        (refs, key, p_key, loc_numel, p_pid, offset, shape_seg, p_shape, stride_seg, p_stride, grad_hooks,
         p_hooks, p_args, p_tensor) = m.groups()
        if refs[5] != len(key):
            return None
        by_stride = self._views.get(shape_seg)
        if by_stride is None:
            by_stride = self._views[shape_seg] = {}
        view = by_stride.get(stride_seg, False)
        if view is False:
            view = by_stride[stride_seg] = _parse_view(shape_seg, stride_seg)
        if view is None:
            return None
        # The memo index a BINPUT (2 bytes) or LONG_BINPUT (5 bytes) stores to, written out at each of
        # the seven places: a helper function for it cost 13 M instructions (+1.5%) on the 2,000-parameter
        # LoRA gate (callgrind, bench/instructions.py).
        k_key = p_key[1] if len(p_key) == 2 else _u32(p_key)[0]
        k_pid = p_pid[1] if len(p_pid) == 2 else _u32(p_pid)[0]
        k_shape = None if p_shape is None else p_shape[1] if len(p_shape) == 2 else _u32(p_shape)[0]
        k_stride = None if p_stride is None else p_stride[1] if len(p_stride) == 2 else _u32(p_stride)[0]
        loc, hooks_at = loc_numel[0], grad_hooks[2]
        if loc == k_key or hooks_at in (k_key, k_pid, k_shape, k_stride):
            return None  # the record reads an index it stored itself: leave it to the interpreter
        hooks_builder = memo.get(hooks_at)
        if type(hooks_builder) is not AllowedGlobal or hooks_builder.call is None:
            return None
        requires_grad = grad_hooks[0] == 0x88
        numel = self._numels.get(loc_numel)
        if numel is None:
            numel = self._numels[loc_numel] = _int(loc_numel[1:])
        try:
            key_s = key.decode("ascii")
            pid = (memo[refs[1]], memo[refs[3]], key_s, memo[loc], numel)
            storage = self.persistent_load(pid)
            if type(storage) is not StorageRef:
                return None
            shape, stride, extent, ops = view
            off = 0 if offset == b"K\x00" else _int(offset)
            hooks = hooks_builder.call(())
            tensor = tensor_of(storage, off, shape, stride, extent, requires_grad)
        except Exception:  # a missing memo key, a refused storage, bad arguments: interpreted instead
            return None
        memo[k_key] = key_s
        memo[k_pid] = pid
        if k_shape is not None:
            memo[k_shape] = shape
        if k_stride is not None:
            memo[k_stride] = stride
        memo[p_hooks[1] if len(p_hooks) == 2 else _u32(p_hooks)[0]] = hooks
        memo[p_args[1] if len(p_args) == 2 else _u32(p_args)[0]] = (storage, off, shape, stride, requires_grad, hooks)
        memo[p_tensor[1] if len(p_tensor) == 2 else _u32(p_tensor)[0]] = tensor
        return tensor, m.end(), _FIXED_OPS + ops + (p_shape is not None) + (p_stride is not None)
