"""Many runs in one command, side by side with a shell loop of single ``ckptfix inspect RUN --latest`` calls:
on the local disk and against a local S3 server with a fixed delay added to every request.

The fleet: ``--runs`` runs (default 1,000) of ``--checkpoints`` checkpoints each (default 3), laid out as
``runs/proj-NN/run-NNNN/checkpoint-{10,20,30}``, every checkpoint a copy of the real checkpoints of
``fixtures/output-run`` (written by torch and SimpleTuner's code: ``fixtures/generate.py``). Generated once
into ``--data`` (a ``.complete`` marker caches it).

Local, interleaved round by round (drift on this shared machine hits both sides alike):

    fleet        ckptfix inspect runs/ --jsonl > /dev/null          (the run's latest checkpoint, 2 workers)
    fleet-1      the same with --jobs 1                              (what the second core gives)
    loop         for d in runs/*/*/; do ckptfix inspect "$d" --latest --quiet; done

S3: moto's ``ThreadedMotoServer`` (``tests/s3server.py``: it counts requests by kind), and
``s3local.S3Folder`` (``--servers``: ranges served straight from the files, the server ``bench/remote.py``
uses), each behind ``s3local.DelayProxy``, which delays every request by ``--delay`` ms (a round trip to a
far region); s3fs with ``AWS_ENDPOINT_URL``. Stock moto reads the whole object for each ranged GET, and
serves each request in Python with its S3 model (several ms of CPU a request, on the same 2 cores as the
client): here every object is a few KB, and only the counts and the injected delay are trusted, not moto's
own speed. S3Folder does much less per request: the second table is closer to what the client costs. The loop on S3 is
run over ``--s3-loop`` runs (a single call costs ~1 s: 1,000 would take a quarter of an hour) and its
time per run multiplied out, which the table says.

Wall time: the whole command (interpreter start, imports). Peak memory: the process tree's resident set
(the command and its worker processes: the sum of their proportional set sizes, so that pages a forked
worker shares with its parent count once), sampled from ``/proc`` every 10 ms. Results go to
``bench/fleet-results.md`` (and ``.json``). Nothing fails on a time: targets print PASS / MISS.

    python bench/fleet.py [--data /tmp/ckptfix-fleet] [--runs 1000] [--checkpoints 3] [-k 3] [--k-loop 1]
                          [--delay 30] [--s3-loop 50] [--no-local | --no-s3] [--md bench/fleet-results.md | --no-md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
from s3local import DelayProxy  # noqa: E402

SOURCE = REPO / "fixtures" / "output-run"
CHECKPOINTS = ("checkpoint-10", "checkpoint-20", "checkpoint-30", "checkpoint-25-rolling")
PER_PROJECT = 50
BUCKET = "ckptfix-fleet"
ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def entry() -> str:
    cand = Path(sys.executable).parent / "ckptfix"
    return str(cand) if cand.exists() else shutil.which("ckptfix") or "ckptfix"


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # timed as installed: .pyc kept
    out.update(ENV)
    out.update(extra)
    return out


def make_fleet(data: Path, runs: int, checkpoints: int) -> Path:
    root = data / "runs"
    marker = data / ".complete"
    want = {"runs": runs, "checkpoints": checkpoints}
    if marker.exists() and json.loads(marker.read_text()) == want:
        return root
    shutil.rmtree(data, ignore_errors=True)
    for i in range(runs):
        run = root / f"proj-{i // PER_PROJECT:02d}" / f"run-{i:04d}"
        for name in CHECKPOINTS[:checkpoints]:
            shutil.copytree(SOURCE / name, run / name)
    marker.write_text(json.dumps(want))
    return root


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*") if p.is_dir())


class PeakRSS:
    """The summed memory (PSS) of a process and its descendants, sampled every 10 ms until it ends."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _tree(pid: int) -> list[int]:
        out, todo = [], [pid]
        while todo:
            p = todo.pop()
            out.append(p)
            try:
                todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
            except OSError:
                pass
        return out

    @staticmethod
    def _rss(pid: int) -> int:
        """The proportional set size (PSS): pages a forked worker still shares with its parent count once
        in the sum, not once per process as the resident set would count them."""
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, sum(self._rss(p) for p in self._tree(self.pid)))
            self._done.wait(0.01)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


