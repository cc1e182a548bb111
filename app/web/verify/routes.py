"""The public verify pages: the QR code's URL, and upload of a photo or a bill file. No login."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request

from app.extensions import limiter
from app.services.verification import stored_bill, verify_any
from app.web.errors import wants_json
from app.web.verify.forms import VerifyForm, read_source

bp = Blueprint("verify", __name__)


def verify_limit() -> str:
    return str(current_app.config["BILLCHAIN_RATELIMIT_VERIFY"])


@bp.route("/v/<path:token>")
@limiter.limit(verify_limit)
def verify_link(token: str) -> Any:
    """Where a phone camera lands after scanning a bill's QR code."""
    result = verify_any(request.url)
    if wants_json():
        return jsonify(result.to_dict())
    return render_template("verify/result.html", result=result, bill=stored_bill(result), form=VerifyForm())


@bp.route("/verify", methods=["GET", "POST"])
@limiter.limit(verify_limit, methods=["POST"])
def verify_page() -> Any:
    form = VerifyForm()
    result = None
    if form.validate_on_submit():
        result = verify_any(read_source(form))
    return render_template(
        "verify/result.html" if result else "verify/index.html",
        result=result,
        bill=stored_bill(result) if result else None,
        form=form,
    )
