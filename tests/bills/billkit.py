"""Helpers for the bill core tests: valid bill data and constants (fixtures live in conftest.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from app.bills.identifiers import credit_code_check_char, resident_id_check_char
from app.bills.model import Bill
from app.bills.money import line_amount_fen

JS_DIR = Path(__file__).parent / "js"
REPO = Path(__file__).resolve().parents[2]

ISSUER_CREDIT_CODE = "91110000600037341" + credit_code_check_char("91110000600037341")
PAYER_ORG_CREDIT_CODE = "12110000400000001" + credit_code_check_char("12110000400000001")
PAYER_ID_NUMBER = "11010119900307123" + resident_id_check_char("11010119900307123")
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SALT = bytes(range(32))


def bill_data(**overrides: Any) -> dict[str, Any]:
    """Valid input for Bill.create (no salt, no check code); overrides replace top-level keys."""
    data: dict[str, Any] = {
        "bill_type": "school_fee",
        "bill_code": "11010125",
        "bill_number": "0000000001",
        "issued_at": "2025-03-01T08:30:00+08:00",
        "issuer": {"name": "北京市第一中学", "credit_code": ISSUER_CREDIT_CODE},
        "payer": {"kind": "person", "name": "张三", "id_number": PAYER_ID_NUMBER},
        "contact": {"phone": "13812345678", "email": "zhang.san@example.cn"},
        "items": [
            {
                "code": "301",
                "name": "学费",
                "unit": "学期",
                "quantity": "1",
                "unit_price_fen": 250000,
                "amount_fen": 250000,
            },
            {
                "code": "302",
                "name": "住宿费",
                "unit": "月",
                "quantity": "1.5",
                "unit_price_fen": 12345,
                "amount_fen": 18518,
            },
        ],
        "total_fen": 268518,
        "handler": "李四",
        "checker": "王五",
        "remarks": "2025 春季学期",
    }
    data.update(overrides)
    return data


def make_bill(**overrides: Any) -> Bill:
    return Bill.create(bill_data(**overrides), salt=SALT)


def many_items_bill(count: int, number: str = "0000000002") -> Bill:
    items: list[dict[str, Any]] = [
        {
            "code": f"I{i:03d}",
            "name": f"项目{i} 🧾 检查费",
            "unit": "次",
            "quantity": f"{i % 7 + 1}.{i % 3}",
            "unit_price_fen": 1000 + i,
            "amount_fen": 0,
        }
        for i in range(count)
    ]
    for item in items:
        item["amount_fen"] = line_amount_fen(Decimal(item["quantity"]), item["unit_price_fen"])
    return Bill.create(
        bill_data(
            bill_type="medical_inpatient",
            bill_number=number,
            items=items,
            total_fen=sum(i["amount_fen"] for i in items),
            remarks="住院 " * 100,
        ),
        salt=bytes(reversed(range(32))),
    )
