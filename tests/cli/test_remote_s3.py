"""``ckptfix inspect`` / ``repair`` on S3: a real S3-protocol server on 127.0.0.1 (moto's), through s3fs,
with credentials and endpoint from the environment as AWS users give them (``AWS_ENDPOINT_URL``).

The server counts the HTTP requests it serves; the store counts its own requests and rounds."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.formats.location import DEFAULT_TIMEOUT
from ckptfix.formats.source.remote import S3_REQUESTS, Deadline, Tuning, connect
from ckptfix.formats.torchfile import decode_torch
from tests.helpers import FIXTURES

pytest.importorskip("s3fs")
from s3fs import S3FileSystem  # noqa: E402

from tests.s3server import CREDENTIALS, CountingMotoServer, s3_env, silent_endpoint, upload_tree  # noqa: E402

CASES = {"sine-ok": 0, "sine-v1": 1, "sine-v2": 1, "missing-scheduler": 1, "truncated": 3, "hostile": 3,
         "output-run": 0}
BUCKET = "ckptfix-tests"


@pytest.fixture(scope="module")
def s3() -> Iterator[CountingMotoServer]:
    server = CountingMotoServer()
    server.start()
    with s3_env(server.url):
        for case in CASES:
            upload_tree(server.url, FIXTURES / case, BUCKET, f"fixtures/{case}")
        yield server
    server.stop()


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def fresh_copy(server: CountingMotoServer, case: str) -> str:
    prefix = f"scratch/{uuid.uuid4().hex[:8]}/{case}"
    upload_tree(server.url, FIXTURES / case, BUCKET, prefix)
    return f"s3://{BUCKET}/{prefix}"


def s3_bytes(url: str) -> bytes | None:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    try:
        return fs.cat_file(url)
    except FileNotFoundError:
        return None


def local_summary(doc: dict) -> list:
    return [(c["name"], c["verdict"], sorted(f["code"] for f in c["findings"])) for c in doc["checkpoints"]]


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_exit_codes_and_verdicts_as_on_disk(s3: CountingMotoServer, case: str) -> None:
    remote = run("inspect", "--json", f"s3://{BUCKET}/fixtures/{case}")
    local = run("inspect", "--json", str(FIXTURES / case))
    assert remote.exit_code == local.exit_code == CASES[case], remote.output[-2000:]
    rdoc, ldoc = json.loads(remote.stdout), json.loads(local.stdout)
    assert local_summary(rdoc) == local_summary(ldoc)
    assert rdoc["root"] == f"s3://{BUCKET}/fixtures/{case}"
    assert all(c["path"].startswith(f"s3://{BUCKET}/fixtures/{case}/") or c["path"] == rdoc["root"]
               for c in rdoc["checkpoints"])


def test_requests_and_rounds_are_counted(s3: CountingMotoServer) -> None:
    """One listing, then at most three rounds per checkpoint, the server seeing exactly the requests
    the store counted; a folder's checkpoints share their rounds."""
    tight = Tuning(head_guess=256, tail_guess=128, small_file=64, request_cost=0.0)
    for case, checkpoints in (("sine-ok", 1), ("output-run", 4)):
        store, path = connect(f"s3://{BUCKET}/fixtures/{case}", tuning=tight)
        s3.reset_counts()
        store.stats.__init__()  # count from here: the listing connect() made is re-made below
        store._listed.clear()
        _, reports = inspect_path(path, Options(), store=store)
        assert len(reports) == checkpoints and all(r.checkpoint.optimizers[0].step.value for r in reports)
        assert s3.counts["LIST"] == store.stats.listings == 1
        assert s3.requests == store.stats.requests, (dict(s3.counts), store.stats.as_dict())
        assert max(store.stats.by_folder.values()) == 3
        assert store.stats.rounds == 1 + 3  # not checkpoints x 3


def test_latest_reads_only_the_latest(s3: CountingMotoServer) -> None:
    s3.reset_counts()
    r = run("inspect", "--latest", "--json", f"s3://{BUCKET}/fixtures/output-run")
    assert r.exit_code == 0
    assert [c["name"] for c in json.loads(r.stdout)["checkpoints"]] == ["checkpoint-30"]
    assert s3.counts["LIST"] == 1 and s3.counts["GET"] - 1 <= 7  # checkpoint-30's files, one round


def test_missing_path_and_bucket_are_usage_errors(s3: CountingMotoServer) -> None:
    r = run("inspect", f"s3://{BUCKET}/no/such/run")
    assert r.exit_code == 2 and "no such file or directory" in r.output
    r = run("inspect", "s3://no-such-bucket-ckptfix/run")
    assert r.exit_code == 2 and "s3://no-such-bucket-ckptfix/run" in r.output


