"""Bill files: JSON round trip, the JSON Schema, form errors with paths, anchoring a batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from billkit import make_bill, many_items_bill
from eth_account.signers.local import LocalAccount

from app.bills import merkle
from app.bills.billfile import SCHEMA_PATH, Anchoring, BillFile, anchor_files, issue_bill_file
from app.bills.errors import BillValidationError
from app.bills.hashing import Domain, content_hash

ANCHORED_AT = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


@pytest.fixture
def pending(domain: Domain, issuer_account: LocalAccount) -> BillFile:
    return issue_bill_file(make_bill(), domain, issuer_account)


def anchored_batch(domain: Domain, account: LocalAccount) -> list[BillFile]:
    files = [issue_bill_file(make_bill(bill_number=f"{n:010d}"), domain, account) for n in range(1, 4)]
    files.append(issue_bill_file(many_items_bill(30), domain, account))
    tree = merkle.build([(f.bill_ref, f.content_hash) for f in files])
    return anchor_files(files, tree, tx_hash=b"\xab" * 32, block_number=42, anchored_at=ANCHORED_AT)


def test_issue_signs_and_records_hash_and_ref(pending: BillFile, domain: Domain, issuer_account: LocalAccount) -> None:
    assert pending.content_hash == content_hash(pending.bill, domain)
    assert pending.bill_ref == pending.bill.bill_ref
    assert pending.signature.signer == issuer_account.address
    assert pending.anchoring is None


def test_json_round_trip_keeps_everything(domain: Domain, issuer_account: LocalAccount) -> None:
    for f in anchored_batch(domain, issuer_account):
        text = f.to_json()
        assert "北京市第一中学" in text  # Chinese is written as is, not as \u escapes
        assert BillFile.from_json(text) == f
        assert BillFile.from_json(text.encode()).to_json() == text


def test_pending_and_anchored_files_match_the_schema(
    schema: dict[str, Any], pending: BillFile, domain: Domain, issuer_account: LocalAccount
) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    for f in [pending, *anchored_batch(domain, issuer_account)]:
        validator.validate(json.loads(f.to_json()))
    no_extras = issue_bill_file(make_bill(contact=None, remarks=None), domain, issuer_account)
    validator.validate(no_extras.to_dict())


def test_schema_refuses_what_the_parser_refuses(schema: dict[str, Any], pending: BillFile) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    broken = pending.to_dict()
    broken["bill"]["total_fen"] = 12.5
    broken["signature"]["value"] = "0x1234"
    assert len(list(validator.iter_errors(broken))) >= 2


def test_anchor_files_gives_each_file_a_verifying_proof(domain: Domain, issuer_account: LocalAccount) -> None:
    files = anchored_batch(domain, issuer_account)
    roots = {f.anchoring.root for f in files if f.anchoring}
    assert len(roots) == 1
    for f in files:
        assert f.anchoring is not None
        assert f.anchoring.chain_id == domain.chain_id and f.anchoring.registry == domain.verifying_contract
        assert merkle.verify_proof(f.anchoring.root, f.anchoring.proof, f.bill_ref, f.content_hash)


def test_with_anchoring_refuses_another_chain(pending: BillFile) -> None:
    other = Anchoring(1, pending.domain.verifying_contract, b"\x01" * 32, (), b"\x02" * 32, 1, ANCHORED_AT)
    with pytest.raises(ValueError):
        pending.with_anchoring(other)


def _errors(data: Any) -> dict[str, str]:
    with pytest.raises(BillValidationError) as info:
        BillFile.from_dict(data)
    return {e.field: e.message for e in info.value.errors}


def test_malformed_file_reports_every_problem_with_paths(domain: Domain, issuer_account: LocalAccount) -> None:
    data = anchored_batch(domain, issuer_account)[0].to_dict()
    data["version"] = "billchain/bill-file/v0"
    data["content_hash"] = "0x12"
    data["signature"]["signer"] = "0xnot"
    data["anchoring"]["proof"][0] = "zz"
    data["anchoring"]["chain_id"] = 1
    data["bill"]["items"][0]["quantity"] = 1.0
    data["surprise"] = True
    errors = _errors(data)
    assert set(errors) == {
        "version",
        "content_hash",
        "signature.signer",
        "anchoring.proof[0]",
        "anchoring.chain_id",
        "bill.items[0].quantity",
        "surprise",
    }


@pytest.mark.parametrize("data", [None, [], "text", 3])
def test_not_an_object_is_refused(data: Any) -> None:
    assert _errors(data) == {"$": "must be an object"}


def test_missing_parts_are_named(pending: BillFile) -> None:
    data = pending.to_dict()
    del data["signature"], data["bill"]
    assert {"signature", "bill"} <= set(_errors(data))


def test_not_json_is_refused() -> None:
    with pytest.raises(BillValidationError) as info:
        BillFile.from_json("{nope")
    assert info.value.errors[0].field == "$"
