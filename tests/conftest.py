from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import FIXTURES

# CI (CI=true) explores the same examples every run: a red CI must mean a change broke something.
# Locally, property tests keep drawing new examples.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")



@pytest.fixture
def fixture_copy(tmp_path: Path):
    """Copy a fixture folder into tmp (tests never write into fixtures/)."""

    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(FIXTURES / name, dst, symlinks=True)
        return dst

    return copy
