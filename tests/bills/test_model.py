"""The bill model: every rule, its error path and wording, round trips, derived values, masking."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from billkit import (
    ISSUER_CREDIT_CODE,
    PAYER_ID_NUMBER,
    PAYER_ORG_CREDIT_CODE,
    SALT,
    bill_data,
    make_bill,
    many_items_bill,
)
from eth_hash.auto import keccak

from app.bills.errors import BillValidationError
from app.bills.model import Bill, derive_bill_ref, derive_check_code
from app.bills.privacy import mask_email, mask_id_number, mask_name, mask_phone


def errors_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(BillValidationError) as info:
        Bill.create(data, salt=SALT)
    return {e.field: e.message for e in info.value.errors}


def with_item(index: int, **changes: Any) -> dict[str, Any]:
    data = bill_data()
    data["items"] = copy.deepcopy(data["items"])
    data["items"][index].update(changes)
    return data


def test_create_derives_check_code_and_normalises_time_to_utc() -> None:
    bill = make_bill()
    assert bill.issued_at == datetime(2025, 3, 1, 0, 30, tzinfo=UTC)
    assert bill.check_code == derive_check_code(
        "11010125", "0000000001", ISSUER_CREDIT_CODE, bill.issued_at, 268518, SALT
    )
    assert len(bill.check_code) == 6 and bill.check_code.isdigit()


def test_round_trip_is_exact_and_stable() -> None:
    bill = many_items_bill(50)
    data = bill.to_dict()
    assert Bill.from_dict(data) == bill
    assert Bill.from_dict(data).to_dict() == data
    assert list(data) == [
        "bill_type", "bill_code", "bill_number", "check_code", "issued_at", "issuer", "payer", "contact",
        "items", "total_fen", "currency", "handler", "checker", "remarks", "salt",
    ]  # fmt: skip


def test_create_draws_a_fresh_salt_each_time() -> None:
    a, b = Bill.create(bill_data()), Bill.create(bill_data())
    assert a.salt != b.salt and len(a.salt) == 32


def test_bill_ref_is_keccak_of_prefixed_code_and_number() -> None:
    expected = keccak(b"billchain:bill-ref:v1:11010125:0000000001")
    assert make_bill().bill_ref == expected == derive_bill_ref("11010125", "0000000001")


def test_chinese_and_emoji_text_is_kept_exactly() -> None:
    bill = make_bill(remarks="已缴费 ✅ 🧾 谢谢", handler="欧阳小明")
    assert Bill.from_dict(bill.to_dict()).remarks == "已缴费 ✅ 🧾 谢谢"
    assert bill.handler == "欧阳小明"


def test_text_is_nfc_normalised_and_stripped() -> None:
    bill = make_bill(handler="  Jose\u0301  ")
    assert bill.handler == "Jos\u00e9"


def test_empty_optional_text_means_absent() -> None:
    assert make_bill(remarks="   ").remarks is None
    assert make_bill(contact=None).contact is None


def test_from_dict_rejects_a_check_code_that_does_not_match() -> None:
    data = make_bill().to_dict()
    data["check_code"] = f"{(int(data['check_code']) + 1) % 10**6:06d}"
    with pytest.raises(BillValidationError) as info:
        Bill.from_dict(data)
    assert info.value.errors[0].field == "check_code"


@pytest.mark.parametrize(
    ("field", "value"),
    [("bill_number", "0000000002"), ("bill_code", "11010126"), ("issued_at", "2025-03-01T00:30:01Z")],
)
def test_check_code_catches_a_typo_in_the_typed_fields(field: str, value: str) -> None:
    data = make_bill().to_dict()
    data[field] = value
    with pytest.raises(BillValidationError) as info:
        Bill.from_dict(data)
    assert [e.field for e in info.value.errors] == ["check_code"]


def test_create_refuses_salt_or_check_code_from_the_caller() -> None:
    with pytest.raises(BillValidationError) as info:
        Bill.create({**bill_data(), "check_code": "123456"})
    assert info.value.errors[0].field == "check_code"


def test_all_errors_are_reported_at_once_with_paths() -> None:
    data = bill_data(bill_code="1234", bill_number=12, handler="", extra="x")
    data["items"] = [dict(data["items"][0], quantity=1.5), dict(data["items"][1], unit_price_fen=-5)]
    errors = errors_of(data)
    assert set(errors) == {
        "bill_code",
        "bill_number",
        "handler",
        "extra",
        "items[0].quantity",
        "items[1].unit_price_fen",
    }


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (bill_data(bill_code="1101012"), "bill_code", "exactly 8 digits"),
        (bill_data(bill_code="110101255"), "bill_code", "exactly 8 digits"),
        (bill_data(bill_code="1101012A"), "bill_code", "exactly 8 digits"),
        (bill_data(bill_code="１１０１０１２５"), "bill_code", "digits 0-9"),
        (bill_data(bill_code=11010125), "bill_code", "leading zeros"),
        (bill_data(bill_number="123456789"), "bill_number", "exactly 10 digits"),
        (bill_data(bill_type="tuition"), "bill_type", "school_fee"),
        (bill_data(issued_at="2025-03-01T08:30:00"), "issued_at", "no time zone"),
        (bill_data(issued_at=datetime(2025, 3, 1, 8, 30)), "issued_at", "no time zone"),
        (bill_data(issued_at="yesterday"), "issued_at", "ISO 8601"),
        (bill_data(issued_at="1999-12-31T23:59:59Z"), "issued_at", "between 2000"),
        (bill_data(issuer={"name": "x", "credit_code": ISSUER_CREDIT_CODE[:-1] + "0"}), "issuer.credit_code", "check"),
        (bill_data(issuer={"name": "x", "credit_code": "91110000600037341"}), "issuer.credit_code", "18"),
        (bill_data(issuer={"name": "x", "credit_code": "9111000060003734IO"}), "issuer.credit_code", "'I'"),
        (bill_data(issuer={"name": "x"}), "issuer.credit_code", "required"),
        (
            bill_data(payer={"kind": "person", "name": "张三", "id_number": PAYER_ID_NUMBER[:-1] + "0"}),
            "payer.id_number",
            "check digit",
        ),
        (bill_data(payer={"kind": "person", "name": "张三", "id_number": "1101011990"}), "payer.id_number", "18"),
        (bill_data(payer={"kind": "person", "name": "张三", "id_number": "E1234!"}), "payer.id_number", "letters"),
        (
            bill_data(payer={"kind": "organisation", "name": "某公司", "id_number": "E12345678"}),
            "payer.id_number",
            "credit code",
        ),
        (bill_data(payer={"kind": "robot", "name": "x"}), "payer.kind", "person"),
        (bill_data(contact={"phone": "12"}), "contact.phone", "5-20 digits"),
        (bill_data(contact={"email": "not-an-email"}), "contact.email", "e-mail"),
        (bill_data(contact={}), "contact", "phone number or an e-mail"),
        (bill_data(items=[]), "items", "1 to 200"),
        (bill_data(items="学费"), "items", "list"),
        (bill_data(total_fen=268519), "total_fen", "sum of the line amounts, 268518"),
        (bill_data(total_fen=2685.18), "total_fen", "not float"),
        (bill_data(total_fen=True), "total_fen", "not bool"),
        (bill_data(total_fen=-1), "total_fen", "negative"),
        (bill_data(total_fen=10**12 + 1), "total_fen", "at most"),
        (bill_data(total_fen="268518"), "total_fen", "not str"),
        (bill_data(currency="USD"), "currency", "CNY"),
        (bill_data(handler="x" * 51), "handler", "at most 50 characters (got 51)"),
        (bill_data(checker="好" * 51), "checker", "at most 50"),
        (bill_data(remarks="备注" * 251), "remarks", "at most 500"),
        (bill_data(handler="李\u202e四"), "handler", "bidirectional"),
        (bill_data(handler="李\x00四"), "handler", "control character"),
        (bill_data(remarks="bad \ud800 surrogate"), "remarks", "lone surrogates"),
        (bill_data(handler=None), "handler", "must be text"),
    ],
)
def test_rule_errors_name_the_field(data: dict[str, Any], field: str, fragment: str) -> None:
    errors = errors_of(data)
    assert field in errors, errors
    assert fragment in errors[field]


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"quantity": 1.5}, "items[1].quantity", "not a float"),
        ({"quantity": "1.5e0"}, "items[1].quantity", "decimal"),
        ({"quantity": "0"}, "items[1].quantity", "greater than 0"),
        ({"quantity": "-1"}, "items[1].quantity", "decimal"),
        ({"quantity": "1.0000001"}, "items[1].quantity", "decimal"),
        ({"quantity": "10000000000"}, "items[1].quantity", "at most"),
        ({"quantity": True}, "items[1].quantity", "bool"),
        ({"amount_fen": 18517}, "items[1].amount_fen", "round_half_up(quantity × unit_price_fen) = 18518"),
        ({"unit_price_fen": 10**13}, "items[1].unit_price_fen", "at most"),
        ({"code": "30 1"}, "items[1].code", "letters, digits"),
        ({"unit": ""}, "items[1].unit", "empty"),
        ({"name": "药" * 101}, "items[1].name", "at most 100"),
    ],
)
def test_item_errors_carry_the_item_index(changes: dict[str, Any], field: str, fragment: str) -> None:
    errors = errors_of(with_item(1, **changes))
    assert field in errors, errors
    assert fragment in errors[field]


def test_quantity_accepts_decimal_text_and_keeps_canonical_form() -> None:
    bill = Bill.create(with_item(1, quantity="1.500000"), salt=SALT)
    assert bill.to_dict()["items"][1]["quantity"] == "1.5"
    assert Bill.create(with_item(0, quantity=1), salt=SALT).to_dict()["items"][0]["quantity"] == "1"


def test_aware_times_in_any_zone_are_the_same_bill() -> None:
    east8 = make_bill(issued_at=datetime(2025, 3, 1, 8, 30, tzinfo=timezone(timedelta(hours=8))))
    assert east8 == make_bill(issued_at="2025-03-01T00:30:00Z")


def test_organisation_payer_with_credit_code() -> None:
    bill = make_bill(payer={"kind": "organisation", "name": "北京某某科技有限公司", "id_number": PAYER_ORG_CREDIT_CODE})
    assert bill.payer.id_number == PAYER_ORG_CREDIT_CODE


def test_passport_number_is_accepted_for_a_person() -> None:
    assert make_bill(payer={"kind": "person", "name": "John Smith", "id_number": "e1234567"}).payer.id_number == (
        "E1234567"
    )


def test_very_many_items_are_refused() -> None:
    data = bill_data(items=[bill_data()["items"][0]] * 201, total_fen=250000 * 201)
    assert "items" in errors_of(data)


def test_display_dict_masks_the_id_and_drops_contact_and_salt() -> None:
    shown = make_bill().to_display_dict()
    assert shown["payer"]["id_number"] == "1101**********" + PAYER_ID_NUMBER[-4:]
    assert "contact" not in shown  # the printed bill shows no phone or e-mail (issue 13)
    assert "salt" not in shown


@pytest.mark.parametrize(
    ("function", "value", "masked"),
    [
        (mask_id_number, "110101199003071234", "1101**********1234"),
        (mask_id_number, "E1234567", "E******7"),
        (mask_id_number, "AB", "**"),
        (mask_phone, "13812345678", "138****5678"),
        (mask_email, "zhang.san@example.cn", "z***@example.cn"),
        (mask_name, "张三", "张*"),
        (mask_name, "欧阳小明", "欧**明"),
    ],
)
def test_masks(function: Any, value: str, masked: str) -> None:
    assert function(value) == masked
