"""`/wallet`: bills of one payer across all issuers, opened with a one-time code to the phone or e-mail on them.

No SMS gateway here: the code is written to the "billchain.otp" log (and, when TESTING, to
app.extensions["wallet_outbox"]). Only a keyed hash of each code is stored; a code lives 10 minutes
and takes 5 tries. The session then holds the payer key, never the ID number itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select, update
from werkzeug.wrappers import Response

from app.bills.errors import BillError
from app.bills.hexstr import to_hex
from app.bills.money import format_fen
from app.bills.qr import render_svg
from app.extensions import db, limiter
from app.models import Bill, WalletCode, WalletEntry, rows_changed, utcnow
from app.services.billfiles import bill_file, bill_verify_url
from app.services.issuing import payer_key
from app.services.timeline import record_delivery
from app.services.verification import stored_bill, verify_any
from app.services.visibility import BillAccess, Viewer, bill_access, wallet_bills
from app.web import i18n
from app.web.pdf import pdf_download
from app.web.wallet.forms import AddBillForm, CodeForm, IdentifyForm

bp = Blueprint("wallet", __name__, url_prefix="/wallet")
otp_log = logging.getLogger("billchain.otp")

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
SESSION_KEY = "wallet_payer_key"
PENDING_KEY = "wallet_code_id"


def normalise_contact(text: str) -> str:
    """Phones without spaces or dashes, e-mails in lower case: how the two sides are compared."""
    text = text.strip()
    return text.lower() if "@" in text else re.sub(r"[\s-]", "", text)


def _code_hash(code: str) -> str:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"wallet-otp:" + code.encode(), hashlib.sha256).hexdigest()


def matching_payer_key(identity: str, contact: str) -> str | None:
    """The payer key whose bills carry this contact, trying the text as ID number and as name."""
    wanted = normalise_contact(contact)
    keys = {payer_key(identity, ""), payer_key(None, identity)}
    for bill in db.session.scalars(select(Bill).where(Bill.payer_key.in_(keys))):
        on_bill = bill.document.get("contact") or {}
        if wanted in {normalise_contact(v) for v in on_bill.values() if v}:
            return bill.payer_key
    return None


def send_code(key: str, contact: str) -> WalletCode:
    """Make a code, store its hash, "send" it (the log; the test outbox when TESTING)."""
    code = f"{secrets.randbelow(10**6):06d}"
    row = WalletCode(
        payer_key=key, contact=normalise_contact(contact), code_hash=_code_hash(code), expires_at=utcnow() + CODE_TTL
    )
    db.session.add(row)
    db.session.commit()
    otp_log.info("wallet code for %s: %s", _mask(row.contact), code)
    if current_app.config.get("TESTING"):
        current_app.extensions.setdefault("wallet_outbox", {})[row.contact] = code
    return row


def check_code(code_id: int, code: str) -> str | None:
    """The payer key if `code` is right, unexpired, unused and within its tries; each call uses a try."""
    # One atomic UPDATE counts the try, so parallel guesses cannot exceed MAX_ATTEMPTS.
    counted = rows_changed(
        db.session.execute(
            update(WalletCode)
            .where(
                WalletCode.id == code_id,
                WalletCode.attempts < MAX_ATTEMPTS,
                WalletCode.used_at.is_(None),
                WalletCode.expires_at > utcnow(),
            )
            .values(attempts=WalletCode.attempts + 1)
        )
    )
    db.session.commit()
    row = db.session.get(WalletCode, code_id)
    if not counted or row is None or not hmac.compare_digest(row.code_hash, _code_hash(code.strip())):
        return None
    row.used_at = utcnow()
    db.session.commit()
    return row.payer_key


def _mask(contact: str) -> str:
    if "@" in contact:
        name, _, domain = contact.partition("@")
        return name[:1] + "***@" + domain
    return contact[:3] + "****" + contact[-2:]


def wallet_required(view: Any) -> Any:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if SESSION_KEY not in session:
            return redirect(url_for("wallet.identify"))
        return view(*args, **kwargs)

    return wrapped


# ---------------------------------------------------------------- pages


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("5 per minute; 20 per hour", methods=["POST"])
def identify() -> str | Response:
    form = IdentifyForm()
    if form.validate_on_submit():
        identity, contact = (form.identity.data or "").strip(), form.contact.data or ""
        key = matching_payer_key(identity, contact)
        session.pop(PENDING_KEY, None)
        if key is not None:
            session[PENDING_KEY] = send_code(key, contact).id
        # Same answer either way: the page must not tell strangers whose bills are here.
        flash(_("If bills with these details exist, a code has been sent."))
        return redirect(url_for("wallet.enter_code"))
    return render_template("wallet/identify.html", form=form)


@bp.route("/code", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def enter_code() -> str | Response:
    form = CodeForm()
    if form.validate_on_submit():
        code_id = session.get(PENDING_KEY)
        key = check_code(int(code_id), form.code.data or "") if code_id else None
        if key is None:
            form.code.errors = [*form.code.errors, _("Wrong or expired code.")]
        else:
            session.pop(PENDING_KEY, None)
            session[SESSION_KEY] = key
            return redirect(url_for("wallet.index"))
    return render_template("wallet/code.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    session.pop(SESSION_KEY, None)
    return redirect(url_for("wallet.identify"))


@bp.route("")
@wallet_required
def index() -> str:
    key = session[SESSION_KEY]
    bills = wallet_bills(key)
    for bill in bills:
        record_delivery(bill)
    db.session.commit()
    others = db.session.scalars(
        select(WalletEntry).where(WalletEntry.payer_key == key, WalletEntry.bill_id.is_(None))
    ).all()
    return render_template("wallet/index.html", bills=bills, others=others, form=AddBillForm(), format_fen=format_fen)


def _own_bill(bill_id: str) -> BillAccess:
    """The payer's own bill (the one visibility rule, as the payer in their wallet)."""
    return bill_access(bill_id, Viewer(payer_key=session[SESSION_KEY]))


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
    key = session[SESSION_KEY]
    if payer_key(result.bill.payer.id_number, result.bill.payer.name) != key:
        flash(_("This bill is made out to someone else; it was not added."))
        return redirect(url_for("wallet.index"))
    content_hash = to_hex(result.content_hash)
    exists = db.session.scalar(
        select(WalletEntry.id).where(WalletEntry.payer_key == key, WalletEntry.content_hash == content_hash)
    )
    if exists is None:
        stored = stored_bill(result)
        db.session.add(
            WalletEntry(
                payer_key=key,
                content_hash=content_hash,
                bill_ref=to_hex(result.bill_ref),
                bill_id=stored.id if stored else None,
                document=result.bill.to_dict(),
            )
        )
        db.session.commit()
    flash(_("Bill added."))
    return redirect(url_for("wallet.index"))
