"""Languages of the pages: the /lang/<code> switch and the labels templates show for stored values.

Pages speak Simplified Chinese or English (Flask-Babel; see ``extensions.select_locale``). JSON API
messages stay English on purpose: programs match on them and on the stable error codes beside them,
so they must not change with a browser's language. The domain (app.bills) stays free of Flask: its
verification sentences come from ``app.bills.messages`` tables, and this module picks the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, redirect, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from app.bills import messages
from app.bills.model import BillType
from app.web.security import safe_next

bp = Blueprint("i18n", __name__)

LANGUAGES = {"zh": "中文", "en": "English"}
COOKIE_AGE = 365 * 24 * 3600

BILL_TYPE_LABELS: dict[str, Any] = {
    BillType.SCHOOL_FEE: _l("School fee bill"),
    BillType.MEDICAL_OUTPATIENT: _l("Medical outpatient bill"),
    BillType.MEDICAL_INPATIENT: _l("Medical inpatient bill"),
    BillType.TRAFFIC_FINE: _l("Fine and confiscation bill"),
    BillType.PARKING: _l("Non-tax revenue bill (parking)"),
    BillType.DONATION: _l("Donation bill"),
    BillType.OTHER: _l("Other fiscal bill"),
}

STATUS_LABELS: dict[str, Any] = {
    # bills
    "pending": _l("Pending anchoring"),
    "anchored": _l("Anchored"),
    "partly_claimed": _l("Partly reimbursed"),
    "claimed": _l("Reimbursed"),
    "paper": _l("Converted to paper"),
    "voided": _l("Voided"),
    "claiming": _l("reimbursement requested"),
    "voiding": _l("void requested"),
    # organisations
    "registering": _l("Registering"),
    "active": _l("Active"),
    "revoking": _l("Revoking"),
    "revoked": _l("Revoked"),
    # import jobs
    "queued": _l("Queued"),
    "running": _l("Running"),
    "done": _l("Done"),
    "failed": _l("Failed"),
    # organisation kinds
    "issuer": _l("Issuer"),
    "claimant": _l("Claimant"),
    "finance": _l("Finance department"),
}

VERDICT_LABELS: dict[str, Any] = {
    "authentic": _l("Authentic"),
    "claimed": _l("Already reimbursed"),
    "paper": _l("Converted to paper"),
    "voided": _l("Voided"),
    "unknown": _l("Unknown"),
    "not_anchored": _l("Not on chain yet"),
    "tampered": _l("Tampered"),
    "signature_invalid": _l("Signature invalid"),
    "issuer_revoked": _l("Issuer revoked"),
}


def is_zh() -> bool:
    return str(get_locale() or "zh").startswith("zh")


def bill_type_label(value: str) -> str:
    """The bill type's name in the page's language; an unknown value is shown as stored."""
    label = BILL_TYPE_LABELS.get(str(value))
    return str(label) if label is not None else str(value)


def status_label(value: str | None) -> str:
    label = STATUS_LABELS.get(str(value))
    return str(label) if label is not None else str(value or "")


def verdict_label(value: str) -> str:
    label = VERDICT_LABELS.get(str(value))
    return str(label) if label is not None else str(value)


def message_table() -> Mapping[str, str]:
    """The domain's sentence table for the page's language."""
    return messages.ZH if is_zh() else messages.EN


def say(key: str, params: Mapping[str, object]) -> str:
    """A verification sentence (verdict, note or check) in the page's language."""
    return messages.render(key, params, message_table())


def pdf_labels(bill_type: str) -> dict[str, str]:
    """The printed bill's captions for app.pdf, in the page's language (the same msgids as the print view)."""
    return {
        "title": _("Fiscal e-bill"),
        "bill_type": bill_type_label(bill_type),
        "bill_code": _("Bill code"),
        "bill_number": _("Bill number"),
        "check_code": _("Check code"),
        "issued_at": _("Issue date"),
        "payer": _("Payer"),
        "code": _("Code"),
        "item": _("Item"),
        "unit": _("Unit"),
        "quantity": _("Qty"),
        "price": _("Price"),
        "amount": _("Amount"),
        "total_capital": _("Total in words (大写)"),
        "total_figures": _("Total in figures (小写)"),
        "remarks": _("Remarks"),
        "issuer": _("Issuer"),
        "handler": _("Handler"),
        "checker": _("Checker"),
        "verify_hint": _("Scan the QR code or open this link to verify:"),
    }


@bp.route("/lang/<code>")
def switch(code: str) -> Response:
    """Remember the chosen language in a cookie, then go back to a local page (never off-site)."""
    response = redirect(safe_next(request.args.get("next"), "/"))
    if code in LANGUAGES:
        response.set_cookie("lang", code, max_age=COOKIE_AGE, samesite="Lax", httponly=True)
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    # Globals, not a context processor: imported macros (_macros.html badge) see globals only.
    app.jinja_env.globals.update(
        bill_type_label=bill_type_label,
        status_label=status_label,
        verdict_label=verdict_label,
        say=say,
        languages=LANGUAGES,
    )

    @app.context_processor
    def _language() -> dict[str, Any]:
        return {"current_lang": "zh" if is_zh() else "en"}
