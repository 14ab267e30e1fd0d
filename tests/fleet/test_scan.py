"""Many runs in one command, on the local disk (real fixture checkpoints copied into a root of runs).

Each run's record holds exactly the single-run ``--json`` document; the summary counts them and takes the
worst exit code (4 only when no run has anything to resume); ``--json`` and every ``--jsonl`` line follow the
schema; N shards merge to the unsharded output, byte for byte; merge refuses what is not every shard of one
scan exactly once. Asserted on --json/--jsonl, never on the terminal's width.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.api.schema import schema
from ckptfix.fleet.stream import fleet_exit
from tests.fleet.tree import RUNS, expected_runs, make_root
from tests.helpers import FIXTURES

VALIDATOR = Draft202012Validator(schema())


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def jsonl(*args: object) -> tuple[list[dict], dict, int]:
    res = run(*args, "--jsonl")
    lines = [json.loads(t) for t in res.stdout.splitlines()]
    for obj in lines:
        errors = list(VALIDATOR.iter_errors(obj))
        assert not errors, errors[0].message[:300]
    assert lines and lines[-1]["record"] == "summary", res.output
    return lines[:-1], lines[-1], res.exit_code


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("fleet") / "root")


def test_each_run_holds_the_single_run_json_document(root: Path) -> None:
    runs, summary, code = jsonl("inspect", root)
    assert [r["run"] for r in runs] == expected_runs()
    for r in runs:
        alone = run("inspect", root / r["run"], "--latest", "--json")
        assert r["document"] == json.loads(alone.stdout), r["run"]
        assert r["exit_code"] == alone.exit_code and r["path"] == str(root / r["run"])
        assert r["next"] == (r["document"].get("next") or {}).get("command")
    assert summary["runs"] == summary["runs_found"] == len(RUNS) + 1
    assert summary["checkpoints"] == sum(r["checkpoints"] for r in runs) == sum(sum(r["verdicts"].values()) for r in runs)
    assert summary["run_status"]["nothing-to-resume"] == 1 and summary["shard"] is None
    assert code == summary["exit_code"] == 3  # the hostile run; 3 > 1 > 0


def test_every_checkpoint_with_all(root: Path) -> None:
    runs, summary, _ = jsonl("inspect", root, "--all")
    for r in runs:
        alone = json.loads(run("inspect", root / r["run"], "--json").stdout)
        assert r["document"] == alone and r["checkpoints"] == len(alone.get("checkpoints", ()))
    assert summary["all"] is True and summary["checkpoints"] > len(runs)


def test_json_is_one_document_with_the_same_runs_and_summary(root: Path) -> None:
    res = run("inspect", root, "--json")
    doc = json.loads(res.stdout)
    assert not list(VALIDATOR.iter_errors(doc))
    runs, summary, code = jsonl("inspect", root)
    assert doc["runs"] == runs and doc["summary"] == summary and res.exit_code == code == doc["exit_code"]


def test_two_worker_processes_give_what_one_gives(root: Path) -> None:
    one = run("inspect", root, "--jsonl", "--jobs", "1").stdout
    assert run("inspect", root, "--jsonl", "--jobs", "2").stdout == one


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_merge_to_the_unsharded_output(root: Path, tmp_path: Path, count: int) -> None:
    whole = run("inspect", root, "--jsonl")
    files, names = [], []
    for i in range(count):
        runs, summary, _ = jsonl("inspect", root, "--shard", f"{i}/{count}")
        assert summary["shard"] == {"index": i, "count": count} and summary["runs"] == len(runs)
        names += [r["run"] for r in runs]
        f = tmp_path / f"shard-{i}.jsonl"
        f.write_text(run("inspect", root, "--shard", f"{i}/{count}", "--jsonl").stdout)
        files.append(f)
    assert sorted(names) == expected_runs() and len(names) == len(set(names))  # every run exactly once
    merged = run("merge", *reversed(files), "--jsonl")
    assert merged.stdout == whole.stdout and merged.exit_code == whole.exit_code
    assert json.loads(run("merge", *files, "--json").stdout) == json.loads(run("inspect", root, "--json").stdout)
    assert run("merge", *files, "--quiet").exit_code == whole.exit_code


def test_merge_refuses_what_is_not_every_shard_once(root: Path, tmp_path: Path) -> None:
    files = []
    for i in range(3):
        f = tmp_path / f"s{i}.jsonl"
        f.write_text(run("inspect", root, "--shard", f"{i}/3", "--jsonl").stdout)
        files.append(f)

    def refused(*paths: Path) -> str:
        res = run("merge", *paths, "--json")
        assert res.exit_code == 2, res.output
        doc = json.loads(res.stdout)
        assert not list(VALIDATOR.iter_errors(doc)) and doc["tool"]["command"] == "merge"
        return doc["error"]

    assert "shard 1/3 missing" in refused(files[0], files[2])
    assert f"shard 1/3 is in {files[1]}, {files[1]}" in refused(*files, files[1])
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(files[2].read_text().splitlines(keepends=True)[:-1]))
    assert f"{cut}: no summary line" in refused(files[0], files[1], cut)
    deeper = tmp_path / "deeper.jsonl"
    deeper.write_text(run("inspect", root, "--shard", "2/3", "--jsonl", "--depth", "4").stdout)
    assert "not shards of the same scan: their depth differ" in refused(files[0], files[1], deeper)
    other = tmp_path / "other.jsonl"
    other.write_text(run("inspect", root, "--shard", "1/2", "--jsonl").stdout)
    assert "different numbers of shards" in refused(files[0], other)
    junk = tmp_path / "junk.jsonl"
    junk.write_text("{}\n")
    assert f"{junk}: line 1 is not a run or summary line" in refused(junk)
    assert "cannot read" in refused(tmp_path / "absent.jsonl")


def test_exit_code_of_runs_some_with_nothing_to_resume(tmp_path: Path) -> None:
    assert fleet_exit([4, 0, 4]) == 0 and fleet_exit([4, 1]) == 1 and fleet_exit([4, 4]) == 4 and fleet_exit([]) == 4
    assert fleet_exit([0, 5, 3]) == 5
    shutil.copytree(FIXTURES / "sine-ok", tmp_path / "root" / "ok")
    (tmp_path / "root" / "new" / "checkpoint-10-tmp").mkdir(parents=True)
    _, summary, code = jsonl("inspect", tmp_path / "root")
    assert code == summary["exit_code"] == 0 and summary["run_status"] == {"nothing-to-resume": 1, "ok": 1}
    shutil.rmtree(tmp_path / "root" / "ok")
    (tmp_path / "root" / "newer" / "checkpoint-1-tmp").mkdir(parents=True)
    _, summary, code = jsonl("inspect", tmp_path / "root")
    assert code == summary["exit_code"] == 4 and summary["runs"] == 2


def test_several_paths_each_a_root_or_a_run(root: Path) -> None:
    runs, summary, _ = jsonl("inspect", root / "proj-a", root / "proj-b" / "kohya")
    assert summary["roots"] == [str(root / "proj-a"), str(root / "proj-b" / "kohya")]
    assert [(r["root"], r["run"]) for r in runs] == [(str(root / "proj-a"), n) for n in ("r1", "r2", "r3")] + [
        (str(root / "proj-b" / "kohya"), ".")]


def test_one_path_that_is_a_run_keeps_its_document(root: Path) -> None:
    doc = json.loads(run("inspect", root / "proj-a" / "r1", "--json").stdout)
    assert "checkpoints" in doc and "runs" not in doc  # the single-run document, as before
    doc = json.loads(run("inspect", root / "proj-a", "--json").stdout)
    assert [r["run"] for r in doc["runs"]] == ["r1", "r2", "r3"]  # a root: many runs
    assert run("inspect", root / "notes", "--latest", "--quiet").exit_code == 4  # no run below: as before


def test_people_see_the_runs_that_need_something_and_the_summary(root: Path) -> None:
    res = run("inspect", root)
    assert res.exit_code == 3
    assert str(root / "proj-a" / "r2") in res.stdout and str(root / "proj-a" / "r1" / "") not in res.stdout
    assert "8 runs" in res.stdout.replace("\n", " ")
    quiet = run("inspect", root, "--quiet")
    assert quiet.exit_code == 3 and str(root / "proj-a" / "r2") not in quiet.stdout


@pytest.mark.parametrize("args, says", [
    (("--latest", "--all"), "--latest and --all"),
    (("--json", "--jsonl"), "--json prints one document"),
    (("--shard", "3/3"), "I counts from 0"),
    (("--plot",), "--plot and --plot-file draw one run"),
])
def test_usage_errors(root: Path, args: tuple[str, ...], says: str) -> None:
    res = run("inspect", root, *args)
    assert res.exit_code == 2 and says in res.output


def test_a_missing_path_among_several_is_a_usage_error(root: Path, tmp_path: Path) -> None:
    res = run("inspect", root, tmp_path / "absent", "--json")
    assert res.exit_code == 2 and "no such folder" in json.loads(res.stdout)["error"]


def test_repair_and_restore_list_over_a_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for name in ("sine-ok", "sine-v1", "sine-v2"):
        shutil.copytree(FIXTURES / name, root / name)
    runs, summary, code = jsonl("repair", root, "--dry-run")
    for r in runs:
        alone = run("repair", root / r["run"], "--latest", "--dry-run", "--json")
        assert r["document"] == json.loads(alone.stdout) and r["exit_code"] == alone.exit_code
    assert code == 1 and summary["verdicts"] == {"dry-run": 2, "nothing": 1}
    runs, summary, code = jsonl("repair", root, "--optimizer-lr")
    assert code == 0 and summary["verdicts"] == {"applied": 2, "nothing": 1}
    assert run("inspect", root, "--quiet").exit_code == 0
    runs, summary, code = jsonl("restore", root, "--list")
    assert code == 0 and summary["verdicts"] == {"backups": 2, "no-backup": 1}
    assert [r["document"]["mode"] for r in runs] == ["list"] * 3
    assert run("restore", root, root, "--json").exit_code == 2  # several PATHs: --list only
