"""``ckptfix inspect s3://...``: requests, bytes, sequential rounds and wall time per case, side by side with
downloading the checkpoint and ``torch.load``-ing it, at 0 ms and at an injected delay per request.

The checkpoints are ``bench/make_checkpoints.py``'s (``<data>/manifest.json``), served by an S3-protocol
server over the local folder (``s3local.S3Folder``: ranges read straight from the files) behind a TCP
proxy on loopback that delays every request (``s3local.DelayProxy``). Cases:

    adamw-100mb     one checkpoint, 108 MB AdamW optimizer.bin
    adamw-8gb       one checkpoint, 8.2 GB AdamW optimizer.bin
    lora-2000       one checkpoint, 2,000-parameter LoRA (6,006 zip entries)
    output-200      an output folder of 200 checkpoints, all of them
    output-200-latest  the same folder with --latest

Per case and delay: counts from one in-process run (the store's requests, bytes, rounds; the server's
requests by kind), wall time of the installed ``ckptfix inspect --json URL`` (median of ``-k`` runs,
interpreter start included), and the baseline: a fresh interpreter that downloads the checkpoint folder
with s3fs (``fs.get``) and ``torch.load(weights_only=True, mmap=True)``s its optimizer and scheduler
(one run: it is long). The model: rounds x RTT + bytes / bandwidth + requests x client CPU, with the
bandwidth measured by the baseline's download and the client CPU per request of ``ranges.Tuning``.

    python bench/remote.py [--data /tmp/ckptfix-bench] [--cases adamw-8gb,lora-2000] [--delays 0,30] [-k 3]
                           [--no-baseline] [--md bench/remote-results.md | --no-md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from s3local import DelayProxy, S3Folder  # noqa: E402

CASES = {
    "adamw-100mb": ("adamw-100mb/checkpoint-1000", False),
    "adamw-8gb": ("adamw-8gb/checkpoint-1000", False),
    "lora-2000": ("lora-2000/checkpoint-1000", False),
    "output-200": ("output-200", False),
    "output-200-latest": ("output-200", True),
}
ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}
BASELINE = r"""
import json, sys, tempfile, time, shutil, os
import s3fs, torch
url, latest = sys.argv[1], sys.argv[2] == "1"
fs = s3fs.S3FileSystem(skip_instance_cache=True)
t0 = time.perf_counter()
key = fs._strip_protocol(url)
folders = [key]
if not any(n.endswith("/optimizer.bin") and n.count("/") == key.count("/") + 1 for n in fs.find(key)):
    subs = [p for p in fs.ls(key) if p.rsplit("/", 1)[-1].startswith("checkpoint-")]
    subs.sort(key=lambda p: int(p.rsplit("-", 1)[-1]))
    folders = subs[-1:] if latest else subs
tmp = tempfile.mkdtemp(dir=os.environ.get("BENCH_TMP"))
nbytes = 0
steps = []
try:
    for f in folders:
        dest = os.path.join(tmp, f.rsplit("/", 1)[-1])
        fs.get(f + "/", dest + "/", recursive=True)
        nbytes += sum(os.path.getsize(os.path.join(dest, n)) for n in os.listdir(dest))
        t_dl = time.perf_counter()
        sd = torch.load(os.path.join(dest, "optimizer.bin"), weights_only=True, mmap=True)
        steps.append(int(sd["state"][0]["step"].item()))
        torch.load(os.path.join(dest, "scheduler.bin"), weights_only=True)
        del sd
        shutil.rmtree(dest)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print(json.dumps({"bytes": nbytes, "wall": time.perf_counter() - t0, "checkpoints": len(folders), "step": steps[-1]}))
