"""`/wallet`: a payer's bills across all issuers, opened with one-time codes to the contacts on them.

The rules (codes, caps, proven contacts, idle expiry) are in app.services.wallet; which bills a wallet
shows is app.services.visibility's one rule. The session cookie holds only opaque random tokens.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, session, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.wrappers import Response

from app.bills.errors import BillError
from app.bills.money import format_fen
from app.bills.qr import render_svg
from app.extensions import db, limiter
from app.services import wallet as wallets
from app.services.billfiles import bill_file, bill_verify_url
from app.services.sealing import bill_ofd
from app.services.timeline import record_delivery
from app.services.verification import stored_bill, verify_any
from app.services.visibility import BillAccess, Viewer, bill_access, normalise_contact
from app.web import i18n
from app.web.pdf import pdf_download
from app.web.wallet.forms import AddBillForm, CodeForm, IdentifyForm

__all__ = ["bp", "normalise_contact"]

bp = Blueprint("wallet", __name__, url_prefix="/wallet")
SESSION_KEY = "wallet_session"
PENDING_KEY = "wallet_pending"


def _wallet() -> wallets.Wallet:
    found: wallets.Wallet = g.wallet
    return found


def wallet_required(view: Any) -> Any:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        wallet = wallets.open_wallet(session.get(SESSION_KEY))
        if wallet is None:
            session.pop(SESSION_KEY, None)
            return redirect(url_for("wallet.identify"))
        g.wallet = wallet
        return view(*args, **kwargs)

    return wrapped


# ---------------------------------------------------------------- pages


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("5 per minute; 20 per hour", methods=["POST"])
def identify() -> str | Response:
    form = IdentifyForm()
    if form.validate_on_submit():
        identity, contact = (form.identity.data or "").strip(), form.contact.data or ""
        # A fresh opaque token whether or not a code went out: neither the page nor the cookie tells
        # strangers whose bills are here.
        session[PENDING_KEY] = wallets.request_code(identity, contact)
        flash(_("If bills with these details exist, a code has been sent."))
        return redirect(url_for("wallet.enter_code"))
    return render_template("wallet/identify.html", form=form)


@bp.route("/code", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def enter_code() -> str | Response:
    form = CodeForm()
    if form.validate_on_submit():
        pending = session.get(PENDING_KEY)
        proven = wallets.check_code(str(pending), form.code.data or "") if pending else None
        if proven is None:
            form.code.errors = [*form.code.errors, _("Wrong or expired code.")]
        else:
            session.pop(PENDING_KEY, None)
            # A second contact proven in an open wallet joins it: its bills are added to the same wallet.
            session[SESSION_KEY] = wallets.prove(session.get(SESSION_KEY), proven).token
            return redirect(url_for("wallet.index"))
    return render_template("wallet/code.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    wallets.close_wallet(session.pop(SESSION_KEY, None))
    return redirect(url_for("wallet.identify"))


@bp.route("")
@wallet_required
def index() -> str:
    wallet = _wallet()
    bills = wallet.bills()
    for bill in bills:
        record_delivery(bill)
    db.session.commit()
    others = wallet.added_elsewhere()
    return render_template("wallet/index.html", bills=bills, others=others, form=AddBillForm(), format_fen=format_fen)


def _own_bill(bill_id: str) -> BillAccess:
    """The payer's own bill (the one visibility rule, as the payer in their wallet)."""
    return bill_access(bill_id, Viewer(proven_contacts=_wallet().proven))


@bp.route("/bills/<bill_id>")
@wallet_required
def bill_page(bill_id: str) -> str:
    access = _own_bill(bill_id)
    bill = access.bill
    record_delivery(bill)
    db.session.commit()
    url = bill_verify_url(bill)
    return render_template(
        "wallet/bill.html",
        bill=bill,
        document=access.document,
        format_fen=format_fen,
        qr_svg=Markup(render_svg(url)),  # noqa: S704 - the qrcode library's own SVG, no user text in it
    )


@bp.route("/bills/<bill_id>/bill.pdf")
@wallet_required
def bill_pdf(bill_id: str) -> Response:
    """The payer's own bill as a printable PDF (the payer sees their own ID number, as on the page)."""
    access = _own_bill(bill_id)
    record_delivery(access.bill)
    db.session.commit()
    return pdf_download(access.bill, access.print_document, bill_verify_url(access.bill))


@bp.route("/bills/<bill_id>/bill.ofd")
@wallet_required
def bill_ofd_download(bill_id: str) -> Response:
    """The payer's own bill as a sealed OFD (what reimbursing accountants' systems read)."""
    access = _own_bill(bill_id)
    document = bill_ofd(access, i18n.pdf_labels(str(access.bill.bill_type)))
    record_delivery(access.bill)
    db.session.commit()
    response = current_app.response_class(document.data, mimetype=document.media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    return response


@bp.route("/bills/<bill_id>/file")
@wallet_required
def bill_download(bill_id: str) -> Response:
    bill = _own_bill(bill_id).require_file()
    record_delivery(bill)
    db.session.commit()
    response = current_app.response_class(current_app.json.dumps(bill_file(bill)), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="bill-{bill.bill_code}-{bill.bill_number}.json"'
    return response


@bp.route("/add", methods=["POST"])
@wallet_required
@limiter.limit("20 per hour")
def add_bill() -> Response:
    """A bill got elsewhere: kept only if it verifies as genuine and is made out to this payer."""
    form = AddBillForm()
    if not form.validate_on_submit():
        flash(_("Choose a bill file or a QR photo."))
        return redirect(url_for("wallet.index"))
    raw = form.file.data.read()
    source: Any = raw.decode("utf-8-sig") if raw.lstrip()[:1] in (b"{", b"\xef") else raw
    try:
        result = verify_any(source)
    except (BillError, UnicodeDecodeError, ValueError):
        flash(_("This is neither a bill file nor a readable QR photo."))
        return redirect(url_for("wallet.index"))
    if not result.authentic or result.bill is None or result.content_hash is None or result.bill_ref is None:
        flash(_("The bill did not verify (%(verdict)s); it was not added.", verdict=i18n.verdict_label(result.verdict)))
        return redirect(url_for("wallet.index"))
    if not wallets.add_verified_bill(_wallet(), result, stored_bill(result)):
        flash(_("This bill is made out to someone else; it was not added."))
        return redirect(url_for("wallet.index"))
    flash(_("Bill added."))
    return redirect(url_for("wallet.index"))
