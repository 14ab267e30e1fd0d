"""Many runs on S3 (moto's server on 127.0.0.1, through s3fs): the same records as on the local disk, the root
listed once (not once per run), each checkpoint read in the rounds it costs alone, and shards that merge to
the unsharded output. Stock moto reads the whole object per ranged GET: requests are counted, never timed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.analysis.options import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.fleet.scan import Root, check, plan
from ckptfix.fleet.single_run import inspect_run
from ckptfix.formats.source.remote import connect
from tests.fleet.tree import RUNS, expected_runs, make_root

pytest.importorskip("s3fs")
from s3fs import S3FileSystem  # noqa: E402

from tests.s3server import CountingMotoServer, s3_env, upload_tree  # noqa: E402

BUCKET = "ckptfix-fleet"
URL = f"s3://{BUCKET}/root"


@pytest.fixture(scope="module")
def local_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("fleet") / "root")


@pytest.fixture(scope="module")
def s3(local_root: Path) -> Iterator[CountingMotoServer]:
    server = CountingMotoServer()
    server.start()
    S3FileSystem.clear_instance_cache()  # fsspec keeps filesystems of other modules' servers (their endpoint)
    with s3_env(server.url):
        upload_tree(server.url, local_root, BUCKET, "root")  # the symbolic link to a folder is not uploaded
        yield server
    server.stop()


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def lines(*args: object) -> list[dict]:
    return [json.loads(t) for t in run(*args, "--jsonl").stdout.splitlines()]


def verdicts(records: list[dict]) -> list[tuple]:
    return [(r.get("run"), r.get("exit_code"), r.get("verdicts"), r.get("checkpoints")) for r in records]


def test_same_runs_and_verdicts_as_on_disk(s3: CountingMotoServer, local_root: Path) -> None:
    remote = lines("inspect", URL)
    local = lines("inspect", local_root)
    assert [r["run"] for r in remote[:-1]] == expected_runs()
    assert verdicts(remote[:-1]) == verdicts(local[:-1])
    assert all(r["path"] == f"{URL}/{r['run']}" for r in remote[:-1])
    summary = remote[-1]
    assert summary["roots"] == [URL] and summary["exit_code"] == local[-1]["exit_code"] == 3


def test_the_root_is_listed_once_and_each_checkpoint_costs_its_own_rounds(s3: CountingMotoServer) -> None:
    """One LIST for the whole root, however many runs, and no checkpoint takes more rounds than when its run is
    read alone (the runs' rounds overlap in time: bench/fleet.py measures it at 30 ms a request)."""
    alone_rounds = {}
    for rel in RUNS:
        store, path = connect(f"{URL}/{rel}")
        inspect_path(path, Options(), latest_only=True, store=store)
        alone_rounds[rel] = store.stats.as_dict()["rounds_per_checkpoint"]
    s3.reset_counts()
    store, path = connect(URL)
    p = plan([Root(URL, store, path)], 3)
    summary = check(p, lambda st: partial(inspect_run, store=st, opts=Options(), latest_only=True), "inspect", False)
    assert summary["runs"] == len(RUNS) + 1
    assert s3.counts["LIST"] == store.stats.listings == 1
    assert s3.requests == store.stats.requests
    assert store.stats.as_dict()["rounds_per_checkpoint"] <= max(alone_rounds.values())


def test_shards_on_s3_merge_to_the_unsharded_output(s3: CountingMotoServer, tmp_path: Path) -> None:
    whole = run("inspect", URL, "--jsonl")
    files = []
    for i in range(3):
        f = tmp_path / f"{i}.jsonl"
        f.write_text(run("inspect", URL, "--shard", f"{i}/3", "--jsonl").stdout)
        files.append(f)
    merged = run("merge", *files, "--jsonl")
    assert merged.stdout == whole.stdout and merged.exit_code == whole.exit_code == 3
