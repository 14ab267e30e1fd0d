"""Trainer layouts (issue 7, parts 2-3): Hugging Face Trainer, accelerate + DeepSpeed, accelerate + FSDP (DCP).

The fixtures under ``fixtures/trainers/`` were written by the real packages (see its README); the
``hf-trainer-edited`` one is a hand-edited copy of a real checkpoint, and a few negative cases below are
made by editing the decoded model (``ckptfix.records.replace``) or a temporary copy of a fixture.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from ckptfix.analysis.checks import analyse
from ckptfix.analysis.report import Options
from ckptfix.analysis.trainer_checks import logs_post_step_lr, trainer_findings
from ckptfix.errors import UnsafePickle
from ckptfix.formats.allowlist import DEEPSPEED_STATE, TORCH_STATE
from ckptfix.formats.dcp import decode_metadata
from ckptfix.formats.source import LOCAL
from ckptfix.formats.torchfile import open_torch_file
from ckptfix.model.checkpoint import SchedulerFile
from ckptfix.model.discover import discover
from ckptfix.model.layouts import layout_of
from ckptfix.model.layouts.hf_trainer import count_processes, last_logged_lr
from ckptfix.model.load import load_checkpoint
from ckptfix.records import replace
from tests.helpers import ROOT

pytestmark = pytest.mark.smoke  # runs from the wheel on every Python, without torch (.ci/run)

TRAINERS = ROOT / "fixtures" / "trainers"
HF4 = TRAINERS / "hf-trainer-tf4" / "checkpoint-8"
HF5 = TRAINERS / "hf-trainer-tf5" / "checkpoint-8"
HF_EDITED = TRAINERS / "hf-trainer-edited" / "checkpoint-8"
DS = TRAINERS / "accelerate-deepspeed" / "checkpoint-6"
DS_WARMUP = TRAINERS / "accelerate-deepspeed-warmuplr" / "checkpoint-6"
FSDP = TRAINERS / "accelerate-fsdp" / "checkpoint-6"


def codes(report) -> list[str]:
    return sorted(f.code for f in report.findings)


@pytest.fixture(autouse=True)
def no_torch_import():
    """The read path never imports torch (nor transformers / deepspeed)."""
    before = {m for m in ("torch", "transformers", "deepspeed") if m in sys.modules}
    yield
    after = {m for m in ("torch", "transformers", "deepspeed") if m in sys.modules}
    assert after <= before, f"imported on the read path: {after - before}"


# -- detection ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("folder,name", [
    (HF4, "hf-trainer"), (HF5, "hf-trainer"), (HF_EDITED, "hf-trainer"),
    (DS, "deepspeed"), (DS_WARMUP, "deepspeed"), (FSDP, "fsdp"),
    (ROOT / "fixtures" / "sine-ok" / "checkpoint-30", "accelerate"),
    (ROOT / "fixtures" / "lambdalr" / "checkpoint-30", "accelerate"),
])
def test_detect_layout(folder: Path, name: str) -> None:
    assert layout_of(folder).name == name
    assert load_checkpoint(folder).layout == name


def test_existing_accelerate_fixtures_keep_their_layout() -> None:
    for ck in sorted((ROOT / "fixtures").glob("*/checkpoint-*")):
        if ck.is_dir():
            assert layout_of(ck).name == "accelerate", ck


def test_discover_hf_output_folder() -> None:
    d = discover(TRAINERS / "hf-trainer-tf5")
    assert [p.name for p in d.checkpoints] == ["checkpoint-4", "checkpoint-8"]
    assert d.latest is not None and d.latest.name == "checkpoint-8"


# -- Hugging Face Trainer -------------------------------------------------------------------------------
@pytest.mark.parametrize("folder,version", [(HF4, "4.50.3"), (HF5, "5.24.0")])
def test_hf_trainer_reads_step_scheduler_optimizer(folder: Path, version: str) -> None:
    ck = load_checkpoint(folder)
    assert ck.trainer_state is not None and ck.trainer_state.global_step == 8
    assert ck.trainer_state.max_steps == 8 and ck.trainer_state.logging_steps == 2
    assert ck.trainer_state.transformers_version == version
    assert ck.training_state is not None and ck.training_state.global_step == 8
    assert ck.training_state.source == "trainer_state.json"
    assert ck.num_processes == 1  # one rng_state.pth
    [sf] = ck.schedulers
    assert sf.path.name == "scheduler.pt" and sf.state["last_epoch"] == 8 and "lr_lambdas" in sf.state
    [of] = ck.optimizers
    assert of.path.name == "optimizer.pt" and of.step.value == 8 and of.step.family == "torch-adamw"
    assert [g.lr for g in of.param_groups] == [0.0, 0.0]  # linear decay to 0 at max_steps
    assert [w.path.name for w in ck.weights] == ["model.safetensors"]
    report = analyse(ck)
    assert report.steps.chosen == 8 and report.steps.agree
    assert report.schedulers[0].profile == "unchecked"
    assert report.exit_code == 0 and codes(report) == []


def test_hf_trainer_logged_lr_semantics_by_version() -> None:
    # < 4.51 logs the post-step LR (= optimizer lr); >= 4.51 the LR of the step just taken (PR #36973)
    assert load_checkpoint(HF4).trainer_state.last_logged_lr.learning_rate == 0.0
    logged5 = load_checkpoint(HF5).trainer_state.last_logged_lr
    assert logged5.step == 8 and logged5.learning_rate == pytest.approx(1e-3 / 6)  # LR at last_epoch 7
    assert logs_post_step_lr("4.50.3") is True
    assert logs_post_step_lr("4.51.0") is False and logs_post_step_lr("5.24.0") is False
    assert logs_post_step_lr(None) is None and logs_post_step_lr("main") is None


def test_hf_trainer_edited_findings() -> None:
    report = analyse(load_checkpoint(HF_EDITED))
    assert codes(report) == ["CKF100", "CKF101"]
    by = {f.code: f for f in report.findings}
    assert (by["CKF100"].found, by["CKF100"].expected) == (6, 8)
    assert (by["CKF101"].found, by["CKF101"].expected) == (5e-4, 0.0)
    assert report.exit_code == 1


def test_hf_logged_lr_not_compared_for_new_transformers() -> None:
    ck = load_checkpoint(HF5)
    ts = replace(ck.trainer_state, last_logged_lr=replace(ck.trainer_state.last_logged_lr, learning_rate=0.5))
    assert trainer_findings(replace(ck, trainer_state=ts), analyse(ck).steps) == []
    ts_old = replace(ts, transformers_version="4.40.0")
    assert [f.code for f in trainer_findings(replace(ck, trainer_state=ts_old), analyse(ck).steps)] == ["CKF101"]


def test_hf_step_disagreement_uses_existing_rule(tmp_path: Path) -> None:
    dst = tmp_path / "checkpoint-8"
    shutil.copytree(HF4, dst)
    state = json.loads((dst / "trainer_state.json").read_text())
    state["global_step"] = 7
    (dst / "trainer_state.json").write_text(json.dumps(state))
    report = analyse(load_checkpoint(dst))
    assert "CKF010" in codes(report)  # trainer_state says 7, folder and optimizer 8
    assert "CKF100" in codes(report)  # last_epoch 8 vs global_step 7


def test_hf_unreadable_trainer_state_is_exit_3(tmp_path: Path) -> None:
    dst = tmp_path / "checkpoint-8"
    shutil.copytree(HF4, dst)
    (dst / "trainer_state.json").write_text("{not json")
    report = analyse(load_checkpoint(dst))
    assert report.exit_code == 3 and "CKF002" in codes(report)


def test_hf_rng_state_counts() -> None:
    assert count_processes(["rng_state.pth"]) == 1
    assert count_processes(["rng_state_0.pth", "rng_state_1.pth", "rng_state_2.pth"]) == 3
    assert count_processes(["optimizer.pt"]) == 0


def test_last_logged_lr_ignores_odd_entries() -> None:
    hist = [{"step": 2, "learning_rate": 1e-3}, {"step": 4, "loss": 1.0}, "x", {"step": 3, "learning_rate": "nan"},
            {"step": True, "learning_rate": 2e-3}, {"step": 3, "learning_rate": 5e-4}]
    got = last_logged_lr(hist)
    assert (got.step, got.learning_rate) == (3, 5e-4)
    assert last_logged_lr(None) is None


# -- accelerate + DeepSpeed -----------------------------------------------------------------------------
def test_deepspeed_torch_scheduler_in_scheduler_bin() -> None:
    ck = load_checkpoint(DS)
    e = ck.engine
    assert (e.tag, e.global_steps, e.skipped_steps, e.global_samples) == ("pytorch_model", 6, 0, 24)
    assert (e.zero_stage, e.ds_version, e.has_lr_scheduler, e.optim_shards) == (1, "0.19.8", False, 1)
    assert ck.training_state.global_step == 6 and ck.training_state.source == "deepspeed global_steps"
    assert [s.path.name for s in ck.schedulers] == ["scheduler.bin"]  # accelerate kept the LambdaLR
    assert ck.schedulers[0].state["last_epoch"] == 6
    [of] = ck.optimizers
    assert of.path.name == "zero_pp_rank_0_mp_rank_00_optim_states.pt" and of.step.value == 6
    assert of.bytes_read < 6000  # metadata only: the fp32 partition is never read
    report = analyse(ck)
    assert report.exit_code == 0 and codes(report) == []


def test_deepspeed_owned_scheduler_in_model_states() -> None:
    ck = load_checkpoint(DS_WARMUP)
    assert ck.engine.has_lr_scheduler
    [sf] = ck.schedulers  # no scheduler.bin: accelerate handed WarmupLR to DeepSpeed
    assert sf.path.name == "mp_rank_00_model_states.pt" and sf.state == {"last_batch_iteration": 5}
    report = analyse(ck)
    assert "CKF001" not in codes(report)  # the scheduler is not missing: DeepSpeed holds it
    assert report.exit_code == 0 and codes(report) == []


def test_deepspeed_scheduler_position_and_step_findings() -> None:
    ck = load_checkpoint(DS_WARMUP)
    steps = analyse(ck).steps
    sf = ck.schedulers[0]
    behind = replace(ck, schedulers=(SchedulerFile(sf.path, {"last_batch_iteration": 3}, sf.format),))
    [f] = trainer_findings(behind, steps)
    assert (f.code, f.found, f.expected) == ("CKF103", 3, 5)
    skipped = replace(ck, engine=replace(ck.engine, skipped_steps=2),
                      schedulers=(SchedulerFile(sf.path, {"last_batch_iteration": 3}, sf.format),))
    assert trainer_findings(skipped, steps) == []  # 6 steps, 2 skipped for overflow: 4 scheduler steps
    torch_sched = replace(ck, schedulers=(SchedulerFile(sf.path, {"last_epoch": 6, "lr_lambdas": [None]}, sf.format),))
    assert trainer_findings(torch_sched, steps) == []
    from ckptfix.model.checkpoint import TrainingState
    other = replace(ck, training_state=TrainingState(ck.path / "training_state.json", 7, 7, 1))
    assert [f.code for f in trainer_findings(other, steps)] == ["CKF102"]


def test_deepspeed_files_need_their_own_allowlist() -> None:
    zero = DS / "pytorch_model" / "zero_pp_rank_0_mp_rank_00_optim_states.pt"
    with pytest.raises(UnsafePickle) as exc:
        open_torch_file(zero, TORCH_STATE)
    assert {(m, n) for m, n, _ in exc.value.refused} == {
        ("deepspeed.runtime.fp16.loss_scaler", "LossScaler"),
        ("deepspeed.runtime.zero.config", "ZeroStageEnum"),
        ("deepspeed.utils.tensor_fragment", "fragment_address"),
    }
    with open_torch_file(zero, DEEPSPEED_STATE) as tf:
        assert tf.obj["optimizer_state_dict"]["zero_stage"].args == (1,)


def test_deepspeed_latest_fallback_and_refused_global(tmp_path: Path) -> None:
    dst = tmp_path / "checkpoint-6"
    shutil.copytree(DS, dst)
    (dst / "latest").write_text("../elsewhere")  # never followed outside the folder
    assert load_checkpoint(dst).engine.tag == "pytorch_model"
    # a model-states file asking for a global outside DEEPSPEED_STATE is refused: exit 3
    bad = dst / "pytorch_model" / "mp_rank_00_model_states.pt"
    shutil.copy(ROOT / "fixtures" / "hostile" / "checkpoint-30" / "scheduler.bin", bad)
    report = analyse(load_checkpoint(dst))
    assert report.exit_code == 3 and "CKF003" in codes(report)
    assert not Path((ROOT / "fixtures" / "hostile" / "MARKER").read_text()).exists()


# -- accelerate + FSDP (DCP sharded state) --------------------------------------------------------------
def test_fsdp_reads_metadata_and_step() -> None:
    ck = load_checkpoint(FSDP)
    assert [s.path.name for s in ck.sharded] == ["optimizer_0", "pytorch_model_fsdp_0"]
    opt_dir, model_dir = ck.sharded
    assert (opt_dir.entries, opt_dir.step_entries, opt_dir.shards, opt_dir.missing_shards) == (25, 4, ("__0_0.distcp",), ())
    assert opt_dir.dcp_version == "1.0.0" and model_dir.entries == 4
    [of] = ck.optimizers
    assert of.path.name == ".metadata" and of.step.value == 6
    shard_size = (FSDP / "optimizer_0" / "__0_0.distcp").stat().st_size
    assert of.bytes_read - (FSDP / "optimizer_0" / ".metadata").stat().st_size < shard_size / 4  # step blobs only
    assert [s.path.name for s in ck.schedulers] == ["scheduler.bin"]
    report = analyse(ck)
    assert report.steps.optimizer == 6 and report.steps.chosen == 6
    assert report.exit_code == 0 and codes(report) == []


def test_fsdp_metadata_records() -> None:
    with LOCAL.open(FSDP / "optimizer_0" / ".metadata") as src:
        meta = decode_metadata(src)
    sdm = meta.get("state_dict_metadata")
    step = sdm["optimizer.state.0.weight.step"]
    assert step.kind.endswith("TensorStorageMetadata") and step.get("size") == ()
    assert sdm["optimizer.state.0.weight.exp_avg"].get("size") == (8, 4)


def test_fsdp_missing_shard_is_exit_3(tmp_path: Path) -> None:
    dst = tmp_path / "checkpoint-6"
    shutil.copytree(FSDP, dst)
    (dst / "optimizer_0" / "__0_0.distcp").unlink()
    report = analyse(load_checkpoint(dst))
    assert report.exit_code == 3 and "CKF002" in codes(report)


def test_fsdp_truncated_shard_gives_unreadable(tmp_path: Path) -> None:
    dst = tmp_path / "checkpoint-6"
    shutil.copytree(FSDP, dst)
    shard = dst / "optimizer_0" / "__0_0.distcp"
    shard.write_bytes(shard.read_bytes()[:100])
    report = analyse(load_checkpoint(dst))
    assert report.steps.optimizer is None  # never a guessed step
    assert report.exit_code == 3 and "CKF002" in codes(report)
    assert "truncated" in next(f.message for f in report.findings if f.code == "CKF002")


def test_fsdp_hostile_metadata_refused(tmp_path: Path) -> None:
    dst = tmp_path / "checkpoint-6"
    shutil.copytree(FSDP, dst)
    marker = tmp_path / "pwned"
    payload = b"\x80\x02cbuiltins\nexec\nX" + len(f"open({str(marker)!r},'w')".encode()).to_bytes(4, "little") \
        + f"open({str(marker)!r},'w')".encode() + b"\x85R."
    (dst / "optimizer_0" / ".metadata").write_bytes(payload)
    report = analyse(load_checkpoint(dst))
    assert report.exit_code == 3 and "CKF003" in codes(report)
    assert not marker.exists()


def test_options_still_apply_to_trainer_layouts() -> None:
    report = analyse(load_checkpoint(HF4), Options(step=7))
    assert report.steps.chosen == 7 and report.steps.source == "--step"
