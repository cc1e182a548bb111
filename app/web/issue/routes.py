"""Issuing through the form, the bill list with voiding, and the bill page everyone involved may print."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from app.bills.errors import BillValidationError, FieldError
from app.bills.model import Bill as DomainBill
from app.bills.model import plain_quantity
from app.bills.money import MAX_FEN, fen_to_capital, format_fen, line_amount_fen, parse_yuan
from app.bills.qr import render_svg
from app.bills.times import utc_iso
from app.extensions import db
from app.models import Bill, JobStatus, OrgKind, utcnow
from app.services import reimbursement
from app.services.billfiles import bill_file, bill_verify_url
from app.services.errors import (
    Invalid,
    Malformed,
    ServiceError,
    not_found,
)
from app.services.issuing import issue_bills
from app.services.sealing import bill_ofd
from app.services.visibility import BillAccess, Viewer, bill_access
from app.services.visibility import bill_status as status_of_bill
from app.web import i18n
from app.web.auth import role_required
from app.web.issue.forms import IssueForm, PaperForm, VoidForm
from app.web.pdf import pdf_download
from app.web.reimbursing import Refusal, is_v2, refusal_of, wait_for_chain
from app.web.security import safe_next

bp = Blueprint("issue", __name__)

PAGE_SIZE = 20

# Domain paths → form field names (items are handled by index below).
_FIELD_NAMES = {
    "bill_type": "bill_type",
    "payer.kind": "payer_kind",
    "payer": "payer_name",
    "payer.name": "payer_name",
    "payer.id_number": "payer_id_number",
    "contact": "contact_phone",
    "contact.phone": "contact_phone",
    "contact.email": "contact_email",
    "handler": "handler",
    "checker": "checker",
    "remarks": "remarks",
}
_ITEM_FIELDS = {
    "code": "code",
    "name": "name",
    "unit": "unit",
    "quantity": "quantity",
    "unit_price_fen": "unit_price",
    "amount_fen": "unit_price",
}
_ITEM_PATH = re.compile(r"items\[(\d+)\](?:\.(\w+))?")


def _add_error(form: IssueForm, rows: list[Any], path: str, message: str, general: list[str]) -> None:
    """Put a domain error (path like items[1].quantity) next to the field it is about."""
    match = _ITEM_PATH.fullmatch(path)
    if match:
        index, sub = int(match.group(1)), match.group(2) or "name"
        if index < len(rows):
            field = getattr(rows[index], _ITEM_FIELDS.get(sub, "name"))
            field.errors = [*field.errors, message]
            return
    name = _FIELD_NAMES.get(path)
    if name is not None:
        field = getattr(form, name)
        field.errors = [*field.errors, message]
        return
    general.append(f"{path}: {message}")


def _payload(form: IssueForm, rows: list[Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """The API payload from the form: yuan → fen, line amounts round half up; bad numbers as field errors."""
    problems: list[FieldError] = []
    items: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        quantity = (row.quantity.data or "").strip()
        price_text = (row.unit_price.data or "").strip()
        price_fen = 0
        try:
            price_fen = parse_yuan(price_text)
            if price_fen > MAX_FEN:
                raise ValueError("too large")
        except ValueError:
            problems.append(FieldError(f"items[{index}].unit_price_fen", "must be an amount in yuan, e.g. 2500.00"))
        parsed = plain_quantity(quantity)  # never Decimal("1E+999000") × price: that takes minutes
        amount = line_amount_fen(parsed, price_fen) if parsed is not None else 0  # else the domain names the field
        items.append(
            {
                "code": (row.code.data or "").strip(),
                "name": row.name.data or "",
                "unit": row.unit.data or "",
                "quantity": quantity,
                "unit_price_fen": price_fen,
                "amount_fen": amount,
            }
        )
    phone = (form.contact_phone.data or "").strip()
    email = (form.contact_email.data or "").strip()
    payload: dict[str, Any] = {
        "bill_type": form.bill_type.data,
        "payer": {
            "kind": form.payer_kind.data,
            "name": form.payer_name.data or "",
            "id_number": (form.payer_id_number.data or "").strip() or None,
        },
        "contact": {"phone": phone or None, "email": email or None} if phone or email else None,
        "items": items,
        "total_fen": sum(i["amount_fen"] for i in items),
        "handler": form.handler.data or "",
        "checker": form.checker.data or "",
        "remarks": form.remarks.data or None,
    }
    return payload, problems


def _domain_errors(payload: dict[str, Any]) -> list[FieldError]:
    """The domain's rule errors for a payload, without storing anything."""
    org = current_user.organisation
    data = {
        **payload,
        "issuer": {"name": org.name, "credit_code": org.credit_code},
        "bill_code": "00000000",
        "bill_number": "0000000000",
        "issued_at": utcnow().isoformat(),
    }
    try:
        DomainBill.create(data)
    except BillValidationError as exc:
        return [
            e for e in exc.errors if not e.field.endswith(("amount_fen", "unit_price_fen")) and e.field != "total_fen"
        ]
    return []


