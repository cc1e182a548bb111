"""Onboarding form for the finance department."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from app.models import OrgKind


class OnboardForm(FlaskForm):
    name = StringField(_l("Organisation name"), validators=[DataRequired(), Length(max=100)])
    credit_code = StringField(_l("Unified social credit code"), validators=[DataRequired(), Length(min=18, max=18)])
    kind = SelectField(_l("Kind"), choices=[(OrgKind.ISSUER, _l("Issuer")), (OrgKind.CLAIMANT, _l("Claimant"))])
    username = StringField(
        _l("Username"),
        validators=[Optional(), Length(max=80), Regexp(r"^[A-Za-z0-9._-]+$", message=_l("letters, digits . _ - only"))],
    )


class ActionForm(FlaskForm):
    """Buttons that only need the CSRF token (revoke, new token)."""


class AdmissionForm(FlaskForm):
    """A member platform's admission request file (billchain/admission-request/v1, a few hundred bytes)."""

    request = FileField(_l("Admission request file"), validators=[FileRequired()])
