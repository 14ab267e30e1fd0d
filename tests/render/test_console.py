"""inspect for people: each finding with its fix, warnings without -v, the summary last with the command
to run next, --quiet, long folders folded, internal labels in words."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.render.console import MAX_PANELS
from tests.helpers import FIXTURES


def run(*args: object):
    """The CLI on the tests' fixed wide terminal (conftest.py): no line wraps, whatever the temp path."""
    return CliRunner().invoke(app, [str(a) for a in args])


def test_each_finding_with_its_fix_and_the_command_last():
    out = run("inspect", FIXTURES / "sine-v1" / "checkpoint-30").output
    assert "CKF030" in out and "fix: ckptfix repair PATH rewrites the state" in out
    assert "in scheduler.bin, key _last_lr" in out
    last = out.rstrip("\n").splitlines()[-2:]
    # CKF115: the resume's first step would use optimizer.bin's v1 lr, hence --optimizer-lr in the command
    assert last[0] == f"{FIXTURES / 'sine-v1' / 'checkpoint-30'}: findings, 2 errors (CKF030, CKF115); exit 1"
    assert last[1] == f"→ ckptfix repair {FIXTURES / 'sine-v1' / 'checkpoint-30'} --optimizer-lr --dry-run"


def test_no_internal_labels_or_markup_left():
    for name in ("sine-v1", "sine-v2", "step-mismatch", "hostile", "missing-scheduler"):
        out = run("inspect", FIXTURES / name).output
        assert "(lr+keys)" not in out and "`" not in out and "[/" not in out, name
        assert "(global_step)" not in out and "(_last_lr)" not in out, name


def test_warnings_show_without_verbose_on_an_output_folder(tmp_path):
    out = tmp_path / "out"
    shutil.copytree(FIXTURES / "output-run", out)
    text = run("inspect", out, "--lr-end", "1e-5").output
    assert text.count("CKF060") >= 4 and "╭─ checkpoint-30" in text  # a panel for each, the fix with it
    assert text.rstrip().splitlines()[-1] == f"→ ckptfix repair {out} --lr-end 1e-05 --dry-run"


def test_quiet_prints_the_summary_and_the_next_command_only():
    res = run("inspect", FIXTURES / "sine-v2", "--latest", "--quiet")
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        f"{FIXTURES / 'sine-v2' / 'checkpoint-30'}: findings, 2 errors (CKF031, CKF115); exit 1",
        f"→ ckptfix repair {FIXTURES / 'sine-v2'} --latest --optimizer-lr --dry-run"]
    res = run("inspect", FIXTURES / "output-run", "--latest", "-q")
    assert res.exit_code == 0 and res.output.splitlines() == [f"{FIXTURES / 'output-run' / 'checkpoint-30'}: consistent; exit 0",
                                                              "→ nothing to fix: safe to resume"]


def test_a_long_folder_folds_and_keeps_the_summary_last(tmp_path):
    out = tmp_path / "out"
    for n in range(1, 41):
        src = "sine-v1" if n in (5, 6, 7, 8, 9, 10, 11) else "sine-ok"
        shutil.copytree(FIXTURES / src / "checkpoint-30", out / f"checkpoint-{n}")
    text = run("inspect", out, "--step", "30").output
    lines = text.splitlines()
    assert len(lines) < 250  # 40 checkpoints, 7 with findings
    assert text.count("╭─") == MAX_PANELS and "2 older checkpoints with findings not shown" in text
    assert "checkpoint-12 " in text and "… checkpoint-39" in text and "(28 checkpoints)" in text
    assert lines[-2].startswith(f"{out}: 40 checkpoints, 33 consistent, 7 with findings; 14 errors (CKF030, "
                                "CKF115); exit 1")
    verbose = run("inspect", out, "--step", "30", "--verbose").output
    assert verbose.count("╭─") == 40 and "…" not in verbose.split("checkpoint  ")[-1].split("* latest")[0]


def test_repair_says_what_remains_and_what_to_run(tmp_path):
    shutil.copytree(FIXTURES / "sine-v1", tmp_path / "a")
    res = run("repair", tmp_path / "a", "--latest")
    assert res.exit_code == 1  # the first resumed step still runs at v1's lr (CKF115)
    assert "still reported:" in res.output and "fix: ckptfix repair PATH --optimizer-lr" in res.output
    assert "backup: checkpoint-30/.ckptfix/backup-" in res.output
    assert res.output.rstrip().splitlines()[-1] == f"→ ckptfix repair {tmp_path / 'a'} --latest --optimizer-lr"
    res = run("repair", tmp_path / "a", "--latest", "--optimizer-lr")
    assert res.output.rstrip().splitlines()[-2:] == [
        "→ nothing left to fix: safe to resume",
        f"  to undo the repair: ckptfix restore {tmp_path / 'a' / 'checkpoint-30'}"]
    shutil.copytree(FIXTURES / "missing-scheduler", tmp_path / "m")
    res = run("repair", tmp_path / "m")
    assert res.exit_code == 1
    assert res.output.rstrip().splitlines()[-2:] == [
        f"→ ckptfix repair {tmp_path / 'm'} --lr-warmup-steps W --lr-end E",
        "  (W: the run's --lr_warmup_steps; E: the run's --lr_end)"]
    res = run("repair", tmp_path / "m", "--dry-run", "--lr-warmup-steps", "10")
    assert res.output.rstrip().splitlines()[-1] == f"→ ckptfix repair {tmp_path / 'm'} --lr-warmup-steps 10"


def test_a_skipped_folder_is_said_once():
    """In the summary table when there is one; as a line of its own for the gate (--latest)."""
    out = run("inspect", FIXTURES / "output-run").output
    assert out.count("checkpoint-40-tmp") == 1
    gate = run("inspect", FIXTURES / "output-run", "--latest").output
    assert gate.count("skipped checkpoint-40-tmp: being written (-tmp)") == 1
