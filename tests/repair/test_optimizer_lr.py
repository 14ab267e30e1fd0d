"""`repair --optimizer-lr`: optimizer*.bin param_groups lr patched in place (8 bytes + CRC), never re-pickled."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from ckptfix._cli import app  # noqa: E402, PLC2701 - the tests drive the CLI's Typer app
from ckptfix.analysis.checks import analyse  # noqa: E402
from ckptfix.analysis.report import Options  # noqa: E402
from ckptfix.formats.source.durable import DISK  # noqa: E402
from ckptfix.formats.torchfile import open_torch_file  # noqa: E402
from ckptfix.model.load import load_checkpoint  # noqa: E402
from ckptfix.records import replace  # noqa: E402
from ckptfix.repair.actions.interface import same  # noqa: E402
from ckptfix.repair.actions.optimizer_lr import NotPatchable, plan_patch, restore  # noqa: E402
from ckptfix.repair.apply import STAGES, apply_plan  # noqa: E402
from ckptfix.repair.plan import plan_repair  # noqa: E402
from tests.helpers import FIXTURES as ROOT_FIXTURES  # noqa: E402
from tests.helpers import fixture_generator, in_forked_child  # noqa: E402

FIX = ROOT_FIXTURES


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def copy(tmp_path: Path, name: str, as_name: str | None = None) -> Path:
    dst = tmp_path / (as_name or name)
    shutil.copytree(FIX / name, dst, symlinks=True)
    return dst / "checkpoint-30"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def tree(root: Path, skip_work: bool = False) -> dict[str, str]:
    return {str(p.relative_to(root)): sha(p) if p.is_file() else "dir" for p in sorted(root.rglob("*"))
            if not (skip_work and ".ckptfix" in p.parts)}


def make_plan(ck: Path, opts: Options = Options()):
    return plan_repair(analyse(load_checkpoint(ck), opts), replace(opts, optimizer_lr=True))


def codes(ck: Path) -> set[str]:
    return {f.code for f in analyse(load_checkpoint(ck)).findings}


@pytest.fixture(scope="module")
def repaired_sha(tmp_path_factory) -> str:
    """SHA-256 of sine-v1's optimizer.bin after `repair --optimizer-lr` (the bytes are deterministic)."""
    ck = copy(tmp_path_factory.mktemp("ref"), "sine-v1")
    assert apply_plan(make_plan(ck)).status == "applied"
    return sha(ck / "optimizer.bin")


