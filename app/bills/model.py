"""The fiscal e-bill (财政电子票据): every rule it obeys, checked at once, with a path for each error.

A Bill is immutable and always valid: it only comes out of ``Bill.create`` (new bill: random salt,
derived check code) or ``Bill.from_dict`` (an existing bill: salt and check code given and checked).

Derived values, written down because verifiers in other languages must reproduce them:

- ``bill_ref = keccak256(utf8("billchain:bill-ref:v1:" + bill_code + ":" + bill_number))``: the bill's
  identity on chain; no personal data and no content, so it never changes when content is corrected.
- ``check_code = int(keccak256(utf8("billchain:check-code:v1:" + bill_code + ":" + bill_number + ":"
  + issuer.credit_code + ":" + str(issued_at as Unix seconds) + ":" + str(total_fen)) + salt)) mod 10^6``,
  zero-padded to 6 digits. A typo in any of the fields a person types into a look-up form (code,
  number, issuer, date, total) or in the check code itself is caught with probability 1 - 10^-6, and
  because the salt is in it nobody can compute the check code of a bill they have not seen.
- ``amount_fen = round_half_up(quantity × unit_price_fen)`` per line, ``total_fen = Σ amount_fen``.

Text is NFC-normalised and stripped; control characters and bidi overrides (which can make a printed
name read differently from its bytes) are refused. An empty optional text is stored as None.
Times have one-second precision (like the chain's uint64 timestamps) and are kept in UTC.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Self

from eth_hash.auto import keccak
from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.bills.errors import BillValidationError, FieldError
from app.bills.hexstr import to_hex
from app.bills.identifiers import credit_code_problem, resident_id_check_char
from app.bills.money import MAX_FEN, line_amount_fen
from app.bills.privacy import mask_id_number
from app.bills.times import utc_iso

BILL_REF_PREFIX = "billchain:bill-ref:v1:"
CHECK_CODE_PREFIX = "billchain:check-code:v1:"

MAX_ITEMS = 200
MAX_QUANTITY = Decimal(10**9)
QUANTITY_DECIMALS = 6
"""Quantities carry at most 6 decimals; the content hash encodes them as quantity × 10^6."""

ISSUED_AT_MIN = datetime(2000, 1, 1, tzinfo=UTC)
ISSUED_AT_MAX = datetime(2100, 1, 1, tzinfo=UTC)

_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ITEM_CODE_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
_QUANTITY_RE = re.compile(r"[0-9]{1,10}(\.[0-9]{1,6})?")
_PHONE_RE = re.compile(r"\+?[0-9]{5,20}")
_EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_OTHER_DOCUMENT_RE = re.compile(r"[A-Z0-9]{5,20}")


def _fail(message: str, field: str | None = None) -> PydanticCustomError:
    """A rule error with our own wording; ``field`` extends the path when raised by a model validator."""
    ctx: dict[str, Any] = {"message": message}
    if field is not None:
        ctx["field"] = field
    return PydanticCustomError("billchain", "{message}", ctx)


# ---------------------------------------------------------------- field rules


def _text(max_len: int, *, multiline: bool = False) -> Callable[[Any], str]:
    """A validator for required text of at most ``max_len`` characters (code points, after NFC)."""

    def validate(value: Any) -> str:
        if not isinstance(value, str):
            raise _fail("must be text")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _fail("must be valid Unicode text (no lone surrogates)") from None
        text = unicodedata.normalize("NFC", value).strip()
        if not text:
            raise _fail("must not be empty")
        for ch in text:
            if ch in _BIDI_CONTROLS:
                raise _fail(f"must not contain the bidirectional control character U+{ord(ch):04X}")
            if unicodedata.category(ch) == "Cc" and not (multiline and ch == "\n"):
                raise _fail(f"must not contain the control character U+{ord(ch):04X}")
        if len(text) > max_len:
            raise _fail(f"must be at most {max_len} characters (got {len(text)})")
        return text

    return validate


def _optional(validate: Callable[[Any], str]) -> Callable[[Any], str | None]:
    """None and empty text both mean absent, so the content hash has one encoding for it ("")."""

    def optional(value: Any) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return validate(value)

    return optional


def _digits(length: int) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        if not isinstance(value, str):
            raise _fail(f"must be a string of {length} digits (a number would lose leading zeros)")
        text = value.strip()
        if len(text) != length or not (text.isascii() and text.isdigit()):
            raise _fail(f"must be exactly {length} digits 0-9 (got {len(text)} characters)")
        return text

    return validate


def _credit_code(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("must be an 18-character unified social credit code")
    code = value.strip().upper()
    problem = credit_code_problem(code)
    if problem:
        raise _fail(problem)
    return code


def _id_number(value: Any) -> str:
    """Form only (5-20 letters and digits); the kind-specific check digit is the Payer's rule."""
    if not isinstance(value, str):
        raise _fail("must be text (an ID card, passport or credit code number)")
    number = value.strip().replace(" ", "").upper()
    if not _OTHER_DOCUMENT_RE.fullmatch(number):
        raise _fail("must be 5-20 letters and digits (resident ID, passport, permit or credit code)")
    return number


