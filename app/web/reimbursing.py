"""What the reimbursement pages share on registry v2: refusals with the chain's facts, in the page's language,
the money of a bill (parts, remainder, lock, paper, replacement), and Beijing time in forms.

Money is integer fen everywhere underneath; pages show and take yuan (two decimals). Times are stored
and sent to the chain in UTC; forms show and take Beijing time (Asia/Shanghai).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import inspect

from app.bills.money import format_fen
from app.bills.times import BEIJING, parse_utc_iso
from app.extensions import db
from app.models import Bill, ChainJob
from app.services import reimbursement, visibility
from app.services.errors import ServiceError
from app.services.settlement import wait_for_job
from app.web.errors import answer_for

FORM_TIME = "%Y-%m-%dT%H:%M"  # <input type="datetime-local"> (minutes), in Beijing time


def is_v2() -> bool:
    return reimbursement.is_v2()


def money_of(bill: Bill) -> dict[str, Any] | None:
    """A bill's parts, remainder, lock, paper number and replacement as the chain's events left them (v2 only)."""
    return visibility.reimbursement(bill) if is_v2() else None


def yuan(fen: int | None) -> str:
    return format_fen(int(fen or 0))


def to_form_time(moment: datetime) -> str:
    """A UTC moment as the value of a datetime-local input, in Beijing time."""
    return moment.astimezone(BEIJING).strftime(FORM_TIME)


def from_form_time(text: str) -> datetime | None:
    """A datetime-local input (Beijing time, minutes or seconds) as an aware UTC datetime; None if unreadable."""
    text = (text or "").strip()
    for pattern in (FORM_TIME, FORM_TIME + ":%S"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=BEIJING).astimezone(UTC)
        except ValueError:
            continue
    return None


def wait_for_chain(job: ChainJob) -> ChainJob | None:
    """Wait (at most BILLCHAIN_CLAIM_WAIT) for the chain's decision on a job; None if it takes longer.

    Waiting hands the database connection back, which detaches what the request had loaded: the logged-in
    user and its organisation are put back into the session so the page can still name them."""
    timeout = current_app.config["BILLCHAIN_CLAIM_WAIT"]
    done = wait_for_job(current_app._get_current_object(), job.id, timeout)  # type: ignore[attr-defined]
    db.session.expire_all()
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        for row in (user, user.__dict__.get("organisation")):
            if row is not None and inspect(row).detached:
                db.session.add(row)
    return done


@dataclass
class Refusal:
    """A request the chain (or its current record) refused: why, in the page's language, and the chain's facts."""

    status: int
    code: str
    text: str
    message: str  # the service's own (English) sentence, kept for logs and the API's wording
    facts: dict[str, Any] = field(default_factory=dict)


def _who(facts: dict[str, Any], key: str) -> str:
    return str(facts.get(key) or _("another organisation"))


def refusal_text(code: str, facts: dict[str, Any], fallback: str) -> str:
    """The sentence for a refusal code, with the chain's facts (names, Beijing time, yuan)."""

    def when(key: str) -> str:
        text = facts.get(key)
        if not text:
            return ""
        try:
            return parse_utc_iso(str(text)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            return str(text)

    remaining = yuan(facts.get("remaining_fen"))
    texts = {
        "bill_locked": _(
            "%(org)s is reviewing this bill until %(until)s (Beijing time); no other unit may reimburse it until then.",
            org=_who(facts, "locked_by"),
            until=when("locked_until"),
        ),
        "bill_voided": _("This bill has been voided and cannot be reimbursed."),
        "bill_on_paper": _(
            "This bill was converted to paper bill %(paper)s; the paper bill is the instrument.",
            paper=facts.get("paper_number") or "",
        ),
        "bill_already_claimed": _(
            "This bill was already reimbursed in full (last part by %(org)s at %(at)s); nothing remains.",
            org=_who(facts, "last_settled_by"),
            at=when("last_settled_at") or when("claimed_at"),
        ),
        "claim_exceeds_remaining": _("Only ¥%(remaining)s of this bill remain to be reimbursed.", remaining=remaining),
        "bill_not_locked_by_you": _("You hold no live review lock on this bill."),
        "reimbursement_started": _("A bill reimbursed in part or whole can no longer be converted or voided."),
        "bill_not_anchored": _("This bill is not on the chain yet; try again in a few seconds."),
        "registry_v1": _("This platform's registry (v1) has no review locks, parts or paper."),
        "invalid_until": _("Choose an end of the review after now and within the registry's longest review."),
        "invalid_amount": _("Enter an amount in yuan above 0, with at most two decimals."),
        "invalid_paper_number": _("The paper bill number must be 1 to 32 letters, digits or signs (ASCII)."),
        "invalid_replacement": _("No such bill of yours to name as the replacement."),
        "forbidden": _("Your organisation may not do this."),
        "organisation_revoked": _("Your organisation has been revoked."),
        "chain_refused": _("The chain refused it."),
    }
    return str(texts.get(code, fallback))


def refusal_of(err: ServiceError) -> Refusal:
    answer = answer_for(err)
    facts = dict(answer.extra)
    return Refusal(
        answer.status, answer.error, refusal_text(answer.error, facts, answer.message), answer.message, facts
    )


def init_app(app: Flask) -> None:
    """Template globals: whether the registry is v2 and a bill's money (parts, remainder, lock, paper)."""
    app.jinja_env.globals.update(registry_v2=is_v2, bill_money=money_of, form_time=to_form_time)
