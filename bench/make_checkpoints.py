"""Generate realistic benchmark checkpoints OUTSIDE the repo (default /tmp/ckptfix-bench).

Every file is written by real torch (``torch.save``), laid out like an accelerate / SimpleTuner
``checkpoint-N`` folder:

    optimizer.bin          AdamW state dict: per parameter a 0-d float32 ``step`` plus ``exp_avg`` and
                           ``exp_avg_sq`` of the parameter's shape (exactly what torch.optim.AdamW writes)
    scheduler.bin          a ``ckptfix.schedulers.Sine`` state dict, stepped as far as the optimizer
    training_state.json    SimpleTuner's trainer state (global_step == optimizer step)
    random_states_0.pkl    copied from fixtures/sine-ok/checkpoint-30 (accelerate's RNG pickle)
    pytorch_lora_weights.safetensors  the trainer's weights (a token tensor, written by safetensors):
                           without weights the resume would stop, and ckptfix says so (CKF004)
    .guard                 SimpleTuner's "checkpoint complete" marker

Cases (``--cases``, default all):

    adamw-100mb   transformer-shaped weights, optimizer.bin ~100 MB
    adamw-2gb     ~2 GB
    adamw-8gb     ~8 GB (skipped, or shrunk with --shrink-8gb, when /tmp lacks the space)
    lora-2000     LoRA-style: 2,000 small parameters -> ~6,000 zip entries
    output-200    an output folder with 200 checkpoints (checkpoint-10 ... checkpoint-2000), 291 params each
    output-200-small  the same with 51 params each (decode time grows with the parameter count)

The moment tensors are created with ``torch.empty`` (never touched, so a 8 GB state dict costs almost
no RAM: untouched anonymous pages read back as the shared zero page) and only the 0-d steps carry
values. A case is cached: a ``.complete`` marker (written last, with the parameters) makes a rerun a
no-op; ``--force`` regenerates. ``bench/run.py`` reads ``<out>/manifest.json``.

    python bench/make_checkpoints.py [--out /tmp/ckptfix-bench] [--cases adamw-100mb,lora-2000] [--force]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEIGHTS = "pytorch_lora_weights.safetensors"
RNG_PKL = REPO / "fixtures" / "sine-ok" / "checkpoint-30" / "random_states_0.pkl"
DEFAULT_OUT = Path("/tmp/ckptfix-bench")

BASE_LR = 1e-4
ETA_MIN = 1e-6
T_0 = 100  # --lr_warmup_steps 100, one process
STEP = 1000  # optimizer step of the single-checkpoint cases
GiB = 1024**3


# -- shapes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transformer:
    """A GPT-like stack: token embedding, L blocks of 12 tensors (12 d^2 + 13 d params), final norm."""

    d: int
    layers: int
    vocab: int

    def shapes(self) -> list[tuple[int, ...]]:
        d = self.d
        out: list[tuple[int, ...]] = [(self.vocab, d)]
        for _ in range(self.layers):
            out += [
                (d,), (d,),  # ln1 weight, bias
                (3 * d, d), (3 * d,),  # qkv
                (d, d), (d,),  # attention out
                (d,), (d,),  # ln2
                (4 * d, d), (4 * d,),  # mlp in
                (d, 4 * d), (d,),  # mlp out
            ]
        return out + [(d,), (d,)]


def lora_shapes(n_params: int = 2000, rank: int = 8, d: int = 1024) -> list[tuple[int, ...]]:
    """``n_params`` adapter tensors: lora_A (r, d) and lora_B (d, r) pairs."""
    return [(rank, d) if i % 2 == 0 else (d, rank) for i in range(n_params)]


def numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def optimizer_bytes(shapes: list[tuple[int, ...]]) -> int:
    """Tensor payload of the AdamW state: two float32 moments + a 0-d float32 step per parameter."""
    return sum(8 * numel(s) + 4 for s in shapes)


# Shapes chosen so the AdamW state lands near the advertised size (8 bytes of moments per param).
SINGLE_CASES = {
    "adamw-100mb": Transformer(d=512, layers=3, vocab=8000),  # 13.5 M params -> ~108 MB
    "adamw-2gb": Transformer(d=1536, layers=7, vocab=32000),  # 247 M params -> ~1.98 GB
    "adamw-8gb": Transformer(d=2048, layers=19, vocab=32000),  # 1.02 B params -> ~8.2 GB
}
SHRUNK_8GB = Transformer(d=2048, layers=7, vocab=32000)  # ~3.4 GB, when space is short
OUTPUT_200 = Transformer(d=64, layers=24, vocab=1000)  # 291 params (873 storages), ~10 MB each
OUTPUT_200_SMALL = Transformer(d=32, layers=4, vocab=100)  # 51 params: a small LoRA / toy run


# -- torch side ----------------------------------------------------------------------------------
class Trainer:
    """A tiny real AdamW + Sine run: gives the scheduler state and the param group at any step."""

    def __init__(self) -> None:
        import torch

        from ckptfix.schedulers import Sine

        self.torch = torch
        self.p = torch.nn.Parameter(torch.zeros(1))
        self.opt = torch.optim.AdamW([self.p], lr=BASE_LR, weight_decay=1e-2)
        self.sched = Sine(self.opt, T_0=T_0, T_mult=1, eta_min=ETA_MIN, last_step=-1)
        self.step = 0

    def advance_to(self, step: int) -> None:
        while self.step < step:
            self.p.grad = self.torch.zeros_like(self.p)
            self.opt.step()
            self.sched.step()
            self.step += 1

    def param_group(self, n_params: int) -> dict:
        g = dict(self.opt.state_dict()["param_groups"][0])
        g["params"] = list(range(n_params))
        return g


def make_moments(shapes: list[tuple[int, ...]]) -> list[tuple]:
    import torch

    return [(torch.empty(s, dtype=torch.float32), torch.empty(s, dtype=torch.float32)) for s in shapes]


def write_checkpoint(ckpt: Path, trainer: Trainer, moments: list[tuple]) -> None:
    torch = trainer.torch
    tmp = ckpt.with_name(ckpt.name + "-tmp")  # SimpleTuner's in-progress name: never read by ckptfix
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    step = trainer.step
    state = {
        i: {"step": torch.tensor(float(step)), "exp_avg": m, "exp_avg_sq": v}
        for i, (m, v) in enumerate(moments)
    }
    torch.save({"state": state, "param_groups": [trainer.param_group(len(moments))]}, tmp / "optimizer.bin")
    torch.save(trainer.sched.state_dict(), tmp / "scheduler.bin")
    (tmp / "training_state.json").write_text(json.dumps(
        {"global_step": step, "epoch_step": step, "epoch": 1, "exhausted_backends": [], "repeats": {}}
    ))
    shutil.copyfile(RNG_PKL, tmp / "random_states_0.pkl")
    write_weights(tmp)
    (tmp / ".guard").write_text("complete\n")
    if ckpt.exists():
        shutil.rmtree(ckpt)
    tmp.rename(ckpt)


def write_weights(ckpt: Path) -> None:
    """The weights file a resume loads first (CKF004 without one); its size does not matter to ckptfix,
    which reads only the safetensors header."""
    import torch  # noqa: PLC0415
    from safetensors.torch import save_file  # noqa: PLC0415 - the dev extra's; only when checkpoints are made

    save_file({"lora_A.weight": torch.zeros(8, 8)}, str(ckpt / WEIGHTS))


# -- cases ---------------------------------------------------------------------------------------
def _marker(case_dir: Path) -> Path:
    return case_dir / ".complete"


def _cached(case_dir: Path, params: dict) -> bool:
    m = _marker(case_dir)
    if not m.exists():
        return False
    try:
        return json.loads(m.read_text()).get("params") == params
    except ValueError:
        return False


def _finish(case_dir: Path, params: dict, info: dict) -> dict:
    info = {**info, "params": params}
    _marker(case_dir).write_text(json.dumps(info, indent=2))
    return info


def _reuse_or_clear(case_dir: Path, name: str, params: dict, force: bool) -> dict | None:
    """The cached case's info when it was made with the same parameters; else an empty folder and None."""
    if not force and _cached(case_dir, params):
        print(f"[cached] {name}")
        for ckpt in sorted(case_dir.glob("checkpoint-*")):  # cases made before the weights file existed
            if not (ckpt / WEIGHTS).exists():
                write_weights(ckpt)
        return json.loads(_marker(case_dir).read_text())
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    return None


