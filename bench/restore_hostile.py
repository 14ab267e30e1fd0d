"""How long, and how much memory, ``ckptfix restore`` takes on each hostile ``.ckptfix/`` folder.

    python bench/restore_hostile.py [-k 3]

The cases are the tests' (``tests/repair/hostile_backups.py``: a real repair's backup, then changed as a
checkpoint copied from someone else could ship it). Each runs the installed ``ckptfix restore`` (plain,
``--list`` and ``--json``) in its own process, ``os.wait4`` giving its peak RSS, and is printed as a ratio
to the clean case (the same repaired checkpoint, restored). Tests never assert timings; this is where they
are looked at. Issue 19's bound: every hostile input answered in under 10 s and 500 MB.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from hostile import EXE, run  # noqa: E402 - bench/hostile.py's timed, measured subprocess

from tests.helpers import FIXTURES  # noqa: E402
from tests.repair.hostile_backups import CASES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", type=int, default=1, help="runs per case (the minimum time is kept)")
    args = ap.parse_args()
    rows = []  # (seconds, MB, case, flags, exit, expected)
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"
        shutil.copytree(FIXTURES / "sine-v2", template / "run")
        # in a process of its own: this one stays small (a child's peak RSS counts its parent's pages until exec)
        subprocess.run([str(EXE), "repair", str(template / "run" / "checkpoint-30"), "--optimizer-lr"], check=True,
                       stdout=subprocess.DEVNULL)
        for name, (build, code, _words) in [("clean", (lambda ck, out: None, 0, ())), *sorted(CASES.items())]:
            for flags in ([], ["--list"], ["--json"]):
                case = Path(tmp) / "case"
                shutil.rmtree(case, ignore_errors=True)
                shutil.copytree(template, case, symlinks=True)
                (case / "outside").mkdir()
                ck = case / "run" / "checkpoint-30"
                build(ck, case / "outside")
                t, mb, got = run([str(EXE), "restore", str(ck), *flags], args.k)
                want = code if flags != ["--list"] else got
                rows.append((t, mb, name, " ".join(flags), got, want))
    clean = [r for r in rows if r[2] == "clean"]
    base_t, base_mb = statistics.median(r[0] for r in clean), statistics.median(r[1] for r in clean)
    print(f"{len(rows)} runs; clean median {base_t * 1e3:.0f} ms / {base_mb} MB; "
          f"worst {max(r[0] for r in rows) * 1e3:.0f} ms, {max(r[1] for r in rows)} MB")
    print(f"{'ms':>8} {'x clean':>7} {'MB':>5} {'x clean':>7}  exit  case")
    for t, mb, name, flags, got, want in sorted(rows, reverse=True):
        note = "" if got == want else f" (expected {want})"
        print(f"{t * 1e3:8.0f} {t / base_t:7.1f} {mb:5d} {mb / base_mb:7.1f}  {got:4d}  {name} {flags}{note}")
    over = [r for r in rows if r[0] > 10 or r[1] > 500]
    print(f"over 10 s or 500 MB: {len(over)}" + "".join(f"\n  {r[2]} {r[3]}" for r in over))


if __name__ == "__main__":
    main()
