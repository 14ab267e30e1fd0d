"""Where a pickle keeps the floats of given keys, on real torch pickles and hand-made variants."""

from __future__ import annotations

import pickle
import struct

import pytest

from ckptfix.formats.pickle_sites import float_sites
from ckptfix.formats.source import LOCAL
from ckptfix.formats.torchfile import data_pkl_entry
from ckptfix.formats.zipdir import ZipDirectory
from tests.helpers import FIXTURES


def test_sites_of_a_real_optimizer_pickle() -> None:
    with LOCAL.open(FIXTURES / "sine-v1" / "checkpoint-30" / "optimizer.bin") as src:
        zd = ZipDirectory(src)
        entry, _ = data_pkl_entry(zd)
        data = zd.read(entry, 1 << 20)
    sites = float_sites(data, ("lr", "initial_lr"))
    assert [s.key for s in sites] == ["lr", "initial_lr"]
    for s in sites:
        assert s.problem is None and s.offset is not None
        assert data[s.offset - 1:s.offset] == b"G"  # BINFLOAT, its 8 big-endian bytes follow
    lr = struct.unpack(">d", data[sites[0].offset:sites[0].offset + 8])[0]
    assert lr == pytest.approx(5.0499e-05)


def test_shared_and_memoized_values_are_not_patchable() -> None:
    shared = 0.5
    data = pickle.dumps([{"lr": shared}, {"lr": 1e-4}, {"lr": 3}], protocol=2)
    sites = float_sites(data, ("lr",))
    assert [s.key for s in sites] == ["lr", "lr", "lr"]  # the second 'lr' is a memo GET of the first
    assert all(s.offset is not None for s in sites[:2])
    assert sites[2].offset is None and "not a float literal" in sites[2].problem
    # pickle never memoizes floats; a crafted stream may: [{'lr': 0.25}, {'lr': <the same float>}]
    data = (b"\x80\x02]q\x00(}q\x01X\x02\x00\x00\x00lrq\x02G" + struct.pack(">d", 0.25) + b"q\x03s"
            b"}q\x04h\x02h\x03se.")
    assert pickle.loads(data) == [{"lr": 0.25}, {"lr": 0.25}]
    sites = float_sites(data, ("lr",))
    assert "memoized" in sites[0].problem and "memo reference" in sites[1].problem


def test_a_stream_that_cannot_be_walked_raises() -> None:
    with pytest.raises(ValueError):
        float_sites(b"\x80\x02}q\x00X\x02\x00\x00\x00lr", ("lr",))  # ends inside the stream
