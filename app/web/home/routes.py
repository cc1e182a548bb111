"""The home page."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

bp = Blueprint("web", __name__)


@bp.route("/")
def home() -> str:
    return render_template("home.html", user=current_user)
