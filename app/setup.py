"""Bringing a platform up: schema, registry deployment, the finance department, the demo organisations."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import inspect, select

from app.chain import Deployment, RegistryClient, deploy, load_deployment, save_deployment
from app.extensions import db
from app.models import Organisation, OrgKind, OrgStatus, User, utcnow
from app.platform import platform

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade_database() -> None:
    """Apply the Alembic migrations (creates the schema on a new database)."""
    from flask_migrate import upgrade

    upgrade(directory=str(MIGRATIONS))


def database_is_new() -> bool:
    return not inspect(db.engine).has_table("organisations") or db.session.scalar(select(Organisation.id)) is None


def ensure_registry(app: Flask) -> Deployment:
    """The recorded registry if its code is on the chain; otherwise deploy one and record it."""
    config = app.config
    rpc_url = config["BILLCHAIN_RPC_URL"]
    timeout = config["BILLCHAIN_CHAIN_TIMEOUT"]
    chain_id = RegistryClient.probe_chain_id(rpc_url, timeout=timeout)
    deployments = Path(config["BILLCHAIN_DEPLOYMENTS_DIR"])
    recorded = load_deployment(deployments, chain_id)
    if recorded is not None:
        client = RegistryClient(rpc_url, recorded.address, timeout=timeout, artifact_path=config["BILLCHAIN_ARTIFACT"])
        if client.has_code():
            return recorded
    admin = platform().admin_account_from_env()
    if admin is None:
        raise RuntimeError("BILLCHAIN_ADMIN_KEY is needed to deploy the registry")
    deployment = deploy(rpc_url, admin, artifact_path=config["BILLCHAIN_ARTIFACT"], timeout=max(timeout, 30))
    save_deployment(deployments, deployment)
    platform().reset_client()
    return deployment


def ensure_finance(
    name: str = "财政局 Finance Department",
    credit_code: str = "11110000000000001R",
    username: str = "finance",
    password: str | None = None,
) -> tuple[str, str] | None:
    """Record the finance department (address of BILLCHAIN_ADMIN_KEY) and its login, once."""
    if db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.FINANCE)):
        return None
    admin = platform().admin_account_from_env()
    if admin is None:
        raise RuntimeError("BILLCHAIN_ADMIN_KEY (the registry admin's key) is not set")
    org = Organisation(
        name=name,
        credit_code=credit_code,
        kind=OrgKind.FINANCE,
        address=admin.address,
        status=OrgStatus.ACTIVE,
        registered_at=utcnow(),
    )
    password = password or secrets.token_urlsafe(9)
    user = User(username=username, organisation=org)
    user.set_password(password)
    db.session.add_all([org, user])
    db.session.commit()
    return username, password


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
    from app.services import onboard_organisation

    logins: list[DemoLogin] = []
    for name, code, kind, username in DEMO_ORGS:
        password = secrets.token_urlsafe(9)
        done = onboard_organisation(name, code, kind, actor="demo", username=username, password=password)
        logins.append(DemoLogin(name, kind, username, password, done.token))
    return logins


def issue_demo_bills(timeout: float = 30.0) -> list[str]:
    """Two school-fee bills from the demo school, once it is active on chain; their verify URLs."""
    import time

    from app.services import bill_verify_url, issue_bills

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        school = db.session.scalar(select(Organisation).where(Organisation.credit_code == DEMO_ORGS[0][1]))
        if school is not None and school.status == OrgStatus.ACTIVE:
            bills = issue_bills(school, [sample_bill_payload(), sample_bill_payload()], actor="demo")
            return [bill_verify_url(b) for b in bills]
        time.sleep(0.2)
    return []


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
