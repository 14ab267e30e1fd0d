"""Instruction counts (valgrind callgrind) of the gate and its floor: ratios that do not depend on
what else the machine is doing.

Wall times on a shared 2-core machine move by 30% from one minute to the next; the number of
instructions a process executes does not (the same binary, files and environment give the same
count). This complements ``bench/run.py``: same cases, whole processes, ratios to the floor
(``python -c "import typer, rich"``) and, with ``--variant``, to another ckptfix tree.

    python bench/instructions.py [--data /tmp/ckptfix-bench] [--variant before=/path/to/tree] [--baseline]

``--baseline`` also counts ``torch.load(weights_only=True, mmap=True)`` of the 8 GB optimizer
(about two minutes under valgrind). Needs ``valgrind`` (Debian: ``apt-get install valgrind``) and the
checkpoints of ``bench/make_checkpoints.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import BASELINE_CODE, DEFAULT_DATA  # noqa: E402

sys.path.remove(str(HERE))

_COLLECTED = re.compile(rb"Collected : (\d+)")


def instructions(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Instructions executed by one whole process (its children are not followed)."""
    proc = subprocess.run(  # cwd: not the repo, whose ckptfix/ would shadow a variant for ``python -m``
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}, cwd="/",
    )
    m = _COLLECTED.search(proc.stderr)
    if m is None:
        sys.exit(f"valgrind gave no count for {' '.join(argv)[:120]}:\n{proc.stderr.decode()[-800:]}")
    return int(m.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL=DIR",
                    help="also count the ckptfix package in DIR (prepended to PYTHONPATH)")
    ap.add_argument("--baseline", action="store_true", help="also count the torch.load baseline (slow)")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        sys.exit("valgrind not found (Debian: apt-get install valgrind)")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # time the tool with its .pyc caches, as installed
    py = sys.executable
    big = args.data / "adamw-8gb" / "checkpoint-1000"
    cases = {
        "`ckptfix --help`": ["--help"],
        "`ckptfix inspect --json`, 8 GB checkpoint": ["inspect", "--json", str(big)],
        "`ckptfix inspect --json`, LoRA, 2,000 params": ["inspect", "--json", str(args.data / "lora-2000" / "checkpoint-1000")],
    }
    if not big.exists():
        sys.exit(f"{big} not found: python bench/make_checkpoints.py first")
    trees: list[tuple[str, dict[str, str] | None]] = [("tree", {"PYTHONPATH": str(HERE.parent)})]
    for spec in args.variant:
        label, _, d = spec.partition("=")
        trees.append((label, {"PYTHONPATH": str(Path(d).resolve())}))

    floor = instructions([py, "-c", "import typer, rich"])
    rows = [("`python -c pass`", instructions([py, "-c", "pass"]), ""),
            ('`python -c "import typer, rich"` (floor)', floor, "")]
    for label, env in trees:
        for name, cli in cases.items():
            instructions([py, "-m", "ckptfix", *cli], env)  # writes the .pyc caches
            rows.append((f"{name} [{label}]", instructions([py, "-m", "ckptfix", *cli], env), label))
    if args.baseline:
        rows.append(("`torch.load(weights_only=True, mmap=True)` 8 GB (baseline)",
                     instructions([py, "-c", BASELINE_CODE, str(big / "optimizer.bin")]), ""))

    print("| command | instructions (M) | × floor |")
    print("|---|---|---|")
    for label, n, _ in rows:
        print(f"| {label} | {n / 1e6:,.0f} | {n / floor:.2f} |")
    if args.baseline:
        base = rows[-1][1]
        for label, n, tree in rows:
            if "8 GB checkpoint" in label:
                print(f"\nbaseline ÷ 8 GB gate [{tree}]: {base / n:.1f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
