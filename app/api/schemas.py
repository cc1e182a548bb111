"""Marshmallow schemas: they validate the small request bodies and document every body in OpenAPI.

The bill itself is validated by the domain (app.bills.model), which knows every rule; BillIn mirrors
its fields and the rules JSON Schema can say (lengths, digits, enums). Rules it cannot say (check
characters of ID and credit codes, amount = quantity × price, total = sum of items) answer 422.
Answers document their known fields and allow more (`unknown = INCLUDE`), so a new field is no break.
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from app.bills.model import MAX_ITEMS, BillType, PayerKind
from app.bills.money import MAX_FEN

_FEN = validate.Range(min=0, max=MAX_FEN)


class LineItemIn(Schema):
    code = fields.String(
        required=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,32}$"), metadata={"example": "001"}
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=100), metadata={"example": "学费"})
    unit = fields.String(required=True, validate=validate.Length(min=1, max=10), metadata={"example": "学期"})
    quantity = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9]{1,10}(\.[0-9]{1,6})?$"),
        metadata={"example": "1", "description": "decimal as a string, at most 6 decimals"},
    )
    unit_price_fen = fields.Integer(required=True, strict=True, validate=_FEN, metadata={"example": 250000})
    amount_fen = fields.Integer(
        required=True,
        strict=True,
        validate=_FEN,
        metadata={"example": 250000, "description": "round_half_up(quantity × unit_price_fen)"},
    )


class PayerIn(Schema):
    kind = fields.String(
        required=True, validate=validate.OneOf([k.value for k in PayerKind]), metadata={"example": "person"}
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=100), metadata={"example": "张三"})
    id_number = fields.String(
        allow_none=True,
        metadata={
            "example": "11010519491231002X",
            "description": "person: 18-character resident ID (GB 11643); organisation: its credit code",
        },
    )


class ContactIn(Schema):
    phone = fields.String(
        allow_none=True, validate=validate.Regexp(r"^\+?[0-9]{5,20}$"), metadata={"example": "13800138000"}
    )
    email = fields.String(allow_none=True, validate=validate.Length(max=254), metadata={"format": "email"})


class BillIn(Schema):
    """One bill. Issuer, check code and salt are filled in by the platform (app.bills.model.Bill)."""

    bill_type = fields.String(
        required=True, validate=validate.OneOf([t.value for t in BillType]), metadata={"example": "school_fee"}
    )
    payer = fields.Nested(PayerIn, required=True)
    contact = fields.Nested(
        ContactIn, allow_none=True, metadata={"description": "payer phone and/or e-mail, for the payer's wallet"}
    )
    items = fields.List(fields.Nested(LineItemIn), required=True, validate=validate.Length(min=1, max=MAX_ITEMS))
    total_fen = fields.Integer(
        required=True, strict=True, validate=_FEN, metadata={"example": 250000, "description": "Σ amount_fen"}
    )
    currency = fields.String(validate=validate.OneOf(["CNY"]), metadata={"example": "CNY"})
    handler = fields.String(required=True, validate=validate.Length(min=1, max=50), metadata={"example": "李四"})
    checker = fields.String(required=True, validate=validate.Length(min=1, max=50), metadata={"example": "王五"})
    remarks = fields.String(allow_none=True, validate=validate.Length(max=500))
    bill_code = fields.String(
        validate=validate.Regexp(r"^[0-9]{8}$"), metadata={"description": "8 digits; default: the organisation's"}
    )
    bill_number = fields.String(
        validate=validate.Regexp(r"^[0-9]{10}$"),
        metadata={"description": "10 digits; default: the next free number"},
    )
    issued_at = fields.String(
        metadata={"format": "date-time", "description": "UTC, 2000..2100; default: now"},
    )


class BillOut(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String()
    status = fields.String(metadata={"description": "pending | anchored | partly_claimed | claimed | paper | voided"})
    verify_url = fields.String()
    bill_code = fields.String()
    bill_number = fields.String()
    bill_ref = fields.String()
    content_hash = fields.String()


class IssuerOut(Schema):
    class Meta:
        unknown = INCLUDE

    name = fields.String()
    credit_code = fields.String()
    address = fields.String()


class BillDetailOut(BillOut):
    """The bill with its content (payer ID masked for everyone but its issuer), anchoring and settlement."""

    issuer = fields.Nested(IssuerOut)
    bill = fields.Dict(metadata={"description": "the bill as app.bills.model.Bill.to_dict, maybe masked"})
    total_fen = fields.Integer()
    issued_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    created_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    anchoring = fields.Dict(allow_none=True, metadata={"description": "root, proof, tx_hash, block; null if pending"})
    settlement = fields.Dict(allow_none=True, metadata={"description": "claim or void: who, when; null if none"})
    reimbursement = fields.Dict(
        metadata={
            "description": "total_fen, reimbursed_fen, remaining_fen, parts (by, amount_fen, at), lock (by, until) "
            "or null, paper_number, replacement (bill_ref, bill_id) or null: as the chain's events left them"
        }
    )


class SettlementQueuedOut(Schema):
    class Meta:
        unknown = INCLUDE

    status = fields.String(metadata={"example": "submitted"})
    message = fields.String()
    bill = fields.Nested(BillOut)


class BillFileOut(Schema):
    """A bill file (billchain/bill-file/v1, app/bills/schema/bill-file.v1.json)."""

    class Meta:
        unknown = INCLUDE

    format = fields.String(metadata={"example": "billchain/bill-file/v1"})


class EventsOut(Schema):
    class Meta:
        unknown = INCLUDE

    bill_id = fields.String()
    status = fields.String()
    events = fields.List(fields.Dict(), metadata={"description": "{event, at, source, ...}, oldest first"})


class HealthOut(Schema):
    class Meta:
        unknown = INCLUDE

    chain = fields.Dict(metadata={"description": "reachable, chain_id, block, registry (or message when down)"})
    bills_pending = fields.Integer()
    transactions_in_flight = fields.Integer()
    dead_jobs = fields.Integer(metadata={"description": "jobs set aside after failing too often"})


class VerifyOut(Schema):
    class Meta:
        unknown = INCLUDE

    verdict = fields.String(
        metadata={"description": "authentic | tampered | signature_invalid | not_anchored | claimed | voided | unknown"}
    )
    authentic = fields.Boolean()
    usable_for_reimbursement = fields.Boolean()
    message = fields.String()
    checks = fields.List(fields.Dict())
    bill = fields.Dict(allow_none=True)


class ClaimIn(Schema):
    claim_ref = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "your own reference, e.g. a case number (no personal data)"},
    )


class ClaimPartIn(ClaimIn):
    amount_fen = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "this part in fen (registry v2); omitted: all that remains"},
    )


class LockIn(Schema):
    until = fields.AwareDateTime(
        required=True,
        default_timezone=None,
        metadata={"description": "end of the review lock, UTC ISO 8601; at most the registry's maximum (30 days)"},
    )


class PaperIn(Schema):
    paper_number = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "the paper bill's number (ASCII)"},
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


class FieldErrorOut(Schema):
    field = fields.String()
    message = fields.String()


class ErrorOut(Schema):
    """Every error: `{error, message, field}`, plus facts of the error (e.g. claimed_by, retry_after)."""

    class Meta:
        unknown = INCLUDE

    error = fields.String(required=True, metadata={"example": "bill_already_claimed"})
    message = fields.String(required=True)
    field = fields.String(allow_none=True)
    errors = fields.List(fields.Nested(FieldErrorOut), metadata={"description": "every field error, for 422"})
    incident = fields.String(metadata={"description": "500 only: quote it to the operator"})


_ERROR_TEXT = {
    400: "Malformed request (not JSON, wrong shape)",
    401: "No bearer token, or an unknown or revoked one",
    403: "The token's organisation may not do this (wrong kind, revoked)",
    404: "No such bill, or not one this organisation may see",
    409: "Conflict: already claimed (with claimed_by, claimed_at), voided, or refused by the chain",
    413: "The body is too large",
    422: "Invalid: every field error in `errors`, each with its path",
    429: "Rate limited; retry later",
    503: "The chain or the database cannot be reached; Retry-After says when to try again",
}


def error_responses(*statuses: int) -> dict[str, dict[str, object]]:
    """OpenAPI responses for these error statuses, all with the one ErrorOut body."""
    return {
        str(s): {"description": _ERROR_TEXT[s], "content": {"application/json": {"schema": ErrorOut}}} for s in statuses
    }


# Every bearer-token operation can answer these.
TOKEN_ERRORS = (401, 403, 429, 503)
