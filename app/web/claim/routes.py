"""Verify a bill the same ways as the public page, then mark it reimbursed exactly once."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import Bill, BillStatus, JobStatus, OrgKind
from app.services import reimbursement
from app.services.errors import (
    ServiceError,
    not_found,
)
from app.services.settlement import already_claimed, wait_for_job
from app.services.verification import stored_bill, verify_any
from app.web.auth import role_required
from app.web.claim.forms import ClaimForm
from app.web.errors import answer_for
from app.web.verify.forms import VerifyForm, read_source

bp = Blueprint("claim", __name__)

PAGE_SIZE = 20


@bp.app_context_processor
def _claim_form() -> dict[str, Any]:
    """Verify result pages (the public ones too) offer claimants the claim form beside the verdict."""
    return {"claim_form_factory": ClaimForm}


@bp.route("/claim", methods=["GET", "POST"])
@role_required(OrgKind.CLAIMANT)
def claim_verify() -> Any:
    form = VerifyForm()
    if form.validate_on_submit():
        result = verify_any(read_source(form))
        return render_template(
            "verify/result.html", result=result, bill=stored_bill(result), form=form, claim_form=ClaimForm()
        )
    return render_template("claim/index.html", form=form)


@bp.route("/claim/<bill_id>", methods=["POST"])
@role_required(OrgKind.CLAIMANT)
def claim_bill(bill_id: str) -> Any:
    bill = db.session.get(Bill, bill_id)
    if bill is None:
        raise not_found()
    form = ClaimForm()
    if not form.validate_on_submit():
        return render_template("claim/done.html", bill=bill, form=form, error="Enter your claim reference."), 422
    try:
        job = reimbursement.claim(
            bill, current_user.organisation, (form.claim_ref.data or "").strip(), actor=f"user:{current_user.username}"
        )
    except ServiceError as exc:
        refused = answer_for(exc)
        return render_template(
            "claim/done.html", bill=bill, form=form, error=exc.message, refusal=refused
        ), refused.status
    done = wait_for_job(current_app._get_current_object(), job.id, current_app.config["BILLCHAIN_CLAIM_WAIT"])  # type: ignore[attr-defined]
    db.session.expire_all()
    bill = db.session.get(Bill, bill_id)
    assert bill is not None
    if done is not None and done.status == JobStatus.FAILED:
        if bill.status == BillStatus.CLAIMED:
            refusal = answer_for(already_claimed(bill))
            return render_template("claim/done.html", bill=bill, form=form, error=refusal.message, refusal=refusal), 409
        message = f"The chain refused the claim: {done.error}"
        return render_template("claim/done.html", bill=bill, form=form, error=message), 409
    return render_template("claim/done.html", bill=bill, form=form, submitted=done is None)


@bp.route("/claimed")
@role_required(OrgKind.CLAIMANT)
def claimed() -> str:
    page = max(1, request.args.get("page", 1, type=int) or 1)
    query = (
        select(Bill)
        .where(Bill.settled_by_org_id == current_user.organisation_id, Bill.claim_ref.is_not(None))
        .order_by(Bill.settle_requested_at.desc())
    )
    pagination = db.paginate(query, page=page, per_page=PAGE_SIZE, error_out=False)
    return render_template("claim/list.html", pagination=pagination)
