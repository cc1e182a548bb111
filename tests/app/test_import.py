"""Bulk import from CSV/XLSX: all rows checked first, errors by row and column, issued in chunks."""

from __future__ import annotations

import csv
import io
import time
from types import SimpleNamespace
from typing import Any

from appkit import Org, wait_until
from flask import Flask
from openpyxl import Workbook
from sqlalchemy import func, select

from app.extensions import db
from app.models import Bill, ImportJob, Organisation
from app.services.imports import COLUMNS, create_job, read_rows, run_job, template_csv

ROW = {
    "payer_name": "张三",
    "payer_id_number": "11010519491231002X",
    "phone": "13800138000",
    "item1_code": "001",
    "item1_name": "学费",
    "item1_unit": "学期",
    "item1_unit_price_yuan": "2500.00",
    "handler": "李四",
    "checker": "王五",
}


def csv_bytes(rows: list[dict[str, str]], bom: bool = True) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


def bill_count(app: Flask, org: Org) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Bill.id)).where(Bill.organisation_id == org.id)) or 0


def import_file(app: Flask, org: Org, data: bytes, name: str = "bills.csv") -> SimpleNamespace:
    """Run an import here; the job's fields, read before its session closes."""
    with app.app_context():
        job = create_job(db.session.get(Organisation, org.id), name, "test")
        done: ImportJob = run_job(job.id, data)
        return SimpleNamespace(status=done.status, total=done.total, done=done.done, errors=done.errors)


def test_good_csv_issues_every_row(app, issuer):
    rows = [dict(ROW, payer_name=f"学生{i}") for i in range(25)] + [
        dict(
            ROW,
            item2_code="002",
            item2_name="住宿费",
            item2_unit="月",
            item2_quantity="1.5",
            item2_unit_price_yuan="300.01",
            total_yuan="2950.02",
        )
    ]

    job = import_file(app, issuer, csv_bytes(rows))

    assert job.status == "done", job.errors
    assert (job.total, job.done) == (26, 26)
    assert bill_count(app, issuer) == 26


def test_file_with_two_bad_rows_names_row_and_column_and_issues_nothing(app, issuer):
    rows = [dict(ROW) for _ in range(5)]
    rows[1]["item1_unit_price_yuan"] = "12.345"
    rows[3]["phone"] = "call me"

    job = import_file(app, issuer, csv_bytes(rows))

    assert job.status == "failed"
    assert job.errors[0].startswith("row 3, column item1_unit_price_yuan:")
    assert job.errors[1].startswith("row 5, column phone:")
    assert len(job.errors) == 2
    assert bill_count(app, issuer) == 0


def test_unknown_or_missing_columns_are_refused(app, issuer):
    data = "payer_name,amount\n张三,1\n".encode()

    job = import_file(app, issuer, data)

    assert job.status == "failed"
    assert "row 1, column amount: unknown column" in job.errors
    assert any("column handler is missing" in e for e in job.errors)


def test_xlsx_file_imports(app, issuer):
    book = Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    for i in range(3):
        row = dict(ROW, payer_name=f"学生{i}")
        sheet.append([2500 if c == "item1_unit_price_yuan" else row.get(c) for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)

    job = import_file(app, issuer, out.getvalue(), "bills.xlsx")

    assert job.status == "done", job.errors
    assert bill_count(app, issuer) == 3


def test_template_csv_imports_as_is(app, issuer):
    job = import_file(app, issuer, template_csv().encode())

    assert job.status == "done", job.errors
    assert read_rows(template_csv().encode(), "t.csv")[0][1]["payer_name"] == "张三"


def test_cli_import_issues_the_file(app, issuer, tmp_path):
    path = tmp_path / "bills.csv"
    path.write_bytes(csv_bytes([dict(ROW) for _ in range(3)], bom=False))
    with app.app_context():
        code = db.session.get(Organisation, issuer.id).credit_code

    result = app.test_cli_runner().invoke(args=["bills", "import", str(path), "--org", code])

    assert result.exit_code == 0, result.output
    assert "issued 3 bills" in result.output
    assert bill_count(app, issuer) == 3


def test_cli_import_with_errors_exits_nonzero_and_lists_them(app, issuer, tmp_path):
    path = tmp_path / "bills.csv"
    path.write_bytes(csv_bytes([dict(ROW, handler="")]))
    with app.app_context():
        code = db.session.get(Organisation, issuer.id).credit_code

    result = app.test_cli_runner().invoke(args=["bills", "import", str(path), "--org", code])

    assert result.exit_code != 0
    assert "row 2, column handler: required" in result.output


def login(client: Any, org: Org) -> None:
    response = client.post("/login", data={"username": org.username, "password": org.password})
    assert response.status_code == 302


def test_upload_page_runs_the_job_and_reports_progress(app, client, issuer):
    login(client, issuer)

    response = client.post(
        "/import",
        data={"file": (io.BytesIO(csv_bytes([dict(ROW)] * 4)), "bills.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    status_url = response.headers["Location"] + "/status.json"
    deadline = time.monotonic() + 20
    while (status := client.get(status_url).get_json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert status["status"] == "done"
    assert status["done"] == 4
    assert client.get("/import/template.csv").status_code == 200


def test_import_page_is_for_issuers_only(app, client, claimant):
    login(client, claimant)

    assert client.get("/import").status_code == 403


def test_imported_bills_are_anchored_by_the_worker(app, issuer, worker):
    import_file(app, issuer, csv_bytes([dict(ROW)] * 10))

    wait_until(
        app,
        lambda: (
            db.session.scalar(
                select(func.count(Bill.id)).where(Bill.organisation_id == issuer.id, Bill.status == "anchored")
            )
            == 10
        ),
    )
