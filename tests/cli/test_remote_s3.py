"""``ckptfix inspect`` / ``repair`` on S3: a real S3-protocol server on 127.0.0.1 (moto's), through s3fs,
with credentials and endpoint from the environment as AWS users give them (``AWS_ENDPOINT_URL``).

The server counts the HTTP requests it serves; the store counts its own requests and rounds."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from ckptfix._cli import app  # noqa: PLC2701 - the tests drive the CLI's Typer app
from ckptfix.analysis.report import Options
from ckptfix.analysis.run import inspect_path
from ckptfix.formats.source.remote import Tuning, connect
from ckptfix.formats.torchfile import decode_torch
from tests.helpers import FIXTURES

pytest.importorskip("s3fs")
from tests.s3server import CountingMotoServer, s3_env, upload_tree  # noqa: E402

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
    # an endpoint botocore rejects, quoting it in its error: the message names no option value
    for endpoint in (secret, f"http://user:{secret}@127.0.0.1:9"):
        r = run("inspect", "--json", url, "--storage-option", f"secret={secret}", "--storage-option", "key=AKIATESTKEY123",
                "--storage-option", f"endpoint_url={endpoint}")
        assert r.exit_code == 2 and "error:" in r.output
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
    assert r.exit_code == 0, r.output[-3000:]
    doc = json.loads(r.stdout)
    (item,) = doc["checkpoints"]
    backup = item["backup"]
    assert backup.startswith(f"{ck}/.ckptfix/backup-")
    assert s3_bytes(f"{backup}/scheduler.bin") == original
    manifest = json.loads(s3_bytes(f"{backup}/manifest.json"))
    assert manifest["files"][0]["sha256"] == hashlib.sha256(original).hexdigest()
    assert manifest["files"][0]["restore"] == f"copy {backup}/scheduler.bin to {ck}/scheduler.bin"
    new = s3_bytes(f"{ck}/scheduler.bin")
    assert new != original
    assert run("inspect", ck).exit_code == 0  # consistent now
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
    assert r.exit_code == 0, r.output[-2000:]
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
