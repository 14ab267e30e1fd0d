"""Runs under a root: every folder whose checkpoints a trainer model recognises, to a depth; never a hidden
folder, a symbolic link or the inside of a run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ckptfix.analysis.run as analysis_run
import ckptfix.fleet.runs as fleet_runs
from ckptfix._cli import app  # noqa: PLC2701 - the test drives the CLI's Typer app
from ckptfix.fleet.runs import find_runs, holds_run, is_root_of_runs, runs_digest
from ckptfix.formats.source import LOCAL
from tests.fleet.tree import DEEP, EMPTY, RUNS, expected_runs, make_root
from tests.helpers import FIXTURES


def runs_under(root: Path, depth: int) -> list[str]:
    return [r.rel for r in find_runs(LOCAL, str(root), root, depth, lambda p: holds_run(LOCAL, p))]


@pytest.mark.parametrize("depth", [3, 4])
def test_every_trainers_runs_are_found_to_the_depth_and_nothing_else(tmp_path: Path, depth: int) -> None:
    root = make_root(tmp_path / "root")
    assert runs_under(root, depth) == expected_runs(depth)


def test_depth_counts_levels_below_the_root(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root")
    assert runs_under(root, 0) == []
    assert runs_under(root, 1) == ["hostile"]
    assert runs_under(root, 2) == sorted([*RUNS, EMPTY])
    assert DEEP not in runs_under(root, 3)


def test_a_run_given_as_the_root_is_one_run_named_dot() -> None:
    assert runs_under(FIXTURES / "output-run", 3) == ["."]
    assert runs_under(FIXTURES / "sine-ok" / "checkpoint-30", 3) == ["."]  # a checkpoint folder itself


def test_a_root_of_runs_is_told_from_a_run_and_from_an_empty_folder(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root")
    assert is_root_of_runs(LOCAL, root, 3)
    assert not is_root_of_runs(LOCAL, root / "proj-a" / "r1", 3)  # a run: inspect PATH as always
    assert not is_root_of_runs(LOCAL, root / "notes", 3)  # nothing below: as always (nothing to resume)
    assert not is_root_of_runs(LOCAL, tmp_path / "missing", 3)  # as always: the single-PATH error


def test_the_digest_depends_on_the_runs_only() -> None:
    assert runs_digest(["b", "a"]) == runs_digest(["a", "b"]) != runs_digest(["a", "b", "c"])


@pytest.mark.parametrize("argv", [
    ["inspect", "--json", "fixtures/sine-ok"],
    ["inspect", "--json", "--latest", "--trainer", "simpletuner", "fixtures/output-run"],
    ["repair", "--dry-run", "--json", "fixtures/sine-v2"],
])
def test_one_path_is_discovered_once(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    """Telling a run from a root of runs makes the run's discovery, and the single-run pipeline uses it
    (it listed the folder a second time)."""
    seen: list[str] = []
    for module in (analysis_run, fleet_runs):
        real = module.discover
        monkeypatch.setattr(module, "discover",
                            lambda path, *a, _real=real, **k: seen.append(str(path)) or _real(path, *a, **k))
    argv = [str(FIXTURES.parent / a) if a.startswith("fixtures/") else a for a in argv]
    res = CliRunner().invoke(app, argv)
    assert res.exit_code in (0, 1), res.output
    assert seen == [argv[-1]], seen


def test_inspect_of_many_runs_imports_no_repair_code() -> None:
    """``restore --list``'s per-run record is built where inspect's and repair's are (fleet/single_run.py), and
    imports restore only when it runs: inspect over a root of runs imported the repair package."""
    code = ("import sys; from ckptfix._cli import app_for; sys.argv = ['ckptfix', *sys.argv[1:]]\n"
            "try:\n    app_for(sys.argv[1:])()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('ckptfix.repair')))")
    out = subprocess.run([sys.executable, "-c", code, "inspect", "--jsonl", str(FIXTURES / "other_trainers")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out[-500:]
