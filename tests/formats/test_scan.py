"""scan_file / scan_folder on real accelerate-written files, and the three public-scanner failure modes.

1. a clean ``optimizer.bin`` is flagged as likely unsafe  -> ckptfix: ``ok``, nothing refused;
2. a truncated file crashes the scanner with a traceback -> ckptfix: a typed error, no traceback;
3. ``random_states_*.pkl`` (a torch zip) cannot be parsed -> ckptfix: parsed and ``ok``.
"""

from __future__ import annotations

import os
import pickletools
import shutil
import subprocess
import sys
import threading
import zipfile
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ckptfix.errors import UnreadableFile
from ckptfix.formats.allowlist import RNG_STATE
from ckptfix.formats.scan import classify, name_matches, scan_file, scan_folder
from ckptfix.formats.torchfile import open_torch_file
from tests.helpers import CORPUS

REAL = CORPUS / "cases" / "real"
CKPT = REAL / "checkpoint-3"


@pytest.fixture()
def ckpt(tmp_path: Path) -> Path:
    d = tmp_path / "output" / "checkpoint-3"
    shutil.copytree(CKPT, d)
    return d


def _no_hang(fn, seconds: float = 5.0):
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert out, "scan blocked (it opened something it should not have)"
    return out[0]


# -- the three failure modes -----------------------------------------------------------------------
def test_clean_optimizer_is_not_flagged():
    r = scan_file(CKPT / "optimizer.bin")
    assert (r.kind, r.status, r.refused) == ("optimizer", "ok", ())
    assert r.message.startswith(f"{CKPT / 'optimizer.bin'}: ok")
    # metadata-only: the zip directory and data.pkl, not the tensors
    assert 0 < r.bytes_read < (CKPT / "optimizer.bin").stat().st_size


