"""Response headers every page gets: a content security policy, no sniffing, no framing, no referrer leaks.

Scripts come only from this site (no inline scripts or handlers anywhere); 'wasm-unsafe-eval' lets the
in-page QR scanner run its WebAssembly decoder, which is served from /static too.
"""

from __future__ import annotations

from flask import Flask, Response

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # The in-page scanner needs the camera, and only here.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
