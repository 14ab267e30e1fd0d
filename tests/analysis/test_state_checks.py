"""The gate reads the trainer's state files as the trainer does (issue 19, items 5 and 6).

Each case edits the JSON of a real checkpoint (SimpleTuner 3.1.6 runs, kohya sd-scripts, the transformers
Trainer: ``fixtures/``), then checks ckptfix's verdict against what the trainer's own code does with the same
file: SimpleTuner's ``StateTracker``, ``Sine`` and resume glue through ``fixtures/simpletuner_runs/harness.py``;
the transformers Trainer's ``TrainerState.load_from_json`` and ``train(resume_from_checkpoint=...)`` when
transformers is installed; kohya's load hook reads ``json.load(open(path, encoding="utf-8"))`` (its line,
``train_network.py`` L966-968, run as written).
"""

from __future__ import annotations

import codecs
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.analysis.report import RulesChoice
from ckptfix.analysis.state_checks import state_file_findings
from ckptfix.model.load import load_checkpoint
from ckptfix.model.readers import RESUME_KEYS
from ckptfix.model.trainers import KOHYA, SIMPLETUNER, TRANSFORMERS
from tests.helpers import FIXTURES, tree_hashes

RUNS = FIXTURES / "simpletuner_runs"
sys.path.insert(0, str(RUNS))

import harness  # noqa: E402

needs_simpletuner = pytest.mark.skipif(
    importlib.util.find_spec("simpletuner") is None and not os.environ.get("CI"),
    reason="simpletuner 3.1.6 not installed (fixtures/simpletuner_runs/README.md)",
)
CASE = "a-n1-no-boundary"  # N = 1, T_0 = 10; checkpoint-25-rolling sits mid-cycle (the LR depends on the position)
ST_316 = "simpletuner==3.1.6"
Q = 1.5e-9


def run(*args: object) -> tuple[int, dict]:
    r = CliRunner().invoke(app, [str(a) for a in args] + ["--json"])
    return r.exit_code, json.loads(r.stdout)


def findings(doc: dict) -> list[dict]:
    return [f for c in doc["checkpoints"] for f in c["findings"]]


def codes(doc: dict) -> list[str]:
    return [f["code"] for f in findings(doc)]


def st_copy(tmp_path: Path, value: bytes | None, key: str = "epoch_step", folder: str = "checkpoint-25-rolling",
            case: str = CASE, variant: str = "fixed") -> Path:
    """The SimpleTuner checkpoint (``fixed``: the fixed formula's; ``stock``: SimpleTuner's v2) with ``key`` set to
    the JSON text ``value`` (None: removed)."""
    ck = tmp_path / variant / folder
    shutil.copytree(RUNS / case / variant / folder, ck)
    p = ck / "training_state.json"
    data = json.loads(p.read_text())
    old = f'"{key}": {json.dumps(data[key])}'.encode()
    raw = p.read_bytes()
    assert raw.count(old) == 1
    raw = raw.replace(old + b", ", b"") if value is None else raw.replace(old, f'"{key}": '.encode() + value)
    p.write_bytes(raw)
    return ck


def simpletuner_resume(ck: Path, formula: str = "sine", glue: str = "3.1.6") -> harness.ResumeResult:
    return harness.resume(ck, harness.load_case(CASE)["params"], glue=glue, formula=formula, steps=4)


def off_schedule(result: harness.ResumeResult, variant: str) -> bool:
    want = harness.expected_lrs(CASE, variant)
    return any(abs(lr - want[k]) > Q for k, lr in result.lrs.items() if k in want)


# --- item 5: epoch_step values SimpleTuner before 4.10 cannot use -------------------------------------------

# (JSON text, words of the message, what SimpleTuner 3.1.6 does with the fixed formula (ckptfix's Sine, the recipe),
# and with its own v2 Sine: "crash" (the resume raises), "frozen" (every scheduler step raises, the trainer logs it
# and trains on at optimizer.bin's LR), "off" (resumes off the uninterrupted run), "on")
EPOCH_STEP_CASES = {
    "true": (b"true", "takes it as 1 or 0", "off", "off"),
    "null": (b"null", "raises a TypeError right after load_state", "crash", "crash"),
    "string": (b'"25"', "the schedule is frozen", "frozen", "frozen"),
    "fraction": (b"25.5", "stock v2 runs between its steps", "frozen", "off"),
    "list": (b"[25]", "the schedule is frozen", "frozen", "frozen"),
    "object": (b'{"step": 25}', "raises a TypeError right after load_state", "crash", "crash"),
    "1e400": (b"1e400", "NaN or infinite", "frozen", "frozen"),
    "nan": (b"NaN", "NaN or infinite", "frozen", "frozen"),
    "float": (b"25.0", "ckptfix's Sine (the fixed formula) raises", "frozen", "on"),
    "negative": (b"-5", "stock v2 stops moving", "frozen", "off"),
}


