"""Chain down, chain back, and a worker that dies mid-round: nothing issued is lost or anchored twice.

These tests run their own Anvil (with a state file, so it can be stopped and started like a real node)
and their own database per test, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from appkit import bill_payload, make_config, wait_until
from flask import Flask
from sqlalchemy import func, select, update

from app import create_app
from app.chain import RegistryClient, deploy
from app.extensions import db
from app.models import AnchorBatch, BatchStatus, Bill, ChainJob, JobStatus, WorkerLease, utcnow
from app.outbox.worker import AnchorWorker
from app.services.provisioning import ensure_finance, upgrade_database
from dev import devchain
from dev.devchain import AnvilNode


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    with devchain.start_anvil(state_file=tmp_path / "anvil-state.json") as anvil:
        yield anvil


@pytest.fixture
def own_app(node: AnvilNode, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    deployment = deploy(node.rpc_url, devchain.dev_account(0))
    app = create_app(make_config(node, deployment, database_url, tmp_path))
    with app.app_context():
        upgrade_database()
        ensure_finance(password="finance-pass")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _issue(app: Flask, token: str, n: int) -> list[str]:
    response = app.test_client().post(
        "/api/v1/bills", json=[bill_payload() for _ in range(n)], headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.get_json()
    return [b["id"] for b in response.get_json()]


def _onboard_issuer(app: Flask) -> str:
    from appkit import credit_code

    from app.models import Organisation, OrgStatus
    from app.services.organisations import onboard_organisation

    with app.app_context():
        done = onboard_organisation("北京市第一中学", credit_code(), "issuer", actor="test")
        org_id = done.organisation.id
    wait_until(app, lambda: db.session.get(Organisation, org_id).status == OrgStatus.ACTIVE)
    return done.token


def _statuses(app: Flask, ids: list[str]) -> set[str]:
    with app.app_context():
        db.session.expire_all()
        return {db.session.get(Bill, i).status for i in ids}


def _assert_each_anchored_once(app: Flask) -> None:
    """Every bill sits in exactly one confirmed batch whose root the chain knows; no spare roots."""
    with app.app_context():
        client = app.extensions["billchain"].client
        batches = db.session.scalars(select(AnchorBatch)).all()
        confirmed = [b for b in batches if b.status == BatchStatus.CONFIRMED]
        assert confirmed
        for batch in confirmed:
            assert client.anchor_of(bytes.fromhex(batch.root[2:])) is not None
        in_batches = db.session.scalar(select(func.sum(AnchorBatch.size)).where(AnchorBatch.status == "confirmed"))
        assert in_batches == db.session.scalar(select(func.count(Bill.id)))
        anchor_jobs = db.session.scalar(
            select(func.count(ChainJob.id)).where(ChainJob.function == "anchor", ChainJob.status == "confirmed")
        )
        assert anchor_jobs == len(confirmed)


def test_chain_down_keeps_bills_pending_then_anchors_them_when_back(own_app, node):
    token = _onboard_issuer(own_app)
    node.stop()

    ids = _issue(own_app, token, 5)  # issuing never waits for the chain
    report = own_app.extensions.setdefault("test_worker", AnchorWorker(own_app, holder="tests")).run_once()
    health = own_app.test_client().get("/api/v1/health").get_json()

    assert report.chain_down
    assert _statuses(own_app, ids) == {"pending"}
    assert health["chain"]["reachable"] is False
    assert health["bills_pending"] == 5

    node.restart()
    wait_until(own_app, lambda: {db.session.get(Bill, i).status for i in ids} == {"anchored"})
    _assert_each_anchored_once(own_app)


def test_claim_and_verify_answer_503_with_retry_hint_while_chain_is_down(own_app, node):
    token = _onboard_issuer(own_app)
    ids = _issue(own_app, token, 1)
    wait_until(own_app, lambda: db.session.get(Bill, ids[0]).status == "anchored")
    with own_app.app_context():
        verify_url = own_app.test_client().get(f"/api/v1/bills/{ids[0]}", headers={"Authorization": f"Bearer {token}"})
    url = verify_url.get_json()["verify_url"]
    node.stop()

    answer = own_app.test_client().post("/api/v1/verify", json={"url": url})

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.get_json()["error"] == "chain_unavailable"


@pytest.mark.parametrize("crash_after", ["batching", "signing", "sending"])
def test_worker_killed_mid_round_is_finished_by_the_next_one(own_app, crash_after):
    token = _onboard_issuer(own_app)
    ids = _issue(own_app, token, 20)
    own_app.extensions["test_worker"].release_lease()
    dying = AnchorWorker(own_app, holder="dying")

    # Run the round by hand up to the crash point; a killed process commits nothing further.
    with own_app.app_context():
        assert dying._take_lease()
        client = own_app.extensions["billchain"].client
        dying._batch_pending_bills(report := dying.last_report)
        if crash_after in ("signing", "sending"):
            dying._sign_queued(client, report)
        if crash_after == "sending":
            dying._broadcast(client, report)
        # The dead holder's lease runs out.
        db.session.execute(update(WorkerLease).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        db.session.remove()

    successor = AnchorWorker(own_app, holder="successor")
    own_app.extensions["test_worker"] = successor
    wait_until(own_app, lambda: {db.session.get(Bill, i).status for i in ids} == {"anchored"})

    _assert_each_anchored_once(own_app)
    with own_app.app_context():
        assert db.session.scalar(select(func.count(ChainJob.id)).where(ChainJob.status == JobStatus.FAILED)) == 0


def test_stale_nonce_record_is_resynchronised_from_the_chain(own_app, node):
    """Someone spent the issuer's nonce outside the platform: the worker re-signs, nothing is lost."""
    from app.models import Sender

    token = _onboard_issuer(own_app)
    ids = _issue(own_app, token, 1)
    wait_until(own_app, lambda: db.session.get(Bill, ids[0]).status == "anchored")
    with own_app.app_context():
        sender = db.session.scalars(select(Sender).where(Sender.address != _admin_address())).one()
        sender.next_nonce -= 1  # the database now believes an already-used nonce is free
        db.session.commit()

    more = _issue(own_app, token, 3)
    wait_until(own_app, lambda: {db.session.get(Bill, i).status for i in more} == {"anchored"})

    _assert_each_anchored_once(own_app)


