"""Billchain: fiscal e-bills anchored on a consortium chain, verified by QR, reimbursed once."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import api, cli
from app.config import load_config
from app.extensions import (
    apply_route_limits,
    babel,
    csrf,
    db,
    limiter,
    login_manager,
    migrate,
    openapi,
    ratelimit_storage,
    select_locale,
)
from app.runtime import Runtime
from app.web import (
    admin,
    auth,
    claim,
    dev,
    errors,
    explorer,
    finance,
    home,
    i18n,
    imports,
    issue,
    pdf,
    presenters,
    security,
    verify,
    wallet,
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Application factory: defaults → BILLCHAIN_* environment → `config` overrides."""
    app = Flask(__name__, instance_path=os.environ.get("BILLCHAIN_INSTANCE_PATH") or None)
    os.makedirs(app.instance_path, exist_ok=True)
    settings = load_config(app.instance_path, config)
    app.config.update(settings)
    app.config.update(
        SECRET_KEY=settings["BILLCHAIN_SECRET_KEY"],
        SQLALCHEMY_DATABASE_URI=settings["BILLCHAIN_DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings["BILLCHAIN_DATABASE_URL"]),
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        API_TITLE="Billchain API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        RATELIMIT_STORAGE_URI=ratelimit_storage(settings["BILLCHAIN_RATELIMIT_STORAGE_URL"]),
        RATELIMIT_STORAGE_OPTIONS={"socket_connect_timeout": 1, "socket_timeout": 1},
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,  # Redis gone: count per process rather than fail requests
        BABEL_DEFAULT_LOCALE="zh",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=str(settings["BILLCHAIN_BASE_URL"]).startswith("https://"),
    )
    for key in ("TESTING", "WTF_CSRF_ENABLED", "RATELIMIT_ENABLED", "SERVER_NAME"):
        if config and key in config:
            app.config[key] = config[key]

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    openapi.init_app(app)
    app.extensions["billchain"] = Runtime(app)
    app.extensions["billchain"].pdf_maker = pdf.bill_pdf  # for e-mailed bills (services cannot import web)

    errors.init_app(app)
    auth.init_app(app)
    presenters.init_app(app)
    security.init_app(app)
    i18n.init_app(app)
    cli.init_app(app)
    register_blueprints(app)
    apply_route_limits(app)
    if int(settings["BILLCHAIN_TRUSTED_PROXIES"]) > 0:
        # X-Forwarded-For is believed only from this many proxies in front (never by default).
        hops = int(settings["BILLCHAIN_TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    return app


def register_blueprints(app: Flask) -> None:
    """Every page area and the JSON API, in one place."""
    for bp in (home.bp, verify.bp, issue.bp, claim.bp, admin.bp, imports.bp, wallet.bp, finance.bp, explorer.bp):
        app.register_blueprint(bp)
    app.register_blueprint(dev.bp)  # /dev/outbox: answers 404 unless BILLCHAIN_DEV_OUTBOX is on
    for blp in api.blueprints:
        openapi.register_blueprint(blp)


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Threads share the file; a writer waits for the lock instead of failing at once.
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
