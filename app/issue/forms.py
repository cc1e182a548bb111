"""The bill form: prices in yuan as people type them; the domain re-checks everything on submit."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from app.bills.model import MAX_ITEMS, BillType, PayerKind
from app.services import VOID_REASONS

BILL_TYPE_LABELS = {
    BillType.SCHOOL_FEE: "教育收费票据 School fee",
    BillType.MEDICAL_OUTPATIENT: "医疗门诊收费票据 Medical outpatient",
    BillType.MEDICAL_INPATIENT: "医疗住院收费票据 Medical inpatient",
    BillType.TRAFFIC_FINE: "罚没票据 Traffic fine",
    BillType.PARKING: "非税收入票据 Parking",
    BillType.DONATION: "捐赠票据 Donation",
    BillType.OTHER: "其他票据 Other",
}


def bill_type_label(value: str) -> str:
    try:
        return BILL_TYPE_LABELS[BillType(value)]
    except ValueError:
        return value


class ItemForm(Form):
    """One line item; a sub-form without its own CSRF token (the outer form carries it)."""

    code = StringField("Code 项目编码", validators=[Optional(), Length(max=32)])
    name = StringField("Item 项目名称", validators=[Optional(), Length(max=100)])
    unit = StringField("Unit 单位", validators=[Optional(), Length(max=20)])
    quantity = StringField("Quantity 数量", validators=[Optional(), Length(max=20)])
    unit_price = StringField("Unit price ¥ 单价", validators=[Optional(), Length(max=20)])

    def is_blank(self) -> bool:
        return not any((f.data or "").strip() for f in self)


class IssueForm(FlaskForm):
    bill_type = SelectField("Bill type 票据类型", choices=[(t.value, BILL_TYPE_LABELS[t]) for t in BillType])
    payer_kind = SelectField(
        "Payer kind 交款人类型",
        choices=[(PayerKind.PERSON.value, "个人 Person"), (PayerKind.ORGANISATION.value, "单位 Organisation")],
    )
    payer_name = StringField("Payer name 交款人", validators=[Length(max=100)])
    payer_id_number = StringField("ID number 证件号码", validators=[Optional(), Length(max=30)])
    contact_phone = StringField("Phone 手机", validators=[Optional(), Length(max=30)])
    contact_email = StringField("E-mail 邮箱", validators=[Optional(), Length(max=254)])
    items = FieldList(FormField(ItemForm), min_entries=1, max_entries=MAX_ITEMS)
    handler = StringField("Handler 收款人", validators=[Length(max=50)])
    checker = StringField("Checker 复核人", validators=[Length(max=50)])
    remarks = TextAreaField("Remarks 备注", validators=[Optional(), Length(max=500)])


class VoidForm(FlaskForm):
    reason = SelectField("Reason 作废原因", choices=[(str(k), v) for k, v in VOID_REASONS.items()])
    note = StringField("Note 说明", validators=[Optional(), Length(max=200)])
