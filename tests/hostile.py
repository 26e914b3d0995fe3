"""
Hostile HTTP servers for the request-policy tests: threads on loopback, in this process.

A :class:`HostileServer` answers each request with the first of its routes whose prefix the path
starts with; an answer is a function that writes raw bytes to the socket, so a test can send what
Cincopa never would: redirects (to a second loopback address, 127.0.0.2, or from https to http),
answers trickling a byte at a time, oversized answers, HTML pages with status 200, chunked,
EOF-delimited, gzip or Latin-1 answers. Every request it receives is recorded whole
(:attr:`HostileServer.seen`: method, path, query, headers, body), so a test can prove that no
token, upload ``hash`` or file byte reached a host. :func:`self_signed` makes a certificate for
a TLS server; :class:`ForwardProxy` is a plain HTTP forward proxy that records what it forwards.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: The second loopback address: "another host" for redirect tests (Linux routes all of 127/8).
FOREIGN_HOST = "127.0.0.2"


@dataclass
class Seen:
    """One request a hostile server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def carries(self, secret: str | bytes) -> bool:
        """Whether ``secret`` is anywhere in this request: path, query, headers or body."""
        needle = secret.encode() if isinstance(secret, str) else secret
        text = f"{self.method} {self.path} {self.query} {self.headers}".encode()
        return needle in text or needle in self.body


#: An answer: writes raw bytes to the client's socket file (may sleep, may stop early); returns
#: True when the server must close the connection after it.
Answer = Callable[[Any], "bool | None"]


def raw(data: bytes, *, close: bool = False) -> Answer:
    """Send ``data`` as is (a whole HTTP answer, framing included); close the connection if asked."""

    def answer(out: Any) -> bool:
        out.write(data)
        out.flush()
        return close

    return answer


def reply(
    body: bytes | str,
    *,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Answer:
    """A well-framed answer (Content-Length) with ``body``."""
    data = body.encode() if isinstance(body, str) else body
    head = {"Content-Type": content_type, "Content-Length": str(len(data)), **(headers or {})}
    lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
    return raw(f"HTTP/1.1 {status} X\r\n{lines}\r\n".encode() + data)


def json_reply(value: Any, **kwargs: Any) -> Answer:
    """A JSON answer."""
    return reply(json.dumps(value), **kwargs)


def redirect(status: int, location: str) -> Answer:
    """A redirect to ``location``."""
    return reply(b"", status=status, content_type="text/plain", headers={"Location": location})


def html_page() -> Answer:
    """A captive portal's (or a wrong host's) login page, with status 200."""
    return reply("<html><body><h1>Sign in to the hotel Wi-Fi</h1></body></html>", content_type="text/html")


def trickle(data: bytes, *, every: float, head: bytes = b"") -> Answer:
    """Send ``head`` at once, then ``data`` one byte every ``every`` seconds, until the client leaves."""

    def answer(out: Any) -> None:
        out.write(head)
        out.flush()
        for i in range(len(data)):
            time.sleep(every)
            out.write(data[i : i + 1])
            out.flush()

    return answer


def oversized(size: int, *, declared: bool) -> Answer:
    """``size`` bytes of JSON-ish padding, with a Content-Length when ``declared``, else chunked."""

    def answer(out: Any) -> None:
        framing = f"Content-Length: {size}" if declared else "Transfer-Encoding: chunked"
        out.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode())
        block, sent = b" " * (1024 * 1024), 0
        while sent < size:
            piece = block[: size - sent]
            out.write(piece if declared else b"%x\r\n%b\r\n" % (len(piece), piece))
            sent += len(piece)
        if not declared:
            out.write(b"0\r\n\r\n")
        out.flush()

    return answer


def gzipped(value: Any) -> Answer:
    """A JSON answer sent gzip-compressed (although the client asked for ``identity``)."""
    return reply(gzip.compress(json.dumps(value).encode()), headers={"Content-Encoding": "gzip"})


def chunked(*pieces: bytes, content_type: str = "application/json") -> Answer:
    """An answer in ``Transfer-Encoding: chunked``, one chunk per piece."""
    body = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    return raw(head.encode() + body)


def eof_delimited(body: bytes, *, content_type: str = "application/json") -> Answer:
    """An answer with neither a length nor chunks: it ends where the server closes the connection."""
    return raw(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n".encode() + body, close=True)


def hold(seconds: float, then: Answer) -> Answer:
    """Wait ``seconds`` before answering (a slow server holding a connection)."""

    def answer(out: Any) -> bool | None:
        time.sleep(seconds)
        return then(out)

    return answer


@dataclass
class _Routes:
    table: list[tuple[str, Answer]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        seen = Seen(self.command, parts.path, dict(parse_qsl(parts.query)), dict(self.headers.items()), body)
        routes = self.server.routes
        with routes.lock:
            routes.seen.append(seen)
            answer = next((a for prefix, a in routes.table if parts.path.startswith(prefix)), None)
        if answer is None:
            answer = reply("no route", status=404, content_type="text/plain")
        try:
            self.close_connection = bool(answer(self.wfile))
        except OSError:  # the client gave up: what the hostile answer wanted to see
            self.close_connection = True

    do_GET = do_POST = do_PUT = _any

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext | None) -> None:
        self.routes = _Routes()
        self.tls = tls
        self.connections = 0
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self.routes.lock:
            self.connections += 1
        if self.tls is not None:
            try:  # in the connection's thread: a client refusing the certificate ends only this one
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)


class HostileServer:
    """
    An HTTP(S) server on ``host`` (loopback) whose answers the test scripts; use it as a context manager.

    :param host: ``127.0.0.1`` or :data:`FOREIGN_HOST`.
    :param tls: a server SSL context (see :func:`self_signed`) to speak https.
    """

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        self._server = _Server((host, 0), tls)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host}:{self._server.server_address[1]}"
        # A short poll interval: shutdown() waits for it, and every test stops its servers.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def route(self, prefix: str, answer: Answer) -> HostileServer:
        """Answer requests whose path starts with ``prefix`` with ``answer`` (first route wins)."""
        with self._server.routes.lock:
            self._server.routes.table.append((prefix, answer))
        return self

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (TLS handshakes tried, for an https server)."""
        with self._server.routes.lock:
            return self._server.connections

    @property
    def seen(self) -> list[Seen]:
        """Every request received so far."""
        with self._server.routes.lock:
            return list(self._server.routes.seen)

    def api(self) -> str:
        """The API base URL on this server (``.../v2/``)."""
        return f"{self.url}/v2/"


def self_signed(tmp_path: Path, *hosts: str) -> tuple[Path, Path]:
    """A self-signed certificate for the IP addresses ``hosts`` (default 127.0.0.1) and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cincopa-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    addresses = [x509.IPAddress(ipaddress.ip_address(h)) for h in hosts or ("127.0.0.1",)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(addresses), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server SSL context for :class:`HostileServer` from :func:`self_signed`'s files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class ForwardProxy:
    """A plain HTTP forward proxy on loopback (GET and POST); :attr:`seen` lists the URLs it forwarded."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        seen, direct = self.seen, urllib.request.build_opener(urllib.request.ProxyHandler({}))

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                seen.append(self.path)  # the absolute URL a client sends a proxy
                request = urllib.request.Request(self.path, method=self.command)
                try:
                    with direct.open(request, timeout=30) as answer:
                        status, body = answer.status, answer.read()
                except urllib.error.HTTPError as refused:
                    status, body = refused.code, refused.read()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _forward

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ForwardProxy:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
