"""Demo data for `make run`, the benchmarks and the tests: a school, a hospital, an insurer, sample bills, a claim."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Bill, BillStatus, Organisation, OrgKind, OrgStatus
from app.runtime import runtime
from app.services import reimbursement
from app.services.billfiles import bill_verify_url
from app.services.issuing import issue_bills
from app.services.organisations import onboard_organisation


@dataclass
class DemoLogin:
    organisation: str
    kind: str
    username: str
    password: str
    token: str


DEMO_ORGS = (
    ("北京市第一中学 No.1 Middle School", "121100004000000014", OrgKind.ISSUER, "school"),
    ("北京市第二医院 No.2 Hospital", "12110000400000003A", OrgKind.ISSUER, "hospital"),
    ("示例人寿保险 Demo Insurance", "911100001000000020", OrgKind.CLAIMANT, "insurer"),
)


def seed_demo() -> list[DemoLogin]:
    """A school, a hospital and an insurer with logins and API tokens (only on a new database)."""
    logins: list[DemoLogin] = []
    for name, code, kind, username in DEMO_ORGS:
        password = secrets.token_urlsafe(9)
        done = onboard_organisation(name, code, kind, actor="demo", username=username, password=password)
        logins.append(DemoLogin(name, kind, username, password, done.token))
    return logins


def issue_demo_bills(timeout: float = 30.0) -> list[str]:
    """Two school-fee bills from the demo school, once it is active on chain; their verify URLs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        school = db.session.scalar(select(Organisation).where(Organisation.credit_code == DEMO_ORGS[0][1]))
        if school is not None and school.status == OrgStatus.ACTIVE:
            bills = issue_bills(school, [sample_bill_payload(), sample_bill_payload()], actor="demo")
            return [bill_verify_url(b) for b in bills]
        time.sleep(0.2)
    return []


def claim_demo_bill(timeout: float = 30.0) -> str | None:
    """The demo insurer reimburses the demo school's first bill once it is anchored: 100 yuan of it on
    registry v2 (the rest stays claimable: a split claim), the whole bill on v1. What it did, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        school = db.session.scalar(select(Organisation).where(Organisation.credit_code == DEMO_ORGS[0][1]))
        insurer = db.session.scalar(select(Organisation).where(Organisation.credit_code == DEMO_ORGS[2][1]))
        bill = (
            db.session.scalar(select(Bill).where(Bill.organisation_id == school.id).order_by(Bill.created_at, Bill.id))
            if school is not None
            else None
        )
        ready = insurer is not None and insurer.status == OrgStatus.ACTIVE
        if ready and bill is not None and bill.status == BillStatus.ANCHORED:
            assert insurer is not None
            part = 10_000 if runtime().registry_version == 2 else None
            reimbursement.claim(bill, insurer, "DEMO-CLAIM-1", actor="demo", amount_fen=part)
            amount = f"{part / 100:.2f} yuan of" if part else "all of"
            return f"{insurer.name} claims {amount} {bill_verify_url(bill)}"
        time.sleep(0.2)
    return None


def sample_bill_payload(**overrides: Any) -> dict[str, Any]:
    """A school-fee bill with two line items, as a school's system sends it to the API.

    The demo, the benchmarks and the tests all issue this one, so they exercise the same shape.
    """
    payload: dict[str, Any] = {
        "bill_type": "school_fee",
        "payer": {"kind": "person", "name": "张三", "id_number": "11010519491231002X"},
        "contact": {"phone": "13800138000"},
        "items": [
            {
                "code": "001",
                "name": "学费",
                "unit": "学期",
                "quantity": "1",
                "unit_price_fen": 250000,
                "amount_fen": 250000,
            },
            # 1.5 × 30,001 fen = 45,001.5 → 45,002: the half-up rounding rule at work.
            {
                "code": "002",
                "name": "住宿费",
                "unit": "月",
                "quantity": "1.5",
                "unit_price_fen": 30001,
                "amount_fen": 45002,
            },
        ],
        "total_fen": 295002,
        "handler": "李四",
        "checker": "王五",
        "remarks": "2026 秋季学期",
    }
    payload.update(overrides)
    return payload
