"""The app on registry v2, on a real Anvil and both databases: admission, anchoring with totals, review
locks, split reimbursement, paper conversion, void with replacement. The chain decides every one of
them; this database only copies its events (app/outbox/projection.py)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.bills.chainview_v2 import ChainStatusV2
from app.bills.hexstr import from_hex
from app.chain import Deployment
from app.extensions import db
from app.models import Bill, Organisation


@pytest.fixture
def deployment(deployment_v2: Deployment) -> Deployment:
    """Every app in this module runs on registry v2."""
    return deployment_v2


def issue(client: FlaskClient, issuer: Org, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/bills", json=bill_payload(**overrides), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def anchored(app: Flask, client: FlaskClient, issuer: Org, **overrides: Any) -> dict[str, Any]:
    created = issue(client, issuer, **overrides)
    wait_until(app, lambda: db.session.get(Bill, created["id"]).status == "anchored")
    return created


def chain_record(app: Flask, bill_id: str) -> Any:
    """The registry's own answer for the bill (verify() on chain), not this database's."""
    with app.app_context():
        bill = db.session.get(Bill, bill_id)
        org = db.session.get(Organisation, bill.organisation_id)
        client = app.extensions["billchain"].client
        return client.bill_record_v2(
            org.chain_org_id,
            from_hex(bill.batch.root),
            [from_hex(p) for p in bill.proof or []],
            from_hex(bill.bill_ref),
            from_hex(bill.content_hash),
            bill.total_fen,
        )


def test_organisations_are_admitted_by_their_own_signed_request(app, issuer, claimant):
    with app.app_context():
        client = app.extensions["billchain"].client
        for org in (issuer, claimant):
            row = db.session.get(Organisation, org.id)
            assert row.chain_org_id
            on_chain = client.organisation_v2(row.chain_org_id)
            assert on_chain.key == org.address
            assert on_chain.credit_code == row.credit_code


def test_bills_anchor_with_their_totals(app, client, issuer, worker):
    created = anchored(app, client, issuer)
    record = chain_record(app, created["id"])
    assert record.status is ChainStatusV2.ISSUED
    with app.app_context():
        assert record.total_fen == db.session.get(Bill, created["id"]).total_fen > 0


# ---------------------------------------------------------------- reimbursement through the API


def post(client: FlaskClient, org: Org, bill_id: str, action: str, **body: Any) -> Any:
    return client.post(f"/api/v1/bills/{bill_id}/{action}", json=body, headers=org.auth)


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_split_reimbursement_caps_the_sum_at_the_total_on_chain(app, client, issuer, claimant, other_claimant, worker):
    created = anchored(app, client, issuer)
    with app.app_context():
        total = db.session.get(Bill, created["id"]).total_fen
    insurance_part = total * 7 // 10

    locked = post(client, claimant, created["id"], "lock", until=in_days(7))
    assert locked.status_code == 200, locked.get_json()
    assert locked.get_json()["reimbursement"]["lock"]["by"] == "示例人寿保险"

    # Another unit scanning it sees who reviews it and until when, from the chain.
    blocked = post(client, other_claimant, created["id"], "claim", claim_ref="C-2")
    assert blocked.status_code == 409
    assert blocked.get_json()["error"] == "bill_locked"
    assert blocked.get_json()["locked_by"] == "示例人寿保险"

    first = post(client, claimant, created["id"], "claim", claim_ref="MI-1", amount_fen=insurance_part)
    assert first.status_code == 200, first.get_json()
    money = first.get_json()["reimbursement"]
    assert money["reimbursed_fen"] == insurance_part
    assert money["remaining_fen"] == total - insurance_part
    assert first.get_json()["status"] == "partly_claimed"

    rest = post(client, other_claimant, created["id"], "claim", claim_ref="CI-7")
    assert rest.status_code == 200, rest.get_json()
    body = rest.get_json()
    assert body["status"] == "claimed"
    assert [(p["by"], p["amount_fen"]) for p in body["reimbursement"]["parts"]] == [
        ("示例人寿保险", insurance_part),
        ("另一家保险", total - insurance_part),
    ]

    again = post(client, claimant, created["id"], "claim", claim_ref="MI-2", amount_fen=1)
    assert again.status_code == 409
    assert again.get_json()["remaining_fen"] == 0

    record = chain_record(app, created["id"])  # the chain's own sum, not this database's
    assert record.status is ChainStatusV2.REIMBURSED
    assert record.reimbursed_fen == total


def test_a_claim_above_the_remainder_is_refused_with_what_remains(app, client, issuer, claimant, worker):
    created = anchored(app, client, issuer)
    with app.app_context():
        total = db.session.get(Bill, created["id"]).total_fen
    assert post(client, claimant, created["id"], "claim", claim_ref="A", amount_fen=total - 100).status_code == 200
    over = post(client, claimant, created["id"], "claim", claim_ref="B", amount_fen=101)
    assert over.status_code == 409
    assert over.get_json()["error"] == "claim_exceeds_remaining"
    assert over.get_json()["remaining_fen"] == 100
    assert chain_record(app, created["id"]).reimbursed_fen == total - 100


def test_paper_conversion_then_claim_is_refused(app, client, issuer, claimant, worker):
    created = anchored(app, client, issuer)
    paper = post(client, issuer, created["id"], "paper", paper_number="ZJ-0012345")
    assert paper.status_code == 200, paper.get_json()
    assert paper.get_json()["status"] == "paper"
    assert paper.get_json()["reimbursement"]["paper_number"] == "ZJ-0012345"

    refused = post(client, claimant, created["id"], "claim", claim_ref="X")
    assert refused.status_code == 409
    assert refused.get_json()["error"] == "bill_on_paper"
    record = chain_record(app, created["id"])
    assert record.status is ChainStatusV2.CONVERTED_TO_PAPER
    assert record.paper_number == "ZJ-0012345"


def test_void_with_replacement_names_the_red_letter_bill(app, client, issuer, worker):
    old = anchored(app, client, issuer)
    new = anchored(app, client, issuer)
    voided = post(client, issuer, old["id"], "void", reason=1, replacement_bill_id=new["id"])
    assert voided.status_code == 200, voided.get_json()
    assert voided.get_json()["reimbursement"]["replacement"] == {"bill_ref": new["bill_ref"], "bill_id": new["id"]}
    record = chain_record(app, old["id"])
    assert record.status is ChainStatusV2.VOIDED
    assert record.replacement_ref == from_hex(new["bill_ref"])


def test_sixteen_units_lock_at_once_and_the_chain_picks_one_holder(app, client, issuer, onboard, worker):
    created = anchored(app, client, issuer)
    units = [onboard("claimant", f"保险{i}") for i in range(16)]

    def lock(unit: Org) -> tuple[str, int, Any]:
        with app.test_client() as own:
            answer = post(own, unit, created["id"], "lock", until=in_days(3))
            return unit.name, answer.status_code, answer.get_json()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lock, units))
    winners = [name for name, status, _ in answers if status == 200]
    assert len(winners) == 1, [(n, s, b.get("error"), b.get("message")) for n, s, b in answers]
    losers = [body for _, status, body in answers if status != 200]
    assert all(body["error"] == "bill_locked" and body["locked_by"] == winners[0] for body in losers), losers
    record = chain_record(app, created["id"])
    with app.app_context():
        holder = db.session.scalar(select(Organisation).where(Organisation.chain_org_id == record.lock_holder_id))
    assert holder.name == winners[0]


def test_after_the_lock_expires_another_unit_proceeds(app, client, issuer, claimant, other_claimant, worker):
    created = anchored(app, client, issuer)
    # A short lock, then real time passes (no clock travel: the Anvil is shared by the whole session).
    until = datetime.now(UTC) + timedelta(seconds=3)
    assert post(client, claimant, created["id"], "lock", until=until.strftime("%Y-%m-%dT%H:%M:%SZ")).status_code == 200
    early = post(client, other_claimant, created["id"], "claim", claim_ref="early")
    assert early.status_code == 409 and early.get_json()["error"] == "bill_locked"

    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.5)
    late = post(client, other_claimant, created["id"], "claim", claim_ref="late")
    assert late.status_code == 200, late.get_json()
    record = chain_record(app, created["id"])
    assert record.status is ChainStatusV2.REIMBURSED
    with app.app_context():
        assert record.last_settled_by == db.session.get(Organisation, other_claimant.id).chain_org_id


# ---------------------------------------------------------------- verification reports what the chain holds


def verify_url(client: FlaskClient, url: str) -> dict[str, Any]:
    answer = client.post("/api/v1/verify", json={"url": url})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()  # type: ignore[no-any-return]


def test_verification_reports_lock_parts_and_remainder(app, client, issuer, claimant, worker):
    created = anchored(app, client, issuer)
    fresh = verify_url(client, created["verify_url"])
    assert fresh["verdict"] == "authentic"
    total = fresh["reimbursement"]["total_fen"]
    assert fresh["reimbursement"] == {
        "total_fen": total,
        "reimbursed_fen": 0,
        "remaining_fen": total,
        "lock": None,
        "paper_number": None,
        "replacement_ref": None,
        "parts": [],
    }

    assert post(client, claimant, created["id"], "lock", until=in_days(2)).status_code == 200
    locked = verify_url(client, created["verify_url"])
    assert locked["reimbursement"]["lock"]["by"] == "示例人寿保险"
    assert any("Under review by 示例人寿保险" in note for note in locked["notes"])

    assert post(client, claimant, created["id"], "claim", claim_ref="P1", amount_fen=total - 50).status_code == 200
    partly = verify_url(client, created["verify_url"])
    assert partly["verdict"] == "authentic" and partly["usable_for_reimbursement"]
    assert partly["reimbursement"]["remaining_fen"] == 50
    assert partly["reimbursement"]["lock"] is None  # the holder's claim ended its lock
    assert any("Partly reimbursed" in note for note in partly["notes"])

    assert post(client, claimant, created["id"], "claim", claim_ref="P2").status_code == 200
    done = verify_url(client, created["verify_url"])
    assert done["verdict"] == "claimed" and not done["usable_for_reimbursement"]
    assert done["settlement"]["by_name"] == "示例人寿保险"
    # Each part, from the registry's BillClaimed events as the indexer copied them (within a round).
    wait_until(app, lambda: len(verify_url(client, created["verify_url"])["reimbursement"]["parts"]) == 2)
    parts = verify_url(client, created["verify_url"])["reimbursement"]["parts"]
    assert [(p["by"], p["amount_fen"]) for p in parts] == [("示例人寿保险", total - 50), ("示例人寿保险", 50)]


def test_verification_of_paper_and_of_a_replaced_bill(app, client, issuer, worker):
    paper = anchored(app, client, issuer)
    assert post(client, issuer, paper["id"], "paper", paper_number="P-77").status_code == 200
    answer = verify_url(client, paper["verify_url"])
    assert answer["verdict"] == "paper" and not answer["usable_for_reimbursement"]
    assert "P-77" in answer["message"]

    old, new = anchored(app, client, issuer), anchored(app, client, issuer)
    assert post(client, issuer, old["id"], "void", reason=1, replacement_bill_id=new["id"]).status_code == 200
    answer = verify_url(client, old["verify_url"])
    assert answer["verdict"] == "voided"
    assert answer["reimbursement"]["replacement_ref"] == new["bill_ref"]
    assert any(new["bill_ref"] in note for note in answer["notes"])


def test_a_bill_file_verifies_from_the_file_alone(app, client, issuer):
    created = anchored(app, client, issuer)
    bill_file = client.get(f"/api/v1/bills/{created['id']}/file", headers=issuer.auth).get_json()
    answer = client.post("/api/v1/verify", json=bill_file).get_json()
    assert answer["verdict"] == "authentic", answer
    assert answer["issuer"]["name"] == "北京市第一中学"
    # A file whose total was raised no longer matches the leaf the chain holds.
    bill_file["bill"]["items"][0]["amount_fen"] += 100
    tampered = client.post("/api/v1/verify", json=bill_file).get_json()
    assert tampered["verdict"] == "tampered"


def test_key_rotation_keeps_old_bills_valid_and_the_old_key_powerless(app, client, issuer, worker):
    from app.chain import RegistryRevert
    from app.services.organisations import rotate_key

    before = anchored(app, client, issuer)
    with app.app_context():
        rotate_key(db.session.get(Organisation, issuer.id), actor="test")
    wait_until(app, lambda: db.session.get(Organisation, issuer.id).address != issuer.address)

    # The bill signed and anchored under the old key still verifies as the same organisation.
    old_bill = verify_url(client, before["verify_url"])
    assert old_bill["verdict"] == "authentic", old_bill
    assert old_bill["signer"] == issuer.address and old_bill["issuer"]["name"] == "北京市第一中学"
    # New bills are signed with the new key and anchored by it.
    after = anchored(app, client, issuer)
    new_bill = verify_url(client, after["verify_url"])
    assert new_bill["verdict"] == "authentic" and new_bill["signer"] != issuer.address
    with app.app_context():
        rt = app.extensions["billchain"]
        chain = rt.client
        new_key = db.session.get(Organisation, issuer.id).address
        assert chain.key_record(issuer.address).rotated_at is not None
        assert chain.key_record(issuer.address).org_id == chain.key_record(new_key).org_id
        # The old key can do nothing any more: the chain refuses its anchor.
        old_account = rt.keystore.load(issuer.address, "test-password")
        with pytest.raises(RegistryRevert) as refused:
            chain.transact(old_account, "anchor", bytes.fromhex("ab" * 32))
    assert refused.value.name == "AccessControlUnauthorizedAccount"