def make_single(out: Path, name: str, shapes: list[tuple[int, ...]], params: dict, force: bool) -> dict:
    case_dir = out / name
    cached = _reuse_or_clear(case_dir, name, params, force)
    if cached is not None:
        return cached
    t0 = time.perf_counter()
    trainer = Trainer()
    trainer.advance_to(STEP)
    moments = make_moments(shapes)
    ckpt = case_dir / f"checkpoint-{STEP}"
    write_checkpoint(ckpt, trainer, moments)
    del moments
    size = (ckpt / "optimizer.bin").stat().st_size
    print(f"[made]   {name}: optimizer.bin {size / 1e6:,.1f} MB, {len(shapes)} params, "
          f"{3 * len(shapes)} tensor storages, {time.perf_counter() - t0:.1f} s")
    return _finish(case_dir, params, {"kind": "single", "checkpoint": str(ckpt),
                                      "optimizer": str(ckpt / "optimizer.bin"), "optimizer_bytes": size,
                                      "params_count": len(shapes), "step": STEP})


def make_output_folder(out: Path, name: str, n: int, every: int, params: dict, force: bool,
                       model: Transformer = OUTPUT_200) -> dict:
    case_dir = out / name
    cached = _reuse_or_clear(case_dir, name, params, force)
    if cached is not None:
        return cached
    t0 = time.perf_counter()
    trainer = Trainer()
    shapes = model.shapes()
    moments = make_moments(shapes)
    for m, v in moments:  # small: give them defined contents
        m.zero_()
        v.zero_()
    for k in range(1, n + 1):
        trainer.advance_to(k * every)
        write_checkpoint(case_dir / f"checkpoint-{k * every}", trainer, moments)
    total = sum(p.stat().st_size for p in case_dir.rglob("optimizer.bin"))
    print(f"[made]   {name}: {n} checkpoints, {len(shapes)} params each, optimizer.bin total "
          f"{total / 1e6:,.0f} MB, {time.perf_counter() - t0:.1f} s")
    last = case_dir / f"checkpoint-{n * every}"
    return _finish(case_dir, params, {"kind": "folder", "checkpoint": str(case_dir), "checkpoints": n,
                                      "optimizer": str(last / "optimizer.bin"),
                                      "optimizers": [str(case_dir / f"checkpoint-{k * every}" / "optimizer.bin")
                                                     for k in range(1, n + 1)],
                                      "optimizer_bytes": total, "params_count": len(shapes)})