@pytest.mark.parametrize("name", sorted(EPOCH_STEP_CASES))
def test_epoch_step_the_resume_cannot_use_is_a_finding(tmp_path: Path, name: str) -> None:
    text, words, _fixed, _stock = EPOCH_STEP_CASES[name]
    ck = st_copy(tmp_path, text)
    code, doc = run("inspect", ck, "--trainer", ST_316)
    assert code == 1, doc
    (f,) = findings(doc)  # one finding: no resume preview of a value the resume cannot use (no CKF111 beside it)
    assert f["code"] == "CKF119" and f["key"] == "epoch_step" and f["file"].endswith("training_state.json")
    assert words in f["message"] and "SimpleTuner" in f["message"]
    code, doc = run("inspect", ck, "--trainer", "simpletuner==4.10.1")  # 4.10 does not read epoch_step
    assert code == 0 and codes(doc) == [], doc


@needs_simpletuner
@pytest.mark.parametrize("name", sorted(EPOCH_STEP_CASES))
def test_what_simpletuner_does_with_that_epoch_step(tmp_path: Path, name: str) -> None:
    """The finding's claims, by SimpleTuner 3.1.6's own resume: it stops, its schedule freezes (every step raises,
    the trainer logs it and trains on at optimizer.bin's LR), or it resumes off the uninterrupted run."""
    text, _words, fixed, stock = EPOCH_STEP_CASES[name]
    for formula, variant, expected in (("sine", "fixed", fixed), ("simpletuner", "stock", stock)):
        ck = st_copy(tmp_path, text, variant=variant)
        if expected == "crash":
            with pytest.raises(TypeError):
                simpletuner_resume(ck, formula)
            continue
        r = simpletuner_resume(ck, formula)
        assert bool(r.scheduler_errors) == (expected == "frozen"), (formula, r.scheduler_errors)
        if expected == "frozen":
            assert len(set(r.lrs.values())) == 1  # the LR never moves
        assert off_schedule(r, variant) == (expected != "on"), formula


@needs_simpletuner
def test_a_missing_epoch_step_is_0_to_simpletuner(tmp_path: Path) -> None:
    """StateTracker.load_training_state defaults epoch_step to 0 and the resume's own fallback to global_step
    never applies: last_epoch = 0, the schedule restarts (CKF111, saying so); repair adds the step."""
    ck = st_copy(tmp_path, None)
    r = simpletuner_resume(ck)
    assert r.last_epoch == 0 and off_schedule(r, "fixed")
    code, doc = run("inspect", ck, "--trainer", ST_316)
    (f,) = findings(doc)
    assert code == 1 and f["code"] == "CKF111" and "has no epoch_step: SimpleTuner reads 0" in f["message"]
    code, doc = run("repair", ck, "--trainer", ST_316)
    assert code == 0, doc
    assert json.loads((ck / "training_state.json").read_text())["epoch_step"] == 25
    assert list(json.loads((ck / "training_state.json").read_text()))[:2] == ["global_step", "epoch_step"]
    assert not off_schedule(simpletuner_resume(ck), "fixed")


@needs_simpletuner
@pytest.mark.parametrize("name", ["true", "string", "fraction", "1e400", "float", "negative"])
def test_repair_writes_the_integer_step_and_the_resume_holds(tmp_path: Path, name: str) -> None:
    text = EPOCH_STEP_CASES[name][0]
    ck = st_copy(tmp_path, text)
    before = (ck / "training_state.json").read_bytes()
    code, doc = run("repair", ck, "--trainer", ST_316)
    assert code == 0, doc
    after = (ck / "training_state.json").read_bytes()
    assert after == before.replace(b'"epoch_step": ' + text, b'"epoch_step": 25')  # only the value changed
    assert run("inspect", ck, "--trainer", ST_316)[0] == 0
    assert not off_schedule(simpletuner_resume(ck), "fixed")
    code, doc = run("repair", ck, "--trainer", ST_316)  # idempotent: nothing left
    assert code == 0 and doc["checkpoints"][0]["status"] == "nothing"


