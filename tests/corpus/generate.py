"""Generate ckptfix's corpus of hostile and broken checkpoint files.

    python tests/corpus/generate.py          # rebuild cases/ and cases.json from cases/real/
    python tests/corpus/generate.py --real   # first re-create cases/real/ with torch + accelerate

``cases/real/`` holds files written by real ``accelerate.Accelerator.save_state`` (CPU, torch 2.13,
accelerate 1.15), a legacy-format ``torch.save``, torch DCP ``.metadata`` and scheduler states with
odd values. They are committed: torch writes a random ``serialization_id``, so re-creating them
changes bytes. Everything else is derived from them (or hand-assembled) deterministically: running
this script twice gives identical files.

Hostile pickles are assembled byte by byte (opcodes documented in ``pickletools``); nothing here
unpickles anything. Every code-execution payload would, if it ever ran, create a marker file
``MARKER_DIR/<case id>``; the tests assert the directory stays empty.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
REAL = CASES / "real"
MANIFEST = HERE / "cases.json"
MARKER_DIR = "/tmp/ckptfix-corpus-markers"
P = (1 << 61) - 1  # CPython's hash modulus for ints

# ------------------------------------------------------------------------------------------------
# real files (needs torch + accelerate; only with --real)
# ------------------------------------------------------------------------------------------------


def make_real() -> None:
    import os
    import tempfile

    import torch
    import torch.distributed.checkpoint as dcp
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    shutil.rmtree(REAL, ignore_errors=True)
    ck = REAL / "checkpoint-3"
    ck.mkdir(parents=True)
    set_seed(0)
    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=100, eta_min=1e-6)

    class Counter:
        def __init__(self) -> None:
            self.n = 3

        def state_dict(self) -> dict:
            return {"n": self.n}

        def load_state_dict(self, d: dict) -> None:
            self.n = d["n"]

    model, opt, sched = acc.prepare(model, opt, sched)
    acc.register_for_checkpointing(Counter())
    for _ in range(3):
        loss = model(torch.randn(8, 4)).pow(2).mean()
        acc.backward(loss)
        opt.step()
        sched.step()
        opt.zero_grad()
    with tempfile.TemporaryDirectory() as tmp:
        acc.save_state(tmp)
        for name in sorted(os.listdir(tmp)):
            if not name.endswith(".safetensors"):
                shutil.copy(Path(tmp, name), ck / name)
    # accelerate's GradScaler is CUDA-only here; scaler.pt is torch.save(GradScaler.state_dict()).
    torch.save({"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                "_growth_tracker": 0}, ck / "scaler.pt")
    (ck / "training_state.json").write_text('{"global_step": 3, "epoch_step": 3, "epoch": 1}\n')
    # legacy (pre-1.6, non-zip) format
    legacy = REAL / "legacy"
    legacy.mkdir()
    torch.save(sched.state_dict(), legacy / "scheduler.bin", _use_new_zipfile_serialization=False)
    torch.save(opt.state_dict(), legacy / "optimizer.bin", _use_new_zipfile_serialization=False)
    # torch.distributed.checkpoint (single process)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save({"w": torch.arange(6.0).reshape(2, 3), "step": 3, "extra": {"lr": 1e-4}},
                 checkpoint_id=str(REAL / "dcp"))
    # data-level oddities: fine for the safe reader, findings for the analysis layer
    base = {k: v for k, v in sched.state_dict().items()}
    odd = REAL / "data_level"
    odd.mkdir()
    variants = {
        "nan_eta_min": {"eta_min": float("nan")},
        "inf_base_lr": {"base_lrs": [float("inf")]},
        "neg_inf_last_lr": {"_last_lr": [float("-inf")]},
        "negative_last_epoch": {"last_epoch": -5},
        "huge_int_last_epoch": {"last_epoch": 2 ** 80},
        "huge_float_t_0": {"T_0": 1e308},
        "t_0_zero": {"T_0": 0, "T_i": 0},
        "negative_t_mult": {"T_mult": -1},
        "missing_keys": None,
        "extra_keys": {"total_steps": 3, "unknown_key": "x", "nested": {"a": [1, 2, (3, 4)]}},
        "wrong_types": {"T_0": "100", "base_lrs": 1e-4, "last_epoch": True},
    }
    for name, change in variants.items():
        state = dict(base)
        if change is None:
            state = {"last_epoch": 3}
        else:
            state.update(change)
        torch.save(state, odd / f"scheduler_{name}.bin")
    # a complete, consistent SimpleTuner-like checkpoint (fixtures/generate.py: torch + accelerate): the base
    # of the checkpoint-folder cases
    shutil.copytree(HERE.parent.parent / "fixtures" / "sine-ok" / "checkpoint-30", REAL / "simpletuner" / "checkpoint-30")
    print("real files written under", REAL)


# ------------------------------------------------------------------------------------------------
# a minimal zip writer (full control over names, sizes, CRCs)
# ------------------------------------------------------------------------------------------------


def zip_bytes(entries: list[tuple[str, bytes]], *, method: int = 0, crc_override: dict[str, int] | None = None,
              size_override: dict[str, tuple[int, int]] | None = None, count_override: int | None = None,
              zip64_count: int | None = None, cd_size_override: int | None = None,
              cd_offset_override: int | None = None) -> bytes:
    """A zip archive. method 8 deflates. Overrides lie in the central directory / EOCD."""
    out = bytearray()
    central = bytearray()
    for name, data in entries:
        nb = name.encode("utf-8")
        crc = zlib.crc32(data)
        if method == 8:
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            body = c.compress(data) + c.flush()
        else:
            body = data
        csize, usize = len(body), len(data)
        if crc_override and name in crc_override:
            crc = crc_override[name]
        if size_override and name in size_override:
            csize, usize = size_override[name]
        off = len(out)
        extra = b""
        c32, u32, o32 = csize, usize, off
        if csize >= 0xFFFFFFFF or usize >= 0xFFFFFFFF:
            extra = struct.pack("<HHQQ", 1, 16, usize, csize)
            c32 = u32 = 0xFFFFFFFF
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc,
                           min(c32, 0xFFFFFFFF), min(u32, 0xFFFFFFFF), len(nb), 0) + nb + body
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc,
                               c32, u32, len(nb), len(extra), 0, 0, 0, 0, o32) + nb + extra
    cd_off = len(out)
    out += central
    n = len(entries) if count_override is None else count_override
    cd_size = len(central) if cd_size_override is None else cd_size_override
    cd_off_w = cd_off if cd_offset_override is None else cd_offset_override
    if zip64_count is not None:
        rec_at = len(out)
        out += struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, zip64_count, zip64_count,
                           cd_size, cd_off_w)
        out += struct.pack("<4sIQI", b"PK\x06\x07", 0, rec_at, 1)
        out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n & 0xFFFF, n & 0xFFFF, cd_size & 0xFFFFFFFF,
                           cd_off_w & 0xFFFFFFFF, 0)
    return bytes(out)


def torch_zip(pkl: bytes, prefix: str = "archive", storages: dict[str, bytes] | None = None, **kw) -> bytes:
    """A zip laid out like torch.save's, holding ``pkl`` as ``<prefix>/data.pkl``."""
    entries = [(f"{prefix}/data.pkl", pkl), (f"{prefix}/byteorder", b"little")]
    for k, v in (storages or {}).items():
        entries.append((f"{prefix}/data/{k}", v))
    entries.append((f"{prefix}/version", b"3\n"))
    return zip_bytes(entries, **kw)


