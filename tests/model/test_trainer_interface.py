"""Adding a trainer is one module and its registration: a throwaway trainer model, registered here and nowhere
else, is discovered, detected, picked as "latest", given its step and resumed under its own rules through the
``TrainerModel`` interface alone (docs/design.md, "Adding a trainer").

"toytuner" saves ``save-000030`` folders (the step in the name, zero-padded), ``.partial`` while it writes one,
marks its folders with ``toy_progress.json``, resumes the highest complete save, and saves on every rank. Its
checkpoint files are real: the fixture ``sine-ok/checkpoint-30`` (written by torch and accelerate) without
SimpleTuner's own files.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ckptfix.model.trainers as registry
from ckptfix._cli import app
from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.model.discover import discover
from ckptfix.model.trainers.interface import FolderClaim, LatestPick, TrainerModel, TrainerRules, VersionRange, highest
from tests.helpers import FIXTURES

_SAVE = re.compile(r"^save-(\d{6})$")
_PROGRESS = "toy_progress.json"


class ToyTuner(TrainerModel):
    name = "toytuner"
    title = "ToyTuner"
    markers = frozenset({_PROGRESS})
    rules = (TrainerRules("ToyTuner", VersionRange(), "stored", "all", "folder name (save-NNNNNN)", None,
                          verified="nowhere: a test's throwaway", sources=("tests/model/test_trainer_interface.py",)),)

    def detect(self, folder_name: str, names: frozenset[str], parent_name: str = "") -> bool:
        return _PROGRESS in names

    def is_checkpoint_name(self, name: str) -> bool:
        return _SAVE.match(name) is not None

    def claim(self, name: str) -> FolderClaim | None:
        if name.startswith("save-") and name.endswith(".partial"):
            return FolderClaim(None, "an unfinished ToyTuner save (.partial)")
        return super().claim(name)

    def folder_step(self, name: str) -> int | None:
        m = _SAVE.match(name)
        return int(m.group(1)) if m else None

    def latest(self, names: Sequence[str]) -> LatestPick:
        chosen, _ = highest([n for n in names if self.is_checkpoint_name(n)], self.folder_step)
        return LatestPick(chosen, True, "ToyTuner resumes its highest complete save")


TOY = ToyTuner()


@pytest.fixture
def toy_registered(monkeypatch):
    """Registration is the one line a real trainer adds to TRAINERS (before the fallbacks)."""
    monkeypatch.setattr(registry, "TRAINERS", (TOY, *registry.TRAINERS))


def _save(out: Path, name: str) -> Path:
    ck = out / name
    shutil.copytree(FIXTURES / "sine-ok" / "checkpoint-30", ck,
                    ignore=shutil.ignore_patterns("training_state.json", ".guard", "checkpoint_manifest.json"))
    (ck / _PROGRESS).write_text(json.dumps({"done": True}))
    return ck


@pytest.fixture
def toy_run(tmp_path: Path) -> Path:
    out = tmp_path / "toy-out"
    out.mkdir()
    _save(out, "save-000030")
    _save(out, "save-000010")
    (out / "save-000040.partial").mkdir()
    (out / "notes.txt").write_text("not a checkpoint")
    return out


def test_discovery_and_latest_through_the_interface(toy_registered, toy_run: Path) -> None:
    d = discover(toy_run)
    assert d.trainer == "toytuner" and d.trainer_source == "detected from save-000030"
    assert [p.name for p in d.checkpoints] == ["save-000010", "save-000030"]  # by the step its name carries
    assert [(s.path.name, s.reason) for s in d.skipped] == [("save-000040.partial", "an unfinished ToyTuner save (.partial)")]
    assert d.latest == toy_run / "save-000030" and d.latest_sure and d.latest_reason.startswith("ToyTuner resumes")
    single = discover(toy_run / "save-000030")  # one folder: its marker file makes it a checkpoint
    assert single.is_single and single.trainer == "toytuner"


def test_step_and_resume_rules_through_the_interface(toy_registered, toy_run: Path) -> None:
    _disc, (report,) = inspect_path(toy_run, Options(), latest_only=True)
    assert report.checkpoint.trainer == "toytuner"
    assert (report.steps.chosen, report.steps.source) == (30, "folder name")  # ToyTuner.folder_step
    assert report.trainer is not None and report.trainer.rules == TOY.rules
    # saves_on="all": random_states_0.pkl alone says N = 1, under ToyTuner's rules
    assert report.num_processes == 1 and "written by ToyTuner, which saves on every rank" in report.num_processes_source
    assert [p.rules for p in report.resume] == [("ToyTuner",)] and report.resume[0].last_epoch_from == "stored"
    assert report.exit_code == 0


def test_the_cli_takes_it_by_name(toy_registered, toy_run: Path) -> None:
    res = CliRunner().invoke(app, ["inspect", str(toy_run), "--latest", "--json", "--trainer", "toytuner"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["trainer"] == "toytuner" and doc["trainer_source"] == "--trainer"
    assert doc["checkpoints"][0]["trainer"]["name"] == "toytuner"


def test_unregistered_it_is_nobody_s(toy_run: Path) -> None:
    """Without the registration nothing knows it: the folders are no checkpoints, --trainer refuses the name."""
    assert discover(toy_run).checkpoints == ()
    res = CliRunner().invoke(app, ["inspect", str(toy_run), "--json", "--trainer", "toytuner"])
    assert res.exit_code == 2 and "unknown trainer 'toytuner'" in res.output
