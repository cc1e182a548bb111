"""Onboarding form for the finance department."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from app.models import OrgKind


class OnboardForm(FlaskForm):
    name = StringField("Name 单位名称", validators=[DataRequired(), Length(max=100)])
    credit_code = StringField("Credit code 统一社会信用代码", validators=[DataRequired(), Length(min=18, max=18)])
    kind = SelectField(
        "Kind 类型", choices=[(OrgKind.ISSUER, "开票单位 Issuer"), (OrgKind.CLAIMANT, "报销单位 Claimant")]
    )
    username = StringField(
        "Username 登录名",
        validators=[Optional(), Length(max=80), Regexp(r"^[A-Za-z0-9._-]+$", message="letters, digits . _ - only")],
    )


class ActionForm(FlaskForm):
    """Buttons that only need the CSRF token (revoke, new token)."""