def read_zip_entries(data: bytes) -> list[tuple[str, bytes]]:
    """Entries of a stored zip, in order (our own files only: no zip64, no deflate)."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:  # reading a zip runs no pickle
        return [(i.filename, z.read(i)) for i in z.infolist()]


# ------------------------------------------------------------------------------------------------
# pickle assembly (opcodes from pickletools; nothing is ever unpickled)
# ------------------------------------------------------------------------------------------------
PROTO2 = b"\x80\x02"
PROTO4 = b"\x80\x04"
MARK, STOP, TUPLE, TUPLE1, TUPLE2, TUPLE3 = b"(", b".", b"t", b"\x85", b"\x86", b"\x87"
EMPTY_TUPLE, EMPTY_DICT, EMPTY_LIST = b")", b"}", b"]"
REDUCE, BUILD, NEWOBJ, NEWOBJ_EX, OBJ = b"R", b"b", b"\x81", b"\x92", b"o"
SETITEM, SETITEMS, APPEND, APPENDS = b"s", b"u", b"a", b"e"
STACK_GLOBAL, MEMOIZE, NONE, POP, DUP = b"\x93", b"\x94", b"N", b"0", b"2"


def G(module: str, name: str) -> bytes:  # GLOBAL
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def U(s: str) -> bytes:  # BINUNICODE
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def SG(module: str, name: str) -> bytes:  # STACK_GLOBAL
    return U(module) + U(name) + STACK_GLOBAL


def I(n: int) -> bytes:  # an int literal
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if -(2 ** 31) <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


def F(x: float) -> bytes:
    return b"G" + struct.pack(">d", x)


def BINPUT(i: int) -> bytes:
    return b"q" + bytes([i])


def BINGET(i: int) -> bytes:
    return b"h" + bytes([i])


def call(func: bytes, *args: bytes) -> bytes:
    return func + MARK + b"".join(args) + TUPLE + REDUCE


def sched_dict(payload: bytes, key: str = "T_0") -> bytes:
    """A scheduler-like dict whose ``key`` holds ``payload`` (a pushed value); a complete pickle."""
    return (PROTO2 + EMPTY_DICT + MARK + U("T_mult") + I(1) + U("eta_min") + F(1e-6)
            + U(key) + payload + U("last_epoch") + I(3) + SETITEMS + STOP)


def marker(case: str) -> str:
    return f"{MARKER_DIR}/{case}"


def touch_cmd(case: str) -> str:
    return f"touch {marker(case)}"


def py_code(case: str) -> str:
    return f"open({marker(case)!r}, 'w').close()"


def os_module() -> bytes:  # importlib.import_module('os')
    return call(G("importlib", "import_module"), U("os"))


# -- the code-execution techniques; each returns the pushed payload value for ``case`` -------------
def t_reduce(mod: str, name: str, arg: str = "cmd"):
    def build(case: str) -> bytes:
        a = {"cmd": U(touch_cmd(case)), "py": U(py_code(case))}[arg]
        return call(G(mod, name), a)
    return build


def t_open(case: str) -> bytes:
    return call(G("builtins", "open"), U(marker(case)), U("w"))


def t_fileio(case: str) -> bytes:
    return call(G("_io", "FileIO"), U(marker(case)), U("w"))


def t_popen(case: str) -> bytes:
    return call(G("subprocess", "Popen"), EMPTY_LIST + MARK + U("touch") + U(marker(case)) + APPENDS)


def t_inst(case: str) -> bytes:  # protocol 0 INST: "(" args "i" module "\n" name "\n"
    return MARK + b"V" + marker(case).encode() + b"\nVw\n" + b"ibuiltins\nopen\n"


def t_obj(case: str) -> bytes:  # OBJ: MARK class args "o"
    return MARK + G("builtins", "open") + U(marker(case)) + U("w") + OBJ


def t_newobj_setstate(case: str) -> bytes:
    # SimpleNamespace() via NEWOBJ; BUILD puts exec into the instance dict under __setstate__; a second
    # BUILD then calls inst.__setstate__(code) == exec(code).
    return (G("types", "SimpleNamespace") + EMPTY_TUPLE + NEWOBJ
            + EMPTY_DICT + U("__setstate__") + G("builtins", "exec") + SETITEM + BUILD
            + U(py_code(case)) + BUILD)


def t_newobj_ex_setstate(case: str) -> bytes:
    return (SG("types", "SimpleNamespace") + EMPTY_TUPLE + EMPTY_DICT + NEWOBJ_EX
            + EMPTY_DICT + U("__setstate__") + SG("builtins", "exec") + SETITEM + BUILD
            + U(py_code(case)) + BUILD)


def t_build_on_allowed(case: str) -> bytes:
    # the same __setstate__ trick on an allowlisted OrderedDict: only builtins.exec is foreign
    return (call(G("collections", "OrderedDict"))
            + EMPTY_DICT + U("__setstate__") + G("builtins", "exec") + SETITEM + BUILD
            + U(py_code(case)) + BUILD)


def t_getattr_importlib(case: str) -> bytes:
    return call(call(SG("builtins", "getattr"), os_module(), U("system")), U(touch_cmd(case)))


def t_pkgutil(case: str) -> bytes:
    return call(call(SG("pkgutil", "resolve_name"), U("os:system")), U(touch_cmd(case)))


def t_dunder_import(case: str) -> bytes:
    mod = call(SG("builtins", "__import__"), U("os"))
    return call(call(SG("builtins", "getattr"), mod, U("system")), U(touch_cmd(case)))


def t_dotted_torch(case: str) -> bytes:
    # protocol 4 resolves dotted names: torch -> serialization -> os -> system
    return call(SG("torch", "serialization.os.system"), U(touch_cmd(case)))


def t_dotted_allowed(case: str) -> bytes:
    # an allowlisted module with a dotted attribute chain reaching os.system
    return call(SG("torch._utils", "_rebuild_tensor_v2.__globals__.torch.serialization.os.system"),
                U(touch_cmd(case)))


def t_methodcaller(case: str) -> bytes:
    path_obj = call(G("pathlib", "PosixPath"), U(marker(case)))
    return call(call(G("operator", "methodcaller"), U("touch")), path_obj)


def t_attrgetter(case: str) -> bytes:
    return call(call(call(G("operator", "attrgetter"), U("system")), os_module()), U(touch_cmd(case)))


def t_partial(case: str) -> bytes:
    return call(call(G("functools", "partial"), G("os", "system"), U(touch_cmd(case))))


def t_timeit(case: str) -> bytes:
    return call(G("timeit", "timeit"), U(py_code(case)), U("pass"), G("time", "perf_counter"), I(1))


def t_runpy(case: str) -> bytes:
    return call(G("runpy", "_run_code"), U(py_code(case)), EMPTY_DICT)


def t_numpy_runstring(case: str) -> bytes:
    return call(G("numpy.testing._private.utils", "runstring"), U(py_code(case)), EMPTY_DICT)


def t_torch_execwrapper(case: str) -> bytes:
    return call(G("torch.jit.unsupported_tensor_ops", "execWrapper"), U(py_code(case)), EMPTY_DICT, EMPTY_DICT)


def t_nested_pickle(case: str) -> bytes:
    # _codecs.encode (allowlisted) builds bytes of an inner pickle that pickle.loads would run
    inner = (PROTO2 + call(G("os", "system"), U(touch_cmd(case))) + STOP).decode("latin1")
    return call(G("pickle", "loads"), call(G("_codecs", "encode"), U(inner), U("latin1")))


def t_nested_codecs(case: str) -> bytes:
    # nested _codecs.encode around a payload result
    return call(G("_codecs", "encode"), call(G("_codecs", "encode"), call(G("os", "system"), U(touch_cmd(case))),
                                             U("latin1")), U("latin1"))


def t_ext(code_op: bytes):
    def build(case: str) -> bytes:
        # EXT1/2/4 fetch a callable from copyreg's extension registry (registered by other code)
        return code_op + MARK + U(touch_cmd(case)) + TUPLE + REDUCE
    return build


def t_memo_hidden(case: str) -> bytes:
    # the global is memoized, popped (dead on the stack), fetched again far later and called
    return (G("os", "system") + BINPUT(7) + POP + U("noise") + POP + BINGET(7)
            + MARK + U(touch_cmd(case)) + TUPLE + REDUCE)


def t_memo_overwrite(case: str) -> bytes:
    # memo slot 0 first holds an allowlisted global, then is overwritten by os.system
    return (G("collections", "OrderedDict") + BINPUT(0) + POP + G("os", "system") + BINPUT(0) + POP
            + BINGET(0) + MARK + U(touch_cmd(case)) + TUPLE + REDUCE)


def t_memo_text(case: str) -> bytes:  # protocol-0 PUT / GET
    return G("posix", "system") + b"p99\n" + POP + b"g99\n" + MARK + U(touch_cmd(case)) + TUPLE + REDUCE


def t_memoize_long(case: str) -> bytes:  # MEMOIZE then LONG_BINGET
    return (SG("os", "system") + MEMOIZE + POP + b"j" + struct.pack("<I", 0)
            + MARK + U(touch_cmd(case)) + TUPLE + REDUCE)


def t_rebuild_tensor_payload(case: str) -> bytes:
    return call(G("torch._utils", "_rebuild_tensor_v2"), call(G("os", "system"), U(touch_cmd(case))),
                I(0), EMPTY_TUPLE, EMPTY_TUPLE, b"\x89", call(G("collections", "OrderedDict")))


def t_rebuild_tensor_hooks(case: str) -> bytes:
    # a real-looking tensor whose backward_hooks argument smuggles a call
    storage = MARK + U("storage") + G("torch", "FloatStorage") + U("0") + U("cpu") + I(1) + TUPLE + b"Q"
    hooks = call(G("collections", "OrderedDict"), EMPTY_LIST + MARK + I(0)
                 + call(G("os", "system"), U(touch_cmd(case))) + TUPLE2 + APPEND)
    return call(G("torch._utils", "_rebuild_tensor_v2"), storage, I(0), EMPTY_TUPLE, EMPTY_TUPLE, b"\x89", hooks)


def t_persid_payload(case: str) -> bytes:
    # the persistent id's storage type is a call result
    return (MARK + U("storage") + call(G("os", "system"), U(touch_cmd(case))) + U("0") + U("cpu") + I(1)
            + TUPLE + b"Q")


def t_mixed_memo(case: str) -> bytes:
    # picklescan issue #14: BINPUT and MEMOIZE mixed so a memo-tracking scanner sees torch._utils
    return (U("os") + BINPUT(0) + POP + U("system") + BINPUT(1) + POP
            + U("torch._utils") + MEMOIZE + POP + U("_rebuild_tensor_v2") + MEMOIZE + POP
            + BINGET(0) + BINGET(1) + STACK_GLOBAL + MARK + U(touch_cmd(case)) + TUPLE + REDUCE)


def t_build_setattr_on_global(case: str) -> bytes:
    # modelscan issue #85, aimed at our allowlist: BUILD's slot state sets attributes "a"/"b" on an
    # allowlisted function; dotted STACK_GLOBAL names then fetch "os" / "system" back through it
    target = G("torch._utils", "_rebuild_tensor_v2")
    slot = lambda k, v: NONE + EMPTY_DICT + U(k) + U(v) + SETITEM + TUPLE2 + BUILD  # noqa: E731
    return (target + slot("a", "os") + slot("b", "system") + POP
            + SG("torch._utils", "_rebuild_tensor_v2.a") + b"p0\n" + POP
            + SG("torch._utils", "_rebuild_tensor_v2.b") + b"p1\n" + POP
            + b"g0\n" + b"g1\n" + STACK_GLOBAL + MARK + U(touch_cmd(case)) + TUPLE + REDUCE)


def t_marshal(case: str) -> bytes:
    # picklescan PR #74: marshal.loads of a code object, wrapped in types.FunctionType and called
    import marshal

    code = marshal.dumps(compile(py_code(case), "<corpus>", "exec"))  # serializing, not running
    code_obj = call(G("marshal", "loads"), b"C" + bytes([len(code)]) + code if len(code) < 256
                    else b"B" + struct.pack("<I", len(code)) + code)
    return call(call(G("types", "FunctionType"), code_obj, EMPTY_DICT))


def t_mailcap(case: str) -> bytes:
    # mailcap.findmatch runs an entry's "test" command through os.system
    entry = EMPTY_DICT + MARK + U("view") + U(touch_cmd(case)) + U("test") + U(touch_cmd(case)) + SETITEMS
    caps = EMPTY_DICT + U("text/plain") + EMPTY_LIST + MARK + entry + APPENDS + SETITEM
    return call(G("mailcap", "findmatch"), caps, U("text/plain"))


TECHNIQUES: dict[str, tuple[object, str]] = {
    "reduce_os_system": (t_reduce("os", "system"), "REDUCE on os.system"),
    "reduce_posix_system": (t_reduce("posix", "system"), "REDUCE on posix.system (os.system's real module)"),
    "reduce_nt_system": (t_reduce("nt", "system"), "REDUCE on nt.system (Windows)"),
    "reduce_builtins_exec": (t_reduce("builtins", "exec", "py"), "REDUCE on builtins.exec"),
    "reduce_builtins_eval": (t_reduce("builtins", "eval", "py"), "REDUCE on builtins.eval"),
    "reduce_py2_builtin_eval": (t_reduce("__builtin__", "eval", "py"),
                                "REDUCE on __builtin__.eval (mapped to builtins by fix_imports)"),
    "reduce_builtins_open": (t_open, "REDUCE on builtins.open (writes a file)"),
    "reduce_io_fileio": (t_fileio, "REDUCE on _io.FileIO (writes a file)"),
    "reduce_subprocess_popen": (t_popen, "REDUCE on subprocess.Popen"),
    "reduce_timeit": (t_timeit, "REDUCE on timeit.timeit (picklescan bypass family)"),
    "reduce_runpy": (t_runpy, "REDUCE on runpy._run_code"),
    "reduce_numpy_runstring": (t_numpy_runstring, "REDUCE on numpy.testing._private.utils.runstring"),
    "reduce_torch_execwrapper": (t_torch_execwrapper, "REDUCE on torch.jit.unsupported_tensor_ops.execWrapper"),
    "inst_open": (t_inst, "INST opcode (protocol 0) calling builtins.open"),
    "obj_open": (t_obj, "OBJ opcode calling builtins.open"),
    "newobj_build_setstate": (t_newobj_setstate, "NEWOBJ + BUILD planting __setstate__ = exec, second BUILD runs it"),
    "newobj_ex_build_setstate": (t_newobj_ex_setstate, "NEWOBJ_EX + BUILD __setstate__ trick via STACK_GLOBAL"),
    "build_setstate_on_allowed": (t_build_on_allowed, "BUILD __setstate__ trick on an allowlisted OrderedDict"),
    "stack_global_getattr_importlib": (t_getattr_importlib, "STACK_GLOBAL getattr(importlib.import_module('os'), 'system')"),
    "stack_global_pkgutil": (t_pkgutil, "STACK_GLOBAL pkgutil.resolve_name('os:system')"),
    "stack_global_dunder_import": (t_dunder_import, "STACK_GLOBAL builtins.__import__('os') + getattr"),
    "stack_global_dotted_torch": (t_dotted_torch, "protocol-4 dotted name torch / serialization.os.system"),
    "stack_global_dotted_allowed": (t_dotted_allowed, "dotted name under an allowlisted global (__globals__ chain)"),
    "operator_methodcaller": (t_methodcaller, "operator.methodcaller('touch') on pathlib.PosixPath"),
    "operator_attrgetter": (t_attrgetter, "operator.attrgetter('system') on the os module"),
    "functools_partial": (t_partial, "functools.partial(os.system, cmd)()"),
    "nested_pickle_loads": (t_nested_pickle, "pickle.loads of bytes built with allowlisted _codecs.encode"),
    "nested_codecs_encode": (t_nested_codecs, "_codecs.encode nested around an os.system result"),
    "ext1": (t_ext(b"\x82\x01"), "EXT1 copyreg extension code"),
    "ext2": (t_ext(b"\x83\x01\x02"), "EXT2 copyreg extension code"),
    "ext4": (t_ext(b"\x84\x01\x02\x03\x04"), "EXT4 copyreg extension code"),
    "memo_hidden_global": (t_memo_hidden, "memo trick: global memoized, popped, re-fetched and called"),
    "memo_overwrite": (t_memo_overwrite, "memo trick: allowlisted entry overwritten by os.system"),
    "memo_text_put_get": (t_memo_text, "memo trick: protocol-0 PUT/GET"),
    "memo_memoize_long_binget": (t_memoize_long, "memo trick: MEMOIZE + LONG_BINGET"),
    "rebuild_tensor_payload": (t_rebuild_tensor_payload, "_rebuild_tensor_v2 whose storage is an os.system call"),
    "rebuild_tensor_hooks": (t_rebuild_tensor_hooks, "_rebuild_tensor_v2 with a call hidden in backward_hooks"),
    "persistent_id_payload": (t_persid_payload, "BINPERSID tuple whose storage type is a call"),
    "memo_mixed_binput_memoize": (t_mixed_memo, "memo trick: BINPUT/MEMOIZE mix (picklescan #14)"),
    "build_setattr_on_allowed_global": (t_build_setattr_on_global,
                                        "BUILD slot state on an allowlisted function + dotted names (modelscan #85)"),
    "marshal_code_object": (t_marshal, "marshal.loads code + types.FunctionType (picklescan #74)"),
    "mailcap_findmatch": (t_mailcap, "mailcap.findmatch test command (modelscan #346)"),
}


# -- streams that break after the payload (pickle.load runs the payload before failing) ------------
def after_payload(case: str, tail: bytes) -> bytes:
    return PROTO2 + call(G("os", "system"), U(touch_cmd(case))) + tail


BROKEN_AFTER = {
    "invalid_after_payload_no_stop": (b"", "payload then the stream ends without STOP"),
    "invalid_after_payload_bad_opcode": (b"\xff\xfe", "payload then an unknown opcode"),
    "invalid_after_payload_two_values": (NONE + STOP, "payload then STOP with two values on the stack"),
    "invalid_after_payload_truncated_string": (b"X\xff\xff\x00\x00abc", "payload then a string literal cut short"),
}

# -- foreign globals without a call (flagged: outside the allowlist, even if inert here) -----------
NAME_TRICKS = {
    "global_trailing_space": (G("collections ", "OrderedDict") + EMPTY_TUPLE + REDUCE,
                              "allowlisted name with a trailing space in the module"),
    "global_homoglyph": (G("t\u043erch._utils", "_rebuild_tensor_v2"), "Cyrillic 'o' in torch._utils"),
    "global_carriage_return": (G("collections", "OrderedDict\r") + EMPTY_TUPLE + REDUCE,
                               "allowlisted name followed by a carriage return"),
    "numpy_in_optimizer": (call(G("numpy.core.multiarray", "_reconstruct"), G("numpy", "ndarray"), MARK + I(0) + TUPLE,
                                U("b")), "numpy globals: allowed in random_states only"),
    "custom_class": (G("__main__", "Counter") + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT + U("n") + I(3) + SETITEM + BUILD,
                     "an arbitrary user class (what custom_checkpoint_*.pkl may hold)"),
}

# -- allowlisted globals called with arguments torch never writes (unreadable, nothing foreign) ----
BAD_ARGS = {
    "rebuild_tensor_string_storage": (call(G("torch._utils", "_rebuild_tensor_v2"), U("not a storage"), I(0),
                                           MARK + I(1) + TUPLE, MARK + I(1) + TUPLE, b"\x89",
                                           call(G("collections", "OrderedDict"))),
                                      "_rebuild_tensor_v2 with a string instead of a storage"),
    "storage_type_called": (call(G("torch", "FloatStorage"), I(2 ** 40)),
                            "a storage class called with a size (torch would allocate 4 TB)"),
    "codecs_encode_bytes": (call(G("_codecs", "encode"), call(G("_codecs", "encode"), U("x"), U("latin1")),
                                 U("latin1")), "nested _codecs.encode on bytes"),
    "codecs_encode_other_codec": (call(G("_codecs", "encode"), U("x"), U("rot13")),
                                  "_codecs.encode with a codec other than latin1"),
    "set_unhashable": (call(G("builtins", "set"), EMPTY_LIST + MARK + EMPTY_LIST + APPENDS),
                       "builtins.set of an unhashable list"),
    "ordered_dict_kwargs": (SG("collections", "OrderedDict") + EMPTY_TUPLE + EMPTY_DICT + U("a") + I(1) + SETITEM
                            + NEWOBJ_EX, "NEWOBJ_EX with keyword arguments"),
    "build_on_dict": (EMPTY_DICT + EMPTY_DICT + BUILD, "BUILD on a plain dict"),
    "persistent_id_not_storage": (MARK + U("module") + U("x") + TUPLE + b"Q", "a persistent id that is not a storage"),
    "out_of_band_buffer": (b"\x97", "protocol-5 NEXT_BUFFER"),
}


# ------------------------------------------------------------------------------------------------
# resource attacks
# ------------------------------------------------------------------------------------------------
def dag_tuple(depth: int) -> bytes:
    # t0 = (0,); t_{i+1} = (t_i, t_i): tiny pickle, exponential expanded size; hashing it is 2**depth
    return I(0) + TUPLE1 + b"".join(DUP + TUPLE2 for _ in range(depth))


def dag_list(depth: int) -> bytes:
    body = EMPTY_LIST + BINPUT(0) + POP
    for i in range(depth):
        body += EMPTY_LIST + MARK + BINGET(i) + BINGET(i) + APPENDS + BINPUT(i + 1) + POP
    return body + BINGET(depth)


def int_flood(n: int) -> bytes:
    # n distinct int keys with one hash value (multiples of 2**61 - 1): quadratic dict insertion
    return EMPTY_DICT + MARK + b"".join(I(k * P) + NONE for k in range(1, n + 1)) + SETITEMS


RESOURCE_PICKLES = {
    "deep_marks": (PROTO2 + MARK * 20_000 + STOP, "20,000 nested MARKs", "MARK"),
    "deep_lists": (PROTO2 + EMPTY_LIST * 5_000 + APPEND * 4_999 + STOP, "lists nested 5,000 deep", "nested deeper"),
    "deep_dicts": (PROTO2 + EMPTY_DICT + b"".join(b"K\x00" + EMPTY_DICT for _ in range(3000)) + SETITEM * 3000 + STOP,
                   "dicts nested 3,000 deep", "nested deeper"),
    "deep_tuples": (PROTO2 + EMPTY_TUPLE + TUPLE1 * 5_000 + STOP, "tuples nested 5,000 deep", "nested deeper"),
    "binunicode8_huge": (PROTO4 + b"\x8d" + struct.pack("<Q", 2 ** 62) + b"abc" + STOP,
                         "BINUNICODE8 declaring 4 EiB", "declares"),
    "binbytes8_huge": (PROTO4 + b"\x8e" + struct.pack("<Q", 2 ** 40) + b"abc" + STOP, "BINBYTES8 declaring 1 TiB",
                       "declares"),
    "bytearray8_huge": (b"\x80\x05" + b"\x96" + struct.pack("<Q", 2 ** 40) + b"abc" + STOP,
                        "BYTEARRAY8 declaring 1 TiB", "declares"),
    "binstring_negative": (PROTO2 + b"T" + struct.pack("<i", -5) + b"abc" + STOP, "BINSTRING with a negative length",
                           "declares"),
    "long4_huge": (PROTO2 + b"\x8b" + struct.pack("<i", 2 ** 30) + b"\x01" * 16 + STOP,
                   "LONG4 declaring a 1 GiB integer", "limit"),
    "int_text_huge": (b"I" + b"9" * 5_000 + b"\n" + STOP, "a 5,000-digit INT literal", "limit"),
    "memo_key_huge": (PROTO2 + NONE + b"p" + str(P * 3).encode() + b"\n" + STOP, "PUT with a huge memo key", "memo key"),
    "self_referencing_list": (PROTO2 + EMPTY_LIST + BINPUT(0) + BINGET(0) + APPEND + STOP, "a list containing itself",
                              "contains itself"),
    "self_referencing_dict": (PROTO2 + EMPTY_DICT + BINPUT(0) + I(0) + BINGET(0) + SETITEM + STOP,
                              "a dict containing itself", "contains itself"),
    "mutual_reference": (PROTO2 + EMPTY_LIST + BINPUT(0) + EMPTY_DICT + BINPUT(1) + I(0) + BINGET(0) + SETITEM
                         + APPEND + STOP, "a list and a dict containing each other", "contains itself"),
    "dag_tuple_dict_key": (PROTO2 + EMPTY_DICT + dag_tuple(64 - 2) + NONE + SETITEM + STOP,
                           "a 62-level shared-tuple DAG used as a dict key (2**62 hash steps)", "expands"),
    "dag_tuple_set": (PROTO4 + b"\x8f" + MARK + dag_tuple(40) + b"\x90" + STOP,
                      "a shared-tuple DAG added to a set", "expands"),
    "dag_tuple_frozenset": (PROTO4 + MARK + dag_tuple(40) + b"\x91" + STOP,
                            "a shared-tuple DAG in a frozenset", "expands"),
    "dag_tuple_ordered_dict": (PROTO2 + call(G("collections", "OrderedDict"),
                                             EMPTY_LIST + MARK + dag_tuple(40) + I(1) + TUPLE2 + APPENDS) + STOP,
                               "a shared-tuple DAG as an OrderedDict key", "expands"),
    "dag_tuple_hashed_often": (PROTO2 + dag_tuple(18) + BINPUT(0)
                               + b"".join(EMPTY_DICT + BINGET(0) + NONE + SETITEM + POP for _ in range(2000)) + STOP,
                               "a 500,000-value tuple hashed as a key 2,000 times", "hashing"),
    "dag_list_billion_laughs": (PROTO2 + dag_list(40) + STOP, "lists sharing lists 40 levels deep (2**40 values)",
                                "expands"),
    "hash_flood_ints": (PROTO2 + int_flood(3000) + STOP, "3,000 int dict keys with one hash value", "share a hash"),
    "hash_flood_tuples": (PROTO2 + EMPTY_DICT + MARK + b"".join(I(k * P) + TUPLE1 + NONE for k in range(1, 3001))
                          + SETITEMS + STOP, "3,000 tuple keys with one hash value", "share a hash"),
    "unsupported_protocol": (b"\x80\x06" + NONE + STOP, "pickle protocol 6", "protocol"),
}

BIG_DEFLATED = {  # big decoded sizes, stored deflated so the committed files stay small
    "many_opcodes_nones": (PROTO2 + (NONE + POP) * 3_000_000 + NONE + STOP, "6 million NONE/POP opcodes", "opcodes"),
    "memoize_flood": (PROTO4 + NONE + MEMOIZE * 6_000_000 + STOP, "6 million MEMOIZE opcodes", "opcodes"),
    "dup_flood": (PROTO2 + NONE + DUP * 6_000_000 + STOP, "6 million DUPs", "opcodes"),
    "empty_list_flood": (PROTO2 + EMPTY_LIST + MARK + EMPTY_LIST * 6_000_000 + APPENDS + STOP,
                         "6 million empty lists", "opcodes"),
}


# ------------------------------------------------------------------------------------------------
# the corpus
# ------------------------------------------------------------------------------------------------
class Corpus:
    def __init__(self) -> None:
        self.cases: list[dict] = []

    def add(self, rel: str, data: bytes | None, category: str, what: str, expected: str, *,
            kind: str | None = None, marker_case: str | None = None, contains: str | None = None,
            refused: list[str] | None = None) -> None:
        if data is not None:
            p = CASES / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        case = {"file": rel, "category": category, "what": what, "expected": expected}
        if kind:
            case["kind"] = kind
        if marker_case:
            case["marker"] = marker(marker_case)
        if contains:
            case["message_contains"] = contains
        if refused:
            case["refused"] = refused
        self.cases.append(case)


def build(c: Corpus) -> None:
    ck = REAL / "checkpoint-3"
    real = {n: (ck / n).read_bytes() for n in ("optimizer.bin", "scheduler.bin", "random_states_0.pkl",
                                                  "custom_checkpoint_0.pkl", "scaler.pt")}
    kinds = {"optimizer.bin": "optimizer", "scheduler.bin": "scheduler", "random_states_0.pkl": "random-states",
             "custom_checkpoint_0.pkl": "custom-checkpoint", "scaler.pt": "scaler"}

    # real files: ok
    for n in real:
        c.add(f"real/checkpoint-3/{n}", None, "real", f"accelerate save_state {n}", "ok", kind=kinds[n])
    for n in ("scheduler.bin", "optimizer.bin"):
        c.add(f"real/legacy/{n}", None, "legacy", f"legacy (non-zip) torch.save {n}", "ok", kind="torch")
    c.add("real/dcp/.metadata", None, "real", "torch.distributed.checkpoint metadata", "ok", kind="dcp-metadata")
    for p in sorted((REAL / "data_level").iterdir()):
        c.add(f"real/data_level/{p.name}", None, "data-level",
              f"scheduler state with {p.stem.removeprefix('scheduler_').replace('_', ' ')} (flagged by analysis)",
              "ok", kind="scheduler")

    # random_states with the wrong allowlist: numpy globals are refused outside random_states
    c.add("real/checkpoint-3/random_states_0.pkl", None, "allowlist",
          "random_states read as an optimizer: numpy globals outside TORCH_STATE", "unsafe", kind="optimizer",
          refused=["numpy._core.multiarray._reconstruct"])

    # truncations
    for n in ("optimizer.bin", "scheduler.bin", "random_states_0.pkl"):
        data = real[n]
        size = len(data)
        cuts = sorted({1, 2, 4, 21, 22, 30, 64, 100, size // 8, size // 4, size // 3, size // 2, 2 * size // 3,
                       3 * size // 4, size - 200, size - 100, size - 46, size - 23, size - 22, size - 21, size - 10,
                       size - 1})
        for cut in cuts:
            c.add(f"truncated/{n}.cut{cut:05d}", data[:cut], "truncation", f"{n} cut to {cut} of {size} bytes",
                  "unreadable", kind=kinds[n])

    # bit flips at known places
    opt = real["optimizer.bin"]
    offs = _local_offsets(opt)
    pkl_at = offs["optimizer/data.pkl"][1]
    cd_at = opt.rfind(b"PK\x01\x02", 0, opt.rfind(b"PK\x05\x06"))
    first_cd = opt.find(b"PK\x01\x02")
    flips = [
        ("data_pkl_byte", pkl_at + 40, 0x01, "unreadable", "a bit inside data.pkl (CRC catches it)"),
        ("data_pkl_first", pkl_at, 0x80, "unreadable", "the PROTO byte of data.pkl"),
        ("eocd_signature", len(opt) - 22, 0x01, "unreadable", "the end-of-central-directory signature"),
        ("cd_signature", cd_at, 0x01, "unreadable", "a central directory record signature"),
        ("cd_name_data_pkl", first_cd + 46 + 12, 0x01, "unreadable", "the data.pkl name in the central directory"),
        ("local_header_sig", offs["optimizer/data.pkl"][0], 0x01, "unreadable", "data.pkl's local header signature"),
        ("eocd_entry_count", len(opt) - 22 + 10, 0x01, "unreadable", "the EOCD entry count"),
        ("eocd_cd_offset", len(opt) - 22 + 16, 0x40, "unreadable", "the EOCD central directory offset"),
        ("tensor_bytes", offs["optimizer/data/1"][1] + 3, 0x10, "ok",
         "a byte of exp_avg (storages are read lazily: not checked by a scan)"),
        ("serialization_id", offs["optimizer/.data/serialization_id"][1] + 5,
         0x01, "ok", "the serialization_id (never read)"),
    ]
    for name, at, bit, exp, what in flips:
        b = bytearray(opt)
        b[at] ^= bit
        c.add(f"bitflip/optimizer.bin.{name}", bytes(b), "bit-flip", f"optimizer.bin: flipped {what}", exp,
              kind="optimizer")

    # wrong CRCs, duplicates, bad names, rebuilt from the real entries
    sched_entries = read_zip_entries(real["scheduler.bin"])
    sched_pkl = dict(sched_entries)["scheduler/data.pkl"]
    c.add("zip/rebuilt_ok.bin", zip_bytes(sched_entries), "zip", "scheduler.bin re-zipped by the corpus writer", "ok",
          kind="scheduler")
    c.add("zip/rebuilt_deflated_ok.bin", zip_bytes(sched_entries, method=8), "zip",
          "scheduler.bin with deflated entries (torch never writes these; readable)", "ok", kind="scheduler")
    c.add("zip/wrong_crc_data_pkl.bin", zip_bytes(sched_entries, crc_override={"scheduler/data.pkl": 0x12345678}),
          "zip", "wrong CRC on data.pkl", "unreadable", kind="scheduler", contains="CRC")
    c.add("zip/wrong_crc_byteorder.bin", zip_bytes(sched_entries, crc_override={"scheduler/byteorder": 0}),
          "zip", "wrong CRC on byteorder", "unreadable", kind="scheduler", contains="CRC")
    hostile_pkl = sched_dict(call(G("os", "system"), U(touch_cmd("duplicate_data_pkl_hostile_last"))))
    c.add("zip/duplicate_data_pkl_hostile_last.bin",
          zip_bytes(sched_entries + [("scheduler/data.pkl", hostile_pkl)]), "zip",
          "two data.pkl entries, the second hostile (zipfile would read the last)", "unreadable", kind="scheduler",
          marker_case="duplicate_data_pkl_hostile_last", contains="two entries")
    c.add("zip/duplicate_byteorder.bin", zip_bytes(sched_entries + [("scheduler/byteorder", b"big")]), "zip",
          "two byteorder entries", "unreadable", kind="scheduler", contains="two entries")
    c.add("zip/two_prefixes.bin", zip_bytes(sched_entries + [("other/data.pkl", sched_pkl)]), "zip",
          "two data.pkl entries under different prefixes", "unreadable", kind="scheduler")
    for tag, nm in [("dotdot", "scheduler/../../etc/cron.d/x"), ("absolute", "/etc/passwd"),
                    ("backslash", "scheduler\\..\\x"), ("dotdot_prefix", "../scheduler/data.pkl"),
                    ("nul", "scheduler/data.pkl\x00.txt")]:
        c.add(f"zip/name_{tag}.bin", zip_bytes(sched_entries + [(nm, b"x")]), "zip", f"an entry named {nm!r}",
              "unreadable", kind="scheduler", contains="climbs out")
    c.add("zip/no_data_pkl.bin", zip_bytes([("readme.txt", b"hello")]), "non-torch", "a zip without data.pkl",
          "unreadable", kind="scheduler", contains="data.pkl")
    c.add("zip/compression_bzip2.bin", _set_method(zip_bytes(sched_entries), 12), "zip",
          "entries marked bzip2-compressed", "unreadable", kind="scheduler", contains="compression method")
    c.add("zip/trailing_after_stop.bin", torch_zip(sched_pkl + G("os", "system") + U(touch_cmd("trailing_after_stop"))
                                                   + TUPLE1 + REDUCE + STOP, prefix="scheduler"), "pickle-trick",
          "a payload hidden after data.pkl's STOP (torch never reads it; still refused)", "unreadable",
          kind="scheduler", marker_case="trailing_after_stop", contains="after the pickle")
    c.add("zip/missing_storage.bin", torch_zip(_tensor_pickle("7"), prefix="optimizer"), "zip",
          "a tensor whose storage entry is missing", "unreadable", kind="optimizer", contains="missing")
    c.add("zip/storage_too_small.bin", torch_zip(_tensor_pickle("0", numel=1000), prefix="optimizer",
                                                 storages={"0": b"\x00" * 8}), "zip",
          "a tensor view declaring more elements than its storage holds", "ok", kind="optimizer")

    # resource limits on the zip layer
    c.add("resource/zip64_ten_million_entries.bin", zip_bytes(sched_entries, zip64_count=10_000_000), "resource",
          "zip64 record declaring 10 million entries", "unreadable", kind="scheduler", contains="limit")
    c.add("resource/zip_cd_size_huge.bin", zip_bytes(sched_entries, cd_size_override=0xFFFFFFF0), "resource",
          "central directory declared 4 GiB", "unreadable", kind="scheduler", contains="limit")
    c.add("resource/zip_cd_beyond_file.bin", zip_bytes(sched_entries, cd_offset_override=10_000_000), "resource",
          "central directory offset beyond the end of the file", "unreadable", kind="scheduler", contains="beyond")
    c.add("resource/zip_count_exceeds_cd.bin", zip_bytes(sched_entries, count_override=60_000), "resource",
          "60,000 entries declared in a few hundred bytes", "unreadable", kind="scheduler", contains="declared entry count")
    c.add("resource/data_pkl_declared_8gb_csize.bin",
          zip_bytes(sched_entries, size_override={"scheduler/data.pkl": (8 << 30, 8 << 30)}), "resource",
          "data.pkl declared 8 GiB (zip64), actually 232 bytes", "unreadable", kind="scheduler", contains="past")
    c.add("resource/data_pkl_declared_8gb_usize.bin",
          zip_bytes(sched_entries, size_override={"scheduler/data.pkl": (len(sched_pkl), 8 << 30)}), "resource",
          "data.pkl declared 8 GiB uncompressed over 232 stored bytes", "unreadable", kind="scheduler",
          contains="limit")
    zeros = b"\x00" * (80 << 20)
    c.add("resource/zip_bomb_honest.bin", torch_zip(zeros, prefix="scheduler", method=8), "resource",
          "deflated data.pkl inflating to 80 MiB (size declared)", "unreadable", kind="scheduler", contains="limit")
    c.add("resource/zip_bomb_lying.bin", _lying_bomb(zeros), "resource",
          "deflated data.pkl declaring 700 bytes, inflating to 80 MiB", "unreadable", kind="scheduler",
          contains="zip bomb")

    # resource attacks in the pickle, inside torch zips
    for name, (pkl, what, contains) in RESOURCE_PICKLES.items():
        c.add(f"resource/{name}.bin", torch_zip(pkl, prefix="scheduler"), "resource", what, "unreadable",
              kind="scheduler", contains=contains)
    for name, (pkl, what, contains) in BIG_DEFLATED.items():
        c.add(f"resource/{name}.bin", torch_zip(pkl, prefix="scheduler", method=8), "resource",
              what + " (deflated data.pkl)", "unreadable", kind="scheduler", contains=contains)

    # code execution techniques: torch zip, and a few as legacy / plain pickle / DCP metadata
    for name, (fn, what) in TECHNIQUES.items():
        payload = fn(name)  # type: ignore[operator]
        # BUILD on an allowlisted function is refused as malformed before the dotted globals are reached
        exp, contains = ("unreadable", "BUILD on") if name == "build_setattr_on_allowed_global" else ("unsafe", None)
        c.add(f"exec/{name}.bin", torch_zip(sched_dict(payload), prefix="scheduler", storages={"0": b"\0" * 4}),
              "code-execution", what, exp, kind="scheduler", marker_case=name, contains=contains)
    for name, (tail, what) in BROKEN_AFTER.items():
        c.add(f"exec/{name}.bin", torch_zip(after_payload(name, tail), prefix="scheduler"), "code-execution",
              what, "unsafe", kind="scheduler", marker_case=name, refused=["os.system"])
    for name, (payload, what) in NAME_TRICKS.items():
        c.add(f"exec/{name}.bin", torch_zip(sched_dict(payload), prefix="optimizer"), "foreign-global", what,
              "unsafe", kind="optimizer")
    c.add("exec/custom_class.custom_checkpoint_0.pkl",
          torch_zip(sched_dict(NAME_TRICKS["custom_class"][0]), prefix="custom_checkpoint_0"), "foreign-global",
          "custom_checkpoint_0.pkl holding a user class (accelerate loads it with weights_only=False)", "unsafe",
          kind="custom-checkpoint", refused=["__main__.Counter"])
    for name, (payload, what) in BAD_ARGS.items():
        c.add(f"badargs/{name}.bin", torch_zip(sched_dict(payload), prefix="scheduler"), "bad-arguments", what,
              "unreadable", kind="scheduler")

    # other containers for the same payloads
    for name in ("reduce_os_system", "newobj_build_setstate", "stack_global_pkgutil"):
        fn = TECHNIQUES[name][0]
        case = f"plain_{name}"
        c.add(f"plain/{case}.pkl", sched_dict(fn(case)), "code-execution",  # type: ignore[operator]
              f"plain pickle file: {TECHNIQUES[name][1]}", "unsafe", kind="pickle", marker_case=case)
        case = f"dcp_{name}"
        c.add(f"dcp/{case}/.metadata", sched_dict(fn(case)), "code-execution",  # type: ignore[operator]
              f"DCP .metadata: {TECHNIQUES[name][1]}", "unsafe", kind="dcp-metadata", marker_case=case)
    c.add("plain/second_pickle_hostile.pkl", PROTO2 + NONE + STOP + after_payload("second_pickle_hostile", STOP),
          "code-execution", "a harmless pickle followed by a hostile one (sequential pickle.load)", "unsafe",
          kind="pickle", marker_case="second_pickle_hostile")
    dcp_meta = (REAL / "dcp" / ".metadata").read_bytes()
    c.add("dcp/trailing/.metadata", dcp_meta + PROTO2 + call(G("os", "system"), U(touch_cmd("dcp_trailing"))) + STOP,
          "code-execution", "real DCP metadata followed by a hostile pickle", "unreadable", kind="dcp-metadata",
          marker_case="dcp_trailing", contains="after its STOP")
    c.add("dcp/truncated/.metadata", dcp_meta[: len(dcp_meta) // 2], "truncation", "DCP metadata cut in half",
          "unreadable", kind="dcp-metadata")
    c.add("dcp/foreign_class/.metadata", dcp_meta.replace(b"_StorageInfo", b"_StorageInfX", 1), "foreign-global",
          "DCP metadata naming a class outside the DCP allowlist", "unsafe", kind="dcp-metadata")
    _legacy_cases(c, real)

    # non-torch and empty files
    nontorch = {
        "png.bin": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "a PNG header"),
        "json.bin": (b'{"T_0": 100, "last_epoch": 3}\n', "JSON text"),
        "text.bin": (b"hello world\n", "plain text"),
        "elf.bin": (b"\x7fELF\x02\x01\x01" + b"\x00" * 57, "an ELF header"),
        "gzip.bin": (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "a gzip header"),
        "npy.bin": (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }" + b" " * 50
                    + b"\n" + b"\x00" * 4, "a .npy array"),
        "safetensors.bin": (struct.pack("<Q", 2) + b"{}", "a safetensors file named .bin"),
        "tar.bin": (b"x" * 257 + b"ustar" + b"\x00" * 250, "a tar archive (torch < 0.4 format)"),
        "pk_garbage.bin": (b"PK" + bytes(range(256)) * 4, "'PK' followed by garbage"),
        "pickle_not_torch.bin": (PROTO2 + U("just a string") + STOP, "a plain pickle that is not a torch file"),
        "garbage_random.bin": (_prng_bytes(4096, 1), "4 KiB of pseudo-random bytes"),
        "garbage_x80.bin": (b"\x80" + _prng_bytes(1000, 2), "0x80 then pseudo-random bytes"),
    }
    for n, (data, what) in nontorch.items():
        c.add(f"nontorch/{n}", data, "non-torch", what, "unreadable", kind="torch")
    c.add("nontorch/garbage.pkl", _prng_bytes(512, 3), "non-torch", "pseudo-random bytes named .pkl", "unreadable",
          kind="pickle")
    c.add("nontorch/pickle_string.pkl", PROTO2 + U("hello") + STOP, "non-torch",
          "a plain pickle of a string named .pkl (no globals: fine)", "ok", kind="pickle")
    for n, kind in [("optimizer.bin", "optimizer"), ("scheduler.bin", "scheduler"),
                    ("random_states_0.pkl", "random-states"), ("custom_checkpoint_0.pkl", "custom-checkpoint"),
                    ("scaler.pt", "scaler"), (".metadata", "dcp-metadata"), ("other.pkl", "pickle")]:
        c.add(f"empty/{n}", b"", "empty", f"an empty {n}", "unreadable", kind=kind, contains="empty")


def _local_offsets(z: bytes) -> dict[str, tuple[int, int]]:
    """name -> (local header offset, data offset) of a real torch zip."""
    out = {}
    pos = 0
    while True:
        pos = z.find(b"PK\x03\x04", pos)
        if pos < 0:
            return out
        nlen, xlen = struct.unpack_from("<HH", z, pos + 26)
        out.setdefault(z[pos + 30:pos + 30 + nlen].decode("utf-8", "replace"), (pos, pos + 30 + nlen + xlen))
        pos += 4


def _set_method(z: bytes, method: int) -> bytes:
    b = bytearray(z)
    for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        pos = 0
        while (pos := b.find(sig, pos)) >= 0:
            struct.pack_into("<H", b, pos + off, method)
            pos += 4
    return bytes(b)


def _lying_bomb(payload: bytes) -> bytes:
    z = bytearray(torch_zip(payload, prefix="scheduler", method=8))
    cd = z.find(b"PK\x01\x02")
    struct.pack_into("<I", z, cd + 24, 700)  # uncompressed size in the central directory
    struct.pack_into("<I", z, 22, 700)  # and in the local header
    return bytes(z)


def _tensor_pickle(key: str, numel: int = 1) -> bytes:
    storage = MARK + U("storage") + G("torch", "FloatStorage") + U(key) + U("cpu") + I(numel) + TUPLE + b"Q"
    t = call(G("torch._utils", "_rebuild_tensor_v2"), storage, I(0), EMPTY_TUPLE, EMPTY_TUPLE, b"\x89",
             call(G("collections", "OrderedDict")))
    return PROTO2 + EMPTY_DICT + U("step") + t + SETITEM + STOP


def _prng_bytes(n: int, seed: int) -> bytes:
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) & ((1 << 64) - 1)
        out += (x >> 32).to_bytes(4, "little")
    return bytes(out[:n])


def _legacy_cases(c: Corpus, real: dict[str, bytes]) -> None:
    """Legacy torch format: magic, protocol, sys_info, object, storage keys: five pickles in a row."""
    leg = (REAL / "legacy" / "scheduler.bin").read_bytes()
    # split the real file into its pickles by hand-known layout: find STOPs via pickletools (no execution)
    import pickletools

    ends = []
    pos = 0
    for _ in range(5):
        for op, _arg, at in pickletools.genops(leg[pos:]):
            if op.name == "STOP":
                pos = pos + at + 1
                break
        ends.append(pos)
    parts = [leg[a:b] for a, b in zip([0] + ends[:-1], ends)]
    rest = leg[ends[-1]:]
    for idx, label in [(2, "sys_info"), (3, "object"), (4, "storage_keys")]:
        case = f"legacy_payload_in_{label}"
        bad = PROTO2 + call(G("os", "system"), U(touch_cmd(case))) + STOP
        new = parts[:idx] + [bad] + parts[idx + 1:]
        c.add(f"legacy/{case}.bin", b"".join(new) + rest, "code-execution",
              f"legacy torch file with a payload as its {label} pickle", "unsafe", kind="torch", marker_case=case)
    case = "legacy_payload_in_magic"
    bad = PROTO2 + call(G("os", "system"), U(touch_cmd(case))) + STOP
    c.add(f"legacy/{case}.bin", bad + b"".join(parts[1:]) + rest, "code-execution",
          "legacy torch file whose first pickle is a payload", "unsafe", kind="torch", marker_case=case)
    for cut in (3, len(leg) // 2, len(leg) - 1):
        c.add(f"legacy/scheduler.bin.cut{cut:05d}", leg[:cut], "truncation", f"legacy scheduler.bin cut to {cut} bytes",
              "unreadable", kind="torch")
    lopt = (REAL / "legacy" / "optimizer.bin").read_bytes()
    c.add(f"legacy/optimizer.bin.cut{len(lopt) - 5:05d}", lopt[:-5], "truncation",
          "legacy optimizer.bin missing the end of its storages", "unreadable", kind="torch", contains="truncated")


# ------------------------------------------------------------------------------------------------
# checkpoint-folder cases (issue #12): whole folders through `ckptfix inspect` / `repair`
# ------------------------------------------------------------------------------------------------
BASE = "real/simpletuner/checkpoint-30"  # complete and consistent: `inspect` exits 0 on it


def LONG4(n: int) -> bytes:
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8b" + struct.pack("<i", len(b)) + b


def bigint_shape_pickle(dims: int = 2000) -> bytes:
    """A tensor whose size and stride are ``dims`` memo references to one 8,000-bit integer (~9 KB for 2,000):
    its element count multiplied out is a 16-million-bit integer (minutes of arithmetic before the bounds)."""
    big = (1 << 8000) - 1
    storage = MARK + U("storage") + G("torch", "FloatStorage") + U("0") + U("cpu") + I(1) + TUPLE + b"Q"
    shape = MARK + LONG4(big) + BINPUT(1) + BINGET(1) * (dims - 1) + TUPLE
    stride = MARK + BINGET(1) * dims + TUPLE
    t = call(G("torch._utils", "_rebuild_tensor_v2"), storage, I(0), shape, stride, b"\x89",
             call(G("collections", "OrderedDict")))
    return PROTO2 + EMPTY_DICT + U("last_epoch") + t + SETITEM + STOP


def safetensors(header: bytes, data: bytes = b"\0" * 8) -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def _st_header(offsets: bytes) -> bytes:
    return b'{"w":{"dtype":"F32","shape":[2],"data_offsets":' + offsets + b"}}"


class Checkpoints:
    """Checkpoint-folder cases. The test lays out a root: for ``layout`` ``single`` the checkpoint folder itself
    (a copy of ``base``), for ``run`` an output folder holding ``checkpoint-30`` (the copy), for ``tmp-only`` one
    holding only ``checkpoint-60-tmp``. Over the root go the files under ``checkpoints/<name>/`` (same relative
    paths), then ``remove``d names and ``special`` entries git cannot hold (FIFOs, folders, devices, symlinks).
    ``exit``: what ``ckptfix inspect ROOT [--latest]`` exits with; ``repair_exit``: ``repair --dry-run``."""

    def __init__(self) -> None:
        self.cases: list[dict] = []

    def add(self, name: str, what: str, exit: int, *, files: dict[str, bytes] | None = None,
            remove: tuple[str, ...] = (), special: dict[str, str] | None = None, latest: bool = False,
            layout: str = "single", contains: str | None = None, repair_exit: int | None = None) -> None:
        for rel, data in (files or {}).items():
            assert ".." not in rel.split("/")
            p = CASES / "checkpoints" / name / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        case: dict = {"name": name, "what": what, "base": BASE, "layout": layout, "exit": exit,
                      "repair_exit": exit if repair_exit is None else repair_exit}
        if files:
            case["files"] = f"checkpoints/{name}"
        if remove:
            case["remove"] = list(remove)
        if special:
            case["special"] = special
        if latest:
            case["latest"] = True
        if contains:
            case["message_contains"] = contains
        self.cases.append(case)


def build_checkpoints(k: Checkpoints) -> None:
    sched_entries = read_zip_entries((REAL / "simpletuner" / "checkpoint-30" / "scheduler.bin").read_bytes())
    pkl = dict(sched_entries)["scheduler/data.pkl"]
    long_pkl = pkl[:-1] + U("T_0") + U("x" * 5_000_000) + SETITEM + U("note") + U("y" * 5_000_000) + SETITEM + STOP
    long_entries = [(n, long_pkl if n.endswith("/data.pkl") else d) for n, d in sched_entries]

    # -- item 6: integer sizes bounded before any arithmetic
    k.add("tensor_shape_bigint", "scheduler.bin whose tensor shape is 2,000 references to one 8,000-bit integer",
          3, files={"scheduler.bin": torch_zip(bigint_shape_pickle(), prefix="scheduler", storages={"0": b"\0" * 4})},
          contains="dimensions")
    k.add("tensor_dims_bigint", "scheduler.bin whose tensor has 3 dimensions of one 8,000-bit integer", 3,
          files={"scheduler.bin": torch_zip(bigint_shape_pickle(3), prefix="scheduler", storages={"0": b"\0" * 4})},
          contains="int64")
    # -- item 8: long stored values: the human output stays small and fast
    k.add("scheduler_5mb_strings", "scheduler.bin holding two 5,000,000-character strings (T_0 and an extra key)",
          1, files={"scheduler.bin": zip_bytes(long_entries, method=8)}, contains="chars)")
    # -- item 10: malformed JSON values
    for tag, offsets in (("string", b'[0,"x"]'), ("null", b"null"), ("infinity", b"[0,Infinity]"),
                         ("nan", b"[0,NaN]"), ("float", b"[0,8.0]"), ("bool", b"[0,true]"), ("negative", b"[-8,8]"),
                         ("reversed", b"[8,0]"), ("one_value", b"[8]"), ("beyond_u64", b"[0,18446744073709551616]"),
                         ("digits_5000", b"[0," + b"9" * 5000 + b"]")):
        k.add(f"safetensors_offsets_{tag}", f"model.safetensors whose data_offsets is {offsets[:40].decode()}", 3,
              files={"model.safetensors": safetensors(_st_header(offsets))}, contains="model.safetensors")
    k.add("safetensors_header_nested_20k", "model.safetensors whose JSON header nests 20,000 lists", 3,
          files={"model.safetensors": safetensors(b"[" * 20_000 + b"]" * 20_000)}, contains="model.safetensors")
    k.add("safetensors_header_not_object", "model.safetensors whose header is a JSON list", 3,
          files={"model.safetensors": safetensors(b"[1,2,3]")})
    k.add("safetensors_info_not_object", "model.safetensors whose tensor entry is a number", 3,
          files={"model.safetensors": safetensors(b'{"w": 5}')})
    for tag, text in (("digits_5000", b'{"global_step": ' + b"1" * 5000 + b"}"),
                      ("nested_20k", b"[" * 20_000 + b"]" * 20_000)):
        k.add(f"training_state_{tag}", f"training_state.json: {text[:48].decode()}", 3,
              files={"training_state.json": text}, contains="training_state.json")
    # issue 19: a global_step SimpleTuner cannot resume from is CKF117 (exit 1: the file is read, the value is the
    # problem), saying what the resume does; repair leaves global_step alone and refuses (exit 1)
    for tag, text in (("beyond_int64", b'{"global_step": 9223372036854775808, "epoch_step": 30}'),
                      ("nan", b'{"global_step": NaN, "epoch_step": 30}'),
                      ("infinity", b'{"global_step": Infinity, "epoch_step": 30}'),
                      ("string", b'{"global_step": "30", "epoch_step": 30}'),
                      ("global_step_null", b'{"global_step": null, "epoch_step": 30}'),
                      ("global_step_float", b'{"global_step": 30.0, "epoch_step": 30}'),
                      ("no_global_step", b'{"epoch_step": 30}')):
        k.add(f"training_state_{tag}", f"training_state.json: {text[:60].decode()} (CKF117)", 1,
              files={"training_state.json": text}, contains="global_step is")
    # a 4,000-digit epoch_step is what SimpleTuner before 4.10 takes last_epoch from: the resume preview
    # says so (CKF111, exit 1); repair --dry-run plans to set it to the step (exit 1)
    k.add("training_state_epoch_step_digits_4000", "training_state.json: epoch_step of 4,000 digits", 1,
          files={"training_state.json": b'{"global_step": 30, "epoch_step": ' + b"7" * 4000 + b"}"}, contains="epoch_step")
    # issue 19: an epoch_step that is no JSON integer: SimpleTuner before 4.10 crashes or runs off its steps
    # (CKF119, exit 1); repair --dry-run plans to write the integer step (exit 1)
    for tag, value in (("true", b"true"), ("null", b"null"), ("string", b'"30"'), ("fraction", b"30.5"),
                       ("list", b"[30]"), ("object", b'{"step": 30}'), ("1e400", b"1e400"), ("float", b"30.0"),
                       ("negative", b"-30")):
        k.add(f"training_state_epoch_step_{tag}", f"training_state.json epoch_step {value.decode()} (CKF119)", 1,
              files={"training_state.json": b'{"global_step": 30, "epoch_step": ' + value + b', "epoch": 1}'},
              contains="epoch_step is")
    # without epoch_step SimpleTuner takes 0 (StateTracker.load_training_state: training_state.get("epoch_step", 0));
    # at step 30 with T_0 = 10 the fixed sine is at a restart either way, so the resume is on schedule (exit 0);
    # repair --dry-run plans to add "epoch_step": 30 (exit 1)
    k.add("training_state_no_epoch_step", "training_state.json without epoch_step: SimpleTuner reads 0, on schedule "
          "here", 0, files={"training_state.json": b'{"global_step": 30}'}, repair_exit=1)
    # issue 19: encodings SimpleTuner's json.load(open(path)) cannot read: it would resume from step 0 (CKF006)
    state = '{"global_step": 30, "epoch_step": 30, "epoch": 1, "exhausted_backends": [], "repeats": {}}'
    for tag, data in (("bom", b"\xef\xbb\xbf" + state.encode()), ("utf16", state.encode("utf-16")),
                      ("utf16be", state.encode("utf-16-be")), ("utf32", state.encode("utf-32"))):
        k.add(f"training_state_encoding_{tag}", f"training_state.json in {tag} (CKF006)", 1,
              files={"training_state.json": data}, contains="not plain UTF-8")
    # -- item 9: FIFOs, devices and folders named like checkpoint files, directly or through a symlink
    for name in ("scheduler.bin", "optimizer.bin", "training_state.json", "model.safetensors", "random_states_0.pkl"):
        k.add(f"fifo_{name}", f"{name} is a FIFO", 3, remove=(name,), special={name: "fifo"}, contains="not a regular file")
    for name in ("scheduler.bin", "training_state.json", "model.safetensors"):
        k.add(f"dir_{name}", f"{name} is a folder", 3, remove=(name,), special={name: "dir"}, contains="directory")
    k.add("device_optimizer.bin", "optimizer.bin is a character device (like /dev/zero)", 3, remove=("optimizer.bin",),
          special={"optimizer.bin": "device"}, contains="not a regular file")
    k.add("symlink_to_dev_zero", "scheduler.bin is a symlink to /dev/zero", 3, remove=("scheduler.bin",),
          special={"scheduler.bin": "symlink:/dev/zero"}, contains="outside")
    k.add("symlink_to_fifo_inside", "training_state.json is a symlink to a FIFO inside the folder", 3,
          remove=("training_state.json",), special={"state-fifo": "fifo", "training_state.json": "symlink:state-fifo"},
          contains="not a regular file")
    k.add("symlink_to_folder_inside", "model.safetensors is a symlink to a folder inside the checkpoint", 3,
          remove=("model.safetensors",), special={"weights": "dir", "model.safetensors": "symlink:weights"},
          contains="directory")
    # -- item 1: empty or partial checkpoint-N next to a good one (an output folder; --latest takes N=50)
    k.add("latest_empty", "an empty checkpoint-50 next to a complete checkpoint-30", 1, layout="run",
          special={"checkpoint-50": "dir"}, latest=True, contains="optimizer.bin is missing")
    k.add("latest_only_model", "checkpoint-50 holding only model.safetensors (a killed save)", 1, layout="run",
          files={"checkpoint-50/model.safetensors": (REAL / "simpletuner" / "checkpoint-30" / "model.safetensors").read_bytes()},
          latest=True, contains="optimizer.bin is missing")
    # -- issue 19 item 7: a latest that is no folder (the trainer picks it by its name): CKF116, never exit 4
    k.add("latest_dangling_symlink", "checkpoint-50 a dangling symlink next to a complete checkpoint-30", 1,
          layout="run", special={"checkpoint-50": "symlink:/nonexistent-ckptfix-corpus/checkpoint-50"}, latest=True,
          contains="dangling symbolic link")
    k.add("latest_symlink_loop", "checkpoint-50 a symlink to itself next to a complete checkpoint-30", 1,
          layout="run", special={"checkpoint-50": "symlink:checkpoint-50"}, latest=True, contains="loop")
    k.add("latest_plain_file", "checkpoint-50 a plain file next to a complete checkpoint-30", 1, layout="run",
          files={"checkpoint-50": b"not a checkpoint\n"}, latest=True, contains="a regular file")
    # -- items 2 and 4: nothing to resume; names that look like console markup
    k.add("only_tmp", "an output folder holding only checkpoint-60-tmp", 4, layout="tmp-only", latest=True)


def materialize(case: dict, where: Path) -> tuple[Path, list[str]]:
    """Lay out checkpoint-folder ``case`` (see ``Checkpoints``) under the folder ``where``: the PATH to give
    ``ckptfix`` and its flags. ``PermissionError`` when a device node cannot be made here (no CAP_MKNOD)."""
    import os
    import stat

    run = where / case["name"]
    root = run / "checkpoint-30" if case["layout"] == "single" else run
    dest = {"single": root, "run": root / "checkpoint-30", "tmp-only": root / "checkpoint-60-tmp"}[case["layout"]]
    shutil.copytree(CASES / case["base"], dest)
    if "files" in case:
        overlay = CASES / case["files"]
        for p in sorted(overlay.rglob("*")):
            if p.is_file():
                (root / p.relative_to(overlay)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, root / p.relative_to(overlay))
    for name in case.get("remove", []):
        (root / name).unlink()
    for name, what in case.get("special", {}).items():
        p = root / name
        if what == "fifo":
            os.mkfifo(p)
        elif what == "dir":
            p.mkdir()
        elif what == "device":
            os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is
        else:
            os.symlink(what.removeprefix("symlink:"), p)
    return root, (["--latest"] if case.get("latest") else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", action="store_true", help="re-create cases/real/ with torch + accelerate first")
    args = ap.parse_args()
    if args.real:
        make_real()
    if not (REAL / "checkpoint-3" / "optimizer.bin").exists():
        sys.exit("cases/real/ is missing: run with --real (needs torch and accelerate)")
    for d in CASES.iterdir():
        if d.name != "real":
            shutil.rmtree(d) if d.is_dir() else d.unlink()
    c = Corpus()
    build(c)
    c.add("resource/tensor_shape_bigint.bin", torch_zip(bigint_shape_pickle(), prefix="scheduler", storages={"0": b"\0" * 4}),
          "resource", "a tensor whose size and stride are 2,000 references to one 8,000-bit integer", "unreadable",
          kind="scheduler", contains="dimensions")
    c.add("resource/tensor_dims_bigint.bin", torch_zip(bigint_shape_pickle(3), prefix="scheduler", storages={"0": b"\0" * 4}),
          "resource", "a tensor of 3 dimensions, each one 8,000-bit integer", "unreadable", kind="scheduler",
          contains="int64")
    k = Checkpoints()
    build_checkpoints(k)
    MANIFEST.write_text(json.dumps({"marker_dir": MARKER_DIR, "cases": c.cases, "checkpoints": k.cases}, indent=1) + "\n")
    by: dict[str, int] = {}
    for case in c.cases:
        by[case["category"]] = by.get(case["category"], 0) + 1
    print(f"{len(c.cases)} cases:", ", ".join(f"{n} {v}" for n, v in sorted(by.items())),
          f"+ {len(k.cases)} checkpoint folders")


if __name__ == "__main__":
    main()
