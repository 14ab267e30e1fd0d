"""Hostile ``.ckptfix/`` folders, built on a real repair's backup: what a checkpoint copied from someone else may
ship. Shared by ``test_restore_hostile.py`` (each case's outcome, nothing touched) and ``bench/restore_hostile.py``
(each case's time and memory).

``repaired(root)`` copies the ``sine-v2`` fixture and repairs it with ``--optimizer-lr`` (a rewritten
``scheduler.bin`` and a patched ``optimizer.bin``); each case then changes its backup and says what
``restore`` must answer: the exit code and words of the message. ``outside`` is a folder beside the
checkpoint that nothing may read into the checkpoint or write.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from tests.helpers import FIXTURES

#: A case: changes the repaired checkpoint's backup (and may put files in ``outside``).
Build = Callable[[Path, Path], None]


def repaired(root: Path) -> Path:
    """A copy of fixtures/sine-v2 under ``root``, repaired with --optimizer-lr: its checkpoint folder."""
    shutil.copytree(FIXTURES / "sine-v2", root / "run")
    ck = root / "run" / "checkpoint-30"
    res = CliRunner().invoke(app, ["repair", str(ck), "--optimizer-lr"])
    assert res.exit_code == 0, res.output
    return ck


def backup_of(ck: Path) -> Path:
    (b,) = sorted((ck / ".ckptfix").glob("backup-*"))
    return b


def manifest_of(ck: Path) -> dict:
    return json.loads((backup_of(ck) / "manifest.json").read_text())


def write_manifest(ck: Path, manifest: object) -> None:
    (backup_of(ck) / "manifest.json").write_text(json.dumps(manifest))


def entry(ck: Path, name: str) -> dict:
    return next(e for e in manifest_of(ck)["files"] if e["file"] == name)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _edit(change: Callable[[dict], None]) -> Build:
    def build(ck: Path, outside: Path) -> None:
        m = manifest_of(ck)
        change(m)
        write_manifest(ck, m)

    return build


def _entry_field(name: str, key: str, value: object) -> Build:
    def change(m: dict) -> None:
        next(e for e in m["files"] if e["file"] == name)[key] = value

    return _edit(change)


def _mark_link(ck: Path, outside: Path) -> None:
    (backup_of(ck) / "restored.json").symlink_to(outside / "created-by-restore.json")


def _copy_link_to_outside(ck: Path, outside: Path) -> None:
    """The backup's scheduler.bin is a link to an outside file whose SHA-256 the manifest records as the original."""
    secret = outside / "secret.bin"
    secret.write_bytes(b"a file outside the checkpoint\n")
    b = backup_of(ck)
    (b / "scheduler.bin").unlink()
    (b / "scheduler.bin").symlink_to(secret)
    m = manifest_of(ck)
    next(e for e in m["files"] if e["file"] == "scheduler.bin")["sha256"] = sha(secret.read_bytes())
    write_manifest(ck, m)


def _copy_link_to(target: str) -> Build:
    def build(ck: Path, outside: Path) -> None:
        b = backup_of(ck)
        (b / "scheduler.bin").unlink()
        (b / "scheduler.bin").symlink_to(target)

    return build


def _work_dir_link(ck: Path, outside: Path) -> None:
    """.ckptfix is a link to a folder outside holding a complete, valid backup."""
    shutil.move(str(ck / ".ckptfix"), str(outside / "ckptfix"))
    (ck / ".ckptfix").symlink_to(outside / "ckptfix")


def _backup_link(ck: Path, outside: Path) -> None:
    b = backup_of(ck)
    shutil.move(str(b), str(outside / b.name))
    b.symlink_to(outside / b.name)


def _target_link(ck: Path, outside: Path) -> None:
    """The checkpoint's scheduler.bin is a link to an outside file holding exactly the repaired bytes."""
    shutil.move(str(ck / "scheduler.bin"), str(outside / "scheduler.bin"))
    (ck / "scheduler.bin").symlink_to(outside / "scheduler.bin")


def _fifo_manifest(ck: Path, outside: Path) -> None:
    m = backup_of(ck) / "manifest.json"
    m.unlink()
    os.mkfifo(m)


def _manifest_link_dev_zero(ck: Path, outside: Path) -> None:
    m = backup_of(ck) / "manifest.json"
    m.unlink()
    m.symlink_to("/dev/zero")


def _names(file: object) -> Build:
    return _entry_field("scheduler.bin", "file", file)


def _other_file(ck: Path, outside: Path) -> None:
    """The manifest names the model's weights (repair never writes them), with a copy in the backup."""
    weights = next(p.name for p in ck.iterdir() if p.suffix == ".safetensors")
    b = backup_of(ck)
    (b / weights).write_bytes(b"replacement weights")
    m = manifest_of(ck)
    m["files"].append({"file": weights, "action": "rewrite", "sha256": sha(b"replacement weights"),
                       "sha256_new": sha((ck / weights).read_bytes())})
    write_manifest(ck, m)


def _duplicate(m: dict) -> None:
    m["files"].append(dict(m["files"][0]))


