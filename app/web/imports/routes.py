"""Bulk import pages for issuers: upload a CSV/XLSX, watch the job, download the template."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from app.extensions import db
from app.models import ImportJob, OrgKind
from app.services.imports import COLUMNS, create_job, start_job, template_csv
from app.web.auth import role_required
from app.web.imports.forms import UploadForm

bp = Blueprint("imports", __name__, url_prefix="/import")


@bp.route("", methods=["GET", "POST"])
@role_required(OrgKind.ISSUER)
def upload() -> str | WerkzeugResponse:
    form = UploadForm()
    if form.validate_on_submit():
        storage = form.file.data
        job = create_job(current_user.organisation, storage.filename or "upload.csv", f"user:{current_user.id}")
        start_job(current_app._get_current_object(), job.id, storage.read())  # type: ignore[attr-defined]
        return redirect(url_for("imports.job_page", job_id=job.id))
    jobs = db.session.scalars(
        select(ImportJob)
        .where(ImportJob.organisation_id == current_user.organisation_id)
        .order_by(ImportJob.id.desc())
        .limit(10)
    )
    return render_template("imports/upload.html", form=form, jobs=list(jobs), columns=COLUMNS)


def _own_job(job_id: int) -> ImportJob:
    job = db.session.get(ImportJob, job_id)
    if job is None or job.organisation_id != current_user.organisation_id:
        abort(404)
    return job


@bp.route("/<int:job_id>")
@role_required(OrgKind.ISSUER)
def job_page(job_id: int) -> str:
    return render_template("imports/job.html", job=_own_job(job_id))


@bp.route("/<int:job_id>/status.json")
@role_required(OrgKind.ISSUER)
def job_status(job_id: int) -> Response:
    job = _own_job(job_id)
    return jsonify(
        id=job.id,
        status=job.status,
        total=job.total,
        done=job.done,
        errors=job.errors or [],
        filename=job.filename,
    )


@bp.route("/template.csv")
def template() -> Response:
    response = Response(template_csv(), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="billchain-import-template.csv"'
    return response
