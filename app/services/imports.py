"""Bulk import of bills from a spreadsheet (CSV or XLSX), for schools that bill a whole year group at once.

Layout — one row per bill, the first row holds the column names (any order; unknown columns are
refused so a typo is not silently dropped). Row numbers in error messages are spreadsheet row
numbers: the header is row 1, the first bill is row 2. Amounts are in yuan with at most two
decimals ("2500", "2,500.00"); they are converted to integer fen exactly.

    bill_type             optional, default school_fee (see BillType)
    payer_kind            optional, person (default) or organisation
    payer_name            required
    payer_id_number       optional (citizen ID, or credit code for an organisation); finds the wallet
    phone, email          optional; at least one lets the payer open their wallet
    item1_code, item1_name, item1_unit, item1_unit_price_yuan   required
    item1_quantity        optional, default 1
    item1_amount_yuan     optional, default round_half_up(quantity × unit price)
    item2_...             the same columns for an optional second line item
    total_yuan            optional, default the sum of the items (if given, must equal it)
    handler, checker      required (收款人, 复核人)
    remarks               optional

Every row is validated before anything is issued; any error stops the import with a list of
"row R, column C: message". Then bills are issued through `issue_bills` in chunks of at most
BILLCHAIN_MAX_BULK (1000): each chunk is one database transaction, and the anchoring worker
puts everything issued within one interval under one root, so 10,000 rows need a few transactions.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import threading
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from openpyxl import load_workbook

from app.bills.errors import BillValidationError
from app.bills.model import Bill as DomainBill
from app.bills.model import plain_quantity
from app.bills.money import line_amount_fen, parse_yuan
from app.extensions import db
from app.models import ImportJob, ImportStatus, Organisation, audit, utcnow
from app.services.errors import ServiceError
from app.services.issuing import issue_bills, org_bill_code

log = logging.getLogger("billchain.imports")

ITEM_FIELDS = ("code", "name", "unit", "quantity", "unit_price_yuan", "amount_yuan")
COLUMNS: tuple[str, ...] = (
    "bill_type",
    "payer_kind",
    "payer_name",
    "payer_id_number",
    "phone",
    "email",
    *(f"item1_{f}" for f in ITEM_FIELDS),
    *(f"item2_{f}" for f in ITEM_FIELDS),
    "total_yuan",
    "handler",
    "checker",
    "remarks",
)
REQUIRED = ("payer_name", "item1_code", "item1_name", "item1_unit", "item1_unit_price_yuan", "handler", "checker")
MAX_ROWS = 10_000
"""Default most bills in one file (BILLCHAIN_IMPORT_MAX_ROWS); more rows are refused, not read."""
MAX_COLUMNS = len(COLUMNS) + 8
"""Columns read per row: every known column plus a few blank or misplaced ones, never 16,384."""
MAX_XLSX_UNPACKED = 200 * 2**20
"""Most bytes an XLSX may unpack to (10,000 rows of 32 columns take about 30 MB of sheet XML)."""
MAX_AMOUNT_TEXT = 24
"""Longest amount text read: the largest amount (MAX_FEN) with grouping commas and spaces fits."""
MAX_ERRORS = 200  # enough to fix a file; a wholly wrong file need not list 10,000 lines

# A domain field path → the column that holds it, so errors point at the spreadsheet cell.
_FIELD_COLUMNS = {
    "bill_type": "bill_type",
    "payer.kind": "payer_kind",
    "payer.name": "payer_name",
    "payer.id_number": "payer_id_number",
    "payer": "payer_id_number",
    "contact.phone": "phone",
    "contact.email": "email",
    "contact": "phone",
    "total_fen": "total_yuan",
    "handler": "handler",
    "checker": "checker",
    "remarks": "remarks",
}


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


class ImportFileError(Exception):
    """The file as a whole cannot be read (format, header); `errors` lists what to fix."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


# ---------------------------------------------------------------- reading


