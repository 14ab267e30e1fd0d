"""repair without torch: it writes torch's format itself; torch.load reads every file it wrote, byte for
byte what torch.save writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from ckptfix.formats.torchfile import open_torch_file
from ckptfix.repair.torch_check import torch_installed
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
