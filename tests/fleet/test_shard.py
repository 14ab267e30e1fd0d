"""--shard I/N: a stable hash of each run's path relative to the root; N shards cover every run exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ckptfix.errors import UsageError
from ckptfix.fleet.runs import runs_digest
from ckptfix.fleet.scan import Root, plan
from ckptfix.fleet.shard import Shard, parse_shard, shard_of
from ckptfix.formats.source import LOCAL
from tests.helpers import ROOT

_NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\x00"), min_size=1,
                max_size=12).filter(lambda s: s not in (".", "..") and not s.startswith(".") and s.strip() == s
                                    and len(s.encode()) < 60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.lists(st.lists(_NAME, min_size=1, max_size=3), min_size=0, max_size=25, unique_by=tuple),
       count=st.integers(1, 9))
def test_n_shards_together_plan_every_run_exactly_once(tmp_path_factory: pytest.TempPathFactory,
                                                        tree: list[list[str]], count: int) -> None:
    """Real trees (each run a folder with a checkpoint being written): the shards' plans are disjoint and
    their union is the unsharded plan, with the same runs found and digest in each."""
    root = tmp_path_factory.mktemp("root")
    for parts in tree:
        try:
            (root.joinpath(*parts) / "checkpoint-1-tmp").mkdir(parents=True, exist_ok=True)
        except OSError:  # a name the filesystem refuses
            continue
    roots = [Root(str(root), LOCAL, root)]
    whole = plan(roots, 3)
    every = [r.rel for r in whole.runs[0]]
    shards = [plan(roots, 3, Shard(i, count)) for i in range(count)]
    seen = [r.rel for p in shards for r in p.runs[0]]
    assert sorted(seen) == sorted(every) and len(seen) == len(set(seen))
    assert all(p.found == whole.found and p.digest == whole.digest == runs_digest(every) for p in shards)


def test_the_hash_is_stable_across_processes_and_hash_seeds() -> None:
    keys = ["proj-a/r1", "proj-a/r2", "ünïcode/run", "."]
    here = [shard_of(k, 7) for k in keys]
    code = "import sys; from ckptfix.fleet.shard import shard_of; print([shard_of(k, 7) for k in sys.argv[1:]])"
    for seed in ("0", "12345"):
        out = subprocess.run([sys.executable, "-c", code, *keys], capture_output=True, text=True, check=True, cwd=ROOT,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        assert out.strip() == str(here)
    # pinned: a change of the hash would scatter the runs of shards already written by other machines
    assert [shard_of(k, 1000) for k in keys] == [588, 610, 375, 234]


@pytest.mark.parametrize("text", ["", "1", "a/b", "1/0", "-1/3", "3/3", "4/3", "1/3/4"])
def test_bad_shards_are_usage_errors_saying_what_is_expected(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


def test_a_shard_reads_as_given() -> None:
    assert parse_shard("2/5") == Shard(2, 5) and str(Shard(2, 5)) == "2/5"


def test_shards_of_several_roots_are_keyed_by_root_and_run(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "run" / "checkpoint-1-tmp").mkdir(parents=True)
    roots = [Root(str(tmp_path / n), LOCAL, tmp_path / n) for n in ("a", "b")]
    whole = plan(roots, 3)
    assert [[r.rel for r in rs] for rs in whole.runs] == [["run"], ["run"]] and whole.found == 2
    split = [plan(roots, 3, Shard(i, 64)) for i in range(64)]
    assert sum(p.total for p in split) == 2
