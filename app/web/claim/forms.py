"""The claimant's forms: the claim reference (their case or voucher number); on registry v2 also a review
lock's end (Beijing time) and the amount of a part (yuan on the page, integer fen underneath)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class ClaimForm(FlaskForm):
    claim_ref = StringField(_l("Your claim reference"), validators=[DataRequired(), Length(max=64)])


class LockForm(FlaskForm):
    """Start a review: nobody else may reimburse the bill (nor its issuer void it) until `until`."""

    until = StringField(_l("Review until (Beijing time)"), validators=[DataRequired(), Length(max=20)])


class PartForm(FlaskForm):
    """Reimburse an amount of the bill (registry v2): by default what remains."""

    amount = StringField(_l("Amount to reimburse (yuan)"), validators=[DataRequired(), Length(max=20)])
    claim_ref = StringField(_l("Your claim reference"), validators=[DataRequired(), Length(max=64)])


class ReleaseForm(FlaskForm):
    """End the review without reimbursing (only the CSRF token)."""
