"""What a trainer's resume loads from a checkpoint folder: the files without which it stops.

Established from accelerate 1.16's own source (``Accelerator.load_state`` and
``checkpointing.load_accelerator_state``), for the default (no DeepSpeed, FSDP or Megatron) path:

=================================  ===========================================================
file                               what ``load_state`` does
=================================  ===========================================================
``optimizer.bin``, ``optimizer_{i}.bin``   ``torch.load`` for every prepared optimizer, no fallback: **required**
``scheduler.bin``, ``scheduler_{i}.bin``   ``torch.load`` for every prepared scheduler, no fallback: **required**
                                   (schedule-free optimizers prepare none: judged with the optimizer, CKF001)
``model.safetensors`` (else        loaded for every prepared model that no ``register_load_state_pre_hook``
``pytorch_model.bin``)             took away; SimpleTuner and the diffusers scripts pop every model in their
                                   hook and load their own files (``pytorch_lora_weights.safetensors``,
                                   ``unet/diffusion_pytorch_model.safetensors``...): **some weights required**
``custom_checkpoint_{i}.pkl``      counted against the registered objects (a mismatch raises), then each
                                   loaded by index: numbered from 0 without gaps
``random_states_{rank}.pkl``       inside ``try/except``: "Could not load random states" -- **tolerated**
``sampler.bin``, ``dl_state_dict.bin``, ``scaler.pt``   only with a custom sampler, a stateful data loader
                                   (``exists()`` checked first) or fp16 loss scaling: not required here
=================================  ===========================================================

Numbered files follow the prepared objects' order: ``optimizer_1.bin`` without ``optimizer.bin`` cannot
come from ``save_state`` (it writes 0 first) and ``load_state`` would stop at index 0.

Each layout declares what its resume loads (``Layout.resume_files``; the accelerate layout:
``ACCELERATE_LOAD_STATE``); layouts without one (DeepSpeed, FSDP, the Hugging Face Trainer) are judged by
their own loaders' checks until they declare theirs.
"""

from __future__ import annotations

from ckptfix.records import Record

__all__ = ["ACCELERATE_LOAD_STATE", "Required", "ResumeFiles"]


class Required(Record):
    """One thing the resume loads: present when any file of the checkpoint matches one of ``patterns``
    (``fnmatch`` patterns on paths relative to the checkpoint folder, ``/`` separated)."""

    label: str  # what a message names: "optimizer.bin", "model weights"
    patterns: tuple[str, ...]
    missing: str  # the finding's message: what is missing and what the resume does with it
    judged_elsewhere_when_optimizer_present: bool = False  # scheduler.bin: CKF001 knows schedule-free runs


class ResumeFiles(Record):
    """The files one trainer's resume loads from a checkpoint folder."""

    trainer: str
    source: str  # where this was established
    required: tuple[Required, ...]
    numbered: tuple[str, ...] = ()  # stems whose ``{stem}_{i}`` files must count up from ``{stem}`` without gaps
    numbered_from_zero: tuple[str, ...] = ()  # stems numbered ``{stem}_0``, ``{stem}_1``, ... (no plain name)


ACCELERATE_LOAD_STATE = ResumeFiles(
    trainer="accelerate",
    source="accelerate 1.16 Accelerator.load_state / checkpointing.load_accelerator_state",
    required=(
        Required("optimizer.bin", ("optimizer.bin",),
                 "optimizer.bin is missing: accelerate's load_state loads it with no fallback"),
        Required("scheduler.bin", ("scheduler.bin",),
                 "scheduler.bin is missing: accelerate's load_state loads it with no fallback",
                 judged_elsewhere_when_optimizer_present=True),
        Required("model weights", ("model.safetensors", "pytorch_model.bin", "*.safetensors", "*/*.safetensors"),
                 "no model weights (model.safetensors, pytorch_model.bin or the trainer's *.safetensors): "
                 "the resume loads them first"),
    ),
    numbered=("optimizer", "scheduler", "model", "pytorch_model", "sampler"),
    numbered_from_zero=("custom_checkpoint",),
)
