"""Generated API tests: schemathesis against /api/v1/openapi.json, with real tokens for every role.

The real app on Anvil and each database; a few hundred cases here, at least 10,000 in `make bench`
(bench/schema_fuzz.py, the same runner). Every answer must match the document: status, content type
and body; no server error.
"""

from __future__ import annotations

from appkit import Org, bill_payload, wait_until
from flask import Flask

from app.extensions import db
from app.models import ApiToken, Bill, Organisation, OrgKind
from bench.schema_fuzz import fuzz


def _finance_token(app: Flask) -> str:
    with app.app_context():
        finance = db.session.query(Organisation).filter_by(kind=OrgKind.FINANCE).one()
        token, plain = ApiToken.issue(finance, "schema-test")
        db.session.add(token)
        db.session.commit()
    return plain


def test_openapi_document_resolves_every_reference(app: Flask) -> None:
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    text = str(spec)
    for name in ("BillIn", "ErrorOut", "BillDetailOut"):
        assert name in spec["components"]["schemas"]
    assert "#/components/schemas/BillIn" in text
    qr = spec["paths"]["/api/v1/bills/{bill_id}/qr.png"]["get"]["responses"]["200"]["content"]
    assert "image/png" in qr


def test_generated_requests_for_every_role_match_the_document(app: Flask, worker, issuer: Org, claimant: Org) -> None:
    answer = app.test_client().post("/api/v1/bills", json=[bill_payload() for _ in range(4)], headers=issuer.auth)
    assert answer.status_code == 201
    ids = [b["id"] for b in answer.get_json()]
    wait_until(app, lambda: all(db.session.get(Bill, i).status == "anchored" for i in ids))
    tokens = {"issuer": issuer.token, "claimant": claimant.token, "finance": _finance_token(app)}

    result = fuzz(app, tokens, ids, examples=12)

    assert result.cases >= 150
    assert result.server_errors == 0, result.examples
    assert result.failures == 0, result.examples
    assert {200, 401, 404} <= set(result.statuses)  # real bills were read, strangers refused