def test_sine_v1_repaired_with_optimizer_lr(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    opt = ck / "optimizer.bin"
    old_bytes = opt.read_bytes()
    old_sd = torch.load(opt, weights_only=True)
    assert "CKF040" not in codes(ck)  # v1 wrote lr = _last_lr: the mismatch appears with the repair

    r = run("repair", ck, "--optimizer-lr")
    assert r.exit_code == 0, r.output
    assert "param_groups[0].lr" in r.output and "CKF040" in r.output and "copied to a temporary file" in r.output
    r = run("inspect", ck)
    assert r.exit_code == 0 and "CKF040" not in r.output, r.output
    assert not codes(ck) & {"CKF040", "CKF041"}

    # Same size; every byte outside the lr float and the CRC-32 fields is the original's.
    new_bytes = opt.read_bytes()
    assert len(new_bytes) == len(old_bytes)
    diff = [i for i, (a, b) in enumerate(zip(old_bytes, new_bytes)) if a != b]
    rec = json.loads(next((ck / ".ckptfix").glob("backup-*/optimizer.bin.patch.json")).read_text())
    allowed = {w["offset"] + k for w in rec["writes"] for k in range(len(bytes.fromhex(w["old"])))}
    assert diff and set(diff) <= allowed
    # Zip entries: all but data.pkl byte-identical; data.pkl differs only in the 8-byte float.
    with zipfile.ZipFile(FIX / "sine-v1/checkpoint-30/optimizer.bin") as zo, zipfile.ZipFile(opt) as zn:
        assert zn.testzip() is None  # every CRC-32 matches its data
        assert zo.namelist() == zn.namelist()
        for name in zo.namelist():
            a, b = zo.read(name), zn.read(name)
            if name.endswith("/data.pkl"):
                d = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
                assert len(a) == len(b) and d and max(d) - min(d) < 8
                start = a.index(b"X\x02\x00\x00\x00lr") + 7 + 2  # key, BINPUT n, then G + 8 bytes
                assert a[start:start + 1] == b"G" and set(d) <= set(range(start + 1, start + 9))
                assert struct.unpack(">d", b[start + 1:start + 9])[0] == 1e-4
            else:
                assert a == b, name
    # Every copy of data.pkl's CRC-32 (central directory, local header or data descriptor) is the new one.
    with zipfile.ZipFile(opt) as zn:
        info = zn.getinfo("optimizer/data.pkl")
        crc = zlib.crc32(zn.read(info))
    local = new_bytes[info.header_offset:info.header_offset + 30]
    flags, local_crc, name_len, extra_len = struct.unpack_from("<H", local, 6)[0], local[14:18], *struct.unpack_from("<HH", local, 26)
    assert info.CRC == crc
    assert local_crc == struct.pack("<I", crc) or (flags & 8 and local_crc == bytes(4))
    if flags & 8:  # torch's writer: CRC and sizes in a data descriptor after the data
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        desc = new_bytes[end:end + 8]
        assert desc[4:8] == struct.pack("<I", crc) if desc[:4] == b"PK\x07\x08" else desc[:4] == struct.pack("<I", crc)
    # torch.load(weights_only=True): the new lr, identical tensors and everything else.
    new_sd = torch.load(opt, weights_only=True)
    assert new_sd["param_groups"][0]["lr"] == 1e-4
    assert {k: v for k, v in new_sd["param_groups"][0].items() if k != "lr"} == \
        {k: v for k, v in old_sd["param_groups"][0].items() if k != "lr"}
    assert old_sd["state"].keys() == new_sd["state"].keys()
    for i, st in old_sd["state"].items():
        assert st.keys() == new_sd["state"][i].keys()
        for k, t in st.items():
            assert torch.equal(t, new_sd["state"][i][k]) and t.dtype == new_sd["state"][i][k].dtype
    # The manifest records the patch, not a copy of the optimizer.
    backup = next((ck / ".ckptfix").glob("backup-*"))
    assert not (backup / "optimizer.bin").exists()
    entry = [e for e in json.loads((backup / "manifest.json").read_text())["files"] if e["file"] == "optimizer.bin"][0]
    assert entry["sha256"] == hashlib.sha256(old_bytes).hexdigest() and entry["sha256_new"] == sha(opt)
    assert entry["writes"] == rec["writes"] and entry["crc_original"] != entry["crc_new"]

    # Idempotent: a second run has nothing to do and changes no byte.
    before = tree(ck)
    r = run("repair", ck, "--optimizer-lr")
    assert r.exit_code == 0 and "nothing to do" in r.output, r.output
    assert tree(ck) == before


def test_restore_from_the_recorded_patch_is_bit_for_bit(tmp_path):
    ck = copy(tmp_path, "sine-v1")
    original = sha(ck / "optimizer.bin")
    res = apply_plan(make_plan(ck))
    assert res.status == "applied", res.error
    assert sha(ck / "optimizer.bin") != original
    record = res.backup_dir / "optimizer.bin.patch.json"
    assert restore(record) is True
    assert sha(ck / "optimizer.bin") == original
    assert restore(record) is False  # already the original: nothing written
    assert not [p for p in ck.iterdir() if "ckptfix-tmp" in p.name]


def test_dry_run_writes_nothing_and_no_flag_keeps_the_optimizer(tmp_path):
    ck = copy(tmp_path, "stale-tcur")
    before = tree(ck)
    r = run("repair", ck, "--optimizer-lr", "--dry-run")
    assert r.exit_code == 1 and "param_groups[0].lr" in r.output, r.output
    assert tree(ck) == before
    r = run("repair", ck)  # without the flag: the scheduler only, and the first step's lr still said (exit 1)
    assert r.exit_code == 1 and "param_groups" not in r.output.split("still reported")[0]
    assert sha(ck / "optimizer.bin") == before["optimizer.bin"] and "CKF040" in codes(ck)
    # ... and a later --optimizer-lr run fixes only the optimizer.
    r = run("repair", ck, "--optimizer-lr", "--json")
    doc = json.loads(r.output)["checkpoints"][0]
    assert r.exit_code == 0 and doc["status"] == "applied"
    assert [(c["key"], c["old"], c["new"], c["fixes"]) for c in doc["changes"]] == \
        [("param_groups[0].lr", 1e-6, 1e-4, ["CKF040"])]
    assert {"file": str(ck / "optimizer.bin"), "action": "patch"} in doc["files"]
    assert "CKF040" not in codes(ck)


def test_created_scheduler_pairs_with_the_optimizer_and_initial_lr(tmp_path):
    ck = copy(tmp_path, "missing-scheduler")
    r = run("repair", ck, "--optimizer-lr", "--lr-warmup-steps", "10", "--lr-end", "1e-6", "--learning-rate", "2e-4")
    assert r.exit_code == 0, r.output
    groups = torch.load(ck / "optimizer.bin", weights_only=True)["param_groups"]
    assert groups[0]["lr"] == 2e-4 and groups[0]["initial_lr"] == 2e-4
    assert not codes(ck) & {"CKF040", "CKF041"}


def _stage_hook(stage: str, action):
    def hook(s: str, path: Path) -> None:
        if s == stage and path.name == "optimizer.bin":
            action()
    return hook


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "lock"])
def test_failure_at_each_stage_restores_both_files(tmp_path, stage):
    ck = copy(tmp_path, "sine-v1")
    before = tree(ck)

    def boom() -> None:
        raise Boom(f"injected at {stage}")

    res = apply_plan(make_plan(ck), fault=_stage_hook(stage, boom))
    assert res.status == "failed" and "injected" in res.error and res.restored is True, res.error
    assert tree(ck, skip_work=True) == before  # scheduler.bin restored too
    assert not (ck / ".ckptfix" / "lock").exists()
    assert not [p for p in ck.iterdir() if "ckptfix-tmp" in p.name]
    assert apply_plan(make_plan(ck)).status == "applied"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("stage", [s for s in STAGES if s != "lock"] + ["done"])
