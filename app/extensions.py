"""Flask extensions, created here and bound to an app in create_app (application-factory style)."""

from __future__ import annotations

import logging
import socket
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request
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
# Keyed on the client address: the peer's, or with BILLCHAIN_TRUSTED_PROXIES the one Werkzeug's ProxyFix
# took from that many X-Forwarded-For hops (app/__init__.py). Never the header itself.
limiter = Limiter(key_func=get_remote_address, default_limits=[])
log = logging.getLogger("billchain.ratelimit")

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