def test_epoch_step_22_0_is_repaired_not_reported_as_changed_on_every_run(tmp_path: Path) -> None:
    """Issue 19: ``epoch_step: 22.0`` made repair say "changed since the plan was made; run repair again" on every
    run (the plan expected the int 22). It now writes the integer step."""
    ck = tmp_path / "checkpoint-20"
    shutil.copytree(RUNS / "b-n1-7-batches-per-epoch" / "fixed" / "checkpoint-20", ck)
    p = ck / "training_state.json"
    p.write_bytes(p.read_bytes().replace(b'"epoch_step": 22', b'"epoch_step": 22.0'))
    code, doc = run("repair", ck, "--trainer", ST_316)
    assert code == 0 and doc["checkpoints"][0]["status"] == "applied", doc
    assert json.loads(p.read_text())["epoch_step"] == 20 and b"22.0" not in p.read_bytes()
    code, doc = run("repair", ck, "--trainer", ST_316)
    assert code == 0 and doc["checkpoints"][0]["status"] == "nothing"


# --- item 5: global_step values (every SimpleTuner release reads it) ---------------------------------------

GLOBAL_STEP_CASES = {
    "null": (b"null", "the resume stops with a TypeError"),
    "string": (b'"25"', "the resume stops with a TypeError"),
    "list": (b"[25]", "the resume stops with a TypeError"),
    "true": (b"true", "computes with it as 1 or 0"),
    "float": (b"25.0", "saves checkpoint-40.0"),
    "fraction": (b"25.5", "saves checkpoint-40.5"),
    "1e400": (b"1e400", "no number any more"),
    "negative": (b"-5", "from a negative number"),
    "huge": (b"9223372036854775808", "trains nothing"),
    "missing": (None, "takes global_step 0"),
}


@pytest.mark.parametrize("name", sorted(GLOBAL_STEP_CASES))
def test_global_step_the_resume_cannot_use_is_a_finding_not_unreadable(tmp_path: Path, name: str) -> None:
    """The file is read (exit 1, not 3): the step comes from the folder name and the optimizer; the message says
    what SimpleTuner's resume does; repair refuses (it does not rewrite global_step) and writes nothing."""
    text, words = GLOBAL_STEP_CASES[name]
    ck = st_copy(tmp_path, text, key="global_step")
    code, doc = run("inspect", ck, "--trainer", ST_316)
    assert code == 1, doc
    (f,) = [f for f in findings(doc) if f["code"] == "CKF117"]
    assert f["key"] == "global_step" and words in f["message"]
    assert doc["checkpoints"][0]["steps"]["chosen"] == 25
    before = tree_hashes(ck)
    code, doc = run("repair", ck, "--trainer", ST_316)
    assert code == 1 and tree_hashes(ck) == before


@needs_simpletuner
@pytest.mark.parametrize("name,raises", [("null", True), ("string", True), ("list", True), ("true", False),
                                         ("missing", False)])
def test_what_simpletuner_does_with_that_global_step(tmp_path: Path, name: str, raises: bool) -> None:
    ck = st_copy(tmp_path, GLOBAL_STEP_CASES[name][0], key="global_step")
    for glue in ("3.1.6", "4.10.1"):
        if raises:
            with pytest.raises(TypeError):
                simpletuner_resume(ck, glue=glue)
        else:
            r = simpletuner_resume(ck, glue=glue)
            assert r.global_step in (0, 1) and min(r.lrs) == r.global_step + 1  # counts from 0 or 1, not from 25


# --- item 6: encodings SimpleTuner's json.load(open(path)) cannot read --------------------------------------

ENCODINGS = {"bom": "UTF-8 with a byte-order mark", "utf-16": "UTF-16-LE", "utf-16-be": "UTF-16-BE",
             "utf-32": "UTF-32-LE"}


def encoded(text: str, encoding: str) -> bytes:
    return codecs.BOM_UTF8 + text.encode() if encoding == "bom" else text.encode(encoding)


@needs_simpletuner
@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_an_encoding_simpletuner_cannot_read_is_a_finding_and_repair_re_encodes_it(tmp_path: Path, encoding: str) -> None:
    ck = st_copy(tmp_path, b"25")  # unchanged
    p = ck / "training_state.json"
    text = p.read_text()
    p.write_bytes(encoded(text, encoding))
    original = p.read_bytes()
    # SimpleTuner: StateTracker.load_training_state fails to decode it, logs, and the resume starts from step 0
    r = simpletuner_resume(ck)
    assert (r.global_step, r.last_epoch) == (0, 0) and min(r.lrs) == 1
    code, doc = run("inspect", ck, "--trainer", ST_316)
    (f,) = findings(doc)
    assert code == 1 and f["code"] == "CKF006" and ENCODINGS[encoding] in f["message"]
    assert "resumes with global_step 0 and epoch_step 0" in f["message"]
    code, doc = run("repair", ck, "--trainer", ST_316)
    assert code == 0, doc
    assert p.read_bytes() == text.encode("utf-8")  # plain UTF-8, every character of the text kept
    assert run("inspect", ck, "--trainer", ST_316)[0] == 0
    r = simpletuner_resume(ck)
    assert r.global_step == 25 and not off_schedule(r, "fixed")
    assert CliRunner().invoke(app, ["restore", str(ck)]).exit_code == 0
    assert p.read_bytes() == original  # ckptfix restore puts the original bytes back


