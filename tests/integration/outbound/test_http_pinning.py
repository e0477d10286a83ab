"""The pinned HTTPS connection: TCP to the checked IP, TLS SNI and certificate check for the URL's host."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from platform_jobs.platform import webhook_http
from platform_jobs.platform.ssrf import Target

HOST = "hooks.invalid"  # never resolvable: a request that reaches the server did no DNS lookup


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, dict[str, Any]]]:
    cert, key = self_signed(tmp_path)
    seen: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            seen["host"] = self.headers["Host"]
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
        seen["sni"] = name

    context.sni_callback = remember_sni
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert, seen
    server.shutdown()
    server.server_close()


def test_https_goes_to_the_pinned_ip_with_the_hosts_sni_and_host_header(
    tls_server: tuple[int, Path, dict[str, Any]],
) -> None:
    port, cert, seen = tls_server
    trust = ssl.create_default_context(cafile=str(cert))
    target = Target(scheme="https", host=HOST, port=port, ip="127.0.0.1", path="/in")
    result = webhook_http.post(target, b"{}", {"Content-Type": "application/json"}, connect_timeout=2,
                               total_timeout=5, ssl_context=trust)
    assert result.status == 204 and result.error is None
    assert seen == {"host": f"{HOST}:{port}", "body": b"{}", "sni": HOST}


def test_certificate_must_match_the_urls_host(tls_server: tuple[int, Path, dict[str, Any]]) -> None:
    port, cert, _ = tls_server
    trust = ssl.create_default_context(cafile=str(cert))
    target = Target(scheme="https", host="other.invalid", port=port, ip="127.0.0.1", path="/")
    result = webhook_http.post(target, b"{}", {}, connect_timeout=2, total_timeout=5, ssl_context=trust)
    assert result.status is None and "TLS error" in (result.error or "")
