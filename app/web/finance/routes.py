"""`/finance`: the finance department's dashboard, its CSV export, and reconciliation against the chain."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.bills.money import format_fen
from app.extensions import db
from app.models import Organisation, OrgKind, OrgStatus
from app.services.deadletters import dead_jobs, retry_dead_job
from app.services.errors import Invalid, Malformed
from app.services.reporting import (
    ClaimantFigures,
    DayFigures,
    Difference,
    OrgFigures,
    Period,
    claimant_figures,
    figures,
    reconcile_now,
)
from app.web.auth import role_required
from app.web.charts import Series, chart

bp = Blueprint("finance", __name__, url_prefix="/finance")


MAX_DAYS = 366


def _days() -> int:
    """`?days=` as a whole number 1..MAX_DAYS (default 30); anything else is refused naming the parameter."""
    text = request.args.get("days", "30").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 4 and 1 <= int(text) <= MAX_DAYS):
        message = f"days must be a whole number from 1 to {MAX_DAYS}, not {text[:20]!r}"
        raise Invalid("invalid_parameter", message, "days")
    return int(text)


def _date_arg(name: str) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        if len(text) != 10:  # fromisoformat would also take 20261203 or week dates
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise Malformed("invalid_date", f"{name} must be a date as YYYY-MM-DD, not {text[:20]!r}", name) from None


def _period() -> Period:
    """`?from=&to=` (UTC days, both included), else the last `?days=`; at most BILLCHAIN_REPORT_MAX_DAYS days."""
    start, end = _date_arg("from"), _date_arg("to")
    if start is None and end is None:
        return Period.last(_days())
    longest = int(current_app.config["BILLCHAIN_REPORT_MAX_DAYS"])
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=29)
    if start > end:
        raise Malformed("invalid_date", f"from ({start}) must not be after to ({end})", "from")
    if (end - start).days + 1 > longest:
        raise Malformed("invalid_date", f"from..to spans {(end - start).days + 1} days; at most {longest}", "from")
    return Period(start, end)


def _whole_yuan(fen: int) -> str:
    """Axis labels: whole yuan."""
    return format_fen(fen).split(".")[0]


def _charts(period: Period, orgs: list[OrgFigures], claimants: list[ClaimantFigures]) -> dict[str, dict[str, Any]]:
    """Per organisation id: a bar chart of daily counts and a line chart of daily amounts (yuan)."""
    labels = [d.strftime("%m-%d") for d in period.days]
    out: dict[str, dict[str, Any]] = {}
    for org in orgs:
        days = [org.days.get(d) or DayFigures() for d in period.days]
        kinds = [
            (_("Issued"), "#1f5fbf", [f.issued for f in days], [f.issued_fen for f in days]),
            (_("Reimbursed"), "#1b7f3b", [f.claimed for f in days], [f.claimed_fen for f in days]),
            (_("Voided"), "#d9730d", [f.voided for f in days], [f.voided_fen for f in days]),
        ]
        out[f"issuer-{org.organisation.id}"] = {
            "counts": chart(
                _("Bills per day"),
                labels,
                [Series(n, c, v) for n, c, v, _f in kinds],
                chart_id=f"chart-counts-{org.organisation.id}",
            ),
            "amounts": chart(
                _("Amounts per day (yuan)"),
                labels,
                [Series(n, c, f) for n, c, _v, f in kinds],
                kind="line",
                value_text=_whole_yuan,
                chart_id=f"chart-amounts-{org.organisation.id}",
            ),
        }
    for claimant in claimants:
        days = [claimant.days.get(d) or DayFigures() for d in period.days]
        out[f"claimant-{claimant.organisation.id}"] = {
            "counts": chart(
                _("Bills reimbursed per day"),
                labels,
                [Series(_("Reimbursed"), "#1b7f3b", [f.claimed for f in days])],
                chart_id=f"chart-claims-{claimant.organisation.id}",
            ),
            "amounts": chart(
                _("Amounts reimbursed per day (yuan)"),
                labels,
                [Series(_("Amount"), "#1f5fbf", [f.claimed_fen for f in days])],
                kind="line",
                value_text=_whole_yuan,
                chart_id=f"chart-claim-amounts-{claimant.organisation.id}",
            ),
        }
    return out


@bp.route("")
@role_required(OrgKind.FINANCE)
def dashboard() -> str:
    period = _period()
    orgs, claimants = figures(period=period), claimant_figures(period)
    revoked = db.session.scalars(select(Organisation).where(Organisation.status == OrgStatus.REVOKED)).all()
    return render_template(
        "finance/dashboard.html",
        orgs=orgs,
        claimants=claimants,
        charts=_charts(period, orgs, claimants),
        period=period,
        max_days=current_app.config["BILLCHAIN_REPORT_MAX_DAYS"],
        revoked=revoked,
        days=len(period.days),
        format_fen=format_fen,
    )


@bp.route("/export.csv")
@role_required(OrgKind.FINANCE)
def export_csv() -> Response:
    """The dashboard's figures as CSV: integer fen for machines, yuan text for people."""
    period = _period()
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
    for org in figures(period=period):
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


# ---------------------------------------------------------------- dead letters (outbox jobs set aside)


@bp.context_processor
def _dead_letters() -> dict[str, Any]:
    """The dashboard's dead-letter block asks for them (a callable: other finance pages never query)."""
    return {"dead_jobs": dead_jobs}


@bp.route("/jobs/<int:job_id>/retry", methods=["POST"])
@role_required(OrgKind.FINANCE)
def retry_job(job_id: int) -> Response:
    job = retry_dead_job(job_id, actor=f"user:{current_user.username}")
    flash(_("Job %(id)s is queued again.", id=job.id))
    return redirect(url_for("finance.dashboard"))  # type: ignore[return-value]
