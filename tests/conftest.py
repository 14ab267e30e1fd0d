from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import FIXTURES

SMOKE = "pytestmark = pytest.mark.smoke"

# CI (CI=true) explores the same examples every run: a red CI must mean a change broke something.
# Locally, property tests keep drawing new examples.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

#: The terminal width every test sees unless it sets its own: output that is not a terminal is laid out
#: at $COLUMNS (Rich's default is 80), so without this, where a line wraps would depend on the length of
#: the temp path printed in it, and an assertion on words could pass on one machine and fail on another.
WIDE_COLUMNS = "1000"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed wide terminal for CliRunner and subprocesses (a test passing ``env={"COLUMNS": ...}``
    or running on a pty chooses its own)."""
    monkeypatch.setenv("COLUMNS", WIDE_COLUMNS)
    monkeypatch.delenv("LINES", raising=False)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``-m smoke``, only the modules marked smoke (``pytestmark = pytest.mark.smoke``) are imported: they
    need neither torch nor the dev extra, so the subset runs from the wheel on every Python (.ci/run)."""
    if config.getoption("markexpr") == "smoke" and collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return SMOKE not in collection_path.read_text(encoding="utf-8")
    return None


@pytest.fixture
def fixture_copy(tmp_path: Path):
    """Copy a fixture folder into tmp (tests never write into fixtures/)."""

    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(FIXTURES / name, dst, symlinks=True)
        return dst

    return copy
