"""Verify a bill the same ways as the public page, then reimburse it.

Registry v1: mark it reimbursed exactly once. Registry v2: start a review (a lock until a time, at most the
registry's longest), reimburse an amount (by default what remains) or release the review; every refusal is
shown with the chain's facts (holder and expiry of a lock, what remains), and the bill's parts are listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.bills.chainview_v2 import ChainStatusV2
from app.bills.money import MAX_FEN, format_fen, parse_yuan
from app.extensions import db
from app.models import Bill, BillPart, BillStatus, ChainJob, JobStatus, Organisation, OrgKind, utcnow
from app.runtime import runtime
from app.services import reimbursement
from app.services.errors import (
    ServiceError,
    not_found,
)
from app.services.settlement import already_claimed
from app.services.verification import stored_bill, verify_any
from app.services.visibility import Viewer, bill_access
from app.web.auth import role_required
from app.web.claim.forms import ClaimForm, LockForm, PartForm, ReleaseForm
from app.web.errors import answer_for
from app.web.reimbursing import Refusal, from_form_time, is_v2, money_of, refusal_of, to_form_time, wait_for_chain
from app.web.verify.forms import VerifyForm, read_source

bp = Blueprint("claim", __name__)

PAGE_SIZE = 20
DEFAULT_REVIEW = timedelta(days=7)


@bp.app_context_processor
def _claim_form() -> dict[str, Any]:
    """Verify result pages (the public ones too) offer claimants the claim form (v1) or the review panel (v2)."""
    return {"claim_form_factory": ClaimForm, "claimant_panel": claimant_panel}


# ---------------------------------------------------------------- registry v2: the bill as a claimant sees it


def max_lock_seconds() -> int:
    """The registry's longest review lock, in seconds (asked of the chain: it is the registry's setting)."""
    client: Any = runtime().client
    return int(client.max_lock_duration())


@dataclass
class Review:
    """One bill as this reimbursing unit may act on it now, from the chain's record."""

    bill: Bill
    facts: dict[str, Any]
    money: dict[str, Any] | None
    status: str  # the chain's status: issued, partly_reimbursed, reimbursed, converted_to_paper, voided, unknown
    mine: bool  # this unit holds a live review lock
    open: bool  # the chain would take a lock or a part from this unit now
    blocked: Refusal | None  # why not, with the chain's facts
    latest: datetime  # the latest end of a review the registry takes now
    default_until: datetime


@dataclass
class Panel:
    review: Review
    lock_form: LockForm
    part_form: PartForm
    release_form: ReleaseForm
    refusal: Refusal | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def review_of(bill: Bill, org: Organisation) -> Review:
    acting = int(org.chain_org_id or 0)
    now = datetime.now(UTC)
    latest = now + timedelta(seconds=max_lock_seconds())
    default_until = min(now + DEFAULT_REVIEW, latest - timedelta(minutes=1))
    try:
        record = reimbursement.chain_record(bill)
    except ServiceError as exc:  # not anchored yet: the chain knows nothing of it
        refused = refusal_of(exc)
        return Review(bill, refused.facts, money_of(bill), "unknown", False, False, refused, latest, default_until)
    facts = reimbursement.reimbursement_facts(record)
    problem = reimbursement.refusal(record, acting)
    mine = reimbursement.live_lock(record) and record.lock_holder_id == acting
    is_open = problem is None and record.status in (ChainStatusV2.ISSUED, ChainStatusV2.PARTLY_REIMBURSED)
    blocked = refusal_of(problem) if problem is not None else None
    return Review(bill, facts, money_of(bill), facts["chain_status"], mine, is_open, blocked, latest, default_until)


def panel_of(bill: Bill, *, refusal: Refusal | None = None, **forms: Any) -> Panel:
    review = review_of(bill, current_user.organisation)
    remaining = int(review.facts.get("remaining_fen") or 0)
    lock_form = forms.get("lock_form") or LockForm(formdata=None, until=to_form_time(review.default_until))
    part_form = forms.get("part_form") or PartForm(formdata=None, amount=format_fen(remaining, grouping=False))
    return Panel(review, lock_form, part_form, forms.get("release_form") or ReleaseForm(formdata=None), refusal)