ALL = ("adamw-100mb", "adamw-2gb", "adamw-8gb", "lora-2000", "output-200", "output-200-small")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cases", default=",".join(ALL), help=f"comma-separated subset of {', '.join(ALL)}")
    ap.add_argument("--force", action="store_true", help="regenerate even when cached")
    ap.add_argument("--shrink-8gb", action="store_true",
                    help="when space is short, write a ~3.4 GB file for adamw-8gb instead of skipping it")
    args = ap.parse_args(argv)
    out: Path = args.out.resolve()
    if out == REPO or REPO in out.parents:
        ap.error(f"--out must lie outside the repo ({REPO})")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(ALL))
    if unknown:
        ap.error(f"unknown case(s): {', '.join(unknown)}")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}

    for name in cases:
        if name in SINGLE_CASES:
            model = SINGLE_CASES[name]
            shapes = model.shapes()
            need = optimizer_bytes(shapes) + 64 * 1024**2
            free = shutil.disk_usage(out).free
            case_done = _cached(out / name, {"model": repr(model)}) and not args.force
            if not case_done and free < need * 1.1:
                if name == "adamw-8gb" and args.shrink_8gb and free > optimizer_bytes(SHRUNK_8GB.shapes()) * 1.2:
                    model = SHRUNK_8GB
                    shapes = model.shapes()
                    print(f"[shrunk] {name}: only {free / GiB:.1f} GiB free in {out}, need {need / GiB:.1f} GiB: "
                          f"writing a ~{optimizer_bytes(shapes) / 1e9:.1f} GB optimizer instead")
                else:
                    print(f"[SKIP]   {name}: only {free / GiB:.1f} GiB free in {out}, need {need / GiB:.1f} GiB "
                          f"(free space, use --out elsewhere, or --shrink-8gb)")
                    manifest.pop(name, None)
                    continue
            manifest[name] = make_single(out, name, shapes, {"model": repr(model)}, args.force)
        elif name == "lora-2000":
            shapes = lora_shapes()
            manifest[name] = make_single(out, name, shapes, {"lora": "2000x(8,1024)"}, args.force)
        elif name in ("output-200", "output-200-small"):
            model = OUTPUT_200 if name == "output-200" else OUTPUT_200_SMALL
            manifest[name] = make_output_folder(out, name, 200, 10, {"n": 200, "every": 10, "model": repr(model)},
                                                args.force, model)
        manifest_path.write_text(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
