"""The upload form of a bulk import."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import SubmitField


class UploadForm(FlaskForm):
    file = FileField("CSV / XLSX", validators=[FileRequired(), FileAllowed(["csv", "xlsx"])])
    submit = SubmitField(_l("Import"))