def read_rows(data: bytes, filename: str, max_rows: int = MAX_ROWS) -> list[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, {column: text}) for every non-empty row of a CSV or XLSX file.

    At most ``max_rows`` bills (plus the header) and MAX_COLUMNS columns are read, whatever the file
    declares: an XLSX dimension tag of A1:XFD1048576 must not make us build 16k × 10^6 cells.
    """
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        table = _xlsx_table(data, max_rows + 2)
    else:
        try:
            text = data.decode("utf-8-sig")  # Excel writes a BOM in "CSV UTF-8"
        except UnicodeDecodeError as exc:
            raise ImportFileError([f"the file is not UTF-8 text (save as 'CSV UTF-8'): {exc.reason}"]) from exc
        try:
            reader = csv.reader(io.StringIO(text))
            table = [row[:MAX_COLUMNS] for row in itertools.islice(reader, max_rows + 2)]
        except csv.Error as exc:
            raise ImportFileError([f"not a readable CSV file: {exc}"]) from exc
    if not table:
        raise ImportFileError(["the file is empty"])
    header = [h.strip().lower() for h in table[0]]
    unknown = [h for h in header if h and h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    problems = [f"row 1, column {h[:40]}: unknown column" for h in unknown]
    problems += [f"row 1: column {c} is missing" for c in missing]
    if problems:
        raise ImportFileError(problems)
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        values = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}
        if any(values.values()):
            rows.append((number, values))
    if len(rows) > max_rows:
        raise ImportFileError([f"at most {max_rows} bills in one file (BILLCHAIN_IMPORT_MAX_ROWS): split it"])
    return rows


def _xlsx_table(data: bytes, max_row: int) -> list[list[str]]:
    """The first sheet's first ``max_row`` rows and MAX_COLUMNS columns, never trusting its dimension tag."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFileError([f"not a readable XLSX file: {exc}"]) from exc
    if unpacked > MAX_XLSX_UNPACKED:
        raise ImportFileError(
            [f"the XLSX file unpacks to {unpacked // 2**20} MB; at most {MAX_XLSX_UNPACKED // 2**20} MB is read"]
        )
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(min_row=1, max_row=max_row, min_col=1, max_col=MAX_COLUMNS, values_only=True)
        table = [[_cell_text(v) for v in row] for row in rows]
        book.close()
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ImportFileError([f"not a readable XLSX file: {exc}"]) from exc
    return table


def _cell_text(value: Any) -> str:
    """A cell as text: Excel stores 2500 as 2500.0 and a phone number as a number."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------- validation


def row_payload(number: int, row: dict[str, str]) -> tuple[dict[str, Any], list[RowError]]:
    """The API payload of one row, and the cell errors found turning it into one."""
    errors: list[RowError] = []

    def yuan(column: str) -> int | None:
        text = row.get(column, "")
        if not text:
            return None
        if len(text) > MAX_AMOUNT_TEXT:  # 100 亿元 is "10,000,000,000.00"; a 100,000-digit cell costs 0.3 s
            errors.append(RowError(number, column, f"not an amount in yuan: {len(text)} characters"))
            return None
        try:
            return parse_yuan(text)
        except ValueError as exc:
            errors.append(RowError(number, column, str(exc)))
            return None

    for column in REQUIRED:
        if not row.get(column):
            errors.append(RowError(number, column, "required"))
    items: list[dict[str, Any]] = []
    for n in (1, 2):
        cols = {f: f"item{n}_{f}" for f in ITEM_FIELDS}
        if n == 2 and not any(row.get(c) for c in cols.values()):
            continue
        for f in ("code", "name", "unit", "unit_price_yuan"):
            if n == 2 and not row.get(cols[f]):
                errors.append(RowError(number, cols[f], "required when a second item is given"))
        quantity_text = row.get(cols["quantity"]) or "1"
        quantity = plain_quantity(quantity_text)  # a pattern first: Decimal("1E+999000") × price takes minutes
        if quantity is None:
            errors.append(
                RowError(number, cols["quantity"], f"not a plain decimal such as 2 or 1.5: {quantity_text[:40]!r}")
            )
        price = yuan(cols["unit_price_yuan"])
        amount = yuan(cols["amount_yuan"])
        if amount is None and price is not None and quantity is not None:
            amount = line_amount_fen(quantity, price)
        items.append(
            {
                "code": row.get(cols["code"], ""),
                "name": row.get(cols["name"], ""),
                "unit": row.get(cols["unit"], ""),
                "quantity": quantity_text,
                "unit_price_fen": price if price is not None else 0,
                "amount_fen": amount if amount is not None else 0,
            }
        )
    total = yuan("total_yuan")
    if total is None:
        total = sum(i["amount_fen"] for i in items)
    payload: dict[str, Any] = {
        "bill_type": row.get("bill_type") or "school_fee",
        "payer": {
            "kind": row.get("payer_kind") or "person",
            "name": row.get("payer_name", ""),
            "id_number": row.get("payer_id_number") or None,
        },
        "items": items,
        "total_fen": total,
        "handler": row.get("handler", ""),
        "checker": row.get("checker", ""),
        "remarks": row.get("remarks") or None,
    }
    contact = {k: row[k] for k in ("phone", "email") if row.get(k)}
    if contact:
        payload["contact"] = contact
    return payload, errors


def validate_rows(
    org: Organisation, rows: Iterable[tuple[int, dict[str, str]]]
) -> tuple[list[dict[str, Any]], list[RowError]]:
    """Every row checked by the domain's own rules (a dry run of issuing), errors mapped to cells."""
    payloads: list[dict[str, Any]] = []
    errors: list[RowError] = []
    probe = {
        "issuer": {"name": org.name, "credit_code": org.credit_code},
        "bill_code": org_bill_code(org),
        "bill_number": "0000000001",
        "issued_at": utcnow().isoformat(),
    }
    for number, row in rows:
        payload, cell_errors = row_payload(number, row)
        payloads.append(payload)
        if cell_errors:
            errors.extend(cell_errors)
            continue
        try:
            DomainBill.create({**payload, **probe})
        except BillValidationError as exc:
            errors.extend(RowError(number, _column_of(e.field), e.message) for e in exc.errors)
    return payloads, errors


