"""Range arithmetic and the cache of the remote store (pure: no I/O, no fsspec)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ckptfix.formats.source.remote.ranges import Extents, Tuning, merge_ranges, plan_requests, split_range


def test_merge_joins_overlaps_and_small_gaps_only() -> None:
    assert merge_ranges([(10, 20), (0, 5), (18, 30)], max_gap=0) == [(0, 5), (10, 30)]
    assert merge_ranges([(0, 5), (10, 20)], max_gap=5) == [(0, 20)]  # gap of 5: merged
    assert merge_ranges([(0, 5), (11, 20)], max_gap=5) == [(0, 5), (11, 20)]  # gap of 6: two requests
    assert merge_ranges([(3, 3), (0, 2)], max_gap=0) == [(0, 2)]  # empty ranges dropped


def test_split_gives_equal_parts_covering_the_range() -> None:
    assert split_range(0, 10, 4) == [(0, 4), (4, 8), (8, 10)]
    parts = split_range(100, 1100, 300)
    assert parts[0][0] == 100 and parts[-1][1] == 1100
    assert all(b - a <= 300 for a, b in parts) and len(parts) == 4
    assert all(x[1] == y[0] for x, y in zip(parts, parts[1:]))
    assert split_range(0, 5, 100) == [(0, 5)]


def test_cost_model_merges_a_lora_and_keeps_an_8gb_file_apart() -> None:
    t = Tuning()
    assert t.max_gap == 200_000  # 100 MB/s x 2 ms
    lora = [(i * 66_000, i * 66_000 + 144) for i in range(2000)]  # a step storage every 66 KB
    big = [(i * 35_000_000, i * 35_000_000 + 144) for i in range(233)]  # one every 35 MB
    reqs = plan_requests(lora, t)
    assert len(reqs) == -(-(1999 * 66_000 + 144) // t.part_size)  # the whole span, as parallel parts
    assert len(plan_requests(big, t)) == 233


@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 60)), max_size=30), st.integers(0, 50))
def test_merge_covers_every_range_with_disjoint_sorted_requests(spec: list[tuple[int, int]], gap: int) -> None:
    ranges = [(a, a + n) for a, n in spec]
    out = merge_ranges(ranges, gap)
    assert all(a < b for a, b in out)
    assert all(y[0] - x[1] > gap for x, y in zip(out, out[1:]))  # nothing left that should have merged
    for a, b in ranges:
        if b > a:
            assert any(s <= a and b <= e for s, e in out)


def test_extents_answer_only_from_what_was_fetched() -> None:
    ext = Extents()
    ext.add(10, b"abcdef")  # bytes 10..16
    assert ext.get(10, 6) == b"abcdef"
    assert ext.get(12, 2) == b"cd"
    assert ext.get(9, 2) is None  # one byte before: not held, never a filler
    assert ext.get(15, 2) is None
    assert ext.missing(0, 20) == [(0, 10), (16, 20)]
    ext.add(16, b"gh")  # touching: joined
    assert ext.get(14, 4) == b"efgh"
    ext.add(30, b"xyz")
    assert ext.missing(0, 40) == [(0, 10), (18, 30), (33, 40)]
    ext.add(17, b"HIJKLMNOPQRSTU")  # overlaps both: one extent 10..33, the newest bytes win
    assert ext.get(10, 23) == b"abcdefgHIJKLMNOPQRSTUyz"
    assert ext.missing(10, 33) == []


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 40)), max_size=20),
       st.lists(st.tuples(st.integers(0, 220), st.integers(0, 40)), max_size=20))
def test_extents_match_a_byte_model(adds: list[tuple[int, int]], reads: list[tuple[int, int]]) -> None:
    source = bytes((i * 7 + 3) % 251 for i in range(300))
    held = [False] * 300
    ext = Extents()
    for start, n in adds:
        ext.add(start, source[start:start + n])
        for i in range(start, min(start + n, 300)):
            held[i] = True
    for start, n in reads:
        got = ext.get(start, n)
        if all(held[start:start + n]) and start + n <= 300:
            assert got == source[start:start + n]
        else:
            assert got is None
        gaps = ext.missing(start, start + n)
        assert all(not any(held[a:b]) for a, b in gaps)
        assert sum(b - a for a, b in gaps) == sum(1 for i in range(start, start + n) if i >= 300 or not held[i])