def _deep(ck: Path, outside: Path) -> None:
    (backup_of(ck) / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)


def _deep_inside_entry(ck: Path, outside: Path) -> None:
    m = manifest_of(ck)
    m["files"][0]["changes"] = "NEST"
    text = json.dumps(m).replace('"NEST"', "[" * 50 + "]" * 50)
    (backup_of(ck) / "manifest.json").write_text(text)


def _huge(ck: Path, outside: Path) -> None:
    m = manifest_of(ck)
    m["padding"] = "x" * (2 << 20)
    write_manifest(ck, m)


def _duplicate_key(ck: Path, outside: Path) -> None:
    text = json.dumps(manifest_of(ck))
    text = text.replace('"file": "scheduler.bin"', '"file": "scheduler.bin", "file": "model.safetensors"', 1)
    (backup_of(ck) / "manifest.json").write_text(text)


def _patch_offset(offset: int) -> Build:
    def change(m: dict) -> None:
        next(e for e in m["files"] if e["file"] == "optimizer.bin")["writes"][0]["offset"] = offset

    return _edit(change)


def _created_other(ck: Path, outside: Path) -> None:
    """An entry says repair created scheduler.bin (so undoing it removes it), with another file's SHA-256."""
    m = manifest_of(ck)
    e = next(e for e in m["files"] if e["file"] == "scheduler.bin")
    e.update(action="create", sha256=None, sha256_new=sha(b"another file"))
    write_manifest(ck, m)


ANSI = "\x1b[2J\x1b[31mPWNED\x1b]0;title\x07"

#: name -> (build, exit code, words the output must hold). Every case: nothing in the checkpoint or outside changes.
CASES: dict[str, tuple[Build, int, tuple[str, ...]]] = {
    "copy-link-outside": (_copy_link_to_outside, 3, ("scheduler.bin", "symlink")),
    "copy-link-dev-zero": (_copy_link_to("/dev/zero"), 3, ("scheduler.bin", "symlink")),
    "copy-link-proc": (_copy_link_to("/proc/self/environ"), 3, ("scheduler.bin", "symlink")),
    "work-dir-link": (_work_dir_link, 3, (".ckptfix", "symlink")),
    "backup-dir-link": (_backup_link, 3, ("backup-", "symlink")),
    "target-link": (_target_link, 3, ("scheduler.bin", "symlink")),
    "fifo-manifest": (_fifo_manifest, 3, ("manifest.json", "pipe")),
    "manifest-link-dev-zero": (_manifest_link_dev_zero, 3, ("manifest.json", "symlink")),
    "names-weights": (_other_file, 3, ("entry 3", "not a file ckptfix repair writes")),
    "names-parent": (_names("../scheduler.bin"), 3, ("entry 1", "not a file ckptfix repair writes")),
    "names-absolute": (_names("/etc/passwd"), 3, ("entry 1", "not a file ckptfix repair writes")),
    "names-subfolder": (_names("sub/scheduler.bin"), 3, ("entry 1", "not a file ckptfix repair writes")),
    "names-300-chars": (_names("scheduler_" + "1" * 286 + ".bin"), 3, ("entry 1", "300 characters")),
    "names-number": (_names(30), 3, ("entry 1", "not a name")),
    "names-ansi": (_names(ANSI), 3, ("entry 1", "\\x1b[2J")),
    "duplicate-entry": (_edit(_duplicate), 3, ("entry 3", "listed twice")),
    "duplicate-key": (_duplicate_key, 3, ("twice",)),
    "action-mismatch-patch": (_entry_field("scheduler.bin", "action", "patch"), 3, ("entry 1", "'patch'")),
    "action-mismatch-rewrite": (_entry_field("optimizer.bin", "action", "rewrite"), 3, ("entry 2", "'rewrite'")),
    "sha-not-hex": (_entry_field("scheduler.bin", "sha256", ANSI), 3, ("entry 1", "SHA-256")),
    "patch-offset-2-42": (_patch_offset(2 ** 42), 3, ("entry 2", "outside the file")),
    "patch-offset-negative": (_patch_offset(-8), 3, ("entry 2", "outside the file")),
    "patch-offset-float": (_patch_offset(1.5), 3, ("entry 2", "not an offset")),
    "patch-size-huge": (_entry_field("optimizer.bin", "size", 2 ** 42), 1, ("optimizer.bin", "size differs")),
    "deep-nesting": (_deep, 3, ("manifest.json", "deep")),
    "deep-inside-entry": (_deep_inside_entry, 3, ("manifest.json", "deep")),
    "huge-manifest": (_huge, 3, ("manifest.json", "bytes")),
    "files-not-list": (_edit(lambda m: m.update(files={"scheduler.bin": 1})), 3, ("manifest.json", "files")),
    "manifest-not-object": (_edit(lambda m: m.clear()), 3, ("manifest.json", "files")),
    "nan-constant": (_entry_field("optimizer.bin", "size", float("nan")), 3, ("NaN",)),
    "created-but-other-file": (_created_other, 1, ("scheduler.bin", "neither")),
}
