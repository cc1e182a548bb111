"""The public verify pages: the QR code's URL, and upload of a photo or a bill file. No login."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField

from app.errors import ApiError, wants_json
from app.extensions import limiter
from app.verify_service import stored_bill, verify_any

bp = Blueprint("verify", __name__)


def verify_limit() -> str:
    return str(current_app.config["BILLCHAIN_RATELIMIT_VERIFY"])


class VerifyForm(FlaskForm):
    photo = FileField(_l("Photo of the bill or its QR code"))
    bill_file = FileField(_l("Bill file (.json)"))
    url = StringField(_l("Verify URL"))


def read_source(form: VerifyForm) -> Any:
    """What the person gave us: a photo (or camera frame), a bill file, or a verify URL."""
    source: Any = None
    if form.photo.data:
        source = form.photo.data.read()
    elif form.bill_file.data:
        source = form.bill_file.data.read().decode("utf-8", errors="replace")
    elif form.url.data:
        source = form.url.data.strip()
    if not source:
        raise ApiError(400, "nothing_to_verify", "Choose a photo, a bill file or paste a verify URL.", "photo")
    return source


@bp.app_context_processor
def _claim_form() -> dict[str, Any]:
    """Result pages offer claimants the claim form beside the verdict."""
    from app.claim.forms import ClaimForm

    return {"claim_form_factory": ClaimForm}


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