def test_storage_options_reach_the_backend_and_secrets_are_never_printed(s3: CountingMotoServer) -> None:
    url = f"s3://{BUCKET}/fixtures/sine-ok"
    r = run("inspect", url, "--storage-option", f"endpoint_url={s3.url}", "--storage-option", "use_ssl=false")
    assert r.exit_code == 0, r.output
    secret = "S3cr3t-" + uuid.uuid4().hex
    # an endpoint botocore rejects (a usage error), one the listing fails on (the storage cannot be read),
    # each quoting it in its error: the message names no option value
    for endpoint, code in ((secret, 2), (f"http://user:{secret}@127.0.0.1:9", 3)):
        r = run("inspect", "--json", url, "--storage-option", f"secret={secret}", "--storage-option", "key=AKIATESTKEY123",
                "--storage-option", f"endpoint_url={endpoint}")
        assert r.exit_code == code and "error:" in r.output, r.output
        assert secret not in r.output and "AKIATESTKEY123" not in r.output, r.output
    r = run("inspect", url, "--storage-option", "not-a-pair")
    assert r.exit_code == 2 and "KEY=VALUE" in r.output
    r = run("inspect", str(FIXTURES / "sine-ok"), "--storage-option", "anon=true")
    assert r.exit_code == 2 and "URL" in r.output


def test_s3_gets_the_connections_the_store_uses(s3: CountingMotoServer) -> None:
    """aiobotocore keeps 10 connections unless told: a batch of 64 requests would wait in 7 waves."""
    store, _ = connect(f"s3://{BUCKET}/fixtures/sine-ok")
    assert store.fs.config_kwargs["max_pool_connections"] == store.tuning.max_connections == 64
    store, _ = connect(f"s3://{BUCKET}/fixtures/sine-ok", {"ckptfix": {"max_connections": 8}})
    assert store.fs.config_kwargs["max_pool_connections"] == 8


def test_a_missing_backend_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # an import of gcsfs now fails, as when not installed
    r = run("inspect", "gs://bucket/run")
    assert r.exit_code == 2
    assert "pip install 'ckptfix[gcs]'" in r.output
    r = run("inspect", "nosuchscheme://bucket/run")
    assert r.exit_code == 2 and "nosuchscheme://" in r.output


# -- repair ------------------------------------------------------------------------------------
def test_repair_backs_up_writes_one_object_and_verifies(s3: CountingMotoServer, tmp_path) -> None:
    url = fresh_copy(s3, "sine-v1")
    ck = f"{url}/checkpoint-30"
    original = s3_bytes(f"{ck}/scheduler.bin")
    dry = run("repair", "--dry-run", ck)
    assert dry.exit_code == 1 and "no lock" in dry.output  # the plan says what object storage cannot give
    assert s3_bytes(f"{ck}/scheduler.bin") == original
    r = run("repair", "--json", ck)
    assert r.exit_code == 1, r.output[-3000:]  # the first resumed step still runs at v1's lr: --optimizer-lr,
    doc = json.loads(r.stdout)  # which object storage cannot take (test_optimizer_lr_is_refused_on_object_storage)
    (item,) = doc["checkpoints"]
    assert {f["code"] for f in item["findings_after"] if f["severity"] == "error"} == {"CKF115"}
    backup = item["backup"]
    assert backup.startswith(f"{ck}/.ckptfix/backup-")
    assert s3_bytes(f"{backup}/scheduler.bin") == original
    manifest = json.loads(s3_bytes(f"{backup}/manifest.json"))
    assert manifest["files"][0]["sha256"] == hashlib.sha256(original).hexdigest()
    assert manifest["files"][0]["restore"] == f"copy {backup}/scheduler.bin to {ck}/scheduler.bin"
    new = s3_bytes(f"{ck}/scheduler.bin")
    assert new != original
    assert "CKF115" in run("inspect", ck).output  # the scheduler is consistent now; optimizer.bin's lr is not
    import torch

    state = torch.load(io.BytesIO(new), weights_only=True)
    assert state["last_epoch"] == 30
    torch.save(state, tmp_path / "scheduler.bin")  # what accelerate would have written, archive name included
    assert (tmp_path / "scheduler.bin").read_bytes() == new


def test_repair_restores_the_original_when_verification_fails(s3: CountingMotoServer) -> None:
    from ckptfix.repair.run import repair_path

    url = fresh_copy(s3, "sine-v2")
    ck = f"{url}/checkpoint-30"
    original = s3_bytes(f"{ck}/scheduler.bin")
    store, path = connect(ck)

    def fault(stage: str, p: object) -> None:
        if stage == "verify":
            raise OSError("injected failure after the upload")

    outcome = repair_path(path, Options(), fault=fault, store=store)
    (item,) = outcome.items
    assert item.result.status == "failed" and item.result.restored is True
    assert "injected failure" in item.result.error
    assert s3_bytes(f"{ck}/scheduler.bin") == original  # the backup copied back
    assert outcome.exit_code == 1