@bp.route("/issue", methods=["GET", "POST"])
@role_required(OrgKind.ISSUER)
def issue() -> Any:
    """One submit; the page shows a live preview (amounts, total, 大写) while typing."""
    form = IssueForm()
    general: list[str] = []
    status = 200
    if request.method == "POST":
        valid = form.validate_on_submit()
        rows = [entry.form for entry in form.items.entries if not entry.form.is_blank()]
        if not rows:
            general.append(gettext("Add at least one line item."))
        elif valid:
            payload, problems = _payload(form, rows)
            try:
                if problems:  # show the domain's findings too, not only the unreadable prices
                    raise BillValidationError(problems + _domain_errors(payload))
                bills = issue_bills(current_user.organisation, [payload], actor=f"user:{current_user.username}")
            except BillValidationError as exc:
                errors = list(exc.errors) + [p for p in problems if p not in exc.errors]
                for error in errors:
                    _add_error(form, rows, error.field, error.message, general)
            except ServiceError as exc:
                general.append(exc.message)
            else:
                flash(
                    gettext(
                        "Bill %(number)s issued; it is being anchored on chain.",
                        number=f"{bills[0].bill_code}-{bills[0].bill_number}",
                    )
                )
                return redirect(url_for("issue.bill_page", bill_id=bills[0].id))
        status = 422
    return render_template("issue/form.html", form=form, general=general), status


@bp.route("/issue/capital")
@login_required
def capital() -> Response:
    """大写 for the live preview: one implementation of the PBOC rules (the domain's)."""
    try:
        fen = int(request.args.get("fen", "0"))
        return jsonify({"fen": fen, "figures": format_fen(fen), "capital": fen_to_capital(fen)})
    except (ValueError, TypeError):
        raise Malformed("invalid_amount", "fen must be a non-negative integer.", "fen") from None


@bp.route("/bills")
@role_required(OrgKind.ISSUER)
def bills() -> str:
    q = request.args.get("q", "").strip()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    query = select(Bill).where(Bill.organisation_id == current_user.organisation_id)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Bill.bill_number.like(like, escape="\\"), Bill.payer_name.like(like, escape="\\")))
    pagination = db.paginate(
        query.order_by(Bill.created_at.desc(), Bill.bill_number.desc()), page=page, per_page=PAGE_SIZE, error_out=False
    )
    return render_template("issue/list.html", pagination=pagination, q=q, void_form=VoidForm())


def _access(bill_id: str) -> BillAccess:
    """The bill as the logged-in organisation may see it (the one visibility rule)."""
    return bill_access(bill_id, Viewer(organisation=current_user.organisation))


def _bill_page(access: BillAccess, refusal: Refusal | None = None, **forms: Any) -> tuple[str, int]:
    bill = access.bill
    url = bill_verify_url(bill)
    page = render_template(
        "issue/bill.html",
        bill=bill,
        doc=access.document,
        masked=access.masked,
        verify_url=url,
        qr_svg=Markup(render_svg(url)),  # noqa: S704 - the qrcode library's own SVG, no user text in it
        status=status_of_bill(bill),
        issued_at=utc_iso(bill.issued_at),
        void_form=forms.get("void_form") or VoidForm(formdata=None),
        paper_form=forms.get("paper_form") or PaperForm(formdata=None),
        is_owner=access.is_owner,
        refusal=refusal,
    )
    return page, refusal.status if refusal else 200


@bp.route("/bills/<bill_id>")
@login_required
def bill_page(bill_id: str) -> Any:
    return _bill_page(_access(bill_id))


@bp.route("/bills/<bill_id>/bill.pdf")
@login_required
def bill_pdf_page(bill_id: str) -> Response:
    """Same access as the bill page: the issuer in full, claimants and finance masked."""
    access = _access(bill_id)
    return pdf_download(access.bill, access.print_document, bill_verify_url(access.bill))


