"""Each checkpoint is read once and analysed as often as needed: ``inspect --latest`` learns the installed
trainer release and N from the other checkpoints (``analysis/run.py``) and analyses the checkpoint it read
again, from the same record, never decoding its ``scheduler.bin`` a second time (main read it three times)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import ckptfix.analysis.run as pipeline
from ckptfix._cli import app
from ckptfix.analysis.options import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.formats.source.local import LocalStore
from ckptfix.repair.run import repair_path
from tests.analysis.test_processes import _run_whose_latest_does_not_say_n


class CountingStore(LocalStore):
    """The local disk, counting how often each scheduler file is opened (every read of it opens it)."""

    def __init__(self) -> None:
        self.opened: Counter[str] = Counter()

    def open(self, path: Any, *, root: Any = None) -> Any:
        if Path(path).name.startswith("scheduler"):
            self.opened[Path(path).parent.name] += 1
        return super().open(path, root=root)


@pytest.fixture
def run(tmp_path: Path, monkeypatch) -> Path:
    """An output folder whose latest checkpoint is analysed three times: first alone (N unknown), again with the
    SimpleTuner release installed here (the releases disagree while N is unknown), again with the N its
    siblings establish."""
    monkeypatch.setattr(pipeline, "installed_trainers", lambda: (("simpletuner", "3.1.6"),))
    return _run_whose_latest_does_not_say_n(tmp_path)


def test_inspect_latest_decodes_each_checkpoint_once(run: Path) -> None:
    store = CountingStore()
    _disc, (report,) = inspect_path(run, Options(), latest_only=True, store=store)
    assert report.num_processes == 2 and report.trainer.source == "simpletuner 3.1.6 installed here"  # both learned
    assert store.opened["checkpoint-30"] == 1, store.opened
    assert store.opened == Counter({"checkpoint-30": 1, "checkpoint-20": 1, "checkpoint-10": 1})  # + siblings for N


def test_every_checkpoint_and_repair_read_once_before_writing(run: Path) -> None:
    store = CountingStore()
    inspect_path(run, Options(), store=store)
    assert set(store.opened.values()) == {1}, store.opened
    store = CountingStore()
    repair_path(run, Options(), latest_only=True, dry_run=True, store=store)
    assert store.opened["checkpoint-30"] == 1, store.opened


def test_the_gate_gives_what_reading_again_gave(run: Path) -> None:
    """Analysing the record again gives the report reading the folder again gave: the verdict is unchanged."""
    _disc, (report,) = inspect_path(run, Options(), latest_only=True)
    fresh = pipeline.inspect_one(run / "checkpoint-30", Options(), facts=pipeline.RunFacts(
        installed=(("simpletuner", "3.1.6"),), run_processes=report.processes.from_run))
    assert report.findings == fresh.findings and report.resume == fresh.resume and report.processes == fresh.processes
    res = CliRunner().invoke(app, ["inspect", str(run), "--latest", "--json"])
    assert res.exit_code == report.exit_code and json.loads(res.stdout)["checkpoints"][0]["num_processes"]["value"] == 2
