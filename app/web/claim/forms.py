"""The claim form: the claimant's own reference (their case or voucher number)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class ClaimForm(FlaskForm):
    claim_ref = StringField(_l("Your claim reference"), validators=[DataRequired(), Length(max=64)])
