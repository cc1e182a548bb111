"""The finance department's organisation register: onboarding, revocation, API tokens."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.bills.errors import BillValidationError
from app.extensions import db
from app.models import AdmissionStatus, ApiToken, Organisation, OrgKind, User, audit
from app.services import admissions
from app.services.errors import (
    Malformed,
    ServiceError,
    not_found,
)
from app.services.organisations import onboard_organisation, revoke_organisation, revoke_token
from app.web.admin.forms import ActionForm, AdmissionForm, OnboardForm
from app.web.auth import role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(form: OnboardForm, created: Any = None, new_token: tuple[Organisation, str] | None = None) -> str:
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.kind, Organisation.id)).all()
    tokens: dict[int, list[ApiToken]] = {}
    for token in db.session.scalars(select(ApiToken).where(ApiToken.revoked_at.is_(None))):
        tokens.setdefault(token.organisation_id, []).append(token)
    users: dict[int, list[User]] = {}
    for user in db.session.scalars(select(User)):
        users.setdefault(user.organisation_id, []).append(user)
    return render_template(
        "admin/orgs.html",
        orgs=orgs,
        tokens=tokens,
        users=users,
        form=form,
        action_form=ActionForm(),
        created=created,
        new_token=new_token,
        admission_form=AdmissionForm(formdata=None),
        admissions=admissions.admissions(AdmissionStatus.PENDING),
    )


@bp.route("/orgs")
@role_required(OrgKind.FINANCE)
def orgs() -> str:
    return _page(OnboardForm())


@bp.route("/orgs", methods=["POST"])
@role_required(OrgKind.FINANCE)
def onboard() -> Any:
    """The generated password and token are shown on this one response and never again."""
    form = OnboardForm()
    if form.validate_on_submit():
        username = (form.username.data or "").strip() or None
        if username and db.session.scalar(select(User).where(User.username == username)):
            form.username.errors = [*form.username.errors, "This username is taken."]
        else:
            try:
                done = onboard_organisation(
                    form.name.data or "",
                    (form.credit_code.data or "").strip().upper(),
                    form.kind.data or "",
                    actor=f"user:{current_user.username}",
                    username=username,
                )
            except ServiceError as exc:
                field = getattr(form, exc.field or "", None)
                if field is not None:
                    field.errors = [*field.errors, exc.message]
                else:
                    flash(exc.message)
            else:
                return _page(OnboardForm(formdata=None), created=done)
    return _page(form), 422


def _org(org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise not_found("organisation")
    return org


@bp.route("/orgs/<int:org_id>/revoke", methods=["POST"])
@role_required(OrgKind.FINANCE)
def revoke(org_id: int) -> Response:
    org = _org(org_id)
    if not ActionForm().validate_on_submit():
        raise Malformed("invalid_form", "The form expired; try again.")
    revoke_organisation(org, actor=f"user:{current_user.username}")
    flash(_("Revocation of %(name)s submitted to the chain.", name=org.name))  # refused here from now on
    return redirect(url_for("admin.orgs"))


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@role_required(OrgKind.FINANCE)
def revoke_api_token(token_id: int) -> Response:
    """One leaked token, revoked on its own: the organisation and its other tokens keep working."""
    if not ActionForm().validate_on_submit():
        raise Malformed("invalid_form", "The form expired; try again.")
    token = revoke_token(token_id, actor=f"user:{current_user.username}")
    flash(_("The API token %(prefix)s… is revoked.", prefix=token.prefix))
    return redirect(url_for("admin.orgs"))


@bp.route("/orgs/<int:org_id>/tokens", methods=["POST"])
@role_required(OrgKind.FINANCE)
def new_token(org_id: int) -> str:
    org = _org(org_id)
    if not ActionForm().validate_on_submit():
        raise Malformed("invalid_form", "The form expired; try again.")
    token, plain = ApiToken.issue(org, name="web")
    db.session.add(token)
    audit(f"user:{current_user.username}", "token.issued", str(org.id), org.id, prefix=token.prefix)
    db.session.commit()
    return _page(OnboardForm(formdata=None), new_token=(org, plain))


MAX_REQUEST_BYTES = 16 * 1024  # an admission request is a few hundred bytes of JSON


@bp.route("/admissions", methods=["POST"])
@role_required(OrgKind.FINANCE)
def receive_admission() -> Response:
    """Receive a member platform's admission request (uploaded file); it is listed as pending."""
    form = AdmissionForm()
    if not form.validate_on_submit():
        raise Malformed("invalid_form", "Choose an admission request file.", "request")
    raw = form.request.data.read(MAX_REQUEST_BYTES + 1)
    if len(raw) > MAX_REQUEST_BYTES:
        raise Malformed("invalid_request", "An admission request is at most 16 KB of JSON.", "request")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("invalid_request", "The file is not JSON (an admission request).", "request") from None
    try:
        record = admissions.receive_admission(data, actor=f"user:{current_user.username}")
    except BillValidationError as exc:
        flash("; ".join(f"{e.field}: {e.message}" for e in exc.errors), "error")
        return redirect(url_for("admin.orgs"))
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.orgs"))
    flash(_("Admission request of %(name)s received.", name=record.name))
    return redirect(url_for("admin.orgs"))


@bp.route("/admissions/<int:record_id>/approve", methods=["POST"])
@role_required(OrgKind.FINANCE)
def approve_admission(record_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        raise Malformed("invalid_form", "The form expired; try again.")
    admissions.approve_admission(record_id, actor=f"user:{current_user.username}")
    flash(_("Admission approved: the registration is submitted to the chain."))
    return redirect(url_for("admin.orgs"))


@bp.route("/admissions/<int:record_id>/refuse", methods=["POST"])
@role_required(OrgKind.FINANCE)
def refuse_admission(record_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        raise Malformed("invalid_form", "The form expired; try again.")
    record = admissions.refuse_admission(record_id, actor=f"user:{current_user.username}")
    flash(_("Admission request of %(name)s refused.", name=record.name))
    return redirect(url_for("admin.orgs"))
