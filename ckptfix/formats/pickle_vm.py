"""A pickle decoder that never executes anything.

It interprets pickle opcodes (protocols 0-5) on its own stack machine. Globals are looked up in an
allowlist of inert builders (``allowlist.py``); any other global is recorded as ``Refused`` with its
module, name and opcode offset and is never imported. The decode then fails with ``UnsafePickle``
naming every refused global. Size, nesting and literal limits (``limits.py``) bound time and memory.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ckptfix.errors import ResourceLimit, UnreadableFile, UnsafePickle
from ckptfix.formats.allowlist import HASHING_BUILDERS, AllowedGlobal, BadArguments, rebuild_tensor, value_of
from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.objects import Opaque, Refused, TensorRef
from ckptfix.formats.tensor_record import MAX_OPS as _RECORD_OPS
from ckptfix.formats.tensor_record import RecordDecoder

__all__ = ["Decoder", "FieldRecord", "LimitHit", "Malformed", "PickleResult", "FieldDecoder", "decode_pickle",
           "decode_whole_pickle", "run_pickle"]

class Malformed(Exception):
    """The stream is not a well-formed pickle (raised inside the decoder, reported as an error)."""


class PickleResult:
    __slots__ = ("value", "refused", "error", "end")

    def __init__(self, value: Any, refused: list[Refused], error: str | None, end: int):
        self.value = value
        self.refused = refused
        self.error = error
        self.end = end  # offset just past STOP


def run_pickle(
    data: bytes | memoryview,
    allow: dict[tuple[str, str], AllowedGlobal],
    persistent_load: Callable[[Any], Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    start: int = 0,
    whole_records: bool = True,
    decoder: type[Decoder] | None = None,
) -> PickleResult:
    """Interpret one pickle starting at ``start``. Never raises for bad input: see ``error``.

    ``whole_records=False`` interprets torch's tensor records opcode by opcode too (the reference
    ``tensor_record.py`` is tested against); the result is the same either way. ``decoder``: a
    ``Decoder`` subclass (its ``build`` hook keeps some objects' state, ``formats/dcp.py``), run with
    the same limits, checks and error contract.
    """
    vm = (decoder or Decoder)(data, allow, persistent_load, limits, whole_records)
    try:
        value = vm.run(start)
        _check_shape(value, limits)
        return PickleResult(value, vm.refused, None, vm.pos)
    except (Malformed, BadArguments) as exc:
        return PickleResult(None, vm.refused, f"{exc} (at byte {vm.op_at})", vm.pos)
    except (IndexError, struct.error):
        return PickleResult(None, vm.refused, f"pickle ends early (at byte {vm.op_at})", vm.pos)
    except (TypeError, ValueError, KeyError, UnicodeDecodeError, OverflowError) as exc:
        return PickleResult(None, vm.refused, f"malformed pickle: {type(exc).__name__}: {exc} (at byte {vm.op_at})", vm.pos)
    except RecursionError:
        return PickleResult(None, vm.refused, "structure nested too deeply", vm.pos)
    except LimitHit as exc:
        return PickleResult(None, vm.refused, f"limit: {exc}", vm.pos)


def decode_pickle(
    path: Path,
    data: bytes | memoryview,
    allow: dict[tuple[str, str], AllowedGlobal],
    persistent_load: Callable[[Any], Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    start: int = 0,
    what: str = "pickle",
    decoder: type[Decoder] | None = None,
) -> PickleResult:
    """Decode or raise a typed error naming ``path``."""
    res = run_pickle(data, allow, persistent_load, limits, start, decoder=decoder)
    if res.refused:
        refused = [(r.module, r.name, r.offset) for r in res.refused]
        extra = f"; the stream is also malformed: {res.error}" if res.error else ""
        err = UnsafePickle(path, refused)
        if extra:
            err = UnsafePickle(path, refused, str(err.problem) + extra)
        raise err
    if res.error is not None:
        if res.error.startswith("limit: "):
            raise ResourceLimit(path, f"{what}: {res.error[7:]}")
        raise UnreadableFile(path, f"{what} cannot be decoded: {res.error}")
    return res


def decode_whole_pickle(
    path: Path,
    data: bytes,
    allow: dict[tuple[str, str], AllowedGlobal],
    persistent_load: Callable[[Any], Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    what: str = "pickle",
    decoder: type[Decoder] | None = None,
) -> Any:
    """Decode a pickle that must fill ``data``: its loader never reads past STOP and its writer never
    writes anything there, so bytes after it are a payload hidden from the reader (refused)."""
    res = decode_pickle(path, data, allow, persistent_load, limits, 0, what, decoder)
    if res.end != len(data):
        raise UnreadableFile(path, f"{what} has {len(data) - res.end:,} bytes after the pickle ends (after its STOP "
                                   "opcode): not written by torch")
    return res.value


class LimitHit(Exception):
    """A resource limit was reached (reported as ``ResourceLimit``)."""


class Decoder:
    """The restricted pickle machine: one decode of one pickle (``run_pickle`` drives it)."""

    def __init__(self, data, allow, persistent_load, limits: Limits, whole_records: bool = True):
        self.whole_records = whole_records
        self.data = memoryview(data) if not isinstance(data, memoryview) else data
        self.allow = allow
        self.persistent_load = persistent_load
        self.limits = limits
        self.refused: list[Refused] = []
        self.pos = 0
        self.op_at = 0
        # id(tuple) -> (nesting depth, expanded size, the tuple), computed when a tuple is first hashed
        # (tuples are built without bookkeeping: torch builds ~3 per tensor); kept alive so ids stay unique
        self.tuple_info: dict[int, tuple[int, int, tuple]] = {}
        # hashing budget: a tuple built from shared sub-tuples (a DAG) hashes in time exponential in
        # its depth, and keys with equal hashes make dict inserts quadratic; charge every hash.
        self.hash_work = 0
        self.hash_seen: dict[int, dict[int, int]] = {}  # id(container) -> hash -> keys with it
        self.hashed_containers: list[Any] = []  # kept alive so (id, hash) pairs stay unique
        self._buf = data if isinstance(data, bytes) else None

    # -- reading primitives --------------------------------------------------------------
    def take(self, n: int) -> memoryview:
        p = self.pos
        if n < 0 or p + n > len(self.data):
            raise Malformed(f"a literal declares {n:,} bytes but only {len(self.data) - p:,} remain")
        self.pos = p + n
        return self.data[p:p + n]

    def line(self) -> bytes:
        p = self.pos
        if self._buf is None:  # search without copying 64 KB per text opcode (quadratic on many short lines)
            self._buf = bytes(self.data)
        end = self._buf.find(b"\n", p, p + 65536)
        if end < 0:
            raise Malformed("unterminated text line")
        self.pos = end + 1
        return self._buf[p:end]

    def u8(self) -> int:
        v = self.data[self.pos]
        self.pos += 1
        return v

    def unpack(self, fmt: str, n: int):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += n
        return v

    # -- machine ---------------------------------------------------------------------------
    def run(self, start: int) -> Any:
        self.pos = start
        stack: list[Any] = []
        metastack: list[list[Any]] = []
        memo: dict[int, Any] = {}
        # indexing bytes is cheaper than indexing a memoryview; torch's data.pkl arrives as bytes
        data = self._buf if self._buf is not None else self.data
        n = len(data)
        limits = self.limits
        refused = self.refused  # empty unless a global was refused: only then can a value be Refused
        persistent_load = self.persistent_load
        call = self._call
        max_mark_depth = limits.max_mark_depth
        # torch's tensor records decoded whole (tensor_record.py); the interpreter below runs any
        # record that decoder declines, and everything that is not a tensor record
        rebuild = self.allow.get(("torch._utils", "_rebuild_tensor_v2"))
        records = None
        if (self.whole_records and rebuild is not None and rebuild.call is rebuild_tensor and persistent_load is not None
                and type(data) is bytes):
            records = RecordDecoder(persistent_load)

        def pop_mark() -> list[Any]:
            nonlocal stack
            if not metastack:
                raise Malformed("MARK expected")
            items = stack
            stack = metastack.pop()
            return items

        # Every opcode consumes at least one byte, so a pickle shorter than the opcode budget cannot
        # exceed it: the budget only counts down for longer ones (1 << 62: never reaches zero).
        budget = limits.max_pickle_ops if n - start > limits.max_pickle_ops else 1 << 62
        unpack_from = struct.unpack_from
        p = op_at = start
        try:
            while budget:
                budget -= 1
                op_at = p
                op = data[p]  # IndexError past the end: reported as "ends without STOP" below
                p += 1

                # Hot path first, in the order of their frequency in torch.save pickles (protocol 2:
                # LONG_BINPUT, BINGET, BININT1, MARK, then per parameter one EMPTY_DICT and SETITEMS
                # around three tensor records, which BINGET hands to the record decoder whole; the
                # records' own TUPLE, REDUCE, EMPTY_TUPLE ... when one is interpreted), operands read
                # inline. Same semantics as the generic branches below.
                if op == 0x72:  # LONG_BINPUT
                    memo[unpack_from("<I", data, p)[0]] = stack[-1]
                    p += 4
                elif op == 0x68:  # BINGET
                    k = data[p]
                    p += 1
                    try:
                        v = memo[k]
                    except KeyError:
                        raise Malformed(f"memo key {k} was never stored") from None
                    if v is rebuild and records is not None and not refused and budget > _RECORD_OPS and (
                            len(metastack) < max_mark_depth - 1):
                        got = records.decode(data, op_at, memo)
                        if got is not None:  # the whole record, as its ~30 opcodes would have built it
                            stack.append(got[0])
                            p = got[1]
                            budget -= got[2] - 1
                            continue
                    stack.append(v)
                elif op == 0x4B:  # BININT1
                    stack.append(data[p])
                    p += 1
                elif op == 0x28:  # MARK
                    if len(metastack) >= max_mark_depth:
                        raise LimitHit(f"more than {max_mark_depth:,} open MARKs")
                    metastack.append(stack)
                    stack = []
                elif op == 0x7D:  # EMPTY_DICT
                    stack.append({})
                elif op == 0x75:  # SETITEMS
                    items = pop_mark()
                    self._setitems(stack[-1], items)
                elif op == 0x74:  # TUPLE
                    if not metastack:
                        raise Malformed("MARK expected")
                    t = tuple(stack)
                    stack = metastack.pop()
                    stack.append(t)
                elif op == 0x52:  # REDUCE
                    args = stack.pop()
                    func = stack[-1]
                    if type(func) is AllowedGlobal and type(args) is tuple and not refused and (
                            func.plain_call or (not args and func.call is not None)):
                        stack[-1] = func.call(args)  # nothing to hash (torch: OrderedDict() per tensor)
                    else:  # refused or hashing builders, malformed calls: the careful path
                        stack[-1] = call(func, args)
                elif op == 0x29:  # EMPTY_TUPLE
                    stack.append(())
                elif op == 0x58:  # BINUNICODE
                    ln = unpack_from("<I", data, p)[0]
                    p += 4
                    if p + ln > n:
                        raise Malformed(f"a literal declares {ln:,} bytes but only {n - p:,} remain")
                    stack.append(str(data[p:p + ln], "utf-8", "surrogatepass"))
                    p += ln
                elif op == 0x89:  # NEWFALSE
                    stack.append(False)
                elif op == 0x51:  # BINPERSID
                    pid = stack.pop()
                    if persistent_load is None or refused:
                        stack.append(self._persistent(pid))
                    else:
                        try:
                            stack.append(persistent_load(pid))
                        except UnreadableFile as exc:  # run_pickle never raises; see _persistent
                            raise Malformed(exc.problem) from None
                elif op == 0x85:  # TUPLE1
                    stack[-1] = (stack[-1],)
                elif op == 0x4D:  # BININT2
                    stack.append(unpack_from("<H", data, p)[0])
                    p += 2
                elif op == 0x86:  # TUPLE2
                    if len(stack) < 2:
                        self._short()
                    stack[-2:] = [(stack[-2], stack[-1])]
                elif op == 0x4A:  # BININT (numpy / Python RNG states: hundreds of 32-bit words)
                    stack.append(unpack_from("<i", data, p)[0])
                    p += 4
                elif op == 0x8A:  # LONG1
                    ln = data[p]
                    p += 1
                    if p + ln > n:
                        raise Malformed(f"a literal declares {ln:,} bytes but only {n - p:,} remain")
                    stack.append(int.from_bytes(data[p:p + ln], "little", signed=True))
                    p += ln
                elif op == 0x47:  # BINFLOAT
                    stack.append(unpack_from(">d", data, p)[0])
                    p += 8
                else:  # everything else reads its operands through self.pos
                    self.pos, self.op_at = p, op_at
                    if op == 0x71:  # BINPUT
                        memo[self.u8()] = stack[-1]
                    elif op == 0x87:  # TUPLE3
                        if len(stack) < 3:
                            self._short()
                        stack[-3:] = [tuple(stack[-3:])]
                    elif op == 0x5D:  # EMPTY_LIST
                        stack.append([])
                    elif op == 0x8F:  # EMPTY_SET
                        stack.append(set())
                    elif op == 0x61:  # APPEND
                        v = stack.pop()
                        self._extend(stack[-1], [v])
                    elif op == 0x65:  # APPENDS
                        items = pop_mark()
                        self._extend(stack[-1], items)
                    elif op == 0x73:  # SETITEM
                        v = stack.pop()
                        k = stack.pop()
                        self._setitems(stack[-1], [k, v])
                    elif op == 0x90:  # ADDITEMS
                        items = pop_mark()
                        target = stack[-1]
                        if not isinstance(target, set):
                            raise Malformed("ADDITEMS on a non-set")
                        self._charge_hashes(target, items)
                        target.update(items)
                    elif op == 0x91:  # FROZENSET
                        items = pop_mark()
                        self._charge_hashes(None, items)
                        stack.append(frozenset(items))
                    elif op == 0x6C:  # LIST
                        items = pop_mark()  # before looking up stack.append: pop_mark rebinds ``stack``
                        stack.append(list(items))
                    elif op == 0x64:  # DICT
                        items = pop_mark()
                        d: dict = {}
                        self._setitems(d, items)
                        stack.append(d)
                    elif op == 0x4E:  # NONE
                        stack.append(None)
                    elif op == 0x88:  # NEWTRUE
                        stack.append(True)
                    elif op == 0x8B:  # LONG4
                        ln = self.unpack("<i", 4)
                        if ln > limits.max_long_bytes:
                            raise LimitHit(f"integer literal of {ln:,} bytes (limit {limits.max_long_bytes:,})")
                        stack.append(int.from_bytes(self.take(ln), "little", signed=True))
                    elif op == 0x8C:  # SHORT_BINUNICODE
                        ln = self.u8()
                        stack.append(str(self.take(ln), "utf-8", "surrogatepass"))
                    elif op == 0x8D:  # BINUNICODE8
                        ln = self.unpack("<Q", 8)
                        stack.append(str(self.take(ln), "utf-8", "surrogatepass"))
                    elif op == 0x43:  # SHORT_BINBYTES
                        stack.append(bytes(self.take(self.u8())))
                    elif op == 0x42:  # BINBYTES
                        stack.append(bytes(self.take(self.unpack("<I", 4))))
                    elif op == 0x8E:  # BINBYTES8
                        stack.append(bytes(self.take(self.unpack("<Q", 8))))
                    elif op == 0x96:  # BYTEARRAY8
                        stack.append(bytearray(self.take(self.unpack("<Q", 8))))
                    elif op == 0x55:  # SHORT_BINSTRING
                        stack.append(bytes(self.take(self.u8())).decode("latin1"))
                    elif op == 0x54:  # BINSTRING
                        ln = self.unpack("<i", 4)
                        stack.append(bytes(self.take(ln)).decode("latin1"))
                    elif op == 0x6A:  # LONG_BINGET
                        stack.append(self._memo_get(memo, self.unpack("<I", 4)))
                    elif op == 0x94:  # MEMOIZE
                        memo[len(memo)] = stack[-1]
                    elif op == 0x70:  # PUT
                        memo[self._memo_key(self._int_line())] = stack[-1]
                    elif op == 0x67:  # GET
                        stack.append(self._memo_get(memo, self._memo_key(self._int_line())))
                    elif op == 0x30:  # POP
                        if stack:
                            stack.pop()
                        else:
                            pop_mark()
                    elif op == 0x31:  # POP_MARK
                        pop_mark()
                    elif op == 0x32:  # DUP
                        stack.append(stack[-1])
                    elif op == 0x80:  # PROTO
                        proto = self.u8()
                        if proto > 5:
                            raise Malformed(f"unsupported pickle protocol {proto}")
                    elif op == 0x95:  # FRAME
                        self.unpack("<Q", 8)
                    elif op == 0x63:  # GLOBAL
                        module = self.line().decode("utf-8")
                        name = self.line().decode("utf-8")
                        stack.append(self._global(module, name))
                    elif op == 0x93:  # STACK_GLOBAL
                        name = stack.pop()
                        module = stack.pop()
                        if not isinstance(module, str) or not isinstance(name, str):
                            raise Malformed("STACK_GLOBAL needs two strings")
                        stack.append(self._global(module, name))
                    elif op in (0x82, 0x83, 0x84):  # EXT1/2/4: the copyreg extension registry
                        code = self.u8() if op == 0x82 else self.unpack("<H", 2) if op == 0x83 else self.unpack("<i", 4)
                        self.refused.append(Refused("copyreg.extension", str(code), self.op_at))
                        stack.append(self.refused[-1])
                    elif op == 0x81:  # NEWOBJ
                        args = stack.pop()
                        cls = stack[-1]
                        stack[-1] = self._call(cls, args)
                    elif op == 0x92:  # NEWOBJ_EX
                        kwargs = stack.pop()
                        args = stack.pop()
                        cls = stack[-1]
                        stack[-1] = self._call(cls, args, kwargs)
                    elif op == 0x6F:  # OBJ
                        items = pop_mark()
                        if not items:
                            raise Malformed("OBJ without a class")
                        stack.append(self._call(items[0], tuple(items[1:])))
                    elif op == 0x69:  # INST
                        module = self.line().decode("utf-8")
                        name = self.line().decode("utf-8")
                        cls = self._global(module, name)
                        items = pop_mark()
                        stack.append(self._call(cls, tuple(items)))
                    elif op == 0x62:  # BUILD
                        state = stack.pop()
                        self.build(stack[-1], state)
                    elif op == 0x50:  # PERSID
                        stack.append(self._persistent(self.line().decode("ascii")))
                    elif op == 0x49:  # INT
                        s = self.line()
                        stack.append(True if s == b"01" else False if s == b"00" else self._parse_int(s))
                    elif op == 0x4C:  # LONG
                        s = self.line()
                        stack.append(self._parse_int(s[:-1] if s.endswith(b"L") else s))
                    elif op == 0x46:  # FLOAT
                        stack.append(float(self.line()))
                    elif op == 0x53:  # STRING
                        s = self.line()
                        if len(s) < 2 or s[0] != s[-1] or s[0] not in b"'\"":
                            raise Malformed("STRING literal not quoted")
                        stack.append(codecs.escape_decode(s[1:-1])[0].decode("latin1"))
                    elif op == 0x56:  # UNICODE
                        stack.append(self.line().decode("raw-unicode-escape"))
                    elif op in (0x97, 0x98):  # NEXT_BUFFER / READONLY_BUFFER: out-of-band buffers
                        raise Malformed("out-of-band pickle buffers are not used by torch")
                    elif op == 0x2E:  # STOP
                        if metastack:
                            raise Malformed("STOP with an open MARK")
                        if len(stack) != 1:
                            raise Malformed(f"STOP with {len(stack)} values on the stack")
                        return stack[0]
                    else:
                        raise Malformed(f"unknown opcode 0x{op:02x}")
                    p = self.pos
            raise LimitHit(f"more than {limits.max_pickle_ops:,} pickle opcodes")
        except IndexError:
            self.op_at = op_at
            self.pos = max(self.pos, p)
            if op_at >= n:
                raise Malformed("pickle ends without STOP") from None
            raise
        except BaseException:
            # errors report where the opcode started and how far the stream was read
            self.op_at = op_at
            self.pos = max(self.pos, p)
            raise

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _short():
        raise Malformed("stack underflow")

    @staticmethod
    def _memo_get(memo: dict, key: int) -> Any:
        try:
            return memo[key]
        except KeyError:
            raise Malformed(f"memo key {key} was never stored") from None

    def _int_line(self) -> int:
        return self._parse_int(self.line())

    @staticmethod
    def _memo_key(key: int) -> int:
        # huge text memo keys could collide in the memo dict (hash(k) == hash(k + 2**61 - 1))
        if not 0 <= key < 1 << 32:
            raise Malformed(f"memo key {key} out of range")
        return key

    def _weight(self, x: Any) -> int:
        """Values hashed when ``x`` is hashed: a tuple counts its parts, shared ones once per use."""
        if type(x) is tuple:
            return self._tuple_info(x)[1]
        if isinstance(x, frozenset):
            return 1 + len(x)
        return 1

    def _tuple_info(self, t: tuple) -> tuple[int, int, tuple]:
        """(depth, expanded size, t) of a tuple of tuples, by an iterative walk (a crafted DAG of shared
        sub-tuples expands exponentially: refused past the limits before anything hashes it)."""
        info = self.tuple_info
        limits = self.limits
        got = info.get(id(t))
        if got is not None:
            return got
        todo: list[tuple[tuple, bool]] = [(t, False)]
        while todo:
            x, leaving = todo.pop()
            if id(x) in info:
                continue
            subs = [c for c in x if type(c) is tuple]
            if not leaving:
                todo.append((x, True))
                todo.extend((c, False) for c in subs if id(c) not in info)
                if len(todo) > limits.max_objects:
                    raise LimitHit(f"more than {limits.max_objects:,} tuples")
                continue
            d, w = 1, 1 + len(x)
            for c in subs:
                cd, cw, _ = info[id(c)]
                d = max(d, cd + 1)
                w += cw - 1  # c itself is already counted in len(x)
            if d > limits.max_nesting:
                raise LimitHit(f"tuples nested deeper than {limits.max_nesting}")
            if w > limits.max_objects:
                raise LimitHit(f"a tuple built from shared parts expands to more than {limits.max_objects:,} values")
            info[id(x)] = (d, w, x)
        return info[id(t)]

    def _charge_hashes(self, container: Any, keys: Any) -> None:
        """Account for hashing ``keys`` into ``container`` (None: a fresh set) before it happens."""
        limits = self.limits
        max_work, max_collisions = limits.max_hash_work, limits.max_hash_collisions
        if container is None:
            counts: dict[int, int] = {}
        else:
            if not self.hashed_containers or self.hashed_containers[-1] is not container:
                self.hashed_containers.append(container)
            counts = self.hash_seen.get(id(container))  # type: ignore[assignment]
            if counts is None:
                counts = self.hash_seen[id(container)] = {}
        work = self.hash_work
        try:
            for k in keys:
                tk = type(k)
                w = 1 if tk is str or tk is int else self._weight(k)
                work += w
                if work > max_work:
                    raise LimitHit(f"more than {max_work:,} units of hashing work (shared-structure keys)")
                h = hash(k)  # TypeError for unhashable keys: reported as malformed
                c = counts.get(h, 0)
                counts[h] = c + 1
                if c >= max_collisions:
                    raise LimitHit(f"more than {max_collisions} keys of one container share a hash (hash flooding)")
                work += w * c  # equality checks against earlier keys with the same hash
        finally:
            self.hash_work = work

    def _parse_int(self, s: bytes) -> int:
        if len(s) > self.limits.max_long_bytes:
            raise LimitHit(f"integer literal of {len(s):,} digits (limit {self.limits.max_long_bytes:,})")
        return int(s)

    def _global(self, module: str, name: str) -> Any:
        g = self.allow.get((module, name))
        if g is None:
            r = Refused(module, name, self.op_at)
            self.refused.append(r)
            return r
        return g if g.call is not None else value_of(g)

    def _call(self, func: Any, args: Any, kwargs: Any = None) -> Any:
        if isinstance(func, Refused):
            return func  # never called: the decode fails with UnsafePickle at the end
        if not isinstance(func, AllowedGlobal):
            raise Malformed(f"call of a non-callable {type(func).__name__}")
        if kwargs:
            raise Malformed(f"{func.qualname} called with keyword arguments")
        if not isinstance(args, tuple):
            raise Malformed("call arguments are not a tuple")
        for a in args:
            if isinstance(a, Refused):
                return a
        if args and isinstance(args[0], (list, tuple)) and func.qualname in HASHING_BUILDERS:
            items = args[0]
            if func.qualname == "collections.OrderedDict":
                items = [p[0] for p in items if isinstance(p, (list, tuple)) and len(p) == 2]
            self._charge_hashes(None, items)
        return func.call(args)

    def build(self, obj: Any, state: Any) -> None:
        """BUILD: give ``obj`` its pickled ``state``. The extension point: a subclass that keeps some
        allowlisted objects' state overrides this and calls ``super().build`` for the rest."""
        if isinstance(obj, (Refused, Opaque, TensorRef)):
            return  # opaque values keep no state; refused ones are reported, never built
        raise Malformed(f"BUILD on a {type(obj).__name__}")

    def _persistent(self, pid: Any) -> Any:
        if self.persistent_load is None:
            raise Malformed("persistent id in a pickle that should have none")
        for x in (pid if isinstance(pid, tuple) else (pid,)):
            if isinstance(x, Refused):
                return x
        try:
            return self.persistent_load(pid)
        except UnreadableFile as exc:  # keep run_pickle's promise never to raise; refused globals still win
            raise Malformed(exc.problem) from None

    def _extend(self, target: Any, items: list) -> None:
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, Refused):
            return
        else:
            raise Malformed(f"APPEND to a {type(target).__name__}")

    def _setitems(self, target: Any, items: list) -> None:
        if isinstance(target, Refused):
            return
        if not isinstance(target, dict):
            raise Malformed(f"SETITEM on a {type(target).__name__}")
        if len(items) % 2:
            raise Malformed("odd number of items for SETITEMS")
        self._charge_hashes(target, items[0::2])
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]


