"""The safe reader on files written by real torch: values, lazy tensors, bytes read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ckptfix.errors import UnreadableFile, UnsafePickle
from ckptfix.formats.objects import TensorRef
from ckptfix.formats.torchfile import open_torch_file
from tests.helpers import adamw_state


def test_optimizer_values_match_torch(tmp_path: Path) -> None:
    sd = adamw_state([(3, 4), (5,)], steps=7)
    f = tmp_path / "optimizer.bin"
    torch.save(sd, f)
    with open_torch_file(f) as tf:
        assert tf.format == "zip"
        assert tf.obj["param_groups"][0]["lr"] == sd["param_groups"][0]["lr"]
        assert tf.obj["param_groups"][0]["betas"] == (0.9, 0.999)
        step = tf.obj["state"][0]["step"]
        assert isinstance(step, TensorRef) and step.shape == () and step.dtype == "float32"
        assert tf.read_scalar(step) == 7.0
        exp_avg = tf.obj["state"][1]["exp_avg"]
        assert exp_avg.shape == (5,) and exp_avg.numel == 5
        with pytest.raises(UnreadableFile, match="one-element"):
            tf.read_scalar(exp_avg)


def test_legacy_format_decoded(tmp_path: Path) -> None:
    sd = adamw_state([(2, 2)], steps=4)
    f = tmp_path / "optimizer.bin"
    torch.save(sd, f, _use_new_zipfile_serialization=False)
    with open_torch_file(f) as tf:
        assert tf.format == "legacy"
        assert tf.read_scalar(tf.obj["state"][0]["step"]) == 4.0


@pytest.mark.parametrize("dtype", [torch.float64, torch.int64, torch.bfloat16, torch.float16, torch.int32])
def test_scalar_dtypes(tmp_path: Path, dtype: torch.dtype) -> None:
    f = tmp_path / "t.bin"
    torch.save({"step": torch.tensor(12, dtype=dtype), "v": torch.arange(6, dtype=dtype)[3]}, f)
    with open_torch_file(f) as tf:
        assert tf.read_scalar(tf.obj["step"]) == 12
        assert tf.read_scalar(tf.obj["v"]) == 3  # a view: storage offset honoured


def test_bytes_read_do_not_grow_with_tensor_size(tmp_path: Path) -> None:
    """The step count of a large optimizer costs the same few KB as a small one's."""
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    torch.save(adamw_state([(4, 4), (4,)]), small)
    torch.save(adamw_state([(2048, 2048), (2048, 2048)]), big)  # 64 MB of moments
    read = {}
    for f in (small, big):
        with open_torch_file(f) as tf:
            assert [tf.read_scalar(s["step"]) for s in tf.obj["state"].values()] == [3.0, 3.0]
            read[f.name] = tf.bytes_read
    assert big.stat().st_size > 60_000_000
    assert read["big.bin"] < 64 * 1024, read
    assert read["big.bin"] < read["small.bin"] + 2048, read


def test_reading_does_not_import_torch(tmp_path: Path) -> None:
    f = tmp_path / "optimizer.bin"
    torch.save(adamw_state([(2, 2)]), f)
    code = (
        "import sys\n"
        "from ckptfix.formats.torchfile import open_torch_file\n"
        f"tf = open_torch_file({str(f)!r}); tf.read_scalar(tf.obj['state'][0]['step'])\n"
        "bad = [m for m in ('torch', 'numpy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_refuses_global_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = (
        b"\x80\x02cos\nsystem\nq\x00X" + len(f"touch {marker}").to_bytes(4, "little") + f"touch {marker}".encode()
        + b"q\x01\x85q\x02Rq\x03."
    )
    f = tmp_path / "scheduler.bin"
    torch.save({"a": 1}, f)
    import zipfile

    with zipfile.ZipFile(f) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    name = next(n for n in entries if n.endswith("data.pkl"))
    entries[name] = payload
    with zipfile.ZipFile(f, "w") as z:
        for n, data in entries.items():
            z.writestr(n, data)
    with pytest.raises(UnsafePickle) as exc:
        open_torch_file(f)
    assert exc.value.refused[0][:2] == ("os", "system")
    assert "os.system" in str(exc.value) and str(f) in str(exc.value)
    assert not marker.exists()


def _with_pickle(f: Path, old: bytes, new: bytes) -> None:
    """Rewrite ``f``'s data.pkl, replacing ``old`` with ``new`` (same length: offsets stay valid)."""
    import zipfile

    with zipfile.ZipFile(f) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    name = next(n for n in entries if n.endswith("data.pkl"))
    assert entries[name].count(old) == 1
    entries[name] = entries[name].replace(old, new)
    with zipfile.ZipFile(f, "w") as z:
        for n, data in entries.items():
            z.writestr(n, data)


def test_storage_location_must_be_a_string(tmp_path: Path) -> None:
    f = tmp_path / "optimizer.bin"
    torch.save({"t": torch.zeros(2)}, f)
    _with_pickle(f, b"X\x03\x00\x00\x00cpu", b"N" * 8)  # the location literal becomes NONE opcodes
    with pytest.raises(UnreadableFile, match="malformed storage reference") as exc:
        open_torch_file(f)
    assert str(f) in str(exc.value)


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"hello world, not torch", "not a torch file"),
    (b"PK\x03\x04" + b"\x00" * 40, "zip"),
])
def test_not_torch_files(tmp_path: Path, content: bytes, words: str) -> None:
    f = tmp_path / "scheduler.bin"
    f.write_bytes(content)
    with pytest.raises(UnreadableFile, match=words) as exc:
        open_torch_file(f)
    assert str(f) in str(exc.value)


