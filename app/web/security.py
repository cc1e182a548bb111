"""What every request and answer gets: a body limit by endpoint, safe redirects, and security headers.

Headers: a content security policy, no sniffing, no framing, no referrer leaks. Scripts come only from
this site (no inline scripts or handlers anywhere); 'wasm-unsafe-eval' lets the in-page QR scanner run
its WebAssembly decoder, which is served from /static too.

Body limits: each kind of endpoint has its own (BILLCHAIN_MAX_BODY for forms and JSON, BILLCHAIN_MAX_UPLOAD
for photos and bill files, BILLCHAIN_IMPORT_MAX_BYTES for imports, BILLCHAIN_MAX_BULK × BULK_BILL_BYTES for
bulk issue), set on the request before anything reads the body, so Werkzeug never reads past it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.services.errors import TooLarge
from app.web.errors import answer_for, respond

BULK_BILL_BYTES = 8 * 1024
"""Body bytes allowed per bill in a bulk issue: a bill with a dozen items is about 1.5 KB of JSON."""

# Endpoints that take a file, by the setting that bounds them; every other endpoint gets BILLCHAIN_MAX_BODY.
UPLOAD_ENDPOINTS = {
    "verify.verify_page": "BILLCHAIN_MAX_UPLOAD",
    "claim.claim_verify": "BILLCHAIN_MAX_UPLOAD",
    "wallet.add_bill": "BILLCHAIN_MAX_UPLOAD",
    "api_verify.verify_endpoint": "BILLCHAIN_MAX_UPLOAD",
    "imports.upload": "BILLCHAIN_IMPORT_MAX_BYTES",
}
BULK_ENDPOINT = "api_bills.Bills"

_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\u0085\u00a0\u1680\u180e\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]")
"""Control and whitespace characters browsers drop from a URL (/%09/evil.example becomes //evil.example)."""


def safe_next(target: str | None, fallback: str) -> str:
    """``target`` if it is a path on this site, else ``fallback``: never a redirect to another host.

    Browsers strip tabs, newlines and other blanks and read a backslash as a slash, so the check runs on
    the text as a browser would see it: it must start with one slash and name no scheme or host.
    """
    if not target:
        return fallback
    seen = _UNSAFE_CHARS.sub("", target).replace("\\", "/")
    if not seen.startswith("/") or seen.startswith("//"):
        return fallback
    parts = urlsplit(seen)
    if parts.scheme or parts.netloc:
        return fallback
    return seen


def body_limit(endpoint: str | None) -> int:
    """The most bytes a request to ``endpoint`` may send."""
    config = current_app.config
    if endpoint == BULK_ENDPOINT:
        return int(config["BILLCHAIN_MAX_BULK"]) * BULK_BILL_BYTES
    return int(config[UPLOAD_ENDPOINTS.get(endpoint or "", "BILLCHAIN_MAX_BODY")])


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size // 1024} KB"


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
    def _limit_body() -> None:
        limit = body_limit(request.endpoint)
        request.max_content_length = limit  # Werkzeug stops reading a body without Content-Length here
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(
                "too_large",
                f"The request body is {_megabytes(request.content_length)}; at most {_megabytes(limit)}"
                f" ({limit} bytes) is accepted here.",
                "body",
                limit=limit,
            )

    # First of all before_request hooks: CSRF protection and the limiter read the form, hence the body.
    app.before_request_funcs.setdefault(None, []).insert(0, _limit_body)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(err: RequestEntityTooLarge) -> Any:
        """A body without Content-Length that ran past the limit while being read."""
        limit = request.max_content_length or 0
        message = f"The request body is larger than {_megabytes(limit)} ({limit} bytes), the most accepted here."
        return respond(answer_for(TooLarge("too_large", message, "body", limit=limit)))

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
