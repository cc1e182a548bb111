"""Response headers every page gets: no sniffing, no framing (clickjacking), no referrer leaks."""

from __future__ import annotations

from flask import Flask, Response

HEADERS = {
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
