"""The read path stays light: no torch / numpy imported, bytes read independent of tensor size.

No timings here (they live in ``bench/run.py``); only what can be asserted exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, needs

pytestmark = pytest.mark.smoke  # runs from the wheel on every Python, without torch (.ci/run)

FIXTURE = ROOT / "fixtures" / "sine-ok" / "checkpoint-30"
HEAVY = ("torch", "numpy", "fsspec", "s3fs")

# Run the real CLI entry (ckptfix._cli.main) in a fresh interpreter, then report which heavy
# top-level packages ended up in sys.modules, whatever way the command exited.
_WRAPPER = """
import json, sys
args = json.loads(sys.argv[1])
sys.argv = ["ckptfix", *args]
code = 0
try:
    from ckptfix._cli import main
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "numpy", "fsspec", "s3fs", "botocore", "aiohttp"})
if args and args[0] == "--probe-self-test":  # a dataclass the probe must see (the control below)
    import dataclasses, types
    mod = sys.modules["ckptfix.probe_self_test"] = types.ModuleType("ckptfix.probe_self_test")
    mod.Made = dataclasses.make_dataclass("Made", ["x"])
made = sorted(f"{n}.{k}" for n, m in list(sys.modules.items()) if n.startswith("ckptfix")
              for k, v in vars(m).items() if isinstance(v, type) and "__dataclass_fields__" in vars(v))
sys.stderr.write("\\nCKPTFIX-PROBE " + json.dumps({"code": code, "heavy": heavy, "dataclasses": made}) + "\\n")
"""


def run_cli(*args: str, dataclasses: list | None = None) -> tuple[int, list[str], str]:
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, json.dumps(list(args))],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    probe = [ln for ln in proc.stderr.splitlines() if ln.startswith("CKPTFIX-PROBE ")]
    assert probe, proc.stderr
    info = json.loads(probe[-1].split(" ", 1)[1])
    if dataclasses is not None:
        dataclasses.extend(info["dataclasses"])
    return info["code"], info["heavy"], proc.stdout


def test_inspect_json_imports_neither_torch_nor_numpy() -> None:
    code, heavy, out = run_cli("inspect", "--json", str(FIXTURE))
    assert code == 0, out
    doc = json.loads(out)
    assert doc["checkpoints"][0]["optimizers"][0]["step"] == 30  # the optimizer really was read
    assert heavy == [], f"the inspect read path imported {heavy}"


def test_inspect_console_and_latest_import_neither_torch_nor_numpy() -> None:
    code, heavy, _ = run_cli("inspect", "--latest", str(ROOT / "fixtures" / "output-run"))
    assert code in (0, 1)
    assert heavy == [], f"inspect --latest imported {heavy}"


@needs("fsspec")
def test_local_paths_never_import_fsspec_and_urls_do() -> None:
    """Object storage costs its imports only when PATH is a URL (``import s3fs``: 0.5 s, 49 MB)."""
    for args in (["inspect", "--json", str(FIXTURE)], ["repair", "--dry-run", str(FIXTURE)]):
        code, heavy, _ = run_cli(*args)
        assert code == 0 and not {"fsspec", "s3fs", "botocore", "aiohttp"} & set(heavy), (args, heavy)
    # the control: the probe sees fsspec when the path is a URL (memory://: empty, so exit 2)
    code, heavy, _ = run_cli("inspect", "memory://ckptfix-probe/none")
    assert code == 2 and "fsspec" in heavy


def test_inspect_defines_no_dataclass() -> None:
    """Each @dataclass costs 0.5-1.3 ms at import (ckptfix.records says why): the read path uses Records."""
    made: list[str] = []
    code, _, _ = run_cli("inspect", "--json", str(FIXTURE), dataclasses=made)
    assert code == 0
    assert made == [], f"dataclasses defined on the inspect path: {made}"
    seen: list[str] = []  # the control: the probe does see a dataclass defined in a ckptfix module
    run_cli("--probe-self-test", dataclasses=seen)
    assert seen == ["ckptfix.probe_self_test.Made"]


def test_help_imports_neither_torch_nor_numpy() -> None:
    code, heavy, out = run_cli("--help")
    assert code == 0
    assert "inspect" in out
    assert heavy == [], f"--help imported {heavy}"


def test_importtime_shows_no_torch_on_inspect() -> None:
    """The same check through ``python -X importtime``, as the issue states it."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ckptfix", "inspect", "--json", str(FIXTURE)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = [ln.rsplit("|", 1)[-1].strip() for ln in proc.stderr.splitlines() if ln.startswith("import time:")]
    assert len(names) > 50  # importtime output really was parsed
    bad = sorted({n for n in names if n.split(".")[0] in HEAVY})
    assert not bad, bad


