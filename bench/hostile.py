"""How long, and how much memory, ckptfix takes on each hostile or broken corpus case.

    python bench/hostile.py [-k 3] [--top 12]

Every case runs in its own process (``os.wait4`` gives its peak RSS): the reader-level cases through
``scan_file`` (``python -c``), the checkpoint-folder cases through the installed ``ckptfix inspect``
(``--json``, and the human output). Prints the slowest and the largest, each as a ratio to a clean case of
the same level (the real accelerate files; the complete SimpleTuner checkpoint). Tests never assert
timings; this is where they are looked at. Issue #12's bound: no case over 2 s or 500 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
EXE = Path(sys.executable).parent / "ckptfix"
SCAN = "import sys; from pathlib import Path; from ckptfix.formats.scan import scan_file; scan_file(Path(sys.argv[1]), sys.argv[2] or None)"


def run(argv: list[str], k: int, timeout: float = 120) -> tuple[float, int, int]:
    """(best wall seconds, peak RSS in MB of the slowest kind, exit code) over ``k`` runs."""
    best, rss, code = float("inf"), 0, 0
    for _ in range(k):
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, "COLUMNS": "100"})
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                return float("inf"), usage.ru_maxrss // 1024, -9
            time.sleep(0.002)
        best = min(best, time.perf_counter() - t0)
        rss = max(rss, usage.ru_maxrss // 1024)  # KB on Linux
        code = os.waitstatus_to_exitcode(status)
    return best, rss, code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", type=int, default=1, help="runs per case (the minimum time is kept)")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    manifest = json.loads((CORPUS / "cases.json").read_text())
    rows = []  # (seconds, MB, level, what, outcome)
    for c in manifest["cases"]:
        t, mb, code = run([sys.executable, "-c", SCAN, str(CORPUS / "cases" / c["file"]), c.get("kind", "")], args.k)
        rows.append((t, mb, "file", f"{c['category']}: {c['file']}", "ok" if code == 0 else f"exit {code}",
                     c["category"] == "real"))
    sys.path.insert(0, str(CORPUS))
    from generate import materialize

    with tempfile.TemporaryDirectory() as tmp:
        clean = [{"name": "clean", "base": "real/simpletuner/checkpoint-30", "layout": "single", "exit": 0}]
        for c in clean + manifest["checkpoints"]:
            try:
                root, flags = materialize(c, Path(tmp))
            except PermissionError:
                continue
            for extra in ([], ["--json"]):
                t, mb, code = run([str(EXE), "inspect", str(root), *flags, *extra], args.k)
                ok = "" if code == c["exit"] else f" (expected {c['exit']})"
                rows.append((t, mb, "folder", f"{c['name']} {' '.join(extra)}".strip(), f"exit {code}{ok}",
                             c["name"] == "clean"))
    for level in ("file", "folder"):
        mine = [r for r in rows if r[2] == level]
        base_t = statistics.median(r[0] for r in mine if r[5])
        base_mb = statistics.median(r[1] for r in mine if r[5])
        print(f"\n{level}-level: {len(mine)} runs; clean median {base_t * 1e3:.0f} ms / {base_mb} MB; "
              f"worst {max(r[0] for r in mine) * 1e3:.0f} ms, {max(r[1] for r in mine)} MB")
        print(f"{'ms':>8} {'x clean':>7} {'MB':>5} {'x clean':>7}  outcome        case")
        for t, mb, _lvl, what, outcome, _ in sorted(mine, reverse=True)[: args.top]:
            print(f"{t * 1e3:8.0f} {t / base_t:7.1f} {mb:5d} {mb / base_mb:7.1f}  {outcome:14} {what}")
        over = [r for r in mine if r[0] > 2.0 or r[1] > 500]
        print(f"over 2 s or 500 MB: {len(over)}" + "".join(f"\n  {r[3]}" for r in over))
    wrong = [r for r in rows if "expected" in r[4]]
    print(f"\nexit codes other than the documented ones: {len(wrong)}" + "".join(f"\n  {r[3]}: {r[4]}" for r in wrong))


if __name__ == "__main__":
    main()