def test_repair_creates_a_missing_scheduler_and_undo_removes_it(s3: CountingMotoServer) -> None:
    from ckptfix.repair.run import repair_path

    url = fresh_copy(s3, "missing-scheduler")
    ck = f"{url}/checkpoint-30"
    store, path = connect(ck)

    def fault(stage: str, p: object) -> None:
        if stage == "verify":
            raise OSError("injected")

    outcome = repair_path(path, Options(lr_warmup_steps=100), fault=fault, store=store)
    assert outcome.items[0].result.restored is True
    assert s3_bytes(f"{ck}/scheduler.bin") is None
    r = run("repair", ck, "--lr-warmup-steps", "100")
    assert r.exit_code == 1 and "CKF115" in r.output, r.output[-2000:]  # created; optimizer.bin's lr is another W's
    with connect(f"{ck}/scheduler.bin")[0].open(connect(f"{ck}/scheduler.bin")[1]) as src:
        assert isinstance(decode_torch(src).obj, dict)


def test_optimizer_lr_is_refused_on_object_storage(s3: CountingMotoServer) -> None:
    url = fresh_copy(s3, "sine-v1")
    before = s3_bytes(f"{url}/checkpoint-30/optimizer.bin")
    r = run("repair", f"{url}/checkpoint-30", "--optimizer-lr")
    assert r.exit_code == 2
    assert "--optimizer-lr" in r.output and "object storage" in r.output
    assert s3_bytes(f"{url}/checkpoint-30/optimizer.bin") == before
    assert s3_bytes(f"{url}/checkpoint-30/scheduler.bin") == s3_bytes(f"s3://{BUCKET}/fixtures/sine-v1/checkpoint-30/scheduler.bin")


def test_repair_refuses_a_hostile_checkpoint_naming_its_objects(s3: CountingMotoServer) -> None:
    r = run("repair", "--dry-run", "--json", f"s3://{BUCKET}/fixtures/hostile/checkpoint-30")
    assert r.exit_code == 3
    refusals = json.loads(r.stdout)["checkpoints"][0]["refusals"]
    assert refusals and all(x["file"] is None or x["file"].startswith(f"s3://{BUCKET}/fixtures/hostile/")
                            for x in refusals), refusals  # URLs, not "s3:/..." folded by pathlib


