"""`flask --app app registry upgrade` on a real Anvil and both databases: a platform that issued, anchored
and claimed a bill on registry v1 moves to v2. Its organisations are admitted to v2 by their own signed
requests, new bills are signed for v2 and anchored with totals, the old bill's file still verifies against
v1 (claimed, by whom), and a new bill is reimbursed in parts on v2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient

from app.bills.chainview_v2 import ChainStatusV2
from app.bills.hexstr import from_hex
from app.chain import Deployment, RegistryClient, save_deployment
from app.chain.registry_v2 import RegistryV2Client
from app.extensions import db
from app.models import Bill, Organisation, Registry
from app.outbox.worker import AnchorWorker
from app.services.errors import Conflict
from app.services.provisioning import upgrade_registry


def issue(client: FlaskClient, issuer: Org) -> dict[str, Any]:
    response = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def status_of(app: Flask, bill_id: str) -> str:
    with app.app_context():
        return str(db.session.get(Bill, bill_id).status)


def start_worker(app: Flask) -> AnchorWorker:
    """The platform's worker thread, as `make run` runs it."""
    worker = AnchorWorker(app)
    app.extensions["billchain"].worker = worker
    worker.start()
    return worker


def stop_worker(app: Flask, worker: AnchorWorker) -> None:
    """The platform stops (its worker releases the sender lease on the way out)."""
    worker.stop()
    app.extensions["billchain"].worker = None


def claim(client: FlaskClient, org: Org, bill_id: str, **body: Any) -> Any:
    return client.post(f"/api/v1/bills/{bill_id}/claim", json=body, headers=org.auth)


@pytest.fixture
def deployments(app: Flask, deployment: Deployment, tmp_path: Path) -> Path:
    """This platform's deployment records: the session's v1 registry, as `make run` would have recorded it."""
    folder = tmp_path / "deployments"
    save_deployment(folder, deployment)
    app.config["BILLCHAIN_DEPLOYMENTS_DIR"] = str(folder)
    return folder


