"""What a person gives to verify a bill: a photo (or camera frame), a bill file, or a verify URL."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField

from app.services.errors import Malformed
from app.services.sealing import is_ofd


class VerifyForm(FlaskForm):
    photo = FileField(_l("Photo of the bill or its QR code"))
    bill_file = FileField(_l("Bill file (.json)"))
    url = StringField(_l("Verify URL"))


def read_source(form: VerifyForm) -> Any:
    """What the person gave us: a photo (or camera frame), a bill file, or a verify URL."""
    source: Any = None
    if form.photo.data:
        source = form.photo.data.read()
    elif form.bill_file.data:
        upload = form.bill_file.data
        raw = upload.read()
        if is_ofd(raw):
            source = raw  # an OFD package: bytes, its seal is checked before the bill file inside
        elif (upload.filename or "").lower().endswith(".ofd") and raw:
            raise Malformed("invalid_ofd", "This .ofd file is not an OFD package (an OFD is a zip file).", "bill_file")
        else:
            source = raw.decode("utf-8", errors="replace")
    elif form.url.data:
        source = form.url.data.strip()
    if not source:
        raise Malformed("nothing_to_verify", "Choose a photo, a bill file or paste a verify URL.", "photo")
    return source
