"""The remote store on fsspec's ``memory://`` filesystem: same verdicts as on disk, rounds counted,
a cache that never makes bytes up, round trips shared by the checkpoints of a folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.errors import UnreadableFile
from ckptfix.formats.source.remote import RemotePath, RemoteStore, Tuning, connect
from ckptfix.formats.source.remote.batch import Batcher
from tests.helpers import FIXTURES

fsspec = pytest.importorskip("fsspec")

CASES = ["sine-ok", "sine-v1", "sine-v2", "sine-v2-no-step-count", "missing-scheduler", "truncated", "hostile",
         "output-run", "lambdalr", "legacy-format", "step-mismatch", "stale-tcur", "not-multiplied", "two-procs"]
# a tuning under which the fixtures' small files are not fetched whole: the head/tail guesses fall
# short and nothing merges, so every round of the planner is exercised
TIGHT = Tuning(head_guess=256, tail_guess=128, small_file=64, request_cost=0.0)


@pytest.fixture
def memfs() -> Iterator[tuple[object, str]]:
    fs = fsspec.filesystem("memory")
    root = f"/ckptfix-test-{uuid.uuid4().hex[:8]}"
    yield fs, root
    fs.rm(root, recursive=True) if fs.exists(root) else None


def upload(fs: object, root: str, case: str) -> str:
    for p in sorted((FIXTURES / case).rglob("*")):
        if p.is_file():
            fs.pipe_file(f"{root}/{case}/{p.relative_to(FIXTURES / case)}", p.read_bytes())  # type: ignore[attr-defined]
    return f"memory://{root}/{case}"


def summary(reports: list, prefix: str) -> list:
    return [(r.checkpoint.name, r.exit_code, r.verdict if hasattr(r, "verdict") else None,
             [(f.code, f.key, (f.file or "").replace(prefix, "")) for f in r.findings]) for r in reports]


@pytest.mark.parametrize("tuning", [Tuning(), TIGHT], ids=["default", "tight"])
@pytest.mark.parametrize("case", CASES)
def test_same_verdicts_as_on_disk(memfs, case: str, tuning: Tuning) -> None:
    fs, root = memfs
    url = upload(fs, root, case)
    store, path = connect(url, tuning=tuning)
    _, remote = inspect_path(path, Options(), store=store)
    _, local = inspect_path(FIXTURES / case, Options())
    assert summary(remote, f"memory://{root}/{case}") == summary(local, str(FIXTURES / case))
    assert max(store.stats.by_folder.values()) <= 3, store.stats.by_folder  # rounds per checkpoint


@pytest.mark.parametrize("case", ["accelerate-deepspeed", "accelerate-fsdp", "hf-trainer-tf4"])
def test_other_trainers_layouts_read_remotely_as_on_disk(memfs, case: str) -> None:
    fs, root = memfs
    for p in sorted((FIXTURES / "trainers" / case).rglob("*")):
        if p.is_file():
            fs.pipe_file(f"{root}/{case}/{p.relative_to(FIXTURES / 'trainers' / case)}", p.read_bytes())
    store, path = connect(f"memory://{root}/{case}", tuning=TIGHT)
    _, remote = inspect_path(path, Options(), store=store)
    _, local = inspect_path(FIXTURES / "trainers" / case, Options())
    assert summary(remote, f"memory://{root}/{case}") == summary(local, str(FIXTURES / "trainers" / case))
    assert [r.checkpoint.layout for r in remote] == [r.checkpoint.layout for r in local]
    # a DCP shard's step items come in one batch, not one round trip each
    assert max(store.stats.by_folder.values()) <= 4, store.stats.by_folder


def test_tight_guesses_take_three_rounds_and_read_every_step(memfs) -> None:
    fs, root = memfs
    url = upload(fs, root, "sine-ok")
    store, path = connect(url, tuning=TIGHT)
    _, (report,) = inspect_path(path, Options(), store=store)
    assert report.checkpoint.optimizers[0].step.value == 30
    assert store.stats.by_folder == {(path / "checkpoint-30").key: 3}  # heads and tails; the directory and data.pkl; the steps
    assert store.stats.rounds == 1 + 3  # the listing, then three


def test_output_folder_shares_rounds_and_latest_reads_only_the_latest(memfs) -> None:
    fs, root = memfs
    url = upload(fs, root, "output-run")
    store, path = connect(url, tuning=TIGHT)
    _, reports = inspect_path(path, Options(), store=store)
    assert len(reports) == 4
    assert store.stats.rounds == 1 + 3  # 4 checkpoints read together: not 4 x 3 rounds
    assert store.stats.listings == 1

    store, path = connect(url, tuning=TIGHT)
    fetched: list[str] = []
    real = store._cat

    def spy(requests):
        fetched.extend(k for k, _, _ in requests)
        return real(requests)

    store._cat = spy  # type: ignore[method-assign]
    _, (report,) = inspect_path(path, Options(), latest_only=True, store=store)
    assert report.checkpoint.name == "checkpoint-30"
    assert fetched and all("/checkpoint-30/" in k for k in fetched)


def test_a_read_outside_what_was_fetched_is_fetched_never_made_up(memfs) -> None:
    fs, root = memfs
    data = bytes(range(256)) * 40
    fs.pipe_file(f"{root}/f.bin", data)
    store, path = connect(f"memory://{root}")
    src = store.open(path / "f.bin")
    src.prefetch([(0, 100)])
    assert store.stats.requests == 2  # listing + the prefetch
    assert src.read_at(50, 100) == data[50:150]  # half fetched, half not: the rest is fetched
    assert store.stats.requests == 3
    assert src.read_at(60, 10) == data[60:70]
    assert store.stats.requests == 3  # from the cache
    fs.pipe_file(f"{root}/f.bin", data[:1000])  # the object shrinks after the listing
    with pytest.raises(UnreadableFile, match="could not be fetched"):
        src.read_at(5000, 100)
    with pytest.raises(UnreadableFile, match="truncated"):
        src.read_at(len(data) - 10, 20)


def test_remote_paths_behave_like_pathlib_and_show_their_url() -> None:
    p = RemotePath("s3", "bucket/run/checkpoint-30")
    assert str(p) == "s3://bucket/run/checkpoint-30"
    assert p.name == "checkpoint-30" and p.parent == RemotePath("s3", "bucket/run")
    assert str(p / "scheduler.bin") == "s3://bucket/run/checkpoint-30/scheduler.bin"
    assert RemotePath("s3", "bucket").parent == RemotePath("s3", "bucket")
    assert str(RemotePath("memory", "/run/x").parent) == "memory:///run"
    assert RemotePath("memory", "/run").parent == RemotePath("memory", "/")
    assert (p / "a").is_relative_to(p) and not p.is_relative_to(p / "a")
    assert sorted([p / "b", p / "a"]) == [p / "a", p / "b"]


def test_listing_answers_list_kind_and_walk(memfs) -> None:
    fs, root = memfs
    upload(fs, root, "sine-ok")
    store, path = connect(f"memory://{root}")
    ck = path / "sine-ok" / "checkpoint-30"
    assert store.kind(path / "sine-ok") == "dir" and store.kind(ck / "scheduler.bin") == "file"
    assert store.kind(ck / "nothing") is None
    assert [(e.name, e.is_dir) for e in store.list(path / "sine-ok")] == [("checkpoint-30", True)]
    names = [e.name for e in store.list(ck)]
    assert names == sorted(p.name for p in (FIXTURES / "sine-ok" / "checkpoint-30").iterdir())
    assert all(e.size == (FIXTURES / "sine-ok" / "checkpoint-30" / e.name).stat().st_size for e in store.list(ck))
    assert store.stats.listings == 1  # PATH listed once, everything below answered from it
    with pytest.raises(UnreadableFile, match="directory"):
        store.open(ck)


def test_batcher_sends_the_requests_of_waiting_threads_together() -> None:
    batches: list[list] = []
    b = Batcher(lambda wants: batches.append(sorted(w[0] for w in wants)))

    def load(i: int) -> int:
        b.fetch([(f"a{i}", 0, 1, {})])
        b.fetch([(f"b{i}", 0, 1, {})])
        return i

    assert b.run_each(load, range(5), workers=5) == list(range(5))
    assert batches == [[f"a{i}" for i in range(5)], [f"b{i}" for i in range(5)]]
    batches.clear()
    assert b.run_each(load, range(5), workers=2) == list(range(5))  # 2 at a time: still correct
    assert sum(len(x) for x in batches) == 10
    b.fetch([("c", 0, 1, {})])  # outside run_each: at once
    assert batches[-1] == ["c"]


def test_store_is_a_store() -> None:
    fs = fsspec.filesystem("memory")
    assert RemoteStore(fs, "memory").remote and not __import__("ckptfix.formats.source", fromlist=["LOCAL"]).LOCAL.remote
    assert isinstance(FIXTURES, Path)


def test_a_range_split_across_parts_is_kept_whole(memfs) -> None:
    """A merged range fetched as several parts: a wanted range across a part boundary is served from
    the cache (it once was dropped, costing the checkpoint a fourth round)."""
    fs, root = memfs
    data = bytes(range(256)) * 4
    fs.pipe_file(f"{root}/f.bin", data)
    store, path = connect(f"memory://{root}", tuning=Tuning(part_size=100, request_cost=1.0))
    src = store.open(path / "f.bin")
    src.prefetch([(0, 10), (150, 250)])  # merged into 0..250, fetched as parts 0..84, 84..168, 168..250
    assert store.stats.requests == 1 + 3
    assert src.read_at(150, 100) == data[150:250]
    assert src.read_at(0, 10) == data[:10]
    assert store.stats.requests == 4 and store.stats.bytes == 250


def test_sync_backends_fetch_a_batch_through_a_thread_pool(memfs) -> None:
    """A backend without async ``cat_ranges`` (the Hub's is a loop): the batch still goes out
    concurrently, each range of each file once, errors returned to the file that asked."""
    fs, root = memfs
    url = upload(fs, root, "output-run")
    store, path = connect(url, tuning=TIGHT)
    store._local = False  # as for a network backend without async support
    threads: set[str] = set()
    real = fs.cat_file

    def cat_file(p, start=None, end=None, **kw):
        import threading

        threads.add(threading.current_thread().name)
        return real(p, start=start, end=end, **kw)

    fs.cat_file = cat_file
    try:
        _, reports = inspect_path(path, Options(), store=store)
    finally:
        del fs.cat_file
    assert [r.exit_code for r in reports] == [0, 0, 0, 0]
    assert len(threads) > 1 and all(t.startswith("ThreadPoolExecutor") for t in threads), threads
    assert store.stats.rounds == 1 + 3
    with pytest.raises(UnreadableFile, match="file not found"):
        store.fetch(path / "checkpoint-10" / "gone.bin", [(0, 10)], strict=True)


def test_ckptfix_storage_options_set_the_cost_model_not_the_backend(memfs) -> None:
    from ckptfix.errors import UsageError

    fs, root = memfs
    url = upload(fs, root, "sine-ok")
    store, _ = connect(url, {"ckptfix": {"request_cost": 0, "max_connections": 4.0}})
    assert store.tuning.max_gap == 0 and type(store.tuning.max_connections) is int
    for bad in ({"bogus": 1}, {"max_connections": 0}, {"head_guess": "big"}):
        with pytest.raises(UsageError, match="ckptfix"):
            connect(url, {"ckptfix": bad})
