"""The committed fixtures are what ``fixtures/generate.py`` writes.

Regenerates every fixture folder into a temporary directory and compares it with ``fixtures/``:
same files, same decoded scheduler states (``torch.load(..., weights_only=True)``), same optimizer
states, same JSON / text / safetensors content, same pickles inside the RNG files. Bytes of torch
files are not compared as a whole: torch may write a different ``.data/serialization_id``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

if importlib.util.find_spec("accelerate") is None:
    pytest.skip(
        "accelerate is not importable: the fixture generator trains with accelerate "
        "(pip install -e '.[dev]' to run this test)",
        allow_module_level=True,
    )
torch = pytest.importorskip("torch", reason="the fixture generator needs torch")

from tests.helpers import ROOT, fixture_generator  # noqa: E402

FIXTURES = ROOT / "fixtures"
GENERATOR = FIXTURES / "generate.py"


generate = fixture_generator()
CASES = generate.CASES
HOSTILE_MARKER = Path((FIXTURES / "hostile" / "MARKER").read_text())

# Torch files whose decoded values must match exactly; hostile/truncated are compared otherwise.
NOT_LOADABLE = {("hostile", "scheduler.bin"), ("truncated", "scheduler.bin")}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fixtures")
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"generator failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def files_under(base: Path) -> set[str]:
    found = set()
    for case in CASES:
        for p in (base / case).rglob("*"):
            if p.is_file():
                found.add(p.relative_to(base).as_posix())
    return found


def test_hostile_marker_is_never_created(regenerated):
    assert str(HOSTILE_MARKER).startswith("/tmp/ckptfix-pwned-")
    assert (regenerated / "hostile" / "MARKER").read_text() == str(HOSTILE_MARKER)
    assert not HOSTILE_MARKER.exists()


def test_same_set_of_files(regenerated):
    committed = files_under(FIXTURES)
    assert committed, "no committed fixtures: run python fixtures/generate.py"
    assert files_under(regenerated) == committed


def test_every_case_folder_exists():
    for case in CASES:
        assert (FIXTURES / case).is_dir(), case
    assert sorted(p.name for p in (FIXTURES / "output-run").iterdir()) == [
        "checkpoint-10",
        "checkpoint-20",
        "checkpoint-25-rolling",
        "checkpoint-30",
        "checkpoint-40-tmp",
    ]


def _same(a, b, path="") -> None:
    """Deep comparison; tensors compare closely (optimizer moments depend on float rounding)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-9), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert type(a) is type(b) and a == b, f"{path}: {a!r} != {b!r}"


def _torch_files(name: str) -> list[str]:
    return sorted(
        f for f in files_under(FIXTURES) if Path(f).name == name and (Path(f).parts[0], name) not in NOT_LOADABLE
    )


@pytest.mark.parametrize("rel", _torch_files("scheduler.bin"))
def test_scheduler_states_match(regenerated, rel):
    committed = torch.load(str(FIXTURES / rel), weights_only=True)
    fresh = torch.load(str(regenerated / rel), weights_only=True)
    assert list(committed) == list(fresh)  # same keys in the same order
    _same(committed, fresh, rel)


@pytest.mark.parametrize("rel", _torch_files("optimizer.bin"))
def test_optimizer_states_match(regenerated, rel):
    _same(torch.load(str(FIXTURES / rel), weights_only=True), torch.load(str(regenerated / rel), weights_only=True), rel)


def _zip_entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist() if not i.filename.endswith(".data/serialization_id")}


def test_rng_files_match_without_unpickling(regenerated):
    rels = sorted(f for f in files_under(FIXTURES) if Path(f).name.startswith("random_states_"))
    assert rels
    for rel in rels:
        assert _zip_entries(FIXTURES / rel) == _zip_entries(regenerated / rel), rel


def test_hostile_scheduler_is_the_same_torch_zip(regenerated):
    rel = "hostile/checkpoint-30/scheduler.bin"
    committed, fresh = _zip_entries(FIXTURES / rel), _zip_entries(regenerated / rel)
    assert committed == fresh
    assert set(committed) == {
        "scheduler/data.pkl",
        "scheduler/.format_version",
        "scheduler/.storage_alignment",
        "scheduler/byteorder",
        "scheduler/version",
    }
    pkl = committed["scheduler/data.pkl"]
    assert pkl.startswith(b"\x80\x02") and b"cbuiltins\nexec\n" in pkl and str(HOSTILE_MARKER).encode() in pkl


def test_truncated_scheduler_is_half_of_a_real_one(regenerated):
    rel = "truncated/checkpoint-30/scheduler.bin"
    whole = (FIXTURES / "sine-ok/checkpoint-30/scheduler.bin").stat().st_size
    assert (FIXTURES / rel).stat().st_size == (regenerated / rel).stat().st_size == whole // 2


@pytest.mark.parametrize("suffix", [".json", ".guard", ".safetensors", "MARKER"])
def test_plain_files_match(regenerated, suffix):
    rels = sorted(f for f in files_under(FIXTURES) if f.endswith(suffix))
    assert rels
    for rel in rels:
        a, b = (FIXTURES / rel).read_bytes(), (regenerated / rel).read_bytes()
        if suffix == ".json":
            assert json.loads(a) == json.loads(b), rel
        elif suffix == ".safetensors":
            _same(_safetensors(FIXTURES / rel), _safetensors(regenerated / rel), rel)
        else:
            assert a == b, rel


def _safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_generator_leaves_other_folders_alone(tmp_path):
    """``--out`` replaces only the fixture folders it owns."""
    keep = tmp_path / "optimizers" / "keep.txt"
    keep.parent.mkdir()
    keep.write_text("not ours")
    stale = tmp_path / "sine-ok" / "stale.txt"
    stale.parent.mkdir()
    stale.write_text("replaced")
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(tmp_path), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert keep.read_text() == "not ours"
    assert not stale.exists()
    assert not HOSTILE_MARKER.exists()
