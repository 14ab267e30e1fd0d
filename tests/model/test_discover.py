from __future__ import annotations

from pathlib import Path

import pytest

from ckptfix.errors import PathMissing, UsageError
from ckptfix.model.discover import checkpoint_number, discover, targets


def _mk(root: Path, *names: str) -> None:
    for n in names:
        (root / n).mkdir(parents=True)
        (root / n / "optimizer.bin").write_bytes(b"")


def test_latest_is_highest_n_not_tmp(tmp_path: Path) -> None:
    _mk(tmp_path, "checkpoint-100", "checkpoint-20", "checkpoint-300-tmp", "checkpoint-250-rolling")
    d = discover(tmp_path)
    assert [p.name for p in d.checkpoints] == ["checkpoint-20", "checkpoint-100", "checkpoint-250-rolling"]
    assert d.latest.name == "checkpoint-250-rolling"  # numeric, not lexical order
    assert [s.path.name for s in d.skipped] == ["checkpoint-300-tmp"]
    assert not d.is_single


def test_single_checkpoint_and_tmp(tmp_path: Path) -> None:
    _mk(tmp_path, "checkpoint-5", "checkpoint-6-tmp")
    d = discover(tmp_path / "checkpoint-5")
    assert d.is_single and d.checkpoints == (tmp_path / "checkpoint-5",)
    d = discover(tmp_path / "checkpoint-6-tmp")
    assert d.checkpoints == () and d.skipped[0].reason.startswith("being written")


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(PathMissing, match="no such file"):  # exit 2, or 4 with --latest (docs/exit-codes.md)
        discover(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        discover(tmp_path / "file.txt")


def test_a_folder_without_checkpoints_selects_nothing(tmp_path: Path) -> None:
    """An empty output folder, or one holding other files: nothing to resume (exit 4), not a usage error."""
    (tmp_path / "empty").mkdir()
    d = discover(tmp_path / "empty")
    assert d.checkpoints == () and d.skipped == () and d.latest is None and not targets(d, True)
    (tmp_path / "empty" / "logs").mkdir()
    assert discover(tmp_path / "empty").checkpoints == ()


def test_checkpoint_number() -> None:
    assert checkpoint_number("checkpoint-42") == 42
    assert checkpoint_number("checkpoint-42-rolling") == 42
    assert checkpoint_number("checkpoints") is None
    assert checkpoint_number("checkpoint-x") is None