def _person_id_number(number: str) -> None:
    """Digits (with a final X) are a resident ID: 18 long, GB 11643 check digit; else passport/permit."""
    if re.fullmatch(r"[0-9]{1,17}[0-9X]?", number):
        if len(number) != 18:
            raise _fail(f"a resident ID number has 18 characters (got {len(number)})", "id_number")
        if resident_id_check_char(number[:17]) != number[17]:
            raise _fail("check digit is wrong (GB 11643-1999): probably a typo", "id_number")


def _phone(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("must be text")
    phone = re.sub(r"[\s-]", "", value)
    if not _PHONE_RE.fullmatch(phone):
        raise _fail("must be 5-20 digits, optionally starting with +")
    return phone


def _email(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("must be text")
    email = value.strip()
    if len(email) > 254 or not email.isascii() or not _EMAIL_RE.fullmatch(email):
        raise _fail("must be an e-mail address such as name@example.cn")
    return email


def _fen(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"must be an integer number of fen, not {type(value).__name__}")
    if value < 0:
        raise _fail("must not be negative")
    if value > MAX_FEN:
        raise _fail(f"must be at most {MAX_FEN} fen")
    return value


def plain_quantity(text: str) -> Decimal | None:
    """The quantity in a plain decimal text ("2", "1.5"), or None: never an exponent such as "1E+999000",
    whose arithmetic (amount = quantity × price) would take the process minutes."""
    stripped = text.strip()
    return Decimal(stripped) if _QUANTITY_RE.fullmatch(stripped) else None


def _quantity(value: Any) -> Decimal:
    if isinstance(value, float):
        raise _fail('must be a decimal string such as "1.5", not a float (floats are inexact)')
    if isinstance(value, bool):
        raise _fail('must be a decimal string such as "1.5", not a bool')
    if isinstance(value, int):
        quantity = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise _fail("must be a finite number")
        if not -QUANTITY_DECIMALS - 30 <= value.as_tuple().exponent <= 30:  # type: ignore[operator]
            raise _fail(f"must be a decimal with at most {QUANTITY_DECIMALS} decimals, without an exponent")
        quantity = value
    elif isinstance(value, str):
        if not _QUANTITY_RE.fullmatch(value.strip()):
            raise _fail('must be a decimal such as "2" or "1.5" with at most 6 decimals')
        try:
            quantity = Decimal(value.strip())
        except InvalidOperation:  # pragma: no cover - the pattern already rules it out
            raise _fail("must be a decimal number") from None
    else:
        raise _fail(f'must be a decimal string such as "1.5", not {type(value).__name__}')
    if quantity <= 0:
        raise _fail("must be greater than 0")
    if quantity > MAX_QUANTITY:
        raise _fail(f"must be at most {MAX_QUANTITY}")
    if quantity != quantity.quantize(Decimal(1).scaleb(-QUANTITY_DECIMALS)):
        raise _fail(f"must have at most {QUANTITY_DECIMALS} decimals")
    return quantity


def format_quantity(quantity: Decimal) -> str:
    """Canonical text of a quantity: no exponent, no trailing zeros ("1.5", "100")."""
    text = format(quantity.normalize(), "f")
    return text


def _issued_at(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _fail("must be an ISO 8601 date-time such as 2025-03-01T08:30:00+08:00") from None
    if not isinstance(value, datetime):
        raise _fail("must be a date-time with a time zone")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _fail("has no time zone: give one (e.g. +08:00 or Z) so the instant is unambiguous")
    moment = value.astimezone(UTC).replace(microsecond=0)
    if not ISSUED_AT_MIN <= moment < ISSUED_AT_MAX:
        raise _fail("must be between 2000-01-01 and 2100-01-01")
    return moment


def _salt(value: Any) -> bytes:
    if isinstance(value, str):
        text = value.removeprefix("0x")
        if len(text) != 64 or not all(c in "0123456789abcdefABCDEF" for c in text):
            raise _fail("must be 32 bytes as 0x followed by 64 hex digits")
        return bytes.fromhex(text)
    if isinstance(value, bytes) and len(value) == 32:
        return value
    raise _fail("must be 32 bytes as 0x followed by 64 hex digits")


def _iso(moment: datetime) -> str:
    return str(utc_iso(moment))


Text100 = Annotated[str, PlainValidator(_text(100))]
Text50 = Annotated[str, PlainValidator(_text(50))]
Unit = Annotated[str, PlainValidator(_text(10))]
OptText500 = Annotated[str | None, PlainValidator(_optional(_text(500, multiline=True)))]
BillCode = Annotated[str, PlainValidator(_digits(8))]
BillNumber = Annotated[str, PlainValidator(_digits(10))]
CheckCode = Annotated[str, PlainValidator(_digits(6))]
CreditCode = Annotated[str, PlainValidator(_credit_code)]
IdNumber = Annotated[str | None, PlainValidator(_optional(_id_number))]
Phone = Annotated[str | None, PlainValidator(_optional(_phone))]
Email = Annotated[str | None, PlainValidator(_optional(_email))]
Fen = Annotated[int, PlainValidator(_fen)]
Quantity = Annotated[Decimal, PlainValidator(_quantity), PlainSerializer(format_quantity, return_type=str)]
IssuedAt = Annotated[datetime, PlainValidator(_issued_at), PlainSerializer(_iso, return_type=str)]
Salt = Annotated[bytes, PlainValidator(_salt), PlainSerializer(to_hex, return_type=str)]


def _item_code(value: Any) -> str:
    if not isinstance(value, str) or not _ITEM_CODE_RE.fullmatch(value.strip()):
        raise _fail("must be 1-32 characters: letters, digits, '.', '_' or '-'")
    return value.strip()


ItemCode = Annotated[str, PlainValidator(_item_code)]


# ---------------------------------------------------------------- the model


class BillType(StrEnum):
    """Kinds of fiscal bill this platform issues; values are stable (they are hashed)."""

    SCHOOL_FEE = "school_fee"
    MEDICAL_OUTPATIENT = "medical_outpatient"
    MEDICAL_INPATIENT = "medical_inpatient"
    TRAFFIC_FINE = "traffic_fine"
    PARKING = "parking"
    DONATION = "donation"
    OTHER = "other"


class PayerKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


_MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=False)


class Issuer(BaseModel):
    """The invoicing unit (开票单位), as registered on chain."""

    model_config = _MODEL_CONFIG
    name: Text100
    credit_code: CreditCode


class Payer(BaseModel):
    """Who paid (交款人). ``id_number`` is personal data: stored, hashed with the salt, never on chain."""

    model_config = _MODEL_CONFIG
    kind: PayerKind
    name: Text100
    id_number: IdNumber = None

    @model_validator(mode="after")
    def _id_number_fits_kind(self) -> Self:
        if self.kind is PayerKind.PERSON and self.id_number is not None:
            _person_id_number(self.id_number)
        if self.kind is PayerKind.ORGANISATION and self.id_number is not None:
            try:
                _credit_code(self.id_number)
            except PydanticCustomError as exc:
                message = f"an organisation's id_number is its credit code: {exc.message()}"
                raise _fail(message, "id_number") from None
        return self


class Contact(BaseModel):
    """How the payer wallet reaches the payer; at least one of phone and e-mail."""

    model_config = _MODEL_CONFIG
    phone: Phone = None
    email: Email = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.phone is None and self.email is None:
            raise _fail("give a phone number or an e-mail address, or leave contact out")
        return self


class LineItem(BaseModel):
    """One charge (收费项目); its amount must equal round_half_up(quantity × unit_price_fen)."""

    model_config = _MODEL_CONFIG
    code: ItemCode
    name: Text100
    unit: Unit
    quantity: Quantity
    unit_price_fen: Fen
    amount_fen: Fen

    @model_validator(mode="after")
    def _amount_matches(self) -> Self:
        expected = line_amount_fen(self.quantity, self.unit_price_fen)
        if self.amount_fen != expected:
            raise _fail(
                f"must equal round_half_up(quantity × unit_price_fen) = {expected}, got {self.amount_fen}",
                "amount_fen",
            )
        return self


def derive_bill_ref(bill_code: str, bill_number: str) -> bytes:
    """keccak256(utf8("billchain:bill-ref:v1:" + code + ":" + number)): the bill's id on chain."""
    return keccak(f"{BILL_REF_PREFIX}{bill_code}:{bill_number}".encode())


def derive_check_code(
    bill_code: str, bill_number: str, credit_code: str, issued_at: datetime, total_fen: int, salt: bytes
) -> str:
    """The 6-digit check code (校验码); see the module docstring for why these inputs."""
    seconds = int(issued_at.timestamp())
    text = f"{CHECK_CODE_PREFIX}{bill_code}:{bill_number}:{credit_code}:{seconds}:{total_fen}"
    return f"{int.from_bytes(keccak(text.encode() + salt), 'big') % 10**6:06d}"


class Bill(BaseModel):
    """A fiscal e-bill. Build with ``Bill.create`` or ``Bill.from_dict``; every instance is valid."""

    model_config = _MODEL_CONFIG
    bill_type: BillType
    bill_code: BillCode
    bill_number: BillNumber
    check_code: CheckCode
    issued_at: IssuedAt
    issuer: Issuer
    payer: Payer
    contact: Contact | None = None
    items: list[LineItem]
    total_fen: Fen
    currency: str = "CNY"
    handler: Text50
    checker: Text50
    remarks: OptText500 = None
    salt: Salt

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        if self.currency != "CNY":
            raise _fail('only "CNY" is supported', "currency")
        if not 1 <= len(self.items) <= MAX_ITEMS:
            raise _fail(f"a bill has 1 to {MAX_ITEMS} line items (got {len(self.items)})", "items")
        total = sum(item.amount_fen for item in self.items)
        if self.total_fen != total:
            raise _fail(f"must equal the sum of the line amounts, {total}, got {self.total_fen}", "total_fen")
        derived = derive_check_code(
            self.bill_code, self.bill_number, self.issuer.credit_code, self.issued_at, self.total_fen, self.salt
        )
        if info.context and info.context.get("derive_check_code"):
            object.__setattr__(self, "check_code", derived)  # creation: the code is ours to compute
        elif self.check_code != derived:
            raise _fail(
                "does not match the bill (typo in the check code, bill code, number, date or total?)",
                "check_code",
            )
        return self

    # ------------------------------------------------------------ construction

    @classmethod
    def create(cls, data: Mapping[str, Any], *, salt: bytes | None = None) -> Bill:
        """A new bill from form/API data: draws a fresh salt and derives the check code."""
        fields = dict(data)
        for derived in ("salt", "check_code"):
            if derived in fields:
                raise BillValidationError.single(derived, "is generated when the bill is created")
        fields["salt"] = salt if salt is not None else secrets.token_bytes(32)
        fields["check_code"] = "000000"
        return cls._validate(fields, derive=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bill:
        """An existing bill (e.g. from a bill file): salt and check code must be there and agree."""
        return cls._validate(data, derive=False)

    @classmethod
    def _validate(cls, data: Any, *, derive: bool) -> Bill:
        if not isinstance(data, Mapping):
            raise BillValidationError.single("bill", "must be an object")
        try:
            return cls.model_validate(dict(data), context={"derive_check_code": derive})
        except ValidationError as exc:
            raise validation_error_from_pydantic(exc) from None

    # ------------------------------------------------------------ views

    @property
    def bill_ref(self) -> bytes:
        return derive_bill_ref(self.bill_code, self.bill_number)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, keys in a fixed order, canonical values: from_dict(to_dict()) == self."""
        return self.model_dump(mode="json")

    def to_display_dict(self) -> dict[str, Any]:
        """What the printed bill shows, for anyone who merely scanned the QR code: ID masked, no contact, no salt."""
        data = self.to_dict()
        data["payer"]["id_number"] = mask_id_number(self.payer.id_number) if self.payer.id_number else None
        data.pop("contact", None)  # the print has no phone or e-mail; a verifier learns none either
        data.pop("salt")
        return data


# ---------------------------------------------------------------- errors


_GENERIC_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of a bill",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
}


def error_path(loc: tuple[int | str, ...]) -> str:
    """("items", 2, "quantity") → "items[2].quantity"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def validation_error_from_pydantic(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> BillValidationError:
    """One BillValidationError listing every problem with a field path and our own wording."""
    errors: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc: tuple[int | str, ...] = prefix + tuple(err["loc"])
        ctx = err.get("ctx") or {}
        if err["type"] == "billchain":
            message = str(ctx["message"])
            if "field" in ctx:
                loc += (str(ctx["field"]),)
        else:
            message = _GENERIC_MESSAGES.get(err["type"], err["msg"])
        errors.append(FieldError(error_path(loc) or "bill", message))
    return BillValidationError(errors)
