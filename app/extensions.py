"""Flask extensions, created here and bound to an app in create_app (application-factory style)."""

from __future__ import annotations

import logging
import math
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

db = SQLAlchemy()
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
openapi = Api()
babel = Babel()
log = logging.getLogger("billchain.ratelimit")


class _Limiter(Limiter):
    """Flask-Limiter with one storage round trip per limited request that passes (issue 15).

    A hit is one EVALSHA (`limits`' incr-and-expire script). Flask-Limiter's X-RateLimit headers would
    read the window back after every hit (GET and TTL: two more round trips to Redis on every verify),
    so they are off (`headers_enabled=False`, which wins over RATELIMIT_HEADERS_ENABLED) and only a
    refused request (429) says when to come back, where that read is the only work left.
    """

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        app.after_request(_refusal_headers)


def _refusal_headers(response: Response) -> Response:
    """On the limiter's 429: Retry-After and the X-RateLimit headers of the limit that refused."""
    if response.status_code != 429:
        return response
    refused = limiter.current_limit
    if refused is None or not refused.breached:
        return response
    try:
        resets = refused.window.reset_time  # the window read (two round trips), on refusals only
    except Exception:  # storage gone: the 429 stands without the hint
        log.warning("could not read the rate limit window for Retry-After", exc_info=True)
        return response
    response.headers["Retry-After"] = str(max(1, math.ceil(resets - time.time())))
    response.headers["X-RateLimit-Limit"] = str(refused.limit.amount)
    response.headers["X-RateLimit-Remaining"] = "0"
    response.headers["X-RateLimit-Reset"] = str(math.ceil(resets))
    return response


# Keyed on the client address: the peer's, or with BILLCHAIN_TRUSTED_PROXIES the one Werkzeug's ProxyFix
# took from that many X-Forwarded-For hops (app/__init__.py). Never the header itself.
limiter = _Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)

LOCAL_REDIS = "redis://127.0.0.1:6379"


def ratelimit_storage(url: str | None) -> str:
    """The limiter's storage: the setting; else a local Redis if one answers; else this process's memory.

    memory:// counts per process, so it is only the fallback of `make run` on a machine without Redis;
    with several workers or hosts, set BILLCHAIN_RATELIMIT_STORAGE_URL to a shared Redis.
    """
    if url:
        return url
    parts = urlsplit(LOCAL_REDIS)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=0.2):
            return LOCAL_REDIS
    except OSError:
        log.warning("no Redis at %s: rate limits are counted per process (memory://)", LOCAL_REDIS)
        return "memory://"


def _routes_limit() -> str:
    return str(current_app.config["BILLCHAIN_RATELIMIT_ROUTES"])


# One decorator object each, so applying them in every create_app (tests make many apps) adds no duplicates.
_any_method = limiter.limit(_routes_limit)
_posts = limiter.limit(_routes_limit, methods=["POST"])

# Routes limited by BILLCHAIN_RATELIMIT_ROUTES, by endpoint, in one place (verify and wallet logins have
# their own limits next to their views).
ROUTE_LIMITS: dict[str, Any] = {
    "api_health.health": _any_method,
    "chain.transaction": _any_method,
    "api_bills.claim_bill": _any_method,
    "claim.claim_bill": _any_method,
    "claim.claim_verify": _posts,
    "imports.upload": _posts,
    "wallet.index": _any_method,
    "wallet.bill_page": _any_method,
    "wallet.bill_pdf": _any_method,
    "wallet.bill_ofd_download": _any_method,
    "wallet.bill_download": _any_method,
}


def apply_route_limits(app: Flask) -> None:
    """Wrap the registered views of ROUTE_LIMITS in their limit (after the blueprints are registered)."""
    for endpoint, decorator in ROUTE_LIMITS.items():
        view = app.view_functions.get(endpoint)
        if view is not None:
            app.view_functions[endpoint] = decorator(view)


def select_locale() -> str:
    """The language switch (cookie) wins; else the browser's preference; else Chinese."""
    chosen = request.cookies.get("lang")
    if chosen in ("zh", "en"):
        return chosen
    return request.accept_languages.best_match(["zh", "en"]) or "zh"
