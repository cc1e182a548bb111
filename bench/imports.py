"""Bulk import of a school's term fees: 10,000 CSV rows read, validated, issued and anchored.

In-process (the import runs as a background job inside the app), on a fresh Anvil, for SQLite and
PostgreSQL. The anchoring worker runs all along at its default 1 s interval, as in production.
"""

from __future__ import annotations

import csv
import io
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app import create_app
from app.chain import deploy
from bench.server import postgres_url
from dev import devchain
from dev.devchain import ANVIL_DEV_KEYS


def school_csv(rows: int) -> bytes:
    """A term-fee file as a school exports it (with the BOM Excel writes)."""
    from app.services.imports import COLUMNS, SAMPLE_ROW

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
    writer.writeheader()
    writer.writerows(dict(SAMPLE_ROW, payer_name=f"学生{i}") for i in range(rows))
    return ("\ufeff" + out.getvalue()).encode()


def measure(database: str, rows: int) -> dict[str, Any]:
    from app.bills.identifiers import credit_code_check_char
    from app.extensions import db
    from app.models import AnchorBatch, Bill, Organisation, OrgStatus
    from app.outbox.worker import AnchorWorker
    from app.services.imports import issue_rows, read_rows, validate_rows
    from app.services.organisations import onboard_organisation
    from app.services.provisioning import ensure_finance, upgrade_database

    tmp = Path(tempfile.mkdtemp(prefix="billchain-import-"))
    with devchain.start_anvil() as node:
        deployment = deploy(node.rpc_url, devchain.dev_account(0))
        url = f"sqlite:///{tmp / 'bench.sqlite'}" if database == "sqlite" else postgres_url()
        app = create_app(
            {
                "BILLCHAIN_DATABASE_URL": url,
                "BILLCHAIN_RPC_URL": node.rpc_url,
                "BILLCHAIN_REGISTRY": deployment.address,
                "BILLCHAIN_CHAIN_ID": deployment.chain_id,
                "BILLCHAIN_KEYSTORE_DIR": str(tmp / "keystore"),
                "BILLCHAIN_KEYSTORE_PASSWORD": "bench",
                "BILLCHAIN_KEYSTORE_KDF_N": 2**10,
                "BILLCHAIN_ADMIN_KEY": ANVIL_DEV_KEYS[0],
                "BILLCHAIN_SECRET_KEY": "bench",
            }
        )
        worker = AnchorWorker(app)
        app.extensions["billchain"].worker = worker
        with app.app_context():
            upgrade_database()
            ensure_finance(password="bench")
            first17 = "12110000400000001"
            code = first17 + credit_code_check_char(first17)
            org_id = onboard_organisation("北京市第一中学", code, "issuer", "bench").organisation.id
        worker.start()
        try:
            _wait(app, lambda: db.session.get(Organisation, org_id).status == OrgStatus.ACTIVE)
            data = school_csv(rows)
            with app.app_context():
                org = db.session.get(Organisation, org_id)
                t0 = time.perf_counter()
                payloads, errors = validate_rows(org, read_rows(data, "fees.csv"))
                t1 = time.perf_counter()
                assert not errors, errors[:3]
                issue_rows(org, payloads, "bench")
                t2 = time.perf_counter()
            _wait(
                app,
                lambda: db.session.scalar(select(func.count(Bill.id)).where(Bill.status == "anchored")) == rows,
                timeout=600,
            )
            t3 = time.perf_counter()
            with app.app_context():
                confirmed = select(AnchorBatch).where(AnchorBatch.status == "confirmed")
                sizes = [b.size for b in db.session.scalars(confirmed)]
                db.session.remove()
                db.engine.dispose()
        finally:
            worker.stop()
    return {
        "rows": rows,
        "parse_validate_s": t1 - t0,
        "issue_s": t2 - t1,
        "anchored_after_issue_s": t3 - t2,
        "rows_per_s": rows / (t3 - t0),
        "anchoring_transactions": len(sizes),
        "largest_root": max(sizes),
    }


def _wait(app: Any, condition: Any, timeout: float = 60.0) -> None:
    from app.extensions import db

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            db.session.expire_all()
            if condition():
                return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for the import benchmark")


def run(tiny: bool) -> dict[str, Any]:
    rows = 200 if tiny else 10_000
    return {database: measure(database, rows) for database in ("sqlite", "postgresql")}
