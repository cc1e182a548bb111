"""`/api/v1/bills`: issue (one or up to MAX_BULK), read, download, claim once, void."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from app.api.auth import require_org, token_organisation
from app.api.schemas import (
    TOKEN_ERRORS,
    BillDetailOut,
    BillFileOut,
    BillIn,
    BillOut,
    ClaimPartIn,
    ErrorOut,
    LockIn,
    PaperIn,
    SettlementQueuedOut,
    VoidIn,
    error_responses,
)
from app.bills.qr import render_png, render_svg
from app.extensions import csrf, db
from app.models import Bill, BillStatus, JobStatus, OrgKind
from app.services import reimbursement
from app.services.billfiles import bill_file, bill_verify_url
from app.services.errors import (
    Conflict,
    Invalid,
    Malformed,
    not_found,
)
from app.services.issuing import issue_bills
from app.services.sealing import bill_ofd
from app.services.settlement import already_claimed, wait_for_job
from app.services.visibility import BillAccess, Viewer, bill_access, bill_detail, bill_summary

blp = Blueprint("api_bills", __name__, url_prefix="/api/v1/bills", description="Issue, read, claim and void bills")
csrf.exempt(blp)

F = TypeVar("F", bound=Callable[..., Any])


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
                            BillIn,
                            {"type": "array", "minItems": 1, "maxItems": 1000, "items": BillIn},
                        ]
                    }
                }
            },
        },
        responses={
            "201": {
                "description": "The new bill (or list of bills, for a list), status pending until anchored",
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [BillOut, {"type": "array", "items": BillOut}]},
                    }
                },
            },
            **error_responses(400, 409, 413, 422, *TOKEN_ERRORS),
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

    @blp.doc(security=[{"bearer": []}], responses=error_responses(400, 422, *TOKEN_ERRORS))
    @blp.response(200, BillOut(many=True))
    def get(self) -> Any:
        """The caller's bills (issuer: issued by it; claimant: claimed by it), newest first."""
        org = require_org(OrgKind.ISSUER, OrgKind.CLAIMANT)
        query = select(Bill).order_by(Bill.created_at.desc()).limit(_list_limit())
        if org.kind == OrgKind.ISSUER:
            query = query.where(Bill.organisation_id == org.id)
        else:
            query = query.where(Bill.settled_by_org_id == org.id)
        if status := request.args.get("status"):
            query = query.where(Bill.status == status)
        return [bill_summary(b, bill_verify_url(b)) for b in db.session.scalars(query)]


MAX_LIST = 1000


def _list_limit() -> int:
    """`?limit=` as a whole number 1..MAX_LIST (default 100); anything else names the parameter."""
    text = request.args.get("limit", "100").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and 1 <= int(text) <= MAX_LIST):
        message = f"limit must be a whole number from 1 to {MAX_LIST}, not {text[:20]!r}"
        raise Invalid("invalid_parameter", message, "limit")
    return int(text)


ERRORS = {"description": "An error", "content": {"application/json": {"schema": ErrorOut}}}


def organisation_first(*kinds: str) -> Callable[[F], F]:
    """Who is asking is checked before the body is parsed: no token 401, wrong kind 403, then 422."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            require_org(*kinds)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


# A claim or void: 200 once confirmed, 202 if the chain takes longer than BILLCHAIN_CLAIM_WAIT.
SETTLEMENT_RESPONSES = {
    "200": {"description": "Confirmed on chain", "content": {"application/json": {"schema": BillDetailOut}}},
    "202": {"description": "Queued for the chain", "content": {"application/json": {"schema": SettlementQueuedOut}}},
    **error_responses(400, 404, 409, 413, 422, *TOKEN_ERRORS),
}


def _access(bill_id: str) -> BillAccess:
    """The bill as the caller's organisation may see it (the one visibility rule, as the pages apply it)."""
    return bill_access(bill_id, Viewer(organisation=token_organisation()))


@blp.route("/<bill_id>")
@blp.doc(
    security=[{"bearer": []}],
    responses={
        "200": {"description": "The bill", "content": {"application/json": {"schema": BillDetailOut}}},
        **error_responses(404, *TOKEN_ERRORS),
    },
)
def get_bill(bill_id: str) -> Any:
    """The bill with its status and anchoring; claimants see the payer's ID number masked."""
    access = _access(bill_id)
    return bill_detail(access, bill_verify_url(access.bill))


