"""One HTTP POST to a checked webhook target, bounded in time and size.

- The TCP connection goes to ``Target.ip`` (the address :mod:`ssrf` checked): there is no second DNS
  lookup, while the Host header and TLS SNI/certificate check use the URL's host name.
- No redirects are followed (``http.client`` never follows them).
- One deadline covers everything (connect, TLS, request, headers, body): every socket operation
  gets the remaining time as its timeout, and a watchdog shuts the socket down at the deadline, so
  a server that drips one byte a second cannot hold the worker past it.
- At most ``max_body`` bytes of the response body are read; the rest is never downloaded.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from platform_jobs.platform.ssrf import Target

MAX_RESPONSE_BODY = 64 * 1024
_READ_CHUNK = 16 * 1024


@dataclass
class HttpResult:
    status: int | None
    duration_ms: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _Pinned:
    """Mixin: connect to the checked IP; remember the raw socket for the watchdog."""

    raw_socket: socket.socket | None = None
    pinned_ip: str = ""
    connect_timeout: float = 5.0

    def _open(self, port: int) -> socket.socket:
        sock = socket.create_connection((self.pinned_ip, port), timeout=self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.raw_socket = sock
        return sock


class PinnedHTTPConnection(_Pinned, http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = self._open(self.port)


class PinnedHTTPSConnection(_Pinned, http.client.HTTPSConnection):
    def connect(self) -> None:
        sock = self._open(self.port)
        context = getattr(self, "_context", None) or ssl.create_default_context()
        self.sock = context.wrap_socket(sock, server_hostname=self.host)


def _connection(
    target: Target, connect_timeout: float, timeout: float, ssl_context: ssl.SSLContext | None = None
) -> PinnedHTTPConnection | PinnedHTTPSConnection:
    conn: PinnedHTTPConnection | PinnedHTTPSConnection
    if target.scheme == "https":
        conn = PinnedHTTPSConnection(target.host, target.port, timeout=timeout, context=ssl_context)
    else:
        conn = PinnedHTTPConnection(target.host, target.port, timeout=timeout)
    conn.pinned_ip = target.ip
    conn.connect_timeout = min(connect_timeout, timeout)
    return conn


def _describe(exc: BaseException, deadline_hit: bool, total_timeout: float) -> str:
    if deadline_hit:
        return f"timeout: no complete response within the {total_timeout:g} s deadline"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"timeout: {exc or 'timed out'}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"TLS error: {exc}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def post(
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    *,
    connect_timeout: float,
    total_timeout: float,
    max_body: int = MAX_RESPONSE_BODY,
    ssl_context: ssl.SSLContext | None = None,
) -> HttpResult:
    """POST ``body``; never raises for network trouble (the error is in the result).

    ``ssl_context`` defaults to the system's trust store with hostname checking.
    """
    started = time.monotonic()
    deadline = started + total_timeout
    conn = _connection(target, connect_timeout, total_timeout, ssl_context)
    deadline_hit = threading.Event()

    def abort() -> None:
        deadline_hit.set()
        sock = conn.raw_socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(total_timeout, abort)
    watchdog.daemon = True
    watchdog.start()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        try:
            conn.request("POST", target.path, body=body, headers=dict(headers))
            response = conn.getresponse()
        except Exception as exc:
            return HttpResult(status=None, duration_ms=elapsed_ms(),
                              error=_describe(exc, deadline_hit.is_set(), total_timeout))
        result = HttpResult(
            status=response.status,
            duration_ms=0,
            headers={name.lower(): value for name, value in response.getheaders()},
        )
        data = bytearray()
        try:
            while len(data) <= max_body:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("deadline")
                if conn.sock is not None:
                    conn.sock.settimeout(remaining)
                chunk = response.read1(min(_READ_CHUNK, max_body + 1 - len(data)))
                if not chunk:
                    break
                data += chunk
            if len(data) > max_body:
                result.error = f"response body larger than {max_body} bytes: cut off"
            elif deadline_hit.is_set():  # the watchdog closed the socket: the read saw an early EOF
                raise TimeoutError("deadline")
        except Exception as exc:
            if deadline_hit.is_set() or time.monotonic() >= deadline:
                result.error = f"response body cut off at the {total_timeout:g} s deadline"
            else:
                result.error = f"reading the response body failed: {_describe(exc, False, total_timeout)}"
        result.body = bytes(data[:max_body])
        result.duration_ms = elapsed_ms()
        return result
    finally:
        watchdog.cancel()
        conn.close()