# -- bytes read ---------------------------------------------------------------------------------
N_PARAMS = 8


def _write_checkpoint(folder: Path, shape: tuple[int, ...]) -> Path:
    """An accelerate-style checkpoint whose optimizer.bin is a torch AdamW state dict (real torch.save)."""
    torch = pytest.importorskip("torch")
    folder.mkdir(parents=True)
    state = {
        i: {"step": torch.tensor(12.0), "exp_avg": torch.zeros(shape), "exp_avg_sq": torch.zeros(shape)}
        for i in range(N_PARAMS)
    }
    group = {"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False,
             "foreach": None, "maximize": False, "capturable": False, "differentiable": False, "fused": None,
             "initial_lr": 1e-4, "params": list(range(N_PARAMS))}
    torch.save({"state": state, "param_groups": [group]}, folder / "optimizer.bin")
    (folder / "training_state.json").write_text(json.dumps({"global_step": 12, "epoch_step": 12, "epoch": 1}))
    return folder / "optimizer.bin"


def _optimizer_read(folder: Path) -> tuple[int, int, int]:
    proc = subprocess.run(
        [sys.executable, "-m", "ckptfix", "inspect", "--json", str(folder)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    ck = json.loads(proc.stdout)["checkpoints"][0]
    (opt,) = ck["optimizers"]
    assert opt["step"] == 12
    return opt["bytes_read"], opt["size"], ck["bytes_read"]


def test_bytes_read_do_not_grow_with_the_optimizer(tmp_path: Path) -> None:
    big = _write_checkpoint(tmp_path / "big" / "checkpoint-12", (1024, 1024))  # 8 x 2 x 4 MiB = 64 MiB
    tiny = _write_checkpoint(tmp_path / "tiny" / "checkpoint-12", (2, 2))
    assert big.stat().st_size > 64_000_000
    big_read, big_size, big_ck = _optimizer_read(big.parent)
    tiny_read, tiny_size, _ = _optimizer_read(tiny.parent)
    assert big_size == big.stat().st_size and tiny_size == tiny.stat().st_size
    assert 0 < big_read < 1_000_000, big_read
    assert big_ck < 1_000_000, big_ck
    # Same structure, same pickle up to the shape literals: the bytes read differ by a few bytes per tensor.
    assert abs(big_read - tiny_read) <= 300, (big_read, tiny_read)


_OS_COUNT = """
import sys
from pathlib import Path
from ckptfix.model.load import load_checkpoint

def rchar() -> int:  # bytes this process got from read()/pread() system calls, any file
    with open("/proc/self/io") as f:
        return int(f.read().split("rchar:")[1].split()[0])

load_checkpoint(Path(sys.argv[2]))  # the same code path once, so lazy imports are done
before = rchar()
ck = load_checkpoint(Path(sys.argv[1]))
after = rchar()
print(after - before, ck.bytes_read)
"""


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/<pid>/io")
def test_bytes_read_as_the_kernel_counts_them(tmp_path: Path) -> None:
    """The count ckptfix reports is what the system calls read: no buffered reader fetching 4-8 KB
    around each 30-byte zip header (that read ten times the reported bytes on a 231-parameter file)."""
    big = _write_checkpoint(tmp_path / "big" / "checkpoint-12", (1024, 1024))
    warm = _write_checkpoint(tmp_path / "warm" / "checkpoint-12", (2, 2))
    proc = subprocess.run([sys.executable, "-c", _OS_COUNT, str(big.parent), str(warm.parent)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    os_bytes, reported = map(int, proc.stdout.split())
    assert reported > 0
    assert reported <= os_bytes <= reported + 512, (os_bytes, reported)  # + the /proc/self/io read itself
