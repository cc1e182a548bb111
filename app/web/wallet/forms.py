"""Wallet forms: who the payer is, the one-time code, a bill to add."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp


class IdentifyForm(FlaskForm):
    identity = StringField(_l("ID number (or name if you have none)"), validators=[DataRequired(), Length(max=100)])
    contact = StringField(_l("Phone or e-mail on your bills"), validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Send me a code"))


class CodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Regexp(r"^\s*\d{6}\s*$", message=_l("6 digits"))])
    submit = SubmitField(_l("Open my wallet"))


class AddBillForm(FlaskForm):
    file = FileField(_l("Bill file (.json) or photo of its QR code"), validators=[FileRequired()])
    submit = SubmitField(_l("Add"))
