"""Marshmallow schemas: they validate the small request bodies and document every body in OpenAPI.

The bill itself is validated by the domain (app.bills), which knows every rule; BillIn documents it.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class LineItemIn(Schema):
    code = fields.String(required=True, metadata={"example": "001"})
    name = fields.String(required=True, metadata={"example": "学费"})
    unit = fields.String(metadata={"example": "学期"})
    quantity = fields.String(required=True, metadata={"example": "1", "description": "decimal as a string"})
    unit_price_fen = fields.Integer(required=True, metadata={"example": 250000})
    amount_fen = fields.Integer(required=True, metadata={"example": 250000})


class PayerIn(Schema):
    kind = fields.String(validate=validate.OneOf(["person", "organisation"]), metadata={"example": "person"})
    name = fields.String(required=True, metadata={"example": "张三"})
    id_number = fields.String(required=True, metadata={"example": "11010519491231002X"})


class BillIn(Schema):
    """One bill. Issuer, bill code and number, issue time and salt are filled in by the platform."""

    bill_type = fields.String(required=True, metadata={"example": "school_fee"})
    payer = fields.Nested(PayerIn, required=True)
    contact = fields.Dict(metadata={"description": "payer phone and/or email, for the payer's wallet"})
    items = fields.List(fields.Nested(LineItemIn), required=True)
    total_fen = fields.Integer(required=True, metadata={"example": 250000})
    currency = fields.String(metadata={"example": "CNY"})
    handler = fields.String(metadata={"example": "李四"})
    checker = fields.String(metadata={"example": "王五"})
    remarks = fields.String()
    bill_code = fields.String(metadata={"description": "8 digits; default: the organisation's"})
    bill_number = fields.String(metadata={"description": "10 digits; default: the next free number"})


class BillOut(Schema):
    id = fields.String()
    status = fields.String(metadata={"description": "pending | anchored | claimed | voided"})
    verify_url = fields.String()
    bill_code = fields.String()
    bill_number = fields.String()
    bill_ref = fields.String()
    content_hash = fields.String()


class ClaimIn(Schema):
    claim_ref = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "your own reference, e.g. a case number (no personal data)"},
    )


class VoidIn(Schema):
    reason = fields.Integer(
        required=True,
        validate=validate.OneOf([1, 2, 3, 4]),
        metadata={"description": "1 wrong content, 2 refund, 3 duplicate, 4 other"},
    )
    note = fields.String(load_default="", validate=validate.Length(max=200))
    replacement_bill_id = fields.String(load_default=None, allow_none=True)


class VerifyUrlIn(Schema):
    url = fields.String(required=True)


class ErrorOut(Schema):
    error = fields.String()
    message = fields.String()
    field = fields.String(allow_none=True)
