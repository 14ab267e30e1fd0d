"""Two loopback servers for ``bench/remote.py``: a read-only S3-protocol server over a local folder, and
a TCP proxy that delays every request by a fixed time (a round trip to a far region).

``S3Folder``: ListObjectsV2 (paged by 1,000 keys, with or without a delimiter), HEAD and GET with
``Range``, served straight from the files (``os.pread``): an 8 GB object costs what is asked of it,
unlike stock moto, which reads the whole object for each ranged GET. No authentication (any signature
is accepted). It counts requests and bytes sent, by kind.

``DelayProxy``: forwards TCP both ways; every chunk the client sends waits ``delay`` seconds before it
is passed on. An HTTP request is one chunk, so each request pays the delay once, as with a real RTT
(responses are not delayed: the delay stands for the whole round trip).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse
from xml.sax.saxutils import escape

__all__ = ["DelayProxy", "S3Folder"]

_PAGE = 1000


class S3Folder:
    """``http://127.0.0.1:<port>/<bucket>/<key>`` serves ``<root>/<key>`` for every bucket name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.counts: Counter[str] = Counter()
        self.bytes_sent = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _count(self, kind: str, n: int) -> None:
                with outer._lock:
                    outer.counts[kind] += 1
                    outer.bytes_sent += n

            def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _target(self) -> tuple[str, str, dict[str, list[str]]]:
                u = urlparse(self.path)
                parts = unquote(u.path).lstrip("/").split("/", 1)
                return parts[0], parts[1] if len(parts) > 1 else "", parse_qs(u.query)

            def do_HEAD(self) -> None:  # noqa: N802
                _, key, _ = self._target()
                p = outer.root / key
                self._count("HEAD", 0)
                if not key or not p.is_file():
                    self._send(404, b"")
                    return
                st = p.stat()
                self.send_response(200)
                self.send_header("Content-Length", str(st.st_size))
                self.send_header("ETag", _etag(p))
                self.send_header("Last-Modified", formatdate(st.st_mtime, usegmt=True))
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                bucket, key, q = self._target()
                if not key:
                    self._list(bucket, q)
                    return
                p = outer.root / key
                if not p.is_file():
                    self._count("GET", 0)
                    body = b"<Error><Code>NoSuchKey</Code></Error>"
                    self._send(404, body, {"Content-Type": "application/xml"})
                    return
                size = p.stat().st_size
                start, end, code = 0, size - 1, 200
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    a, _, b = rng[6:].partition("-")
                    if a:
                        start, end = int(a), min(int(b), size - 1) if b else size - 1
                    else:
                        start, end = max(0, size - int(b)), size - 1
                    code = 206
                n = end - start + 1
                self._count("GET", n)
                self.send_response(code)
                self.send_header("Content-Length", str(n))
                self.send_header("ETag", _etag(p))
                if code == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                fd = os.open(p, os.O_RDONLY)
                try:
                    pos = start
                    while pos <= end:
                        chunk = os.pread(fd, min(1 << 20, end + 1 - pos), pos)
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        pos += len(chunk)
                finally:
                    os.close(fd)

            def _list(self, bucket: str, q: dict[str, list[str]]) -> None:
                prefix = q.get("prefix", [""])[0]
                delim = q.get("delimiter", [""])[0]
                token = q.get("continuation-token", [""])[0]
                limit = min(int(q.get("max-keys", [str(_PAGE)])[0]), _PAGE)
                keys, prefixes = outer.listing(prefix, delim)
                items = sorted([(k, False) for k in keys] + [(c, True) for c in prefixes])
                if token:
                    items = [it for it in items if it[0] > token]
                page, more = items[:limit], len(items) > limit
                out = ['<?xml version="1.0" encoding="UTF-8"?>',
                       '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
                       f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>",
                       f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{limit}</MaxKeys>",
                       f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>"]
                if more:
                    out.append(f"<NextContinuationToken>{escape(page[-1][0])}</NextContinuationToken>")
                for name, is_prefix in page:
                    if is_prefix:
                        out.append(f"<CommonPrefixes><Prefix>{escape(name)}</Prefix></CommonPrefixes>")
                    else:
                        st = (outer.root / name).stat()
                        out.append(f"<Contents><Key>{escape(name)}</Key><Size>{st.st_size}</Size>"
                                   f"<LastModified>2026-01-01T00:00:00.000Z</LastModified>"
                                   f"<ETag>{escape(_etag(outer.root / name))}</ETag><StorageClass>STANDARD</StorageClass></Contents>")
                out.append("</ListBucketResult>")
                body = "".join(out).encode()
                self._count("LIST", len(body))
                self._send(200, body, {"Content-Type": "application/xml"})

        class Server(ThreadingHTTPServer):
            # socketserver's default backlog of 5 drops most of 64 simultaneous connects; the client
            # retries after 1 s: a cost of this server, not of S3 (measured: 1.35 s for 64 ranges)
            request_queue_size = 1024

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client closing its connection early is not news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def listing(self, prefix: str, delim: str) -> tuple[list[str], list[str]]:
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        keys, prefixes = [], set()
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                key = str(Path(dirpath, f).relative_to(self.root))
                if not key.startswith(prefix):
                    continue
                if delim and delim in key[len(prefix):]:
                    prefixes.add(prefix + key[len(prefix):].split(delim, 1)[0] + delim)
                else:
                    keys.append(key)
        return sorted(keys), sorted(prefixes)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> S3Folder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.bytes_sent = 0


def _etag(p: Path) -> str:
    st = p.stat()
    return '"' + hashlib.md5(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode(), usedforsecurity=False).hexdigest() + '"'


class DelayProxy:
    """``127.0.0.1:<port>`` -> ``upstream``; every chunk from the client waits ``delay`` seconds."""

    def __init__(self, upstream: str, delay: float) -> None:
        u = urlparse(upstream)
        self.host, self.port_up, self.delay = u.hostname or "127.0.0.1", u.port or 80, delay
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(self.host, self.port_up)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_w, self.delay), self._pipe(up_r, writer, 0.0))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0, backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DelayProxy:
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def quote_key(key: str) -> str:
    return quote(key)