def test_killed_at_each_stage_leaves_original_or_complete_new_file(tmp_path, stage, repaired_sha):
    ck = copy(tmp_path, "sine-v1")
    original = sha(ck / "optimizer.bin")
    p = make_plan(ck)
    code = in_forked_child(lambda: apply_plan(p, fault=_stage_hook(stage, lambda: os._exit(17))).status == "applied")
    assert code == (0 if stage == "done" else 17)
    now = sha(ck / "optimizer.bin")
    assert now == (repaired_sha if stage in ("verify", "done") else original)
    if now == repaired_sha:
        assert torch.load(ck / "optimizer.bin", weights_only=True)["param_groups"][0]["lr"] == 1e-4


def test_memo_shared_lr_is_refused(tmp_path):
    """Hand-crafted: lr's float is memoized (BINPUT 200) and initial_lr is a BINGET of it."""
    ck = copy(tmp_path, "sine-v1")
    opt = ck / "optimizer.bin"
    with zipfile.ZipFile(opt) as z:
        data = z.read("optimizer/data.pkl")
    lr_key = b"X\x02\x00\x00\x00lr"
    at = data.index(lr_key) + len(lr_key) + 2  # after BINPUT n
    assert data[at:at + 1] == b"G"
    data = data[:at + 9] + b"q\xc8" + data[at + 9:]
    ini_key = b"X\x0a\x00\x00\x00initial_lr"
    at = data.index(ini_key) + len(ini_key) + 2
    assert data[at:at + 1] == b"G"
    data = data[:at] + b"h\xc8" + data[at + 9:]
    fixture_generator().rewrite_torch_zip_pickle(opt, data)
    groups = torch.load(opt, weights_only=True)["param_groups"]
    assert groups[0]["initial_lr"] == groups[0]["lr"] == 5.0499e-05
    before = tree(ck)

    r = run("repair", ck, "--optimizer-lr")
    assert r.exit_code == 1, r.output
    assert "refused" in r.output and "memoized" in r.output and "without" in r.output, r.output
    assert tree(ck) == before  # nothing written, not even .ckptfix/
    plan = make_plan(ck)
    assert plan.action == "refuse" and not plan.to_write and not plan.to_patch
    # Without the flag the scheduler is repaired as usual.
    assert run("repair", ck).exit_code == 1 and sha(opt) == before["optimizer.bin"]  # CKF115 left


def test_two_groups_memoized_key_and_initial_lr(tmp_path):
    """Group 1's 'lr' key is a BINGET of the memoized string: found, patched, decoded by torch."""
    a, b = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2))
    opt = torch.optim.AdamW([{"params": [a], "lr": 1e-3}, {"params": [b], "lr": 2e-3}])
    for g in opt.param_groups:
        g["initial_lr"] = g["lr"]
    (a.sum() + b.sum()).backward()
    opt.step()
    path = tmp_path / "optimizer.bin"
    torch.save(opt.state_dict(), path)
    before = torch.load(path, weights_only=True)
    p = plan_patch(path, {"_last_lr": [5e-4, 6e-4], "base_lrs": [1e-3, 3e-3]})
    assert p is not None
    assert [(c.key, c.old, c.new) for c in p.changes] == [
        ("param_groups[0].lr", 1e-3, 5e-4), ("param_groups[1].lr", 2e-3, 6e-4), ("param_groups[1].initial_lr", 2e-3, 3e-3)]
    assert plan_patch(path, {"_last_lr": [1e-3, 2e-3], "base_lrs": [1e-3, 2e-3]}) is None
    want = hashlib.sha256(bytes(_apply(path.read_bytes(), p.writes))).hexdigest()
    DISK.patch(path, [(w.offset, w.old, w.new) for w in p.writes], p.size, want, lambda: None, lambda: None, [])
    with open_torch_file(path) as tf:
        assert same(tf.obj, p.target)
    after = torch.load(path, weights_only=True)
    assert [(g["lr"], g["initial_lr"]) for g in after["param_groups"]] == [(5e-4, 1e-3), (6e-4, 3e-3)]
    for i, st in before["state"].items():
        for k, t in st.items():
            assert torch.equal(t, after["state"][i][k])


def _apply(data: bytes, writes) -> bytearray:
    out = bytearray(data)
    for w in writes:
        out[w.offset:w.offset + len(w.new)] = w.new
    return out


def test_legacy_format_optimizer_is_refused_only_when_a_change_is_needed(tmp_path):
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=1e-3)
    path = tmp_path / "optimizer.bin"
    torch.save(opt.state_dict(), path, _use_new_zipfile_serialization=False)
    assert plan_patch(path, {"_last_lr": [1e-3], "base_lrs": [1e-3]}) is None
    with pytest.raises(NotPatchable, match="legacy"):
        plan_patch(path, {"_last_lr": [5e-4], "base_lrs": [1e-3]})