def timed(argv: list[str], environ: dict[str, str], stdout=subprocess.DEVNULL) -> tuple[float, int, int]:
    """(wall seconds, peak tree RSS bytes, exit code) of one command."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, env=environ, stdout=stdout, stderr=subprocess.PIPE)
    rss = PeakRSS(proc.pid)
    _, err = proc.communicate()
    wall = time.perf_counter() - t
    peak = rss.stop()
    if proc.returncode not in (0, 1, 3, 4):
        sys.exit(f"{' '.join(argv[:4])}... failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, peak, proc.returncode


LOOP = r'''
for d in "$@"; do "$CKPTFIX" inspect "$d" --latest --quiet > /dev/null 2>&1; echo $?; done
'''


def loop(targets: list[str], environ: dict[str, str]) -> tuple[float, dict[int, int]]:
    """A shell loop of single gate calls: wall seconds and the exit codes counted."""
    t = time.perf_counter()
    out = subprocess.run(["bash", "-c", LOOP, "loop", *targets], env={**environ, "CKPTFIX": entry()},
                         capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t
    codes: dict[int, int] = {}
    for c in out.split():
        codes[int(c)] = codes.get(int(c), 0) + 1
    return wall, codes


def summary_of(argv: list[str], environ: dict[str, str]) -> dict:
    out = subprocess.run(argv, env=environ, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def status_codes(summary: dict) -> dict[int, int]:
    code = {"ok": 0, "findings": 1, "unreadable": 3, "nothing-to-resume": 4}
    return {code[s]: n for s, n in summary["run_status"].items()}


def bench_local(root: Path, k: int, k_loop: int) -> dict:
    targets = [str(p) for p in run_dirs(root)]
    environ = env()
    fleet_argv = [entry(), "inspect", str(root), "--jsonl"]
    summary = summary_of(fleet_argv, environ)  # warm-up: page cache, .pyc
    rows: dict[str, list] = {"fleet": [], "fleet-1": [], "loop": []}
    codes: dict[int, int] = {}
    for i in range(max(k, k_loop)):
        if i < k:
            rows["fleet"].append(timed(fleet_argv, environ))
            rows["fleet-1"].append(timed(fleet_argv + ["--jobs", "1"], environ))
        if i < k_loop:
            wall, codes = loop(targets, environ)
            rows["loop"].append((wall, 0, 0))
        print(f"local round {i + 1}: " + ", ".join(f"{n} {v[-1][0]:.1f} s" for n, v in rows.items() if v), file=sys.stderr)
    assert status_codes(summary) == codes, (summary["run_status"], codes)  # the same verdicts, run by run counted
    return {"runs": len(targets), "summary": summary, "loop_codes": codes, "rows": rows}


def upload(endpoint: str, root: Path) -> int:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                      aws_secret_access_key="bench-secret")
    s3.create_bucket(Bucket=BUCKET)
    files = [p for p in root.rglob("*") if p.is_file()]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda p: s3.put_object(Bucket=BUCKET, Key=f"runs/{p.relative_to(root)}", Body=p.read_bytes()),
                      files))
    return len(files)


class FolderServer:
    """``s3local.S3Folder`` over the fleet's folder (bucket ``BUCKET``, keys ``runs/...``), with the counting
    interface of ``tests.s3server.CountingMotoServer``."""

    def __init__(self, root: Path) -> None:
        from s3local import S3Folder

        self.inner = S3Folder(root.parent)

    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        self.inner.stop()

    @property
    def url(self) -> str:
        return self.inner.url

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.inner.counts)

    def reset_counts(self) -> None:
        self.inner.reset()


def bench_s3(root: Path, delay_ms: float, k: int, sample: int, kind: str = "moto") -> dict:
    if kind == "moto":
        from tests.s3server import CountingMotoServer

        server = CountingMotoServer()
    else:
        server = FolderServer(root)
    server.start()
    try:
        t = time.perf_counter()
        objects = upload(server.url, root) if kind == "moto" else sum(1 for p in root.rglob("*") if p.is_file())
        print(f"{kind}: {objects} objects, uploaded in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        proxy = DelayProxy(server.url, delay_ms / 1000).start()
        environ = env(AWS_ENDPOINT_URL=proxy.url)
        url = f"s3://{BUCKET}/runs"
        argv = [entry(), "inspect", url, "--jsonl"]
        server.reset_counts()
        summary = summary_of(argv, environ)
        counts = dict(server.counts)
        rows: dict[str, list] = {"fleet": [], "loop": []}
        targets = [f"{url}/{p.relative_to(root)}" for p in run_dirs(root)][:sample]
        codes: dict[int, int] = {}
        loop_counts: dict[str, int] = {}
        for i in range(k):
            rows["fleet"].append(timed(argv, environ))
            server.reset_counts()
            wall, codes = loop(targets, environ)
            loop_counts = dict(server.counts)
            rows["loop"].append((wall, 0, 0))
            print(f"s3 round {i + 1}: fleet {rows['fleet'][-1][0]:.1f} s, loop of {len(targets)} {wall:.1f} s",
                  file=sys.stderr)
        return {"runs": summary["runs"], "objects": objects, "summary": summary, "requests": counts,
                "loop_requests": loop_counts, "loop_runs": len(targets), "loop_codes": codes, "rows": rows,
                "delay_ms": delay_ms, "server": kind}
    finally:
        server.stop()


def med(rows: list, i: int = 0) -> tuple[float, float]:
    xs = [r[i] for r in rows]
    return statistics.median(xs), min(xs)


def render(res: dict, args: argparse.Namespace) -> str:
    lines = ["# Many runs in one command: ckptfix inspect ROOT vs a shell loop of single gates", "",
             f"Command: `python bench/fleet.py --runs {args.runs} --checkpoints {args.checkpoints} -k {args.k} "
             f"--k-loop {args.k_loop} --delay {args.delay:g} --s3-loop {args.s3_loop} --servers {args.servers}`", "",
             f"{args.runs} runs × {args.checkpoints} checkpoints (copies of fixtures/output-run's real checkpoints); "
             "medians (min) of the rounds, interleaved; peak memory = the process tree's memory (the sum of each process's proportional set size, PSS: pages a forked worker shares with its parent count once), sampled every 10 ms.", ""]
    loc = res.get("local")
    if loc:
        f, f1, lp = (med(loc["rows"][n]) for n in ("fleet", "fleet-1", "loop"))
        fm, f1m = med(loc["rows"]["fleet"], 1), med(loc["rows"]["fleet-1"], 1)
        s = loc["summary"]
        lines += ["## Local disk", "",
                  "| command | wall | ratio to the loop | peak memory |", "|---|---|---|---|",
                  f"| loop: `ckptfix inspect RUN --latest --quiet` × {loc['runs']} | {lp[0]:.1f} s ({lp[1]:.1f}) | 1× | one process at a time |",
                  f"| `ckptfix inspect ROOT --jsonl` (2 workers) | {f[0]:.2f} s ({f[1]:.2f}) | {lp[0] / f[0]:.0f}× | {fm[0] / 1e6:.0f} MB |",
                  f"| `ckptfix inspect ROOT --jsonl --jobs 1` | {f1[0]:.2f} s ({f1[1]:.2f}) | {lp[0] / f1[0]:.0f}× | {f1m[0] / 1e6:.0f} MB |",
                  "", f"Both found the same: runs by status {s['run_status']} (the loop's exit codes: {loc['loop_codes']}); "
                  f"{s['checkpoints']} checkpoints read; 2 workers vs 1: {f1[0] / f[0]:.2f}×.", ""]
    for s3 in res.get("s3", []):
        f = med(s3["rows"]["fleet"])
        fm = med(s3["rows"]["fleet"], 1)
        lp = med(s3["rows"]["loop"])
        per = lp[0] / s3["loop_runs"]
        req, lreq = s3["requests"], s3["loop_requests"]
        what = ("moto's ThreadedMotoServer, the objects uploaded to it" if s3["server"] == "moto" else
                "bench/s3local.py's S3Folder: ranges read straight from the files")
        lines += [f"## S3: {what}, behind a proxy adding {s3['delay_ms']:g} ms to every request", "",
                  "| command | wall | ratio to the loop | requests (LIST/GET) | peak memory |", "|---|---|---|---|---|",
                  f"| loop over {s3['loop_runs']} runs, × {s3['runs'] / s3['loop_runs']:g} for {s3['runs']} | {lp[0]:.1f} s → {per * s3['runs']:.0f} s "
                  f"({per:.2f} s a run) | 1× | {sum(lreq.values())} ({lreq.get('LIST', 0)}/{lreq.get('GET', 0)}) for {s3['loop_runs']} runs | one process at a time |",
                  f"| `ckptfix inspect s3://…/runs --jsonl` | {f[0]:.1f} s ({f[1]:.1f}) | {per * s3['runs'] / f[0]:.0f}× | "
                  f"{sum(req.values())} ({req.get('LIST', 0)}/{req.get('GET', 0)}) | {fm[0] / 1e6:.0f} MB |",
                  "", f"{s3['objects']} objects in the bucket; runs by status {s3['summary']['run_status']}.", ""]
    lines += ["## Targets (issue #22)", ""]

    def target(name: str, ok: bool, measured: str) -> None:
        lines.append(f"- {'PASS' if ok else 'MISS'} {name}: {measured}")

    if loc:
        f, lp = med(loc["rows"]["fleet"]), med(loc["rows"]["loop"])
        target(f"local, {args.runs} runs × {args.checkpoints}: ≥ 10× faster than the loop", lp[0] / f[0] >= 10,
               f"{lp[0] / f[0]:.0f}×")
        peak = max(r[1] for r in loc["rows"]["fleet"])
        target("local: peak memory ≤ 200 MB", peak <= 200e6, f"{peak / 1e6:.0f} MB")
    for s3 in res.get("s3", []):
        f = med(s3["rows"]["fleet"])
        target(f"S3 ({s3['server']}) at {s3['delay_ms']:g} ms: the {s3['runs']} runs' latest checkpoints in ≤ 60 s",
               f[0] <= 60, f"{f[0]:.1f} s")
        peak = max(r[1] for r in s3["rows"]["fleet"])
        target(f"S3 ({s3['server']}): peak memory ≤ 200 MB", peak <= 200e6, f"{peak / 1e6:.0f} MB")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/ckptfix-fleet"))
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--checkpoints", type=int, default=3)
    ap.add_argument("-k", type=int, default=3)
    ap.add_argument("--k-loop", type=int, default=1)
    ap.add_argument("--delay", type=float, default=30.0, help="milliseconds added to every S3 request")
    ap.add_argument("--s3-loop", type=int, default=50, help="runs the S3 loop checks (times multiplied out)")
    ap.add_argument("--servers", default="moto,folder", help="S3 servers: moto, folder (s3local.S3Folder)")
    ap.add_argument("--no-local", action="store_true")
    ap.add_argument("--no-s3", action="store_true")
    ap.add_argument("--md", type=Path, default=HERE / "fleet-results.md")
    ap.add_argument("--no-md", action="store_true")
    args = ap.parse_args(argv)
    root = make_fleet(args.data, args.runs, args.checkpoints)
    res: dict = {}
    if not args.no_local:
        res["local"] = bench_local(root, args.k, args.k_loop)
    if not args.no_s3:
        res["s3"] = [bench_s3(root, args.delay, args.k, args.s3_loop, kind) for kind in args.servers.split(",")]
    text = render(res, args)
    print(text)
    if not args.no_md:
        args.md.write_text(text)
        args.md.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
