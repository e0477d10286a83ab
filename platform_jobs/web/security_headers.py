"""Security headers on every response: CSP, no framing, no MIME sniffing, same-origin referrers, HSTS.

The pages load their JavaScript from ``/static`` only and keep data in ``<script type="application/json">``
blocks, so ``script-src 'self'`` needs no inline exception; ``style-src`` allows inline styles for the
progress bars' ``style="width: …"``.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
])
HSTS = "max-age=31536000; includeSubDomains"  # one year; only sent when the app is served over HTTPS


def security_headers(secure: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",  # for browsers older than CSP frame-ancestors
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    if secure:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def init_security_headers(app: Flask, *, secure: bool) -> None:
    headers = security_headers(secure)

    def add_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    app.after_request(add_headers)
