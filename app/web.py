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
    from app.admin.routes import bp as admin_bp
    from app.claim.routes import bp as claim_bp
    from app.issue.routes import bp as issue_bp
    from app.verify_web import bp as verify_bp

    app.register_blueprint(bp)
    app.register_blueprint(verify_bp)
    app.register_blueprint(issue_bp)
    app.register_blueprint(claim_bp)
    app.register_blueprint(admin_bp)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from flask_babel import get_locale

        locale = str(get_locale() or "zh")
        from app.platform import platform

        return {
            "current_user": current_user,
            "tx_link": platform().tx_url,
            "html_lang": "zh-CN" if locale.startswith("zh") else locale,
        }
