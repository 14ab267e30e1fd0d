"""What the remote planner asks for (pure): from a listing, then from the bytes fetched."""

from __future__ import annotations

from ckptfix.formats.limits import DEFAULT_LIMITS, Limits
from ckptfix.formats.prefetch import Fetched, first_reads, next_reads
from ckptfix.formats.source.remote.ranges import Extents, Tuning
from ckptfix.formats.torchfile import data_pkl_entry
from ckptfix.formats.zipdir import ZipDirectory, entry_span
from tests.helpers import CORPUS, FIXTURES

OPTIMIZER = FIXTURES / "sine-ok" / "checkpoint-30" / "optimizer.bin"
T = Tuning(head_guess=256, tail_guess=128, small_file=64)


def fetch(ext: Extents, data: bytes, ranges: list[tuple[int, int]]) -> None:
    for a, b in ranges:
        ext.add(a, data[a:b])


def test_first_reads_follow_what_each_reader_reads() -> None:
    t = Tuning()
    assert first_reads("optimizer.bin", 8_000_000_000, t) == [(0, t.head_guess), (8_000_000_000 - t.tail_guess, 8_000_000_000)]
    assert first_reads("scheduler.bin", 1529, t) == [(0, 1529)]  # small: whole
    assert first_reads("training_state.json", 90, t) == [(0, 90)]
    assert first_reads("random_states_0.pkl", 14_561, t) == [(0, 14_561)]
    assert first_reads("model.safetensors", 5_000_000_000, t) == [(0, t.head_guess)]  # the header only
    assert first_reads("checkpoint_manifest.json", 272, t) == []  # looked for in the listing, never read
    assert first_reads(".guard", 9, t) == [] and first_reads("__0_0.distcp", 10**9, t) == []
    assert first_reads("optimizer.bin", 0, t) == []


def test_next_reads_find_the_directory_then_data_pkl_exactly() -> None:
    data = OPTIMIZER.read_bytes()
    size = len(data)
    ext = Extents()
    fetch(ext, data, first_reads("optimizer.bin", size, T))
    second = next_reads("optimizer.bin", size, ext, DEFAULT_LIMITS)
    zd = ZipDirectory(Fetched("x", size, _all(data)))  # the truth, from all the bytes
    assert any(a <= zd.cd_offset < b for a, b in second), second  # the directory, missed by the tail
    fetch(ext, data, second)
    third = next_reads("optimizer.bin", size, ext, DEFAULT_LIMITS)
    entry, _ = data_pkl_entry(zd)
    pkl_span = entry_span(entry, size)
    assert all(b <= zd.cd_offset for _, b in third)  # nothing of the directory asked twice
    assert not any(a < pkl_span[1] for a, _ in third), third  # data.pkl came with the directory (guessed)
    fetch(ext, data, third)
    assert next_reads("optimizer.bin", size, ext, DEFAULT_LIMITS) == []  # everything the reader needs is here
    view = Fetched("x", size, ext)
    got = ZipDirectory(view)  # the real reader, on the fetched bytes only
    assert got.read(data_pkl_entry(got)[0], 1 << 20, "pickle") == got.read(entry, 1 << 20, "pickle")


def test_nothing_past_a_limit_is_asked_for() -> None:
    data = (CORPUS / "cases" / "resource" / "zip_cd_size_huge.bin").read_bytes()
    ext = Extents()
    fetch(ext, data, first_reads("optimizer.bin", len(data), T))
    assert next_reads("optimizer.bin", len(data), ext, DEFAULT_LIMITS) == []  # a directory past the limit
    data = OPTIMIZER.read_bytes()
    zd = ZipDirectory(Fetched("x", len(data), _all(data)))
    ext = Extents()
    ext.add(zd.cd_offset, data[zd.cd_offset:])  # the directory and end records, not data.pkl
    ext.add(0, data[:16])  # the signature
    assert next_reads("optimizer.bin", len(data), ext, DEFAULT_LIMITS)  # data.pkl is asked for
    small = Limits(max_pickle_bytes=100)
    assert next_reads("optimizer.bin", len(data), ext, small) == []  # data.pkl (1,092 B) is past the limit


def test_the_byteorder_entry_is_asked_for_with_data_pkl() -> None:
    data = OPTIMIZER.read_bytes()
    zd = ZipDirectory(Fetched("x", len(data), _all(data)))
    span = entry_span(zd.entries["optimizer/byteorder"], len(data))
    ext = Extents()
    ext.add(0, data[:span[0]])
    ext.add(span[1], data[span[1]:])
    assert next_reads("optimizer.bin", len(data), ext, DEFAULT_LIMITS) == [span]


def _all(data: bytes) -> Extents:
    ext = Extents()
    ext.add(0, data)
    return ext
