"""Loopback stand-ins for the Azure endpoints the app sends to, each recording what it received:
an Event Grid topic (CloudEvents batches) and an Application Insights ingestion endpoint
(`/v2.1/track` envelopes). Each answers with a status the test sets, over HTTP or, given a
certificate, HTTPS."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self):
        data = self.body
        if self.headers.get("content-encoding", "").lower() == "gzip":
            data = gzip.decompress(data)
        return json.loads(data)


@dataclass
class LoopbackServer:
    """Records every request; answers `status` (a JSON error body unless 2xx)."""

    status: int = 200
    tls: tuple[Path, Path] | None = None
    received: list[Received] = field(default_factory=list)
    answer: dict | list | None = None  # the JSON body of a 2xx answer

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                url = urlsplit(self.path)
                server.received.append(Received(
                    "POST", url.path, {k: v[0] for k, v in parse_qs(url.query).items()},
                    {k.lower(): v for k, v in self.headers.items()}, body))
                status = server.status
                if 200 <= status < 300:
                    payload = b"" if server.answer is None else json.dumps(server.answer).encode()
                else:
                    payload = json.dumps({"error": {"code": f"Status{status}",
                                                    "message": "refused by the test"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if self.tls else "http"
        self.base = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[LoopbackServer]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(5)

    def posted(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