_CONTAINERS = (list, tuple, dict, set, frozenset)
# values that are never containers, told apart by their exact type before the slower isinstance
_NEVER_CONTAINERS = frozenset({str, int, float, bool, type(None), bytes, TensorRef})


def _check_shape(value: Any, limits: Limits) -> None:
    """Refuse cycles, deep nesting and huge object graphs: renderers and JSON must be able to walk it.

    An iterative post-order walk computing each container's height once (shared sub-structures are
    visited once, so a crafted DAG cannot make this exponential). Only containers are pushed: the
    tensors, strings and numbers of a checkpoint state are counted, never visited.
    """
    if not isinstance(value, _CONTAINERS):
        return
    height: dict[int, int] = {}
    expanded: dict[int, int] = {}  # values reachable when shared parts are counted once per use
    gray: set[int] = set()
    max_nesting, max_objects = limits.max_nesting, limits.max_objects
    never = _NEVER_CONTAINERS
    todo: list[tuple[Any, list | None]] = [(value, None)]
    while todo:
        obj, kids = todo.pop()
        key = id(obj)
        if kids is not None:  # leaving: every container child is done
            h = 1
            size = 1 + (2 * len(obj) if isinstance(obj, dict) else len(obj))
            for c in kids:
                ck = id(c)
                if height[ck] >= h:
                    h = height[ck] + 1
                size += expanded[ck] - 1
            if h > max_nesting:
                raise LimitHit(f"containers nested deeper than {max_nesting}")
            if size > max_objects:
                raise LimitHit(f"the decoded structure expands to more than {max_objects:,} values (shared parts counted per use)")
            height[key] = h
            expanded[key] = size
            gray.discard(key)
            continue
        if key in height:
            continue
        if key in gray:
            raise Malformed("the structure contains itself (a cycle): not a checkpoint state")
        if len(height) + len(gray) > max_objects:
            raise LimitHit(f"more than {max_objects:,} containers")
        if isinstance(obj, dict):
            kids = [c for c in obj.values() if type(c) not in never and isinstance(c, _CONTAINERS)]
            kids += [k for k in obj if type(k) not in never and isinstance(k, _CONTAINERS)]
        else:
            kids = [c for c in obj if type(c) not in never and isinstance(c, _CONTAINERS)]
        if not kids:  # a leaf container (an optimizer's per-parameter dict of tensors): done at once
            size = 1 + (2 * len(obj) if isinstance(obj, dict) else len(obj))
            if size > max_objects:
                raise LimitHit(f"the decoded structure expands to more than {max_objects:,} values (shared parts counted per use)")
            height[key] = 1
            expanded[key] = size
            continue
        gray.add(key)
        todo.append((obj, kids))
        todo.extend([(c, None) for c in kids])


class FieldRecord:
    """An allowlisted object kept as its class name and the fields its BUILD state gave, never built (a file
    format names its own subclass: ``dcp.DcpRecord``, ``config_pickle.ConfigRecord``)."""

    __slots__ = ("kind", "fields")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fields: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


class FieldDecoder(Decoder):
    """The restricted decoder, plus BUILD into a ``FieldRecord``: a field dict, or ``(dict, slots)`` merged
    (``record_state`` turns a class's own state form into one first)."""

    def build(self, obj: Any, state: Any) -> None:
        if isinstance(obj, FieldRecord):
            state = self.record_state(obj, state)
            if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)):
                state = {**(state[0] or {}), **(state[1] if isinstance(state[1], dict) else {})}  # (dict, slots)
            if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
                raise Malformed(f"BUILD state of {obj.kind} is not a field dict")
            obj.fields.update(state)
            return
        super().build(obj, state)

    def record_state(self, obj: FieldRecord, state: Any) -> Any:
        """``state`` as BUILD gave it; a subclass converts a class's own form (a tuple ``__getstate__``)."""
        return state
