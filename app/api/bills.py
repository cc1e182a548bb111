"""`/api/v1/bills`: issue (one or up to MAX_BULK), read, download, claim once, void."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from app.api.auth import require_org, token_organisation
from app.api.schemas import BillOut, ClaimIn, ErrorOut, VoidIn
from app.bills.qr import render_png, render_svg
from app.extensions import csrf, db
from app.models import Bill, BillStatus, JobStatus, OrgKind
from app.services.billfiles import bill_file, bill_verify_url
from app.services.errors import (
    Conflict,
    Invalid,
    Malformed,
    not_found,
)
from app.services.issuing import issue_bills
from app.services.settlement import already_claimed, request_claim, request_void, wait_for_job
from app.services.visibility import BillAccess, Viewer, bill_access, bill_detail, bill_summary

blp = Blueprint("api_bills", __name__, url_prefix="/api/v1/bills", description="Issue, read, claim and void bills")
csrf.exempt(blp)

ERRORS = {"content": {"application/json": {"schema": ErrorOut}}}


@blp.route("")
class Bills(MethodView):
    @blp.doc(
        security=[{"bearer": []}],
        requestBody={
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/BillIn"},
                            {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/BillIn"}},
                        ]
                    }
                }
            },
        },
        responses={
            "201": {
                "description": "The new bill (or list of bills, for a list), status pending until anchored",
                "content": {"application/json": {"schema": BillOut}},
            },
            "401": ERRORS,
            "403": ERRORS,
            "409": ERRORS,
            "413": ERRORS,
            "422": ERRORS,
        },
    )
    def post(self) -> Any:
        """Issue one bill (a JSON object) or many (a JSON array, at most BILLCHAIN_MAX_BULK)."""
        org = require_org(OrgKind.ISSUER)
        body = request.get_json(silent=True)
        if body is None:
            raise Malformed("invalid_json", "The body must be JSON: one bill object or a list of them.", "body")
        payloads = body if isinstance(body, list) else [body]
        bills = issue_bills(org, payloads, actor=f"token:{org.id}")
        out = [bill_summary(b, bill_verify_url(b)) for b in bills]
        return current_app.response_class(
            current_app.json.dumps(out if isinstance(body, list) else out[0]), status=201, mimetype="application/json"
        )

    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, BillOut(many=True))
    def get(self) -> Any:
        """The caller's bills (issuer: issued by it; claimant: claimed by it), newest first."""
        org = require_org(OrgKind.ISSUER, OrgKind.CLAIMANT)
        query = select(Bill).order_by(Bill.created_at.desc()).limit(min(int(request.args.get("limit", 100)), 1000))
        if org.kind == OrgKind.ISSUER:
            query = query.where(Bill.organisation_id == org.id)
        else:
            query = query.where(Bill.settled_by_org_id == org.id)
        if status := request.args.get("status"):
            query = query.where(Bill.status == status)
        return [bill_summary(b, bill_verify_url(b)) for b in db.session.scalars(query)]


def _access(bill_id: str) -> BillAccess:
    """The bill as the caller's organisation may see it (the one visibility rule, as the pages apply it)."""
    return bill_access(bill_id, Viewer(organisation=token_organisation()))


@blp.route("/<bill_id>")
@blp.doc(security=[{"bearer": []}], responses={"404": ERRORS})
def get_bill(bill_id: str) -> Any:
    """The bill with its status and anchoring; claimants see the payer's ID number masked."""
    access = _access(bill_id)
    return bill_detail(access, bill_verify_url(access.bill))


@blp.route("/<bill_id>/file")
@blp.doc(security=[{"bearer": []}], responses={"404": ERRORS})
def get_bill_file(bill_id: str) -> Any:
    """The bill file (JSON), for its issuer: verifiable on any node of the chain, even without this platform.

    Reimbursing units and the finance department get 403: the file holds the payer's full ID, phone and salt.
    """
    bill = _access(bill_id).require_file()
    response = current_app.response_class(current_app.json.dumps(bill_file(bill)), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="bill-{bill.bill_code}-{bill.bill_number}.json"'
    return response


@blp.route("/<bill_id>/qr.svg")
@blp.doc(security=[{"bearer": []}])
def get_qr_svg(bill_id: str) -> Response:
    """The bill's QR code for print."""
    bill = _access(bill_id).bill
    return Response(render_svg(bill_verify_url(bill)), mimetype="image/svg+xml")


@blp.route("/<bill_id>/qr.png")
@blp.doc(security=[{"bearer": []}])
def get_qr_png(bill_id: str) -> Response:
    """The bill's QR code as PNG."""
    bill = _access(bill_id).bill
    return Response(render_png(bill_verify_url(bill)), mimetype="image/png")


@blp.route("/<bill_id>/claim", methods=["POST"])
@blp.arguments(ClaimIn)
@blp.doc(security=[{"bearer": []}], responses={"403": ERRORS, "404": ERRORS, "409": ERRORS, "503": ERRORS})
def claim_bill(body: dict[str, Any], bill_id: str) -> Any:
    """Mark the bill reimbursed: 200 once the chain confirmed it; 409 with who and when for any later try."""
    claimant = require_org(OrgKind.CLAIMANT)
    bill = db.session.get(Bill, bill_id)
    if bill is None:
        raise not_found()
    job = request_claim(bill, claimant, body["claim_ref"], actor=f"token:{claimant.id}")
    return _await_settlement(job.id, bill_id, "claim")


@blp.route("/<bill_id>/void", methods=["POST"])
@blp.arguments(VoidIn)
@blp.doc(security=[{"bearer": []}], responses={"403": ERRORS, "404": ERRORS, "409": ERRORS, "503": ERRORS})
def void_bill(body: dict[str, Any], bill_id: str) -> Any:
    """Void (red-letter reversal) one of your own unclaimed bills, with a reason and optional replacement."""
    issuer = require_org(OrgKind.ISSUER)
    bill = db.session.get(Bill, bill_id)
    if bill is None or bill.organisation_id != issuer.id:
        raise not_found()
    replacement = None
    if body.get("replacement_bill_id"):
        replacement = db.session.get(Bill, body["replacement_bill_id"])
        if replacement is None or replacement.organisation_id != issuer.id:
            raise Invalid("invalid_replacement", "No such bill of yours.", "replacement_bill_id")
    job = request_void(bill, issuer, body["reason"], body.get("note", ""), replacement, actor=f"token:{issuer.id}")
    return _await_settlement(job.id, bill_id, "void")


def _await_settlement(job_id: int, bill_id: str, what: str) -> Any:
    """Answer once the chain decided; if it takes too long, 202 with where to look."""
    job = wait_for_job(current_app._get_current_object(), job_id, current_app.config["BILLCHAIN_CLAIM_WAIT"])  # type: ignore[attr-defined]
    db.session.expire_all()
    bill = db.session.get(Bill, bill_id)
    assert bill is not None
    if job is None:
        return {
            "status": "submitted",
            "message": f"The {what} is queued for the chain and will be confirmed shortly.",
            "bill": bill_summary(bill, bill_verify_url(bill)),
        }, 202
    if job.status == JobStatus.FAILED:
        if bill.status == BillStatus.CLAIMED:
            raise already_claimed(bill)
        raise Conflict("chain_refused", f"The chain refused the {what}: {job.error}.", detail=job.error_args)
    return bill_detail(BillAccess(bill, masked=True), bill_verify_url(bill)), 200
