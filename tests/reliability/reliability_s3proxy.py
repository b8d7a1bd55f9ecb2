"""A fault-injecting HTTP proxy in front of an S3 server (moto), for storage-fault tests.

For a seeded fraction of the requests it matches (or their first N attempts), the proxy
answers ``503 SlowDown``, ``500 InternalError``, or drops the connection without answering
(before the request reaches the server); everything else is forwarded unchanged. Decisions
come from one seeded RNG in arrival order, and every injected fault is counted by kind.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ("slowdown", "internal", "drop")
_ERRORS = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection"}


@dataclass
class FaultPlan:
    """Which requests fail and how: ``rate`` of those whose ``METHOD path`` matches ``match``."""

    rate: float = 0.0
    kinds: tuple[str, ...] = KINDS
    match: str = ""  # regex searched in "METHOD /bucket/key?query"; "" matches everything
    seed: int = 0
    first: int = 0  # also fail the first ``first`` attempts of every distinct request
    slow: str = ""  # regex: requests it matches are held ``slow_s`` seconds before forwarding
    slow_s: float = 0.0
    rng: random.Random = field(init=False)
    seen: Counter = field(init=False, default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def decide(self, method: str, path: str) -> str | None:
        if not re.search(self.match, f"{method} {path}"):
            return None
        self.seen[method, path] += 1
        if self.seen[method, path] <= self.first:
            return self.kinds[(self.seen[method, path] - 1) % len(self.kinds)]
        if self.rate <= 0 or self.rng.random() >= self.rate:
            return None
        return self.rng.choice(self.kinds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultProxy

    def log_message(self, format: str, *args) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _error(self, kind: str) -> None:
        status, code, message = _ERRORS[kind]
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>").encode()  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, body: bytes) -> None:
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        try:
            upstream.request(self.command, self.path, body, headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        length = response.getheader("Content-Length") if self.command == "HEAD" else len(data)
        self.send_header("Content-Length", str(length or 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self) -> None:
        body = self._body()
        fault = self.server.record(self.command, self.path)
        if fault == "drop":
            self.close_connection = True  # closed with no answer at all
            return
        if fault is not None:
            self._error(fault)
            return
        if self.server.plan.slow and re.search(
            self.server.plan.slow, f"{self.command} {self.path}"
        ):
            time.sleep(self.server.plan.slow_s)
        self._forward(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class FaultProxy(ThreadingHTTPServer):
    """The proxy server; ``plan`` may be replaced between runs; ``faults`` counts by kind."""

    daemon_threads = True

    def __init__(self, upstream_url: str, plan: FaultPlan | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        host, port = re.match(r"https?://([^:/]+):(\d+)", upstream_url).groups()
        self.upstream = (host, int(port))
        self.plan = plan or FaultPlan()
        self.faults: Counter = Counter()
        self.requests = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, method: str, path: str) -> str | None:
        with self._lock:
            self.requests += 1
            fault = self.plan.decide(method, path)
            if fault is not None:
                self.faults[fault] += 1
            return fault


@contextlib.contextmanager
def fault_proxy(upstream_url: str, plan: FaultPlan | None = None) -> Iterator[FaultProxy]:
    """Run a :class:`FaultProxy` in front of ``upstream_url`` for the ``with`` block."""
    proxy = FaultProxy(upstream_url, plan)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