# -- storage that fails or does not answer (issue #19 item 8) -----------------------------------
def ckptfix_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a process, as a launcher runs it; the 120 s bound fails (never hangs) the test when a
    deadline does not hold."""
    return subprocess.run([sys.executable, "-m", "ckptfix", *args], capture_output=True, text=True, timeout=120,
                          env=env or dict(os.environ))


def test_an_endpoint_that_never_answers_ends_at_the_timeout() -> None:
    """It accepts connections and never answers: exit 3 naming the URL and what was waited for."""
    with silent_endpoint() as endpoint:
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, **CREDENTIALS)
        for command in ("inspect", "repair"):
            p = ckptfix_process(command, "s3://bucket/run", "--timeout", "1", env=env)
            assert p.returncode == 3, p.stderr
            assert "s3://bucket/run" in p.stderr and "the listing of s3://bucket/run" in p.stderr
            assert "--timeout 1 s" in p.stderr and "Traceback" not in p.stderr
        p = ckptfix_process("inspect", "s3://bucket/run", "--latest", "--json", "--timeout", "0.5", env=env)
        doc = json.loads(p.stdout)
        assert p.returncode == doc["exit_code"] == 3 and doc["status"] == "unreadable"


def test_reads_that_never_answer_end_at_the_timeout(s3: CountingMotoServer) -> None:
    """The listing answers, the reads do not: every checkpoint not read is unreadable, exit 3, what was
    waited for said once; repair writes nothing."""
    url = fresh_copy(s3, "sine-v1")
    before = s3_bytes(f"{url}/checkpoint-30/scheduler.bin")
    answer = threading.Event()

    def reads_hang(method: str, path: str) -> None:
        if method == "GET":
            answer.wait(60)

    try:
        with s3.faults(reads_hang):
            for command in ("inspect", "repair"):
                p = ckptfix_process(command, url, "--timeout", "2", "--json")
                doc = json.loads(p.stdout)
                assert p.returncode == doc["exit_code"] == 3, p.stderr
                assert f"{url}: no answer from the storage within --timeout 2 s (waiting for " in p.stderr
                assert f"of {url}/checkpoint-30/" in p.stderr and "Traceback" not in p.stderr
    finally:
        answer.set()
    assert doc["checkpoints"][0]["status"] == "refused"  # repair: unreadable, so not touched
    assert s3_bytes(f"{url}/checkpoint-30/scheduler.bin") == before
    assert not [k for k in S3FileSystem(skip_instance_cache=True).find(url.removeprefix("s3://")) if ".ckptfix" in k]


@pytest.mark.parametrize("status, code, words", [(403, "AccessDenied", "access denied"),
                                                 (500, "InternalError", "cannot list")])
def test_a_listing_that_fails_is_unreadable_storage_not_a_usage_error(s3: CountingMotoServer, status: int, code: str,
                                                                      words: str) -> None:
    url = f"s3://{BUCKET}/fixtures/sine-ok"
    with s3.faults(lambda method, path: (status, code) if method == "LIST" else None):
        r = run("inspect", url, "--timeout", "30", "--json")
    assert r.exit_code == 3 and words in r.stderr and url in r.stderr, r.output
    assert json.loads(r.stdout)["status"] == "unreadable"
    assert run("inspect", url).exit_code == 0  # the same PATH, the storage answering again


@pytest.mark.parametrize("stage, uploads", [("replace", 0), ("verify", 2)])
def test_a_deadline_that_passes_during_repair_loses_nothing(s3: CountingMotoServer, stage: str, uploads: int) -> None:
    """Past the deadline no write starts (``replace``: before the upload); one that passes after the upload
    (``verify``) does not stop the undo from putting the original back."""
    from ckptfix.repair.run import repair_path

    url = fresh_copy(s3, "sine-v2")
    ck = f"{url}/checkpoint-30"
    original = s3_bytes(f"{ck}/scheduler.bin")
    store, path = connect(ck)
    now = [0.0]
    store.deadline = Deadline(60, clock=lambda: now[0])

    def fault(at: str, p: object) -> None:
        if at == stage:
            now[0] = 61.0  # the deadline passes here

    seen: list[tuple[str, str]] = []
    with s3.faults(lambda method, p: seen.append((method, p))):
        outcome = repair_path(path, Options(), fault=fault, store=store)
    (item,) = outcome.items
    assert item.result.status == "failed" and item.result.restored is True, item.result
    assert "--timeout 60 s" in item.result.error
    assert s3_bytes(f"{ck}/scheduler.bin") == original
    assert store.timed_out() is not None
    # the upload, then (after verify) the backup copied back over it; before the upload: nothing
    assert seen.count(("PUT", f"/{ck.removeprefix('s3://')}/scheduler.bin")) == uploads


def test_each_s3_request_is_bounded_and_retried_a_few_times(s3: CountingMotoServer) -> None:
    """botocore's connect/read timeouts (never past --timeout) and attempts; s3fs's own retries capped."""
    store, _ = connect(f"s3://{BUCKET}/fixtures/sine-ok", timeout=4)
    cfg = store.fs.config_kwargs
    assert (cfg["connect_timeout"], cfg["read_timeout"]) == (4, 4)
    assert cfg["retries"] == {"mode": "standard", "total_max_attempts": S3_REQUESTS["total_max_attempts"]}
    assert store.fs.retries <= 2
    store, _ = connect(f"s3://{BUCKET}/fixtures/sine-ok", {"config_kwargs": {"read_timeout": 60}}, timeout=300)
    assert (store.fs.config_kwargs["connect_timeout"], store.fs.config_kwargs["read_timeout"]) == (5.0, 60)
    for command in ("inspect", "repair"):  # --help says the default the code uses
        assert f"(default {DEFAULT_TIMEOUT:g};" in " ".join(run(command, "--help").output.split())


def test_sha256_of_an_object_is_one_head_and_one_get(s3: CountingMotoServer) -> None:
    """The digest of what the server holds now (repair's backup and put-back checks): the size asked once,
    the bytes once (read_now's forget made open() ask for the size a second time)."""
    url = fresh_copy(s3, "sine-ok")
    store, path = connect(f"{url}/checkpoint-30/scheduler.bin")
    expected = hashlib.sha256(s3_bytes(f"{url}/checkpoint-30/scheduler.bin")).hexdigest()
    s3.reset_counts()
    assert store.sha256(path, 1 << 20) == expected
    assert dict(s3.counts) == {"HEAD": 1, "GET": 1}
    s3.reset_counts()
    assert store.sha256(store.path(f"{url}/checkpoint-30/absent.bin"), 1 << 20) is None
    assert s3.counts["HEAD"] == 1 and "GET" not in s3.counts  # (s3fs then lists the key's prefix: a folder?)
