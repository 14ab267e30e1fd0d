"""repair without torch: it writes torch's format itself; torch.load reads every file it wrote, byte for
byte what torch.save writes."""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from ckptfix.formats.torchfile import open_torch_file
from ckptfix.repair.actions.torch_check import torch_installed
from tests.helpers import FIXTURES, ROOT

# torch (and numpy) made unimportable, then the real CLI: what a base install (no extras) runs.
NO_TORCH = """
import sys
sys.modules["torch"] = None
sys.modules["numpy"] = None
from ckptfix._cli import main
sys.argv = ["ckptfix", *sys.argv[1:]]
try:
    main()
finally:
    print("TORCH_IMPORTED" if sys.modules.get("torch") is not None else "NO_TORCH", file=sys.stderr)
"""


def no_torch(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", NO_TORCH, *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env={"COLUMNS": os.environ["COLUMNS"], "PATH": "/usr/bin:/bin"}, timeout=120)


def decoded(p: Path):
    with open_torch_file(p) as tf:
        return tf.obj


def test_repair_writes_and_verifies_without_torch(tmp_path: Path) -> None:
    for name in ("sine-v2", "missing-scheduler"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    ck = tmp_path / "sine-v2" / "checkpoint-30"
    r = no_torch("repair", ck, "--optimizer-lr", "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().endswith("NO_TORCH")
    doc = json.loads(r.stdout)
    assert doc["checkpoints"][0]["status"] == "applied"
    created = tmp_path / "missing-scheduler" / "checkpoint-30"
    r = no_torch("repair", created, "--lr-warmup-steps", "10", "--lr-end", "1e-6")
    assert r.returncode == 0, r.stderr
    assert "torch is not installed" in r.stdout and r.stderr.strip().endswith("NO_TORCH")
    for path in (ck / "scheduler.bin", created / "scheduler.bin"):
        theirs = torch.load(path, weights_only=True)
        assert theirs == decoded(path)
        # byte for byte what torch.save writes for the same state, under the same name
        again = tmp_path / "again" / path.parent.parent.name / "scheduler.bin"
        again.parent.mkdir(parents=True)
        torch.save(theirs, again)
        assert again.read_bytes() == path.read_bytes()
    opt = torch.load(ck / "optimizer.bin", weights_only=True)
    assert opt["param_groups"][0]["lr"] == torch.load(ck / "scheduler.bin", weights_only=True)["_last_lr"][0]


def test_torch_installed_here() -> None:
    assert torch_installed()  # the tests always run with torch: every written file is also loaded by it


def _with_extras(src: Path, dest: Path) -> dict:
    """``src`` copied to ``dest`` with a scheduler.bin re-saved by torch.save holding keys repair does not own of
    every type torch gives back with its own type: OrderedDict (nested), torch.Size (shared), torch.device."""
    shutil.copytree(src, dest)
    path = dest / "scheduler.bin"
    state = torch.load(path, weights_only=True)
    size = torch.Size([2, 3])
    state["extra_od"] = collections.OrderedDict([("a", 1), ("b", collections.OrderedDict([("c", [size, (size,)])]))])
    state["extra_size"] = size
    state["extra_empty_size"] = torch.Size([])
    state["extra_devices"] = [torch.device("cpu"), torch.device("cuda", 1)]
    torch.save(state, path)
    return state


def _extras(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.startswith("extra")}


def test_repair_keeps_ordered_dict_size_and_device_without_torch(tmp_path: Path) -> None:
    """Issue 19 item 9: a base install (no torch) rewrites the owned keys and writes every other key back with
    its type, as torch.save would: byte for byte what torch.save writes for the repaired state."""
    ck = tmp_path / "checkpoint-30"
    before = _with_extras(FIXTURES / "sine-v1" / "checkpoint-30", ck)
    r = no_torch("repair", ck, "--json")  # applied; exit 1: optimizer.bin keeps v1's lr without --optimizer-lr (CKF115)
    assert r.returncode == 1 and json.loads(r.stdout)["checkpoints"][0]["status"] == "applied", r.stdout + r.stderr
    assert r.stderr.strip().endswith("NO_TORCH")
    after = torch.load(ck / "scheduler.bin", weights_only=True)
    assert after["_last_lr"] != before["_last_lr"]  # the repair did rewrite it
    for key, value in _extras(before).items():
        got = after[key]
        assert type(got) is type(value) and got == value, key
    assert type(after["extra_od"]["b"]) is collections.OrderedDict
    assert type(after["extra_od"]["b"]["c"][1][0]) is torch.Size
    assert [type(d) for d in after["extra_devices"]] == [torch.device, torch.device]
    torch.save(after, tmp_path / "scheduler.bin")
    assert (tmp_path / "scheduler.bin").read_bytes() == (ck / "scheduler.bin").read_bytes()


def test_repair_with_torch_checks_the_kept_types(tmp_path: Path) -> None:
    """With torch installed, the same state passes the torch cross-checks (before the write and after it)."""
    ck = tmp_path / "checkpoint-30"
    before = _with_extras(FIXTURES / "sine-v1" / "checkpoint-30", ck)
    r = subprocess.run([sys.executable, "-m", "ckptfix", "repair", str(ck), "--json"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 1 and json.loads(r.stdout)["checkpoints"][0]["status"] == "applied", r.stdout + r.stderr
    after = torch.load(ck / "scheduler.bin", weights_only=True)
    assert {k: (type(v), v) for k, v in _extras(after).items()} == {k: (type(v), v) for k, v in _extras(before).items()}


def test_repair_refuses_a_state_whose_values_would_change_type(tmp_path: Path) -> None:
    """A set or a tensor among the keys repair does not own: refused, naming the key, nothing written."""
    for extra, shown in ((frozenset({1}), "a frozenset at 'extra'"), (torch.zeros(2), "tensor(float32, shape=[2]) at 'extra'")):
        ck = tmp_path / type(extra).__name__ / "checkpoint-30"
        shutil.copytree(FIXTURES / "sine-v1" / "checkpoint-30", ck)
        state = torch.load(ck / "scheduler.bin", weights_only=True)
        state["extra"] = extra
        torch.save(state, ck / "scheduler.bin")
        original = (ck / "scheduler.bin").read_bytes()
        r = no_torch("repair", ck, "--json")
        assert r.returncode == 1, r.stdout + r.stderr
        (refusal,) = json.loads(r.stdout)["checkpoints"][0]["refusals"]
        assert shown in refusal["reason"] and "does not rewrite a state" in refusal["reason"]
        assert (ck / "scheduler.bin").read_bytes() == original
