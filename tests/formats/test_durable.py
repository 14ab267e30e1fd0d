"""The ``WritableStore`` contract, on both stores repair writes through: the local disk (``DISK``) and object
storage (``RemoteStore`` on fsspec's ``memory://``). Every repair action writes, backs up and undoes through
these calls only, so each must mean the same on both; and a plan that needs what a store cannot do is
refused before anything is written."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.report import Options
from ckptfix.errors import RepairFailed, UsageError
from ckptfix.formats.source import LOCAL
from ckptfix.formats.source.durable import DISK, LocalDisk, writable
from ckptfix.formats.source.writable import ANY, WritableStore
from ckptfix.model.load import load_checkpoint
from ckptfix.repair.apply import apply_plan
from ckptfix.repair.plan import plan_repair
from ckptfix.repair.run import repair_path
from tests.helpers import FIXTURES, installed, tree_hashes


@pytest.fixture(params=["disk", "object storage"])
def store_and_folder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[WritableStore, Any]]:
    """A writable store and an empty folder in it."""
    if request.param == "disk":
        (tmp_path / "ck").mkdir()
        yield DISK, tmp_path / "ck"
        return
    if not installed("fsspec"):
        pytest.skip("needs fsspec")
    import fsspec

    from ckptfix.formats.source.remote import connect

    fs = fsspec.filesystem("memory")
    root = f"/ckptfix-test-{uuid.uuid4().hex[:8]}"
    fs.pipe_file(f"{root}/ck/.keep", b"")
    store, path = connect(f"memory://{root}/ck")
    try:
        yield store, path
    finally:
        fs.rm(root, recursive=True)


def test_writes_mean_the_same_on_every_store(store_and_folder: tuple[WritableStore, Any]) -> None:
    store, folder = store_and_folder
    f, copy = folder / "scheduler.bin", folder / "backup" / "scheduler.bin"
    assert store.regular(f) is None and store.sha256(f, 1024) is None
    seen: list[str] = []
    new_id = store.replace(f, b"first", ANY, lambda: seen.append("before"))
    assert seen == ["before"] and store.read_now(f, 1024, "file") == b"first"
    assert store.regular(f) is True and store.identity(f) == new_id
    digest = hashlib.sha256(b"first").hexdigest()
    assert store.sha256(f, 1024) == digest
    store.make_folder(copy.parent)
    store.copy(f, copy)
    store.replace(f, b"second", store.identity(f))
    assert store.read_now(f, 1024, "file") == b"second"
    store.put_back(copy, f, digest, store.identity(f), 1024)
    assert store.read_now(f, 1024, "file") == b"first"
    with pytest.raises(RepairFailed):  # a copy that is not the original is never taken for it
        store.put_back(copy, f, hashlib.sha256(b"other").hexdigest(), store.identity(f), 1024)
    store.create(folder / "manifest.json", b"{}")
    assert store.read_now(folder / "manifest.json", 1024, "manifest") == b"{}"
    store.remove(f, store.identity(f))
    assert store.regular(f) is None
    store.remove(f)  # nothing there: done
    assert store.restore_hint(None, f).endswith("# did not exist before")


def test_the_disk_never_replaces_another_writers_version(tmp_path: Path) -> None:
    f = tmp_path / "scheduler.bin"
    DISK.replace(f, b"ours")
    checked = DISK.identity(f)
    f.unlink()
    f.write_bytes(b"theirs, written since")
    with pytest.raises(RepairFailed, match="by another process"):
        DISK.replace(f, b"new", checked)
    assert f.read_bytes() == b"theirs, written since"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scheduler.bin"]  # no temporary file left


def test_each_store_says_what_it_cannot_do(store_and_folder: tuple[WritableStore, Any]) -> None:
    store, _ = store_and_folder
    assert writable(store) is store
    assert (store.locks, store.patches_in_place) == ((True, True) if store is DISK else (False, False))
    assert (store.caveat is None) == (store is DISK)
    assert writable(LOCAL) is DISK


class _NoPatches(LocalDisk):
    """The local disk, as a store that cannot patch a file in place (as object storage cannot)."""

    patches_in_place = False


def test_an_action_the_store_cannot_carry_out_is_refused_when_the_plan_is_made(tmp_path: Path) -> None:
    """--optimizer-lr on a store without in-place patches: refused in the plan (exit 1), nothing written --
    not a failure half-way through applying it."""
    shutil.copytree(FIXTURES / "sine-v1", tmp_path / "run")
    ck = tmp_path / "run" / "checkpoint-30"
    before = tree_hashes(ck)
    store = _NoPatches()
    plan = plan_repair(analyse(load_checkpoint(ck), Options()), Options(optimizer_lr=True), store=store)
    assert plan.action == "refuse" and not plan.actions and plan.exit_code_if_not_applied == 1
    assert [r.file.name for r in plan.refusals] == ["optimizer.bin"]
    assert "--optimizer-lr" in plan.refusals[0].reason
    assert apply_plan(plan, store=store).status == "refused"
    with pytest.raises(UsageError, match="--optimizer-lr"):  # the whole command: before anything is read
        repair_path(ck, Options(optimizer_lr=True), store=store)
    assert tree_hashes(ck) == before
    assert repair_path(ck, Options(optimizer_lr=True), store=DISK).items[0].result.status == "applied"