def _admin_address() -> str:
    return devchain.dev_account(0).address


def test_registry_client_sees_restarted_chain_state(node):
    deployment = deploy(node.rpc_url, devchain.dev_account(0))
    node.stop()
    node.restart()

    assert RegistryClient(node.rpc_url, deployment.address).has_code()


def test_onboarding_on_a_paid_gas_chain_funds_the_new_key_and_it_anchors(database_url, tmp_path):
    """Where gas is not free, the finance admin funds each new organisation key through the outbox."""
    with devchain.start_anvil(free_gas=False) as paid:
        deployment = deploy(paid.rpc_url, devchain.dev_account(0))
        app = create_app(make_config(paid, deployment, database_url, tmp_path))
        with app.app_context():
            upgrade_database()
            ensure_finance(password="finance-pass")
            assert app.extensions["billchain"].client.gas_is_paid()
        token = _onboard_issuer(app)
        ids = _issue(app, token, 2)

        wait_until(app, lambda: {db.session.get(Bill, i).status for i in ids} == {"anchored"})

        with app.app_context():
            funded = db.session.scalars(select(ChainJob).where(ChainJob.function == "__fund__")).one()
            assert funded.status == JobStatus.CONFIRMED
            db.session.remove()
            db.engine.dispose()


def test_root_taken_by_another_issuer_is_reanchored_under_a_fresh_root(own_app):
    """A registered issuer that copies a pending root cannot block the owner's bills for long."""
    token = _onboard_issuer(own_app)
    ids = _issue(own_app, token, 3)
    worker = own_app.extensions["test_worker"]
    with own_app.app_context():
        worker._batch_pending_bills(worker.last_report)  # the owner's root is now known (not yet sent)
        stolen = db.session.scalars(select(AnchorBatch)).one().root
        thief = devchain.dev_account(5)
        client = own_app.extensions["billchain"].client
        client.transact(
            devchain.dev_account(0), "registerOrganisation", thief.address, "冒名单位", "91110000MA01ABCD2X", 1
        )
        client.transact(thief, "anchor", bytes.fromhex(stolen[2:]))
        db.session.remove()

    wait_until(own_app, lambda: {db.session.get(Bill, i).status for i in ids} == {"anchored"})

    with own_app.app_context():
        roots = {db.session.get(Bill, i).batch.root for i in ids}
        assert roots != {stolen}
        owner = db.session.get(Bill, ids[0]).organisation.address
        (root,) = roots
        assert own_app.extensions["billchain"].client.anchor_of(bytes.fromhex(root[2:]))[0] == owner
    answer = own_app.test_client().post("/api/v1/verify", json={"url": _verify_url(own_app, token, ids[0])})
    assert answer.get_json()["verdict"] == "authentic"


def _verify_url(app: Flask, token: str, bill_id: str) -> str:
    detail = app.test_client().get(f"/api/v1/bills/{bill_id}", headers={"Authorization": f"Bearer {token}"})
    return str(detail.get_json()["verify_url"])