@bp.route("/bills/<bill_id>/bill.ofd")
@login_required
def bill_ofd_page(bill_id: str) -> Response:
    """The sealed OFD, for the issuer (it carries the bill file: claimants and finance get 403, as for the file)."""
    access = _access(bill_id)
    document = bill_ofd(access, i18n.pdf_labels(str(access.bill.bill_type)))
    response = current_app.response_class(document.data, mimetype=document.media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    return response


@bp.route("/bills/<bill_id>/status.json")
@login_required
def bill_status(bill_id: str) -> Response:
    return jsonify(status_of_bill(_access(bill_id).bill))


@bp.route("/bills/<bill_id>/file.json")
@login_required
def bill_file_download(bill_id: str) -> Response:
    bill = _access(bill_id).require_file()
    response = jsonify(bill_file(bill))
    response.headers["Content-Disposition"] = f'attachment; filename="bill-{bill.bill_code}-{bill.bill_number}.json"'
    return response


def _replacement(text: str, bill: Bill) -> Bill | None:
    """The replacement an issuer names on the void form: one of its own bills, by number, code-number or id."""
    text = text.strip()
    if not text:
        return None
    own = select(Bill).where(Bill.organisation_id == current_user.organisation_id, Bill.id != bill.id)
    code, _sep, number = text.rpartition("-")
    if code:
        found = db.session.scalar(own.where(Bill.bill_code == code.strip(), Bill.bill_number == number.strip()))
    else:
        found = db.session.scalars(own.where(or_(Bill.bill_number == text, Bill.id == text)).limit(2)).all()
        found = found[0] if len(found) == 1 else None
    if found is None:
        raise Invalid("invalid_replacement", "No such bill of yours.", "replacement")
    return found


@bp.route("/bills/<bill_id>/void", methods=["POST"])
@role_required(OrgKind.ISSUER)
def void(bill_id: str) -> Any:
    access = _access(bill_id)
    bill = access.bill
    form = VoidForm()
    if not form.validate_on_submit():
        raise Malformed("invalid_form", "Choose a reason to void the bill.", "reason")
    try:
        replacement = _replacement(form.replacement.data or "", bill)
        job = reimbursement.void(
            bill,
            current_user.organisation,
            int(form.reason.data or 0),
            form.note.data or "",
            replacement,
            actor=f"user:{current_user.username}",
        )
    except ServiceError as exc:
        if not is_v2() and not isinstance(exc, Invalid):
            raise  # registry v1: the error page, as before
        return _bill_page(access, refusal_of(exc), void_form=form)
    number = bill.bill_number
    done = wait_for_chain(job)
    if done is None:
        flash(gettext("Void submitted: it will be confirmed on chain shortly."))
    elif done.status == JobStatus.FAILED:
        if is_v2():  # say why from the chain's record now
            refused = reimbursement.answer_for_refused(_access(bill_id).bill, None, done.error)
            return _bill_page(_access(bill_id), refusal_of(refused))
        flash(gettext("The chain refused the void: %(error)s", error=done.error))
    else:
        flash(gettext("Bill %(number)s voided.", number=number))
    # Only local paths: the form field must not become an open redirect.
    return redirect(safe_next(request.form.get("next"), url_for("issue.bill_page", bill_id=bill_id)))


@bp.route("/bills/<bill_id>/paper", methods=["POST"])
@role_required(OrgKind.ISSUER)
def paper(bill_id: str) -> Any:
    """Registry v2: the issuer converted the bill to a paper bill; once on chain it can no longer be reimbursed."""
    access = _access(bill_id)  # another issuer's bill: 404
    if not is_v2():
        raise not_found()
    form = PaperForm()
    if not form.validate_on_submit():
        invalid = Refusal(422, "invalid_paper_number", gettext("Enter the paper bill's number."), "")
        return _bill_page(access, invalid, paper_form=form)
    number = (form.paper_number.data or "").strip()
    try:
        job = reimbursement.request_paper(
            access.bill, current_user.organisation, number, f"user:{current_user.username}"
        )
    except ServiceError as exc:
        return _bill_page(access, refusal_of(exc), paper_form=form)
    bill_number = access.bill.bill_number
    done = wait_for_chain(job)
    if done is None:
        flash(gettext("Conversion submitted: it will be confirmed on chain shortly."))
    elif done.status == JobStatus.FAILED:
        refused = reimbursement.answer_for_refused(_access(bill_id).bill, None, done.error)
        return _bill_page(_access(bill_id), refusal_of(refused))
    else:
        flash(gettext("Bill %(number)s converted to paper bill %(paper)s.", number=bill_number, paper=number))
    return redirect(url_for("issue.bill_page", bill_id=bill_id))
