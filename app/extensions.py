"""Flask extensions, created here and bound to an app in create_app (application-factory style)."""

from __future__ import annotations

from flask import request
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
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def select_locale() -> str:
    """The language switch (cookie) wins; else the browser's preference; else Chinese."""
    chosen = request.cookies.get("lang")
    if chosen in ("zh", "en"):
        return chosen
    return request.accept_languages.best_match(["zh", "en"]) or "zh"