def test_re_encoding_and_the_epoch_step_in_one_write(tmp_path: Path) -> None:
    ck = st_copy(tmp_path, b"25.0")
    p = ck / "training_state.json"
    p.write_bytes(p.read_text().encode("utf-16"))
    code, doc = run("repair", ck, "--trainer", ST_316, "--dry-run")
    (plan,) = doc["checkpoints"]
    changes = {c["key"]: (c["old"], c["new"]) for c in plan["changes"]}
    assert code == 1 and changes == {"(encoding)": ("UTF-16-LE", "UTF-8"), "epoch_step": (25.0, 25)}, plan
    assert run("repair", ck, "--trainer", ST_316)[0] == 0
    assert p.read_bytes().startswith(b'{"global_step": 25, "epoch_step": 25, ')


def test_a_rank_file_is_checked_and_repaired_too(tmp_path: Path) -> None:
    ck = st_copy(tmp_path, b"25")
    rank = ck / "training_state-rank1.json"
    rank.write_bytes(encoded((ck / "training_state.json").read_text().replace('"epoch_step": 25', '"epoch_step": true'),
                             "bom"))
    code, doc = run("inspect", ck, "--trainer", ST_316, "--num-processes", "1")
    assert code == 1 and sorted((f["code"], Path(f["file"]).name) for f in findings(doc)) == [
        ("CKF006", "training_state-rank1.json"), ("CKF119", "training_state-rank1.json")]
    assert run("repair", ck, "--trainer", ST_316, "--num-processes", "1")[0] == 0
    assert json.loads(rank.read_bytes())["epoch_step"] == 25 and not rank.read_bytes().startswith(codecs.BOM_UTF8)


# --- kohya sd-scripts' train_state.json ---------------------------------------------------------------------

KOHYA_STATE = FIXTURES / "other_trainers" / "kohya" / "tiny-step00000010-state"


def kohya_copy(tmp_path: Path, raw: bytes) -> Path:
    ck = tmp_path / KOHYA_STATE.name
    shutil.copytree(KOHYA_STATE, ck)
    (ck / "train_state.json").write_bytes(raw)
    return ck


@pytest.mark.parametrize("text,words", [
    (b'{"current_epoch": 1}', "KeyError"), (b'{"current_epoch": 1, "current_step": "10"}', "TypeError"),
    (b'{"current_epoch": 1, "current_step": 10.0}', "range() raises a TypeError"),
    (b'{"current_epoch": 1, "current_step": null}', "does not skip the steps already trained"),
])
def test_kohya_current_step_the_resume_cannot_use(tmp_path: Path, text: bytes, words: str) -> None:
    ck = kohya_copy(tmp_path, text)
    code, doc = run("inspect", ck, "--target", "simpletuner-sine-v2")
    (f,) = [f for f in findings(doc) if f["code"] == "CKF117"]
    assert code == 1 and f["key"] == "current_step" and words in f["message"] and "kohya" in f["message"]


@pytest.mark.parametrize("encoding", ["bom", "utf-16"])
def test_kohya_cannot_read_a_train_state_json_in_another_encoding(tmp_path: Path, encoding: str) -> None:
    text = (KOHYA_STATE / "train_state.json").read_text()
    ck = kohya_copy(tmp_path, encoded(text, encoding))
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):  # kohya's load hook, train_network.py L966-967
        with open(ck / "train_state.json", encoding="utf-8") as f:
            json.load(f)
    code, doc = run("inspect", ck, "--target", "simpletuner-sine-v2")
    (f,) = findings(doc)
    assert code == 1 and f["code"] == "CKF006" and "the resume stops" in f["message"]
    before = tree_hashes(ck)
    code, doc = run("repair", ck, "--target", "simpletuner-sine-v2")  # not re-encoded: the fix says how
    assert code == 1 and tree_hashes(ck) == before


# --- the transformers Trainer's trainer_state.json ------------------------------------------------------------

HF = FIXTURES / "trainers" / "hf-trainer-tf5" / "checkpoint-4"


