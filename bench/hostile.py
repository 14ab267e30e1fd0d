"""How long ckptfix takes to refuse each hostile/broken corpus case, against a clean file.

    python bench/hostile.py [-k 3]

Prints the slowest cases and their ratio to the median time of scanning the real, clean
accelerate files of the corpus. Tests never assert timings; this is where they are looked at.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from ckptfix.formats.scan import scan_file

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"


def timed(path: Path, kind: str | None, k: int) -> tuple[float, str]:
    best, status = float("inf"), ""
    for _ in range(k):
        t0 = time.perf_counter()
        r = scan_file(path, kind)
        best = min(best, time.perf_counter() - t0)
        status = r.status
    return best, status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", type=int, default=3, help="runs per case (the minimum is kept)")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    cases = json.loads((CORPUS / "cases.json").read_text())
    cases = cases["cases"] if isinstance(cases, dict) else cases
    rows = []
    for c in cases:
        t, status = timed(CORPUS / "cases" / c["file"], c.get("kind"), args.k)
        rows.append((t, c["category"], c["file"], status))
    clean = [t for t, cat, _, _ in rows if cat == "real"]
    base = statistics.median(clean) if clean else min(t for t, *_ in rows)
    rows.sort(reverse=True)
    print(f"{len(rows)} cases; clean accelerate files: median {base * 1e3:.1f} ms; "
          f"all cases: median {statistics.median(t for t, *_ in rows) * 1e3:.1f} ms, total {sum(t for t, *_ in rows):.2f} s")
    print(f"{'ms':>9} {'× clean':>8}  {'outcome':10} case")
    for t, cat, name, status in rows[: args.top]:
        print(f"{t * 1e3:9.1f} {t / base:8.1f}  {status:10} {cat}: {name}")


if __name__ == "__main__":
    main()