def test_truncated_file(tmp_path: Path) -> None:
    f = tmp_path / "optimizer.bin"
    torch.save(adamw_state([(8, 8)]), f)
    data = f.read_bytes()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 10):
        f.write_bytes(data[:cut])
        with pytest.raises(UnreadableFile):
            open_torch_file(f)


def test_no_file_descriptor_left_open(tmp_path: Path) -> None:
    """Readers use raw descriptors (os.pread): every path, clean or refused, gives them back."""
    import os

    good = tmp_path / "optimizer.bin"
    torch.save(adamw_state([(3,)], steps=2), good)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(good.read_bytes()[:-40])  # truncated: refused after the file was opened
    fds = len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").exists() else None
    for _ in range(50):
        with open_torch_file(good) as tf:
            tf.read_scalar(tf.obj["state"][0]["step"])
        with pytest.raises(UnreadableFile):
            open_torch_file(bad)
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds


def _steps_in_one_storage(path: Path, params: int, storage_floats: int) -> None:
    """A legal torch.save'd AdamW-like state (issue #12 item 7): every parameter's ``step`` is a 0-d view
    into one shared storage of ``storage_floats`` float32 values."""
    shared = torch.arange(storage_floats, dtype=torch.float32) * 0 + 7.0
    state = {i: {"step": shared[i], "exp_avg": torch.zeros(2), "exp_avg_sq": torch.zeros(2)} for i in range(params)}
    groups = [{"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False,
               "foreach": None, "maximize": False, "capturable": False, "differentiable": False, "fused": None,
               "params": list(range(params))}]
    torch.save({"state": state, "param_groups": groups}, path)


def test_a_storage_shared_by_every_step_is_read_once(tmp_path: Path) -> None:
    from ckptfix.model.readers import read_optimizer

    path = tmp_path / "optimizer.bin"
    _steps_in_one_storage(path, params=300, storage_floats=262_144)  # 1 MiB storage, ~1.4 MB file
    assert 1_000_000 < path.stat().st_size < 2_000_000
    of = read_optimizer(path, root=tmp_path)
    assert of.problem is None and of.step is not None and of.step.value == 7
    # once: the 1 MiB storage plus the pickle and zip records, not 300 MiB
    assert of.bytes_read < (1 << 20) + 200_000, of.bytes_read


def test_a_storage_too_big_to_cache_is_read_by_ranges(tmp_path: Path) -> None:
    from ckptfix.model.readers import read_optimizer

    path = tmp_path / "optimizer.bin"
    _steps_in_one_storage(path, params=300, storage_floats=1_048_576)  # 4 MiB: above max_scalar_entry_bytes
    of = read_optimizer(path, root=tmp_path)
    assert of.problem is None and of.step.value == 7
    assert of.bytes_read < 200_000, of.bytes_read


def test_storage_bytes_read_are_bounded_per_file(tmp_path: Path) -> None:
    from ckptfix.formats.limits import Limits
    from ckptfix.model.readers import read_optimizer

    path = tmp_path / "optimizer.bin"
    _steps_in_one_storage(path, params=300, storage_floats=262_144)
    of = read_optimizer(path, root=tmp_path, limits=Limits(max_storage_bytes_read=512 * 1024))
    assert of.problem is not None and of.problem.kind == "resource-limit" and "524,288" in of.problem.message


def test_opcode_budget_follows_the_archive_storages(tmp_path: Path) -> None:
    """A few-entry archive gets pickle_ops_base + pickle_ops_per_entry x entries opcodes (by default a
    6-million-opcode flood is refused after ~0.5 million); one with many storages keeps max_pickle_ops."""
    from ckptfix.errors import ResourceLimit
    from ckptfix.formats.limits import Limits
    from tests.helpers import CORPUS

    sys.path.insert(0, str(CORPUS))
    try:
        from generate import NONE, POP, PROTO2, STOP, torch_zip
    finally:
        sys.path.remove(str(CORPUS))
    limits = Limits(pickle_ops_base=5_000, pickle_ops_per_entry=100, max_pickle_ops=20_000)
    flood = PROTO2 + (NONE + POP) * 6_000 + NONE + STOP  # 12,002 opcodes
    few = tmp_path / "few.bin"
    few.write_bytes(torch_zip(flood, prefix="few"))  # 3 entries: 5,300 opcodes allowed
    with pytest.raises(ResourceLimit, match="more than 5,300 pickle opcodes"):
        open_torch_file(few, limits=limits)
    many = tmp_path / "many.bin"
    many.write_bytes(torch_zip(flood, prefix="many", storages={str(i): b"" for i in range(100)}))
    with open_torch_file(many, limits=limits) as tf:  # 5,000 + 100 x 103 entries: enough
        assert tf.obj is None
    with pytest.raises(ResourceLimit, match="more than 10,000"):  # never above max_pickle_ops
        open_torch_file(many, limits=Limits(pickle_ops_base=5_000, pickle_ops_per_entry=100, max_pickle_ops=10_000))
    assert Limits().pickle_ops_base + 4 * Limits().pickle_ops_per_entry < Limits().max_pickle_ops