def hf_copy(tmp_path: Path, key: str | None = None, value: bytes | None = b"", encoding: str | None = None) -> Path:
    ck = tmp_path / "checkpoint-4"
    shutil.copytree(HF, ck)
    p = ck / "trainer_state.json"
    raw = p.read_bytes()
    if key is not None:
        old = f'"{key}": {json.loads(raw)[key]}'.encode()
        assert raw.count(old) == 1
        raw = raw.replace(old + b",", b"") if value is None else raw.replace(old, f'"{key}": '.encode() + value)
    p.write_bytes(encoded(raw.decode(), encoding) if encoding else raw)
    return ck


@pytest.mark.parametrize("key,value,words", [
    ("global_step", b"null", "TypeError"), ("global_step", b"4.0", "cannot be interpreted as an integer"),
    ("global_step", None, "resumes at step 0"), ("global_step", b"NaN", "ValueError"),
    ("logging_steps", b"0", "ZeroDivisionError"), ("logging_steps", b'"2"', "TypeError"),
    ("save_steps", b"null", "TypeError"), ("eval_steps", b"[500]", "TypeError"),
])
def test_trainer_state_values_the_resume_cannot_use(tmp_path: Path, key: str, value: bytes | None, words: str) -> None:
    ck = hf_copy(tmp_path, key, value)
    code, doc = run("inspect", ck)
    (f,) = [f for f in findings(doc) if f["code"] == "CKF117"]
    assert code == 1 and f["key"] == key and words in f["message"]


@pytest.mark.parametrize("encoding", ["bom", "utf-16"])
def test_the_trainer_cannot_read_a_trainer_state_json_in_another_encoding(tmp_path: Path, encoding: str) -> None:
    ck = hf_copy(tmp_path, encoding=encoding)
    code, doc = run("inspect", ck)
    (f,) = findings(doc)
    assert code == 1 and f["code"] == "CKF006" and "TrainerState.load_from_json" in f["message"]


def test_transformers_own_code_agrees(tmp_path: Path) -> None:
    """TrainerState.load_from_json on the files above, and a real resume of the tiny run (transformers only)."""
    callback = pytest.importorskip("transformers.trainer_callback")
    for n, encoding in enumerate(("bom", "utf-16")):
        ck = hf_copy(tmp_path / str(n), encoding=encoding)
        with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
            callback.TrainerState.load_from_json(str(ck / "trainer_state.json"))
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")

    class Tokens(torch.utils.data.Dataset):  # fixtures/trainers/generate.py gen_hf's data and model
        def __len__(self) -> int:
            return 64

        def __getitem__(self, i: int) -> dict:
            g = torch.Generator().manual_seed(i)
            ids = torch.randint(0, 32, (8,), generator=g)
            return {"input_ids": ids, "labels": ids.clone()}

    def resume(ck: Path) -> int:
        torch.manual_seed(0)
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=8,
                                                                     n_layer=1, n_head=2))
        args = transformers.TrainingArguments(
            output_dir=str(ck.parent), max_steps=8, save_strategy="no", logging_steps=2, learning_rate=1e-3,
            lr_scheduler_type="linear", warmup_steps=2, per_device_train_batch_size=4, use_cpu=True,
            report_to="none", seed=0, disable_tqdm=True, dataloader_num_workers=0)
        trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens())
        return trainer.train(resume_from_checkpoint=str(ck)).global_step

    transformers.logging.set_verbosity_error()
    with pytest.raises(TypeError):
        resume(hf_copy(tmp_path / "null", "global_step", b"null"))
    with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
        resume(hf_copy(tmp_path / "float", "global_step", b"4.0"))
    assert resume(hf_copy(tmp_path / "ok")) == 8


# --- the rule itself ------------------------------------------------------------------------------------------

def test_every_resume_value_key_is_one_the_reader_records() -> None:
    """A ResumeValue rule on a key the reader does not record could never fire."""
    for model in (SIMPLETUNER, KOHYA, TRANSFORMERS):
        for rules in model.rules:
            for rv in rules.values:
                assert rv.key in RESUME_KEYS[rv.file], (model.name, rv.key)


def test_findings_name_only_the_releases_that_read_the_value(tmp_path: Path) -> None:
    ck = st_copy(tmp_path, b"true")
    (f,) = state_file_findings(load_checkpoint(ck), RulesChoice("simpletuner", "SimpleTuner", SIMPLETUNER.rules, ""))
    assert "SimpleTuner 1.0 to < 4.9.3, SimpleTuner 4.9.3 to < 4.10.0:" in f.message and ">= 4.10" not in f.message