def test_upgrade_from_v1_to_v2_keeps_old_bills_verifying_and_moves_new_ones_to_v2(
    app: Flask, client: FlaskClient, issuer: Org, claimant: Org, deployment: Deployment, deployments: Path
) -> None:
    assert deployment.version == 1
    running = start_worker(app)
    # On v1: issue, anchor, claim.
    old = issue(client, issuer)
    wait_until(app, lambda: status_of(app, old["id"]) == "anchored")
    claimed = claim(client, claimant, old["id"], claim_ref="V1-CLAIM")
    assert claimed.status_code == 200, claimed.get_json()
    old_file = client.get(f"/api/v1/bills/{old['id']}/file", headers=issuer.auth).get_json()
    assert old_file["anchoring"]["registry"].lower() == deployment.address.lower()
    # Issued just before the upgrade: signed for v1, so it is anchored on v1 before the switch.
    late = issue(client, issuer)

    stop_worker(app, running)  # the platform is stopped for the upgrade: no other worker runs
    with app.app_context():
        done = upgrade_registry(app)
    running = start_worker(app)  # and started again
    assert done.previous.address == deployment.address
    assert sorted(done.queued) == sorted([issuer.name, claimant.name]) and not done.skipped
    assert status_of(app, late["id"]) == "anchored"  # anchored on v1 first
    # Records: v2 is the current deployment, the v1 record is kept beside it.
    current = json.loads((deployments / f"{deployment.chain_id}.json").read_text())
    assert current["version"] == 2 and current["address"] == done.current.address
    kept = json.loads((deployments / f"{deployment.chain_id}.v1.json").read_text())
    assert kept["address"] == deployment.address and kept.get("version", 1) == 1

    # The organisations are admitted to v2 by their own signed requests, and stay usable.
    chain = RegistryV2Client(app.config["BILLCHAIN_RPC_URL"], done.current.address)
    wait_until(
        app,
        lambda: all(db.session.get(Organisation, o.id).chain_org_id for o in (issuer, claimant)),
        timeout=30,
    )
    with app.app_context():
        for org in (issuer, claimant):
            row = db.session.get(Organisation, org.id)
            assert row.status == "active"
            assert chain.organisation_v2(row.chain_org_id).key == org.address

    # The same database signs new bills for v2 and anchors them with their totals.
    new = issue(client, issuer)
    wait_until(app, lambda: status_of(app, new["id"]) == "anchored", timeout=30)
    new_file = client.get(f"/api/v1/bills/{new['id']}/file", headers=issuer.auth).get_json()
    assert new_file["anchoring"]["registry"].lower() == done.current.address.lower()
    with app.app_context():
        bill = db.session.get(Bill, new["id"])
        registry = db.session.get(Registry, bill.registry_id)
        assert (registry.address.lower(), registry.version) == (done.current.address.lower(), 2)
        record = chain.bill_record_v2(
            db.session.get(Organisation, issuer.id).chain_org_id,
            from_hex(bill.batch.root),
            [from_hex(p) for p in bill.proof or []],
            from_hex(bill.bill_ref),
            from_hex(bill.content_hash),
            bill.total_fen,
        )
        total = bill.total_fen
    assert record.status is ChainStatusV2.ISSUED and record.total_fen == total

    # The old bill's file still verifies, against v1: claimed, and by whom.
    answer = client.post("/api/v1/verify", json=old_file).get_json()
    assert answer["verdict"] == "claimed", answer
    assert answer["settlement"]["by_name"] == claimant.name
    assert answer["anchoring"]["registry"].lower() == deployment.address.lower()
    # The late v1 bill verifies on v1 too.
    late_file = client.get(f"/api/v1/bills/{late['id']}/file", headers=issuer.auth).get_json()
    assert late_file["anchoring"]["registry"].lower() == deployment.address.lower()
    assert client.post("/api/v1/verify", json=late_file).get_json()["verdict"] == "authentic"

    # A v1 bill is still reimbursed after the upgrade: its claim is decided by the v1 registry it names.
    late_claim = claim(client, claimant, late["id"], claim_ref="V1-LATE")
    assert late_claim.status_code == 200, late_claim.get_json()
    assert late_claim.get_json()["status"] == "claimed"
    v1_chain = RegistryClient(app.config["BILLCHAIN_RPC_URL"], deployment.address)
    with app.app_context():
        settled = v1_chain.settlement_of(issuer.address, from_hex(db.session.get(Bill, late["id"]).bill_ref))
    assert settled is not None and settled.by == claimant.address
    again = claim(client, claimant, late["id"], claim_ref="V1-AGAIN")
    assert again.status_code == 409 and again.get_json()["error"] == "bill_already_claimed"
    answer = client.post("/api/v1/verify", json=late_file).get_json()
    assert answer["verdict"] == "claimed" and answer["settlement"]["by_name"] == claimant.name

    # A new bill is reimbursed in parts on v2.
    part = total // 3
    first = claim(client, claimant, new["id"], claim_ref="V2-1", amount_fen=part)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["status"] == "partly_claimed"
    rest = claim(client, claimant, new["id"], claim_ref="V2-2")
    assert rest.status_code == 200, rest.get_json()
    assert rest.get_json()["reimbursement"]["remaining_fen"] == 0
    with app.app_context():
        bill = db.session.get(Bill, new["id"])
        record = chain.bill_record_v2(
            db.session.get(Organisation, issuer.id).chain_org_id,
            from_hex(bill.batch.root),
            [from_hex(p) for p in bill.proof or []],
            from_hex(bill.bill_ref),
            from_hex(bill.content_hash),
            bill.total_fen,
        )
    assert record.status is ChainStatusV2.REIMBURSED and record.reimbursed_fen == total

    # A second upgrade is refused: the platform is on v2 already.
    stop_worker(app, running)
    with app.app_context(), pytest.raises(Conflict) as again:
        upgrade_registry(app)
    assert again.value.code == "already_upgraded"


def test_upgrade_is_refused_while_another_worker_runs(
    app: Flask, client: FlaskClient, issuer: Org, worker: Any, deployments: Path
) -> None:
    issue(client, issuer)
    with app.app_context(), pytest.raises(Conflict) as refused:
        upgrade_registry(app, drain_timeout=5)
    assert refused.value.code == "platform_running"
    runner = app.test_cli_runner()
    answer = runner.invoke(args=["registry", "upgrade", "--drain-timeout", "5"])
    assert answer.exit_code != 0 and "platform_running" in answer.output, answer.output
    shown = runner.invoke(args=["registry", "show"])
    assert shown.exit_code == 0 and "current:  v1" in shown.output, shown.output
    assert json.loads(next(deployments.glob("*.json")).read_text()).get("version", 1) == 1  # nothing changed