def claimant_panel(bill: Bill | None) -> Panel | None:
    """The review panel for the verify result page (a claimant, registry v2, a bill stored here)."""
    if bill is None or not is_v2() or not current_user.is_authenticated:
        return None
    if current_user.organisation.kind != OrgKind.CLAIMANT:
        return None
    return panel_of(bill)


def _require_v2() -> None:
    if not is_v2():
        raise not_found()  # registry v1 has no reviews or parts: these pages do not exist there


def _bill(bill_id: str) -> Bill:
    return bill_access(bill_id, Viewer(organisation=current_user.organisation)).bill


def _review_page(bill: Bill, status: int = 200, **panel: Any) -> tuple[str, int]:
    shown = panel_of(bill, **panel)
    code = shown.refusal.status if shown.refusal and status == 200 else status
    return render_template("claim/bill.html", bill=bill, panel=shown), code


def _decided(job: ChainJob, bill_id: str, done_text: Callable[[Bill], str]) -> Any:
    """Wait for the chain; a refusal shows the chain's record now, a success goes back to the bill (no re-POST)."""
    done = wait_for_chain(job)
    bill = db.session.get(Bill, bill_id)
    assert bill is not None
    if done is None:
        flash(_("Submitted: the chain will confirm it shortly."))
    elif done.status == JobStatus.FAILED:
        acting = current_user.organisation.chain_org_id
        return _review_page(bill, refusal=refusal_of(reimbursement.answer_for_refused(bill, acting, done.error)))
    else:
        flash(done_text(bill))
    return redirect(url_for("claim.review_page", bill_id=bill_id))


@bp.route("/claim/<bill_id>", methods=["GET"])
@role_required(OrgKind.CLAIMANT)
def review_page(bill_id: str) -> Any:
    """A bill as this unit reviews it: the chain's facts, its parts, and the review and reimbursement forms."""
    _require_v2()
    return _review_page(_bill(bill_id))


@bp.route("/claim/<bill_id>/lock", methods=["POST"])
@role_required(OrgKind.CLAIMANT)
def lock_bill(bill_id: str) -> Any:
    """Start a review until a time (Beijing time on the page, UTC to the chain)."""
    _require_v2()
    bill = _bill(bill_id)
    form = LockForm()
    until = from_form_time(form.until.data or "") if form.validate_on_submit() else None
    if until is None:
        invalid = Refusal(422, "invalid_until", _("Enter the end of the review as a date and time (Beijing time)."), "")
        return _review_page(bill, refusal=invalid, lock_form=form)
    try:
        job = reimbursement.request_lock(bill, current_user.organisation, until, actor=f"user:{current_user.username}")
    except ServiceError as exc:
        return _review_page(bill, refusal=refusal_of(exc), lock_form=form)
    shown = to_form_time(until).replace("T", " ")
    text = _("Review started: no other unit may reimburse this bill until %(until)s (Beijing time).", until=shown)
    return _decided(job, bill_id, lambda _bill: text)


@bp.route("/claim/<bill_id>/release", methods=["POST"])
@role_required(OrgKind.CLAIMANT)
def release_bill(bill_id: str) -> Any:
    """End this unit's review without reimbursing: the bill is free for others again."""
    _require_v2()
    bill = _bill(bill_id)
    if not ReleaseForm().validate_on_submit():
        return _review_page(bill, 400)
    try:
        job = reimbursement.request_release(bill, current_user.organisation, actor=f"user:{current_user.username}")
    except ServiceError as exc:
        return _review_page(bill, refusal=refusal_of(exc))
    text = _("Review released: the bill is free for other units again.")
    return _decided(job, bill_id, lambda _bill: text)


