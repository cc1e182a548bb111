"""The bill form: prices in yuan as people type them; the domain re-checks everything on submit."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.bills.model import MAX_ITEMS, BillType, PayerKind
from app.services.settlement import VOID_REASONS
from app.web import i18n


def bill_type_label(value: str) -> str:
    """The bill type's name in the page's language (one mapping: app.i18n)."""
    return i18n.bill_type_label(value)


VOID_REASON_LABELS = {1: _l("Wrong content"), 2: _l("Refund"), 3: _l("Duplicate"), 4: _l("Other")}


class ItemForm(Form):
    """One line item; a sub-form without its own CSRF token (the outer form carries it)."""

    code = StringField(_l("Item code"), validators=[Optional(), Length(max=32)])
    name = StringField(_l("Item name"), validators=[Optional(), Length(max=100)])
    unit = StringField(_l("Unit"), validators=[Optional(), Length(max=20)])
    quantity = StringField(_l("Quantity"), validators=[Optional(), Length(max=20)])
    unit_price = StringField(_l("Unit price ¥"), validators=[Optional(), Length(max=20)])

    def is_blank(self) -> bool:
        return not any((f.data or "").strip() for f in self)


class IssueForm(FlaskForm):
    bill_type = SelectField(_l("Bill type"), choices=[(t.value, i18n.BILL_TYPE_LABELS[t]) for t in BillType])
    payer_kind = SelectField(
        _l("Payer kind"),
        choices=[(PayerKind.PERSON.value, _l("Person")), (PayerKind.ORGANISATION.value, _l("Organisation"))],
    )
    payer_name = StringField(_l("Payer name"), validators=[Length(max=100)])
    payer_id_number = StringField(_l("ID number"), validators=[Optional(), Length(max=30)])
    contact_phone = StringField(_l("Phone"), validators=[Optional(), Length(max=30)])
    contact_email = StringField(_l("E-mail"), validators=[Optional(), Length(max=254)])
    items = FieldList(FormField(ItemForm), min_entries=1, max_entries=MAX_ITEMS)
    handler = StringField(_l("Handler"), validators=[Length(max=50)])
    checker = StringField(_l("Checker"), validators=[Length(max=50)])
    remarks = TextAreaField(_l("Remarks"), validators=[Optional(), Length(max=500)])


class VoidForm(FlaskForm):
    reason = SelectField(
        _l("Void reason"), choices=[(str(k), VOID_REASON_LABELS.get(k, v)) for k, v in VOID_REASONS.items()]
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])
    replacement = StringField(
        _l("Replacement bill (its number, one of yours; optional)"), validators=[Optional(), Length(max=40)]
    )


class PaperForm(FlaskForm):
    """Registry v2: the bill was converted to a paper bill; its number (1-32 ASCII characters) goes on chain."""

    paper_number = StringField(_l("Paper bill number"), validators=[DataRequired(), Length(max=32)])
