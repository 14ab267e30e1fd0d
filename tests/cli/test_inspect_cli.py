"""`ckptfix inspect` on the shipped fixtures: exit codes, JSON, no writes, no code execution."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from tests.helpers import FIXTURES, needs, tree_hashes

pytestmark = pytest.mark.smoke  # runs from the wheel on every Python, without torch (.ci/run)

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def inspect_json(path: Path, *flags: str) -> tuple[int, dict]:
    res = run("inspect", path, "--json", *flags)
    return res.exit_code, json.loads(res.stdout)


@pytest.mark.parametrize("folder, code", [
    ("sine-ok", 0), ("two-procs", 0), ("legacy-format", 0), ("lambdalr", 0), ("output-run", 0),
    ("sine-v1", 1), ("sine-v2", 1), ("sine-v2-no-step-count", 1), ("stale-tcur", 1), ("not-multiplied", 1),
    ("missing-scheduler", 1), ("step-mismatch", 1),
    ("truncated", 3), ("hostile", 3),
])
def test_exit_codes(folder: str, code: int) -> None:
    res = run("inspect", FIXTURES / folder)
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("inspect", tmp_path / "nope").exit_code == 2
    assert run("inspect", tmp_path).exit_code == 4  # an empty folder: nothing to resume (docs/exit-codes.md)
    assert run("inspect").exit_code == 2
    assert run("inspect", FIXTURES / "sine-ok", "--num-processes", "0").exit_code == 2
    res = run("inspect", tmp_path / "nope")
    assert "no such file" in res.stderr and res.stdout == ""


def test_worst_code_wins(tmp_path: Path) -> None:
    import shutil

    for name, src in (("checkpoint-10", "sine-ok"), ("checkpoint-20", "sine-v1"), ("checkpoint-30", "truncated")):
        shutil.copytree(FIXTURES / src / "checkpoint-30", tmp_path / name)
    assert run("inspect", tmp_path).exit_code == 3
    assert run("inspect", tmp_path / "checkpoint-20").exit_code == 1
    # --latest checks only checkpoint-30 (unreadable), an explicit earlier one is fine
    assert run("inspect", tmp_path, "--latest").exit_code == 3


def test_latest_gate_skips_tmp() -> None:
    code, doc = inspect_json(FIXTURES / "output-run", "--latest")
    assert code == 0
    assert [c["name"] for c in doc["checkpoints"]] == ["checkpoint-30"]
    assert doc["latest"].endswith("checkpoint-30")
    assert [Path(s["path"]).name for s in doc["skipped"]] == ["checkpoint-40-tmp"]


def test_json_document_shape() -> None:
    code, doc = inspect_json(FIXTURES / "sine-v1" / "checkpoint-30")
    assert code == 1 and doc["schema_version"] == 1 and doc["exit_code"] == 1
    (ck,) = doc["checkpoints"]
    assert ck["steps"] == {"folder": 30, "training_state": 30, "optimizer": 30, "epoch_step": 30,
                           "chosen": 30, "source": "training_state.json", "agree": True,
                           "state_file": "training_state.json"}
    (sch,) = ck["schedulers"]
    assert sch["profile"] == "simpletuner-sine-v1"
    v = sch["values"]
    assert (v["last_epoch"], v["T_cur"], v["T_i"], v["T_0"], v["T_mult"]) == (30, 0, 10, 10, 1)
    assert v["eta_min"] == 1e-6 and v["base_lrs"] == [1e-4] and v["_last_lr"] == [5.0499e-05]
    assert sch["reference"] == {"profile": "sine", "last_epoch": 30, "T_cur": 0, "T_i": 10, "last_lr": [1e-4],
                                "total_steps": None}
    (f,) = [f for f in ck["findings"] if f["code"] == "CKF030"]
    assert f["severity"] == "error" and f["file"].endswith("scheduler.bin")
    assert f["found"] == [5.0499e-05] and f["expected"] == [1e-4]
    assert set(f) == {"code", "name", "severity", "file", "key", "found", "expected", "message", "fix"}


@needs("matplotlib")
def test_json_stdout_is_only_json_even_with_plot(tmp_path: Path) -> None:
    png = tmp_path / "lr.png"
    res = run("inspect", FIXTURES / "output-run", "--json", "--plot", "--plot-file", png)
    json.loads(res.stdout)
    assert png.stat().st_size > 1000


def test_inspect_writes_nothing() -> None:
    before = tree_hashes(FIXTURES)
    for folder in ("sine-v1", "output-run", "hostile", "truncated", "missing-scheduler"):
        run("inspect", FIXTURES / folder, "--json")
        run("inspect", FIXTURES / folder, "--plot")
    assert tree_hashes(FIXTURES) == before


def test_hostile_pickle_never_runs() -> None:
    marker = Path((FIXTURES / "hostile" / "MARKER").read_text().strip())
    assert not marker.exists()
    # a real process, the console script, as a user would run it
    proc = subprocess.run([sys.executable, "-m", "ckptfix", "inspect", str(FIXTURES / "hostile"), "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 3
    doc = json.loads(proc.stdout)
    (f,) = doc["checkpoints"][0]["findings"]
    assert f["code"] == "CKF003" and "builtins.exec" in f["message"] and f["file"].endswith("scheduler.bin")
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def test_explain() -> None:
    res = run("explain", "CKF030")
    assert res.exit_code == 0 and "half" in res.stdout.lower()
    assert run("explain", "t-cur-wrong").exit_code == 0
    assert run("explain", "CKF999").exit_code == 2
    assert "CKF001" in run("explain", "all").stdout


def test_help_teaches_exit_codes() -> None:
    res = run("inspect", "--help")
    assert res.exit_code == 0
    for text in ("0  every checked checkpoint is consistent", "--latest", "--json"):
        assert text in res.stdout


def test_inspect_scans_every_pickle_the_resume_loads(fixture_copy, tmp_path: Path) -> None:
    """A hostile random_states_0.pkl (loaded by accelerate on resume) fails the gate, unexecuted."""
    root = fixture_copy("sine-ok")
    marker = tmp_path / "pwned-rng"
    cmd = f"touch {marker}".encode()
    payload = b"\x80\x02cposix\nsystem\nX" + len(cmd).to_bytes(4, "little") + cmd + b"\x85R."
    (root / "checkpoint-30" / "random_states_0.pkl").write_bytes(payload)
    code, doc = inspect_json(root)
    assert code == 3
    (f,) = doc["checkpoints"][0]["findings"]
    assert f["code"] == "CKF003" and f["file"].endswith("random_states_0.pkl") and "posix.system" in f["message"]
    assert not marker.exists()
    # and a truncated one is unreadable
    good = (FIXTURES / "sine-ok/checkpoint-30/random_states_0.pkl").read_bytes()
    (root / "checkpoint-30" / "random_states_0.pkl").write_bytes(good[: len(good) // 2])
    code, doc = inspect_json(root)
    assert code == 3 and doc["checkpoints"][0]["findings"][0]["code"] == "CKF002"


def test_worker_pool_gives_the_same_document(tmp_path: Path) -> None:
    """Output folders with many checkpoints are read by forked workers: same reports, same order."""
    import shutil

    src = {"sine-ok": "sine-ok", "v1": "sine-v1", "hostile": "hostile", "missing": "missing-scheduler"}
    for i in range(12):
        shutil.copytree(FIXTURES / list(src.values())[i % 4] / "checkpoint-30", tmp_path / f"checkpoint-{i * 10}")
    serial = run("inspect", tmp_path, "--json", "--jobs", "1")
    pooled = run("inspect", tmp_path, "--json", "--jobs", "2")
    assert serial.exit_code == pooled.exit_code == 3
    assert serial.stdout == pooled.stdout
    assert len(json.loads(pooled.stdout)["checkpoints"]) == 12


def test_checkpoint_removed_after_discovery_is_reported_not_a_traceback(tmp_path: Path) -> None:
    """A rolling checkpoint deleted by the trainer while ckptfix runs: unreadable, exit 3."""
    from ckptfix.analysis.checks import analyse
    from ckptfix.model.load import load_checkpoint

    r = analyse(load_checkpoint(tmp_path / "checkpoint-70"))
    assert r.exit_code == 3 and "cannot list" in r.findings[0].message