"""


def ckptfix_entry() -> str:
    cand = Path(sys.executable).parent / "ckptfix"
    return str(cand) if cand.exists() else shutil.which("ckptfix") or "ckptfix"


def counts(url: str, latest: bool, endpoint: str, server: S3Folder) -> dict:
    """One in-process run: the store's own counts and the server's."""
    from ckptfix.analysis.report import Options
    from ckptfix.analysis.run import inspect_path
    from ckptfix.formats.source.remote import connect

    server.reset()
    t = time.perf_counter()
    store, path = connect(url, {"endpoint_url": endpoint, "skip_instance_cache": True})
    _, reports = inspect_path(path, Options(), latest_only=latest, store=store)
    wall = time.perf_counter() - t
    assert reports and all(r.checkpoint.optimizers[0].step.value for r in reports), "a step was not read"
    st = store.stats.as_dict()
    return {**st, "server": dict(server.counts), "server_bytes": server.bytes_sent, "in_process_wall": wall,
            "checkpoints": len(reports), "exit": max(r.exit_code for r in reports)}


def cli_wall(url: str, latest: bool, endpoint: str, k: int) -> tuple[float, float, int]:
    argv = [ckptfix_entry(), "inspect", "--json", url] + (["--latest"] if latest else [])
    env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": endpoint}
    walls, rc = [], 0
    for _ in range(k):
        t = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True)
        walls.append(time.perf_counter() - t)
        rc = proc.returncode
        if rc not in (0, 1):
            sys.exit(f"ckptfix failed ({rc}): {proc.stderr.decode()[-2000:]}")
    return statistics.median(walls), min(walls), rc


def baseline(url: str, latest: bool, endpoint: str) -> dict:
    env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": endpoint}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", BASELINE, url, "1" if latest else "0"], env=env, capture_output=True)
    wall = time.perf_counter() - t  # the whole process, imports included, as for ckptfix
    if proc.returncode:
        return {"error": proc.stderr.decode()[-500:]}
    out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    out["download_wall"], out["wall"] = out["wall"], wall
    return out


def fmt_bytes(n: float) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/ckptfix-bench"))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--delays", default="0,30", help="milliseconds added to every request")
    ap.add_argument("-k", type=int, default=3)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--md", type=Path, default=HERE / "remote-results.md")
    ap.add_argument("--no-md", action="store_true")
    ap.add_argument("--render", type=Path, default=None, help="only re-render the tables from a results .json")
    args = ap.parse_args(argv)
    if args.render:
        return render(json.loads(args.render.read_text()), args)
    if not (args.data / "manifest.json").exists():
        sys.exit(f"{args.data}: run bench/make_checkpoints.py first")
    os.environ.update(ENV)
    server = S3Folder(args.data).start()
    rows = []
    try:
        for delay_ms in (float(d) for d in args.delays.split(",")):
            proxy = DelayProxy(server.url, delay_ms / 1000).start()
            for case in args.cases.split(","):
                key, latest = CASES[case]
                url = f"s3://bench/{key}"
                print(f"{case} @ {delay_ms:g} ms ...", file=sys.stderr)
                counts(url, latest, proxy.url, server)  # warm: imports, page cache
                c = counts(url, latest, proxy.url, server)
                wall, wall_min, rc = cli_wall(url, latest, proxy.url, args.k)
                base = {} if args.no_baseline else baseline(url, latest, proxy.url)
                rows.append({"case": case, "delay_ms": delay_ms, **c, "cli_wall": wall, "cli_wall_min": wall_min,
                             "cli_rc": rc, "baseline": base})
    finally:
        server.stop()
    if not args.no_md:
        (args.md.with_suffix(".json")).write_text(json.dumps(rows, indent=1) + "\n")
    return render(rows, args)


def render(rows: list[dict], args: argparse.Namespace) -> int:
    from ckptfix.formats.source.remote import Tuning

    cpu = Tuning().request_cost
    for r in rows:  # sequential rounds as the server saw them: every listing page is one
        r["rounds"] = r["rounds"] - r["listings"] + r["server"].get("LIST", 0)
    bandwidth = max((r["baseline"]["bytes"] / r["baseline"]["download_wall"] for r in rows
                     if r["baseline"].get("bytes") and r["delay_ms"] == 0), default=Tuning().bandwidth)
    lines = ["# ckptfix on S3: requests, bytes, rounds, time", "",
             f"Command: `python bench/remote.py --cases {args.cases} --delays {args.delays} -k {args.k}`", "",
             "S3 protocol server over the local folder (ranges read directly), behind a loopback proxy adding the "
             "delay to every request. Requests and bytes as the server counted them; rounds = sequential batches "
             "(each listing page of 1,000 keys is one). `ckptfix` wall: the installed entry point, interpreter start and imports "
             f"included (median of {args.k}). Baseline: download the checkpoint folder with s3fs + "
             "`torch.load(weights_only=True, mmap=True)` of optimizer.bin and scheduler.bin (one run).", "",
             f"Model: rounds × RTT + bytes ÷ bandwidth + requests × client CPU, with bandwidth {fmt_bytes(bandwidth)}/s "
             f"(the baselines' download here) and {cpu * 1000:g} ms of client CPU per request (s3fs, measured); "
             "compared with the in-process time of the same run (no interpreter start).", "",
             "| case | delay | requests (LIST/GET) | bytes | rounds (per checkpoint) | model | in-process | ckptfix wall "
             "| download + torch.load | speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rtt = r["delay_ms"] / 1000
        model = r["rounds"] * rtt + r["server_bytes"] / bandwidth + r["requests"] * cpu
        model_txt = f"{r['rounds']}×{r['delay_ms']:g} ms + {fmt_bytes(r['server_bytes'])}÷{fmt_bytes(bandwidth)}/s + {r['requests']}×{cpu * 1000:g} ms = {model:.2f} s"
        b = r["baseline"]
        base_txt = f"{b['wall']:.1f} s ({fmt_bytes(b['bytes'])})" if b.get("wall") else ("—" if not b else "error")
        speed = f"{b['wall'] / r['cli_wall']:.0f}×" if b.get("wall") else "—"
        srv = r["server"]
        lines.append(f"| {r['case']} | {r['delay_ms']:g} ms | {r['requests']} ({srv.get('LIST', 0)}/{srv.get('GET', 0)}) "
                     f"| {fmt_bytes(r['server_bytes'])} | {r['rounds']} ({r['rounds_per_checkpoint']}) | {model_txt} "
                     f"| {r['in_process_wall']:.2f} s | {r['cli_wall']:.2f} s (min {r['cli_wall_min']:.2f}) | {base_txt} | {speed} |")
    lines += ["", "## Targets (issue #13)", ""]
    by = {(r["case"], r["delay_ms"]): r for r in rows}

    def target(name: str, ok: bool | None, measured: str) -> None:
        lines.append(f"- {'PASS' if ok else 'MISS' if ok is not None else 'n/a'} {name}: {measured}")

    big = by.get(("adamw-8gb", 30.0))
    if big:
        rounds_after = big["rounds"] - big["server"].get("LIST", 0)
        target("8 GB: ≤ 3 sequential rounds after the listing", rounds_after <= 3, f"{rounds_after}")
        target("8 GB: < 300 KB fetched", big["server_bytes"] < 300_000, fmt_bytes(big["server_bytes"]))
        b = big["baseline"]
        target("8 GB: ≥ 50× faster than download + torch.load at 30 ms", (b["wall"] / big["cli_wall"] >= 50) if b.get("wall") else None,
               f"{b['wall'] / big['cli_wall']:.0f}×" if b.get("wall") else "no baseline")
    lora = by.get(("lora-2000", 30.0))
    if lora:
        target("LoRA: ≤ 4 rounds", lora["rounds"] <= 4, f"{lora['rounds']}")
        target("LoRA: ≤ 2 s at 30 ms", lora["cli_wall"] <= 2, f"{lora['cli_wall']:.2f} s (in-process {lora['in_process_wall']:.2f} s)")
    lat = by.get(("output-200-latest", 30.0))
    if lat:
        target("200-checkpoint folder --latest: ≤ 4 rounds", lat["rounds"] <= 4, f"{lat['rounds']}")
    whole = by.get(("output-200", 30.0))
    if whole:
        target("200-checkpoint folder: ≤ 30 rounds", whole["rounds"] <= 30, f"{whole['rounds']}")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_md:
        args.md.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
