"""Every --json document (inspect, repair, restore, explain, error: real outputs) validates against the schema
shipped in the package (ckptfix/schema/ckptfix.schema.json, what `ckptfix schema` prints), and that file is
the schema generated from the result model (ckptfix/api/results.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.analysis.findings import RULES
from ckptfix.api import fleet_results, restore_results, results
from ckptfix.api.results import Result
from ckptfix.api.schema import documents, generate, schema
from ckptfix.links import SCHEMA_ID
from tests.helpers import FIXTURES

SCHEMA = schema()
VALIDATOR = Draft202012Validator(SCHEMA)
FOLDERS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and any(p.glob("checkpoint-*/")))
TRAINERS = sorted(p.name for p in (FIXTURES / "trainers").iterdir() if p.is_dir())


def document(*args: object) -> dict:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code in (0, 1, 3), res.output
    return json.loads(res.stdout)


def valid(doc: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message[:300]}" for e in errors[:5])


def test_the_schema_is_a_valid_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == SCHEMA_ID


def test_the_shipped_schema_is_the_one_the_result_model_generates() -> None:
    """python docs/make_transcripts.py writes it; a field added to a result without it fails here."""
    assert generate() == SCHEMA


def test_every_result_record_is_in_the_schema_with_exactly_its_fields() -> None:
    records = {c for m in (results, restore_results, fleet_results) for c in vars(m).values()
               if isinstance(c, type) and issubclass(c, Result) and c is not Result}
    defs = SCHEMA["$defs"]
    names = {c: "".join("_" + ch.lower() if ch.isupper() else ch for ch in c.__name__).lstrip("_") for c in records}
    assert set(names.values()) == set(defs), "a result record the schema does not describe, or the reverse"
    for c, name in names.items():
        assert defs[name]["required"] == list(c.__record_fields__) == list(defs[name]["properties"])
        assert defs[name]["additionalProperties"] is False
    assert [d["$ref"] for d in SCHEMA["oneOf"]] == [f"#/$defs/{names[d]}" for d in documents()]


def test_ckptfix_schema_prints_the_shipped_file() -> None:
    res = CliRunner().invoke(app, ["schema"])
    assert res.exit_code == 0 and json.loads(res.stdout) == SCHEMA


def test_explain_documents() -> None:
    every = document("explain", "--json")
    valid(every)
    assert [c["code"] for c in every["codes"]] == list(RULES)
    one = document("explain", "t-cur-wrong", "--json")
    valid(one)
    assert one["codes"] == [c for c in every["codes"] if c["code"] == "CKF020"]
    assert set(one["codes"][0]) == {"code", "name", "severity", "summary", "explanation", "fix", "repair"}
    res = CliRunner().invoke(app, ["explain", "CKF999", "--json"])
    assert res.exit_code == 2
    valid(json.loads(res.stdout))


@pytest.mark.parametrize("folder", FOLDERS + [f"trainers/{t}" for t in TRAINERS])
def test_inspect_documents(folder: str) -> None:
    doc = document("inspect", FIXTURES / folder, "--json")
    valid(doc)
    assert doc["tool"]["command"] == "inspect"


@pytest.mark.parametrize("folder", FOLDERS)
def test_repair_dry_run_documents(folder: str) -> None:
    valid(document("repair", FIXTURES / folder, "--json", "--dry-run"))


def test_applied_created_refused_and_patched_repair_documents(tmp_path: Path) -> None:
    for name in ("sine-v2", "missing-scheduler", "hostile", "step-mismatch"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    docs = [
        document("repair", tmp_path / "sine-v2", "--json", "--optimizer-lr"),
        document("repair", tmp_path / "missing-scheduler", "--json"),  # refused: needs --lr-warmup-steps
        document("repair", tmp_path / "missing-scheduler", "--json", "--lr-warmup-steps", "10"),
        document("repair", tmp_path / "hostile", "--json"),  # refused, exit 3
        # N: one random_states file is a lower bound for SimpleTuner < 4.9.3 (only rank 0 saves)
        document("repair", tmp_path / "step-mismatch", "--json", "--step", "25", "--num-processes", "1"),
    ]
    assert [d["checkpoints"][0]["status"] for d in docs] == ["applied", "refused", "applied", "refused", "applied"]
    for doc in docs:
        valid(doc)


def test_error_documents(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["inspect", str(tmp_path / "nope"), "--json"])
    assert res.exit_code == 2
    doc = json.loads(res.stdout)
    valid(doc)
    assert doc["status"] == "usage-error" and doc["checkpoints"] == []
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint-5-tmp").mkdir()  # a first save still being written: nothing to resume
    res = CliRunner().invoke(app, ["inspect", str(tmp_path / "run"), "--latest", "--json"])
    assert res.exit_code == 4
    valid(json.loads(res.stdout))


def test_the_schema_refuses_what_ckptfix_never_prints() -> None:
    doc = document("inspect", FIXTURES / "sine-v1", "--json")
    doc["checkpoints"][0]["findings"][0]["severity"] = "critical"
    assert not VALIDATOR.is_valid(doc)
    doc = document("inspect", FIXTURES / "sine-v1", "--json")
    doc["checkpoints"][0]["surprise"] = 1
    assert not VALIDATOR.is_valid(doc)
    doc = document("inspect", FIXTURES / "sine-v1", "--json")
    del doc["next"]["ready"]
    assert not VALIDATOR.is_valid(doc)
    doc = document("explain", "CKF030", "--json")
    doc["codes"][0]["severity"] = "critical"
    assert not VALIDATOR.is_valid(doc)


def test_restore_documents(tmp_path: Path) -> None:
    """restore --json (restored, dry run, nothing to restore, refused), --list --json, --prune --json."""
    shutil.copytree(FIXTURES / "sine-v2", tmp_path / "run")
    ck = tmp_path / "run" / "checkpoint-30"

    def doc(*args: object, code: int = 0) -> dict:
        res = CliRunner().invoke(app, ["restore", str(ck), "--json", *map(str, args)])
        assert res.exit_code == code, res.output
        d = json.loads(res.stdout)
        valid(d)
        assert d["tool"]["command"] == "restore"
        return d

    assert doc()["nothing_to_restore"] is True
    assert doc("--list")["checkpoints"][0]["backups"] == []
    assert CliRunner().invoke(app, ["repair", str(ck), "--optimizer-lr"]).exit_code == 0
    listed = doc("--list")
    assert listed["mode"] == "list" and listed["checkpoints"][0]["next"] == listed["checkpoints"][0]["backups"][0]["name"]
    assert doc("--dry-run")["checkpoints"][0]["status"] == "dry-run"
    assert doc()["checkpoints"][0]["status"] == "restored"
    assert doc("--prune", "--keep", "0", "--dry-run")["checkpoints"][0]["status"] == "dry-run"
    assert CliRunner().invoke(app, ["repair", str(ck)]).exit_code == 1  # scheduler.bin only: optimizer.bin's lr left (CKF115)
    (backup,) = [p for p in sorted((ck / ".ckptfix").glob("backup-*")) if not (p / "restored.json").exists()]
    (backup / "manifest.json").write_text('{"files": [{"file": "model.safetensors", "action": "rewrite"}]}')
    refused = doc(code=3)
    assert refused["status"] == "unreadable" and refused["checkpoints"][0]["backup"]["problem"]
    valid(doc("--list", code=3))
    assert doc("--prune", "--keep", "0")["checkpoints"][0]["left"]
    res = CliRunner().invoke(app, ["restore", str(ck), "--json", "--backup", "nope"])
    assert res.exit_code == 2
    valid(json.loads(res.stdout))