@blp.route("/<bill_id>/file")
@blp.doc(
    security=[{"bearer": []}],
    responses={
        "200": {"description": "The bill file", "content": {"application/json": {"schema": BillFileOut}}},
        **error_responses(404, *TOKEN_ERRORS),
    },
)
def get_bill_file(bill_id: str) -> Any:
    """The bill file (JSON), for its issuer: verifiable on any node of the chain, even without this platform.

    Reimbursing units and the finance department get 403: the file holds the payer's full ID, phone and salt.
    """
    bill = _access(bill_id).require_file()
    response = current_app.response_class(current_app.json.dumps(bill_file(bill)), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="bill-{bill.bill_code}-{bill.bill_number}.json"'
    return response


@blp.route("/<bill_id>/bill.ofd")
@blp.doc(
    security=[{"bearer": []}],
    responses={
        "200": {"description": "the sealed OFD (GB/T 33190, SM2 seal)", "content": {"application/ofd": {}}},
        "403": ERRORS,
        "404": ERRORS,
        "503": ERRORS,
    },
)
def get_bill_ofd(bill_id: str) -> Response:
    """The bill as an OFD sealed with the issuer's SM2 key, for its issuer (it carries the bill file)."""
    document = bill_ofd(_access(bill_id))
    response = Response(document.data, mimetype=document.media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    return response


@blp.route("/<bill_id>/qr.svg")
@blp.doc(
    security=[{"bearer": []}],
    responses={
        "200": {
            "description": "The QR code (SVG), encoding the bill's verify URL",
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
        },
        **error_responses(404, *TOKEN_ERRORS),
    },
)
def get_qr_svg(bill_id: str) -> Response:
    """The bill's QR code for print."""
    bill = _access(bill_id).bill
    return Response(render_svg(bill_verify_url(bill)), mimetype="image/svg+xml")


@blp.route("/<bill_id>/qr.png")
@blp.doc(
    security=[{"bearer": []}],
    responses={
        "200": {
            "description": "The QR code (PNG), encoding the bill's verify URL",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(404, *TOKEN_ERRORS),
    },
)
def get_qr_png(bill_id: str) -> Response:
    """The bill's QR code as PNG."""
    bill = _access(bill_id).bill
    return Response(render_png(bill_verify_url(bill)), mimetype="image/png")


@blp.route("/<bill_id>/claim", methods=["POST"])
@organisation_first(OrgKind.CLAIMANT)
@blp.arguments(ClaimPartIn)
@blp.doc(security=[{"bearer": []}], responses=SETTLEMENT_RESPONSES)
def claim_bill(body: dict[str, Any], bill_id: str) -> Any:
    """Reimburse the bill, or with `amount_fen` one part of it (registry v2): 200 once the chain confirmed
    it; 409 with the chain's facts (who and when, the holder of a review lock, the remaining amount)."""
    claimant = require_org(OrgKind.CLAIMANT)
    bill = _bill(bill_id)
    job = reimbursement.claim(
        bill, claimant, body["claim_ref"], actor=f"token:{claimant.id}", amount_fen=body.get("amount_fen")
    )
    return _await_settlement(job.id, bill_id, "claim", claimant.chain_org_id)


@blp.route("/<bill_id>/lock", methods=["POST"])
@organisation_first(OrgKind.CLAIMANT)
@blp.arguments(LockIn)
@blp.doc(security=[{"bearer": []}], responses=SETTLEMENT_RESPONSES)
def lock_bill(body: dict[str, Any], bill_id: str) -> Any:
    """Start a review (registry v2): no other reimbursing unit may claim or lock the bill, nor its issuer
    void it, until `until`; 409 with the holder and expiry when another unit holds it."""
    claimant = require_org(OrgKind.CLAIMANT)
    job = reimbursement.request_lock(_bill(bill_id), claimant, body["until"], actor=f"token:{claimant.id}")
    return _await_settlement(job.id, bill_id, "lock", claimant.chain_org_id)


@blp.route("/<bill_id>/release", methods=["POST"])
@organisation_first(OrgKind.CLAIMANT)
@blp.doc(security=[{"bearer": []}], responses=SETTLEMENT_RESPONSES)
def release_bill(bill_id: str) -> Any:
    """End your review without reimbursing (registry v2): the bill is free for others again."""
    claimant = require_org(OrgKind.CLAIMANT)
    job = reimbursement.request_release(_bill(bill_id), claimant, actor=f"token:{claimant.id}")
    return _await_settlement(job.id, bill_id, "release", claimant.chain_org_id)


@blp.route("/<bill_id>/paper", methods=["POST"])
@organisation_first(OrgKind.ISSUER)
@blp.arguments(PaperIn)
@blp.doc(security=[{"bearer": []}], responses=SETTLEMENT_RESPONSES)
def paper_bill(body: dict[str, Any], bill_id: str) -> Any:
    """Convert one of your bills to paper, once (registry v2): it can no longer be locked or claimed."""
    issuer = require_org(OrgKind.ISSUER)
    bill = _bill(bill_id)
    if bill.organisation_id != issuer.id:
        raise not_found()
    job = reimbursement.request_paper(bill, issuer, body["paper_number"], actor=f"token:{issuer.id}")
    return _await_settlement(job.id, bill_id, "paper conversion", None)


def _bill(bill_id: str) -> Bill:
    bill = db.session.get(Bill, bill_id)
    if bill is None:
        raise not_found()
    return bill


@blp.route("/<bill_id>/void", methods=["POST"])
@organisation_first(OrgKind.ISSUER)
@blp.arguments(VoidIn)
@blp.doc(security=[{"bearer": []}], responses=SETTLEMENT_RESPONSES)
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
    job = reimbursement.void(
        bill, issuer, body["reason"], body.get("note", ""), replacement, actor=f"token:{issuer.id}"
    )
    return _await_settlement(job.id, bill_id, "void", None)


def _await_settlement(job_id: int, bill_id: str, what: str, acting_chain_id: int | None) -> Any:
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
        if reimbursement.decided_on_v2(job):  # the chain refused it: say why from the chain's record
            raise reimbursement.answer_for_refused(bill, acting_chain_id, job.error)
        if bill.status == BillStatus.CLAIMED:
            raise already_claimed(bill)
        raise Conflict("chain_refused", f"The chain refused the {what}: {job.error}.", detail=job.error_args)
    return bill_detail(BillAccess(bill, masked=True), bill_verify_url(bill)), 200