def _column_of(field: str) -> str:
    if field.startswith("items["):
        index = int(field[6 : field.index("]")])
        rest = field[field.index("]") + 2 :]
        rest = {"unit_price_fen": "unit_price_yuan", "amount_fen": "amount_yuan"}.get(rest, rest)
        return f"item{index + 1}_{rest}" if rest else f"item{index + 1}_code"
    return _FIELD_COLUMNS.get(field, field)


# ---------------------------------------------------------------- issuing


def issue_rows(
    org: Organisation,
    payloads: list[dict[str, Any]],
    actor: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Issue validated payloads in chunks through `issue_bills`; returns how many were issued."""
    chunk = min(1000, int(current_app.config["BILLCHAIN_MAX_BULK"]))
    done = 0
    for start in range(0, len(payloads), chunk):
        part = payloads[start : start + chunk]
        last = start + chunk >= len(payloads)
        issue_bills(org, part, actor, wake=last)  # the returned rows are dropped: the session holds them weakly
        done += len(part)
        if progress is not None:
            progress(done)
    return done


def run_job(job_id: int, data: bytes, progress: Callable[[int, int], None] | None = None) -> ImportJob:
    """Read, validate all, then issue: the job row tells a poller where it is; errors leave nothing issued."""
    job = db.session.get(ImportJob, job_id)
    assert job is not None
    job.status = ImportStatus.RUNNING
    db.session.commit()
    org = db.session.get(Organisation, job.organisation_id)
    assert org is not None
    try:
        rows = read_rows(data, job.filename, int(current_app.config["BILLCHAIN_IMPORT_MAX_ROWS"]))
        job.total = len(rows)
        db.session.commit()
        payloads, errors = validate_rows(org, rows)
        if errors:
            return _finish(job_id, ImportStatus.FAILED, [str(e) for e in errors[:MAX_ERRORS]])
        if not payloads:
            return _finish(job_id, ImportStatus.FAILED, ["the file has no bills"])

        def step(done: int) -> None:
            db.session.query(ImportJob).filter_by(id=job_id).update({"done": done})
            db.session.commit()
            if progress is not None:
                progress(done, len(payloads))

        issue_rows(org, payloads, job.actor, step)
    except ImportFileError as exc:
        return _finish(job_id, ImportStatus.FAILED, exc.errors)
    except (ServiceError, BillValidationError) as exc:
        db.session.rollback()
        return _finish(job_id, ImportStatus.FAILED, [getattr(exc, "message", str(exc))])
    return _finish(job_id, ImportStatus.DONE, None)


def _finish(job_id: int, status: str, errors: list[str] | None) -> ImportJob:
    job = db.session.get(ImportJob, job_id)
    assert job is not None
    job.status = status
    job.errors = errors
    job.finished_at = utcnow()
    audit(job.actor, "bills.imported", str(job.id), job.organisation_id, status=status, done=job.done)
    db.session.commit()
    return job


def create_job(org: Organisation, filename: str, actor: str) -> ImportJob:
    job = ImportJob(organisation_id=org.id, filename=filename[:200], actor=actor, status=ImportStatus.QUEUED)
    db.session.add(job)
    db.session.commit()
    return job


def start_job(app: Flask, job_id: int, data: bytes) -> threading.Thread:
    """Run the import in a background thread with its own app context (and database session)."""

    def target() -> None:
        with app.app_context():
            try:
                run_job(job_id, data)
            except Exception:
                log.exception("import job %s crashed", job_id)
                db.session.rollback()
                _finish(job_id, ImportStatus.FAILED, ["internal error; see the server log"])

    thread = threading.Thread(target=target, name=f"import-{job_id}", daemon=True)
    thread.start()
    return thread


SAMPLE_ROW: dict[str, str] = {
    "bill_type": "school_fee",
    "payer_kind": "person",
    "payer_name": "张三",
    "payer_id_number": "11010519491231002X",
    "phone": "13800138000",
    "item1_code": "001",
    "item1_name": "学费",
    "item1_unit": "学期",
    "item1_quantity": "1",
    "item1_unit_price_yuan": "2500.00",
    "item2_code": "002",
    "item2_name": "住宿费",
    "item2_unit": "月",
    "item2_quantity": "1.5",
    "item2_unit_price_yuan": "300.01",
    "handler": "李四",
    "checker": "王五",
    "remarks": "2026 秋季学期",
}
"""The template file's example row: a school fee with two items (the benchmark imports it too)."""


def template_csv() -> str:
    """A header and one sample row, so schools start from a file that imports as is."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerow([SAMPLE_ROW.get(c, "") for c in COLUMNS])
    return "\ufeff" + out.getvalue()  # BOM: Excel opens it as UTF-8
