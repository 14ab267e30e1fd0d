"""A real S3-protocol server on 127.0.0.1 for the tests (moto's, as s3fs's own test suite runs it),
counting the HTTP requests it serves (ground truth for the store's own counts), with faults a test
injects (``CountingMotoServer.faults``: an error answered, or an answer held back), and an endpoint that
accepts connections and never answers (``silent_endpoint``).

Stock moto reads the whole object for each ranged GET: count requests here, never time them.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any, Iterator

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing-key-id", "AWS_SECRET_ACCESS_KEY": "testing-secret-key-0123",
               "AWS_DEFAULT_REGION": "us-east-1"}


class _QuietHandler(MotoRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        pass


#: A fault: called with each request's method (LIST for a listing) and path before moto sees it; it may
#: block (an answer held back) or return (HTTP status, S3 error code) to answer that error instead.
Fault = Callable[[str, str], "tuple[int, str] | None"]


class CountingMotoServer(ThreadedMotoServer):
    """moto's threaded server with a WSGI layer that counts requests by method (and ranged GETs) and
    applies the fault a test set (``faults``)."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._fault: Fault | None = None

    @contextmanager
    def faults(self, fault: Fault) -> Iterator[None]:
        """``fault`` applied to every request inside (and no longer after, whatever happens)."""
        self._fault = fault
        try:
            yield
        finally:
            self._fault = None

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)

        def counting(environ: dict[str, Any], start_response: Any) -> Any:
            method = environ["REQUEST_METHOD"]
            if method == "GET" and "list-type" in environ.get("QUERY_STRING", ""):
                method = "LIST"
            with self._count_lock:
                self.counts[method] += 1
            fault = self._fault
            answer = fault(method, environ.get("PATH_INFO", "")) if fault is not None else None
            if answer is not None:
                status, code = answer
                body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                        f"<Message>{code} (a fault the test injected)</Message></Error>").encode()
                start_response(f"{status} {HTTPStatus(status).phrase}",
                               [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
                return [body]
            return app(environ, start_response)

        self._server = make_server(self._ip_address, self._port, counting, True, request_handler=_QuietHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def reset_counts(self) -> None:
        with self._count_lock:
            self.counts.clear()

    @property
    def requests(self) -> int:
        return sum(self.counts.values())


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that accepts every connection and never answers (reads
    nothing, sends nothing): a storage endpoint that hangs. Connections are closed on exit."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:  # closed on exit
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        try:
            server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (close alone may not)
        except OSError:
            pass
        server.close()
        for c in held:
            c.close()


@contextmanager
def s3_env(endpoint: str) -> Iterator[None]:
    """AWS credentials and endpoint the way users give them (environment), restored afterwards."""
    saved = {k: os.environ.get(k) for k in (*CREDENTIALS, "AWS_ENDPOINT_URL")}
    os.environ.update(CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def upload_tree(endpoint: str, local: Path, bucket: str, prefix: str) -> None:
    """Put every file below ``local`` at ``s3://bucket/prefix/<relative path>`` (boto3, not ckptfix)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in CREDENTIALS.items()
                                                        if k != "AWS_DEFAULT_REGION"}, region_name="us-east-1")
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    for p in sorted(local.rglob("*")):
        if p.is_file():
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{p.relative_to(local)}".lstrip("/"), Body=p.read_bytes())
