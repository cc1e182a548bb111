"""Admission requests (registry v2): signed by the key asking to be admitted, parsed with every error named."""

from __future__ import annotations

import pytest
from eth_account import Account

from app.bills.admission import AdmissionRequest, sign_admission
from app.bills.errors import BillValidationError
from app.bills.identifiers import credit_code_check_char

CODE = "12110000400000001" + credit_code_check_char("12110000400000001")
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _request() -> AdmissionRequest:
    return sign_admission(
        Account.from_key(b"\x01" * 32),
        chain_id=31337,
        registry=REGISTRY,
        name="北京市第一中学",
        credit_code=CODE,
        kind="issuer",
        deadline=2_000_000_000,
    )


def test_a_request_round_trips_through_its_file_and_names_its_signer() -> None:
    request = _request()
    again = AdmissionRequest.from_dict(request.to_dict())
    assert again == request
    assert again.signer() == Account.from_key(b"\x01" * 32).address


def test_a_request_whose_content_changed_is_refused_naming_the_signature() -> None:
    changed = {**_request().to_dict(), "name": "另一所学校"}
    with pytest.raises(BillValidationError) as refused:
        AdmissionRequest.from_dict(changed)
    assert [e.field for e in refused.value.errors] == ["signature"]


def test_every_bad_field_is_named_at_once() -> None:
    bad = {"format": "x", "account": "0x12", "registry": REGISTRY, "name": "", "credit_code": "123", "kind": "bank"}
    with pytest.raises(BillValidationError) as refused:
        AdmissionRequest.from_dict({**bad, "chain_id": 0, "deadline": "soon", "signature": "0xzz"})
    fields = {e.field for e in refused.value.errors}
    assert fields == {"format", "account", "name", "credit_code", "kind", "chain_id", "deadline", "signature"}