def _claim_part(bill: Bill) -> Any:
    """Registry v2: reimburse the amount typed in yuan (integer fen to the chain)."""
    form = PartForm()
    if not form.validate_on_submit():
        invalid = Refusal(422, "invalid_form", _("Enter the amount in yuan and your claim reference."), "")
        return _review_page(bill, refusal=invalid, part_form=form)
    try:
        fen = parse_yuan(form.amount.data or "")
        if not 0 < fen <= MAX_FEN:
            raise ValueError(fen)
    except ValueError:
        invalid = Refusal(422, "invalid_amount", _("Enter an amount in yuan above 0, with at most two decimals."), "")
        return _review_page(bill, refusal=invalid, part_form=form)
    try:
        job = reimbursement.claim(
            bill,
            current_user.organisation,
            (form.claim_ref.data or "").strip(),
            actor=f"user:{current_user.username}",
            amount_fen=fen,
        )
    except ServiceError as exc:
        return _review_page(bill, refusal=refusal_of(exc), part_form=form)
    amount, number = format_fen(fen), bill.bill_number

    def text(done: Bill) -> str:
        remaining = format_fen(max(done.total_fen - (done.reimbursed_fen or 0), 0))
        return _(
            "Reimbursed ¥%(amount)s of bill %(number)s; ¥%(remaining)s remain.",
            amount=amount,
            number=number,
            remaining=remaining,
        )

    return _decided(job, bill.id, text)


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
    if is_v2():
        return _claim_part(bill)
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
    done = wait_for_chain(job)  # puts the logged-in user back into the session the wait handed back
    bill = db.session.get(Bill, bill_id)
    assert bill is not None
    if done is not None and done.status == JobStatus.FAILED:
        if bill.status == BillStatus.CLAIMED:
            refusal = answer_for(already_claimed(bill))
            return render_template("claim/done.html", bill=bill, form=form, error=refusal.message, refusal=refusal), 409
        message = f"The chain refused the claim: {done.error}"
        return render_template("claim/done.html", bill=bill, form=form, error=message), 409
    return render_template("claim/done.html", bill=bill, form=form, submitted=done is None)


@bp.route("/reviews")
@role_required(OrgKind.CLAIMANT)
def reviews() -> str:
    """This unit's open reviews (live locks, as the chain's events left them) with their expiry."""
    chain_id = current_user.organisation.chain_org_id
    open_reviews: list[Bill] = []
    if chain_id:
        open_reviews = list(
            db.session.scalars(
                select(Bill)
                .where(Bill.lock_holder_chain_id == int(chain_id), Bill.locked_until > utcnow())
                .order_by(Bill.locked_until)
                .limit(500)
            )
        )
    return render_template("claim/reviews.html", bills=open_reviews)


def _readable_ref(word: str | None) -> str:
    """A claim reference word as typed (short ones are stored verbatim on chain), else its hash."""
    if not word:
        return ""
    raw = bytes.fromhex(word.removeprefix("0x"))
    text = raw.rstrip(b"\0")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return word[:18] + "…"
    return decoded if decoded.isprintable() and b"\0" not in text else word[:18] + "…"


@bp.route("/claimed")
@role_required(OrgKind.CLAIMANT)
def claimed() -> str:
    page = max(1, request.args.get("page", 1, type=int) or 1)
    if is_v2():  # the parts this unit reimbursed, as the chain's BillClaimed events recorded them
        parts = db.paginate(
            select(BillPart)
            .where(BillPart.organisation_id == current_user.organisation_id)
            .order_by(BillPart.block_number.desc(), BillPart.log_index.desc()),
            page=page,
            per_page=PAGE_SIZE,
            error_out=False,
        )
        ids = {p.bill_id for p in parts.items}
        bills = {b.id: b for b in db.session.scalars(select(Bill).where(Bill.id.in_(ids)))} if ids else {}
        return render_template("claim/parts.html", pagination=parts, bills=bills, readable_ref=_readable_ref)
    query = (
        select(Bill)
        .where(Bill.settled_by_org_id == current_user.organisation_id, Bill.claim_ref.is_not(None))
        .order_by(Bill.settle_requested_at.desc())
    )
    pagination = db.paginate(query, page=page, per_page=PAGE_SIZE, error_out=False)
    return render_template("claim/list.html", pagination=pagination)


__all__ = ["bp", "claimant_panel", "max_lock_seconds"]
