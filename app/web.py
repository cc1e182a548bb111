"""Pages for people: home, the public verify page behind every QR code, transaction pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template
from flask_login import current_user

bp = Blueprint("web", __name__)


@bp.route("/")
def home() -> str:
    return render_template("home.html", user=current_user)


def init_app(app: Flask) -> None:
    from app.verify_web import bp as verify_bp

    app.register_blueprint(bp)
    app.register_blueprint(verify_bp)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"current_user": current_user}