def test_truncated_file_is_a_typed_error_not_a_traceback(tmp_path: Path):
    data = (CKPT / "optimizer.bin").read_bytes()
    p = tmp_path / "checkpoint-3" / "optimizer.bin"
    p.parent.mkdir()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFile) as ei:
        open_torch_file(p)
    assert str(ei.value).startswith(str(p)) and "truncated" in str(ei.value)
    r = scan_file(p)
    assert r.status == "unreadable" and r.message.startswith(f"{p}: ")
    # and in a fresh process: no traceback on stderr, a clean exit
    code = ("import sys; from pathlib import Path; from ckptfix.formats.scan import scan_folder\n"
            "for r in scan_folder(Path(sys.argv[1])): print(r.status, r.message)")
    proc = subprocess.run([sys.executable, "-c", code, str(p.parent)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith("unreadable ") and str(p) in proc.stdout


def test_random_states_pkl_is_parsed_and_ok():
    p = CKPT / "random_states_0.pkl"
    assert zipfile.is_zipfile(p)  # a torch zip, not a plain pickle
    r = scan_file(p)
    assert (r.kind, r.status) == ("random-states", "ok"), r.message
    with open_torch_file(p, RNG_STATE) as tf:
        assert {"step", "random_state", "numpy_random_seed", "torch_manual_seed"} <= set(tf.obj)


# -- the whole folder ------------------------------------------------------------------------------
def test_scan_folder_real_checkpoint(ckpt: Path):
    (ckpt / "model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    (ckpt / ".ckptfix" / "backup-x").mkdir(parents=True)
    (ckpt / ".ckptfix" / "backup-x" / "scheduler.bin").write_bytes(b"junk")
    shutil.copytree(REAL / "dcp", ckpt / "pytorch_model_fsdp_0")
    results = scan_folder(ckpt)
    got = {str(r.path.relative_to(ckpt)): (r.kind, r.status) for r in results}
    assert got == {
        "custom_checkpoint_0.pkl": ("custom-checkpoint", "ok"),
        "optimizer.bin": ("optimizer", "ok"),
        "random_states_0.pkl": ("random-states", "ok"),
        "scaler.pt": ("scaler", "ok"),
        "scheduler.bin": ("scheduler", "ok"),
        "pytorch_model_fsdp_0/.metadata": ("dcp-metadata", "ok"),
    }


def test_hostile_file_reports_module_name_and_opcode_offset(ckpt: Path):
    src = CORPUS / "cases" / "exec" / "reduce_os_system.bin"
    shutil.copy(src, ckpt / "scheduler.bin")
    r = scan_file(ckpt / "scheduler.bin")
    assert r.status == "unsafe" and len(r.refused) == 1
    module, name, offset = r.refused[0]
    assert (module, name) == ("os", "system")
    with zipfile.ZipFile(src) as z:
        pkl = z.read("scheduler/data.pkl")
    ops = {pos: (op.name, arg) for op, arg, pos in pickletools.genops(pkl)}
    assert ops[offset] == ("GLOBAL", "os system")
    assert "os.system" in r.message and str(offset) in r.message


@pytest.mark.parametrize("name,kind", [
    ("optimizer.bin", "optimizer"), ("optimizer_1.bin", "optimizer"), ("scheduler_1.bin", "scheduler"),
    ("sampler.bin", "sampler"), ("dl_state_dict.bin", "dl-state"), ("scaler.pt", "scaler"),
    ("random_states_3.pkl", "random-states"), ("custom_checkpoint_0.pkl", "custom-checkpoint"),
    (".metadata", "dcp-metadata"), ("pytorch_model.bin", "torch"), ("x.pth", "torch"), ("x.pt", "torch"),
    ("x.pkl", "pickle"), ("model.safetensors", None), ("training_state.json", None), ("__0_0.distcp", None),
    (".guard", None),
])
def test_classify(name, kind):
    assert classify(name) == kind


_GLOB_TEXT = st.text(alphabet="ab*/._", max_size=8)


@given(name=st.text(alphabet="ab/._", max_size=10), pattern=_GLOB_TEXT)
@example(name="a/b.safetensors", pattern="*/*.safetensors")
@example(name="ab", pattern="a*b*")  # a piece must not be placed over the last one
@example(name="aba", pattern="a*a*a")
@example(name="a", pattern="a*a")  # first and last overlap
def test_name_matches_is_fnmatchcase_for_star_patterns(name, pattern):
    assert name_matches(name, pattern) == fnmatchcase(name, pattern)


# -- symlinks, special files, permissions ----------------------------------------------------------
def test_symlink_inside_is_followed(ckpt: Path):
    (ckpt / "optimizer.bin").rename(ckpt / "real_optimizer.bin")
    (ckpt / "optimizer.bin").symlink_to("real_optimizer.bin")
    r = scan_file(ckpt / "optimizer.bin")
    assert r.status == "ok" and "symlink to" in r.message


def test_symlink_outside_is_never_opened(ckpt: Path, tmp_path: Path):
    fifo = tmp_path / "outside.fifo"
    os.mkfifo(fifo)  # opening it would block: the test would hang if the scan read the target
    (ckpt / "scheduler.bin").unlink()
    (ckpt / "scheduler.bin").symlink_to(fifo)
    r = _no_hang(lambda: scan_file(ckpt / "scheduler.bin"))
    assert r.status == "unreadable" and "outside the checkpoint folder" in r.message
    outside = tmp_path / "secret.bin"
    shutil.copy(CKPT / "scheduler.bin", outside)
    (ckpt / "optimizer.bin").unlink()
    (ckpt / "optimizer.bin").symlink_to(outside)
    results = {r.path.name: r for r in _no_hang(lambda: scan_folder(ckpt))}
    assert results["optimizer.bin"].status == "unreadable" and results["optimizer.bin"].bytes_read == 0
    assert "outside the checkpoint folder" in results["optimizer.bin"].message


def test_symlink_chain_escaping_and_dangling(ckpt: Path, tmp_path: Path):
    (ckpt / "hop.bin").symlink_to(tmp_path)  # a folder outside
    (ckpt / "optimizer.bin").unlink()
    (ckpt / "optimizer.bin").symlink_to("hop.bin/../../etc/passwd")
    assert scan_file(ckpt / "optimizer.bin").status == "unreadable"
    (ckpt / "scheduler.bin").unlink()
    (ckpt / "scheduler.bin").symlink_to("missing.bin")
    r = scan_file(ckpt / "scheduler.bin")
    assert r.status == "unreadable" and "dangling" in r.message


def test_symlinked_folder_is_not_walked(ckpt: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(CORPUS / "cases" / "exec" / "reduce_os_system.bin", outside / "x.bin")
    (ckpt / "linked").symlink_to(outside, target_is_directory=True)
    assert all(r.status == "ok" for r in scan_folder(ckpt))


def test_fifo_inside_is_not_opened(ckpt: Path):
    (ckpt / "scheduler.bin").unlink()
    os.mkfifo(ckpt / "scheduler.bin")
    r = _no_hang(lambda: scan_file(ckpt / "scheduler.bin"))
    assert r.status == "unreadable" and "not a regular file" in r.message


def test_directory_named_like_a_file(ckpt: Path):
    (ckpt / "scheduler.bin").unlink()
    (ckpt / "scheduler.bin").mkdir()
    r = scan_file(ckpt / "scheduler.bin")
    assert r.status == "unreadable" and "not a regular file" in r.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_real(ckpt: Path):
    p = ckpt / "scheduler.bin"
    p.chmod(0)
    try:
        r = scan_file(p)
    finally:
        p.chmod(0o644)
    assert r.status == "unreadable" and "permission denied" in r.message


def test_permission_denied_simulated(ckpt: Path, monkeypatch):
    import builtins

    real_open = builtins.open

    def guarded(file, *a, **k):
        if str(file).endswith("scheduler.bin"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)

    real_os_open = os.open

    def guarded_os(file, *a, **k):
        if str(file).endswith("scheduler.bin"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_os_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", guarded)
    monkeypatch.setattr(os, "open", guarded_os)
    r = scan_file(ckpt / "scheduler.bin")
    assert r.status == "unreadable" and "permission denied" in r.message
    assert r.message.startswith(str(ckpt / "scheduler.bin"))


def test_unlistable_folder_is_reported(ckpt: Path, monkeypatch):
    real_scandir = os.scandir

    def guarded(path):
        if str(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    (ckpt / "sub").mkdir()
    monkeypatch.setattr(os, "scandir", guarded)
    results = scan_folder(ckpt)
    bad = [r for r in results if r.kind == "folder"]
    assert len(bad) == 1 and bad[0].status == "unreadable" and "permission denied" in bad[0].message


def test_sampler_with_accelerate_class_is_reported(ckpt: Path):
    # accelerate pickles a whole SeedableRandomSampler into sampler.bin: outside the allowlist
    import sys as _sys

    _sys.path.insert(0, str(CORPUS))
    try:
        from generate import (
            BUILD,
            EMPTY_DICT,
            EMPTY_TUPLE,
            NEWOBJ,
            PROTO2,
            STOP,
            G,
            torch_zip,
        )
    finally:
        _sys.path.pop(0)
    pkl = PROTO2 + G("accelerate.data_loader", "SeedableRandomSampler") + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT + BUILD + STOP
    (ckpt / "sampler.bin").write_bytes(torch_zip(pkl, prefix="sampler"))
    r = scan_file(ckpt / "sampler.bin")
    assert r.status == "unsafe" and r.refused[0][:2] == ("accelerate.data_loader", "SeedableRandomSampler")


def test_scan_never_writes(ckpt: Path):
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in ckpt.rglob("*") if p.is_file()}
    scan_folder(ckpt)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in ckpt.rglob("*") if p.is_file()}
    assert before == after


def test_reader_itself_does_not_block_on_a_fifo(tmp_path: Path):
    os.mkfifo(tmp_path / "scheduler.bin")

    def attempt():
        try:
            open_torch_file(tmp_path / "scheduler.bin")
        except UnreadableFile as exc:
            return str(exc)

    assert "not a regular file" in _no_hang(attempt)
