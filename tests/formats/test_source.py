"""Byte sources: the one guarded open, reads by offset, batches, windows, listings."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from ckptfix.errors import ResourceLimit, UnreadableFile
from ckptfix.formats.source import LOCAL, Entry, LocalFile, Window, open_regular
from ckptfix.formats.source.local import open_dir_at, open_regular_at


def _never_blocks(fn, *args):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it does not return in 10 s."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), f"{fn.__name__} blocked"
    return out


def test_reads_by_offset_and_counts(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(bytes(range(100)))
    with LocalFile(f) as src:
        assert src.size == 100
        assert src.read_at(10, 3) == bytes([10, 11, 12])
        assert src.read_ranges([(0, 2), (98, 2)]) == [b"\x00\x01", b"\x62\x63"]
        assert (src.bytes_read, src.requests) == (7, 3)
        with pytest.raises(UnreadableFile, match=r"truncated: needs bytes 99\.\.101 of a 100-byte file"):
            src.read_at(99, 2)
        with pytest.raises(ResourceLimit, match="limit is 50"):
            src.read_all(50, "thing")


@pytest.mark.parametrize("make, words", [
    (lambda d: os.mkfifo(d / "scheduler.bin"), "not a regular file"),
    (lambda d: (d / "scheduler.bin").mkdir(), "not a regular file"),
    (lambda d: (d / "scheduler.bin").symlink_to("/dev/zero"), "not a regular file"),
    (lambda d: (d / "scheduler.bin").symlink_to(d / "missing"), "dangling symlink"),
])
def test_guarded_open_refuses_what_is_not_a_regular_file(tmp_path: Path, make, words: str) -> None:
    make(tmp_path)
    got = _never_blocks(open_regular, tmp_path / "scheduler.bin")
    assert isinstance(got.get("error"), UnreadableFile) and words in str(got["error"])


def test_fifo_through_a_symlink_never_blocks(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "training_state.json").symlink_to(tmp_path / "pipe")
    got = _never_blocks(LOCAL.read, tmp_path / "training_state.json", 1024, "JSON", )
    assert "not a regular file" in str(got["error"])


def test_symlinks_must_stay_inside_the_root(tmp_path: Path) -> None:
    ck = tmp_path / "checkpoint-1"
    ck.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"x")
    (ck / "inside.bin").write_bytes(b"y")
    (ck / "out.bin").symlink_to(tmp_path / "outside.bin")
    (ck / "in.bin").symlink_to("inside.bin")
    with pytest.raises(UnreadableFile, match="outside the checkpoint folder"):
        LOCAL.open(ck / "out.bin", root=ck)
    with LOCAL.open(ck / "in.bin", root=ck) as src:
        assert src.read_at(0, 1) == b"y"
    assert LOCAL.link_target(ck / "in.bin") == (ck / "inside.bin").resolve()
    assert LOCAL.link_target(ck / "inside.bin") is None


def test_window_is_a_file_inside_a_file(tmp_path: Path) -> None:
    f = tmp_path / "shard"
    f.write_bytes(b"0123456789")
    with Window(LOCAL.open(f), 2, 5) as w:
        assert (w.size, w.read_at(0, 5)) == (5, b"23456")
        assert w.bytes_read == 5
        with pytest.raises(UnreadableFile, match="truncated item"):
            w.read_at(3, 3)
    with pytest.raises(UnreadableFile, match="outside"):
        Window(LOCAL.open(f), 8, 5)


def test_listing_kind_and_walk(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.safetensors").write_bytes(b"")
    (tmp_path / ".ckptfix").mkdir()
    (tmp_path / ".ckptfix" / "y.safetensors").write_bytes(b"")
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "link").symlink_to(tmp_path / "b", target_is_directory=True)
    entries = LOCAL.list(tmp_path)
    assert [e.name for e in entries] == sorted(e.name for e in entries)
    assert Entry("b", True) in entries and Entry("link", False) in entries  # links to folders are not entered
    assert (LOCAL.kind(tmp_path / "b"), LOCAL.kind(tmp_path / "a.json"), LOCAL.kind(tmp_path / "nope")) == ("dir", "file", None)
    walked = [p.relative_to(tmp_path).as_posix() for p, _ in LOCAL.walk(tmp_path, skip=frozenset({".ckptfix"}))]
    assert walked == ["a.json", "b/x.safetensors", "link"]
    with pytest.raises(OSError):
        LOCAL.list(tmp_path / "a.json")


def test_open_inside_a_folder_descriptor_never_follows_a_link(tmp_path: Path) -> None:
    """open_regular_at / open_dir_at (restore's untrusted .ckptfix/): a link is refused by the open itself,
    whatever it points to; a FIFO is refused without blocking; a name must be one name inside the folder."""
    (tmp_path / "file").write_bytes(b"abc")
    (tmp_path / "dir").mkdir()
    (tmp_path / "to-file").symlink_to(tmp_path / "file")
    (tmp_path / "to-dir").symlink_to(tmp_path / "dir")
    (tmp_path / "to-zero").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo")
    folder = os.open(tmp_path, os.O_RDONLY)
    try:
        fd, size = open_regular_at(folder, "file", tmp_path / "file")
        os.close(fd)
        assert size == 3
        os.close(open_dir_at(folder, "dir", tmp_path / "dir"))
        for name in ("to-file", "to-zero"):
            with pytest.raises(UnreadableFile, match="symlink"):
                open_regular_at(folder, name, tmp_path / name)
        with pytest.raises(UnreadableFile, match="symlink"):
            open_dir_at(folder, "to-dir", tmp_path / "to-dir")
        with pytest.raises(UnreadableFile, match="pipe"):
            open_regular_at(folder, "fifo", tmp_path / "fifo")
        with pytest.raises(UnreadableFile, match="not a folder"):
            open_dir_at(folder, "fifo", tmp_path / "fifo")
        for name in ("../file", "dir/x", "..", ""):
            with pytest.raises(UnreadableFile, match="not a name inside"):
                open_regular_at(folder, name, tmp_path / name)
    finally:
        os.close(folder)
