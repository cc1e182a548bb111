"""`/finance`: the finance department's dashboard, its CSV export, and reconciliation against the chain."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Response, render_template, request
from sqlalchemy import select

from app.bills.money import format_fen
from app.extensions import db
from app.models import Organisation, OrgKind, OrgStatus
from app.services.reporting import Difference, figures, reconcile_now
from app.web.auth import role_required

bp = Blueprint("finance", __name__, url_prefix="/finance")


@bp.route("")
@role_required(OrgKind.FINANCE)
def dashboard() -> str:
    days = min(max(int(request.args.get("days", 30)), 1), 366)
    revoked = db.session.scalars(select(Organisation).where(Organisation.status == OrgStatus.REVOKED)).all()
    return render_template(
        "finance/dashboard.html", orgs=figures(days), revoked=revoked, days=days, format_fen=format_fen
    )


@bp.route("/export.csv")
@role_required(OrgKind.FINANCE)
def export_csv() -> Response:
    """The dashboard's figures as CSV: integer fen for machines, yuan text for people."""
    days = min(max(int(request.args.get("days", 30)), 1), 366)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "day",
            "credit_code",
            "organisation",
            "issued",
            "issued_fen",
            "issued_yuan",
            "claimed",
            "claimed_fen",
            "voided",
            "voided_fen",
        ]
    )
    for org in figures(days):
        for day, f in sorted(org.days.items()):
            writer.writerow(
                [
                    day.isoformat(),
                    org.organisation.credit_code,
                    org.organisation.name,
                    f.issued,
                    f.issued_fen,
                    format_fen(f.issued_fen, grouping=False),
                    f.claimed,
                    f.claimed_fen,
                    f.voided,
                    f.voided_fen,
                ]
            )
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="billchain-finance.csv"'
    return response


@bp.route("/reconcile")
@role_required(OrgKind.FINANCE)
def reconcile_page() -> str:
    orgs = db.session.scalars(
        select(Organisation).where(Organisation.kind == OrgKind.ISSUER).order_by(Organisation.name)
    ).all()
    org_id = request.args.get("org", type=int)
    day_text = request.args.get("day") or datetime.now(UTC).date().isoformat()
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        day = datetime.now(UTC).date()
    org = db.session.get(Organisation, org_id) if org_id else None
    diffs: list[Difference] | None = None
    chain_note: str | None = None
    if org is not None:
        diffs, chain_note = reconcile_now(org, day)
    context: dict[str, Any] = {"orgs": orgs, "org": org, "day": day, "diffs": diffs, "chain_note": chain_note}
    return render_template("finance/reconcile.html", **context)
