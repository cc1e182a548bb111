"""A job that keeps failing is set aside (dead letter) and the jobs behind it, of every sender, go on.

The poison is real: an anchoring job whose sender's key is in no keystore on this host, queued before a
real issuer's bill. Before the fix the missing key aborted every round at that job and nothing behind it
was ever signed.
"""

from __future__ import annotations

import os

from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.bills.hexstr import to_hex
from app.chain import NodeError
from app.extensions import db
from app.models import Bill, BillStatus, ChainJob, JobKind, JobStatus
from app.outbox.worker import AnchorWorker
from app.services.deadletters import retry_dead_job

STRANGER = "0x" + "ab" * 20  # no keystore holds this address


def _poison(app: Flask, org: Org) -> int:
    """An anchoring job of a sender whose key this host does not have."""
    with app.app_context():
        job = ChainJob(sender=STRANGER, function=JobKind.ANCHOR, args=[to_hex(os.urandom(32))], organisation_id=org.id)
        db.session.add(job)
        db.session.commit()
        return job.id


def _issue(client: FlaskClient, issuer: Org) -> str:
    response = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]  # type: ignore[no-any-return]


def test_bill_behind_a_poison_job_still_anchors_and_the_poison_goes_dead(app, client, issuer):
    poison = _poison(app, issuer)
    first = _issue(client, issuer)

    wait_until(app, lambda: db.session.get(Bill, first).status == BillStatus.ANCHORED)
    wait_until(app, lambda: db.session.get(ChainJob, poison).status == JobStatus.DEAD)

    with app.app_context():
        job = db.session.get(ChainJob, poison)
        assert job.failures == app.config["BILLCHAIN_JOB_MAX_FAILURES"]
        assert job.nonce is None and job.tx_hash is None  # it never took a nonce
        assert "SigningKeyUnavailableError" in (job.last_error or "")
    health = client.get("/api/v1/health").get_json()
    assert health["dead_jobs"] == 1
    # and the issuer's later work, same sender as the anchored batch, still goes through
    second = _issue(client, issuer)
    wait_until(app, lambda: db.session.get(Bill, second).status == BillStatus.ANCHORED)


def test_failing_job_backs_off_instead_of_being_tried_every_round(app, issuer):
    poison = _poison(app, issuer)
    app.config["BILLCHAIN_ANCHOR_INTERVAL"] = 30.0  # back-off base: the second round surely falls inside it
    worker = AnchorWorker(app, holder="tests")

    worker.run_once()
    worker.run_once()  # at once: the job waits out its back-off, so this round does not try it

    with app.app_context():
        job = db.session.get(ChainJob, poison)
        assert job.failures == 1
        assert job.retry_at is not None
        assert job.status == JobStatus.QUEUED


def test_finance_sees_dead_job_on_dashboard_and_retries_it(app, client, issuer):
    poison = _poison(app, issuer)
    wait_until(app, lambda: db.session.get(ChainJob, poison).status == JobStatus.DEAD)
    client.post("/login", data={"username": "finance", "password": "finance-pass"})

    page = client.get("/finance").get_data(as_text=True)
    assert f'data-job="{poison}"' in page
    assert "SigningKeyUnavailableError" in page

    response = client.post(f"/finance/jobs/{poison}/retry")
    assert response.status_code == 302
    with app.app_context():
        job = db.session.get(ChainJob, poison)
        assert (job.status, job.failures) == (JobStatus.QUEUED, 0)
        assert db.session.scalar(select(ChainJob.id).where(ChainJob.status == JobStatus.DEAD)) is None
    assert client.post(f"/finance/jobs/{poison}/retry").status_code == 409  # not dead any more


def test_only_finance_retries_dead_jobs(app, client, issuer):
    poison = _poison(app, issuer)
    client.post("/login", data={"username": issuer.username, "password": issuer.password})
    assert client.post(f"/finance/jobs/{poison}/retry").status_code == 403


def test_mined_job_whose_revert_reason_cannot_be_read_is_set_aside_and_retried(app, client, issuer, monkeypatch):
    """The node error is a stand-in (monkeypatched): Anvil always answers the replay, so a real one cannot
    be provoked here. The reverted transaction itself is real: a second anchoring of an anchored root."""
    first = _issue(client, issuer)
    wait_until(app, lambda: db.session.get(Bill, first).status == BillStatus.ANCHORED)
    with app.app_context():
        root = db.session.get(Bill, first).batch.root
        replay = ChainJob(sender=issuer.address, function=JobKind.ANCHOR, args=[root], organisation_id=issuer.id)
        db.session.add(replay)
        db.session.commit()
        replay_id = replay.id
    client_ = app.extensions["billchain"].client
    original = client_.revert_reason

    def node_error(tx_hash: object) -> None:
        raise NodeError("header not found")

    monkeypatch.setattr(client_, "revert_reason", node_error)
    second = _issue(client, issuer)  # same sender, the nonce after the reverted one

    wait_until(app, lambda: db.session.get(Bill, second).status == BillStatus.ANCHORED)
    wait_until(app, lambda: db.session.get(ChainJob, replay_id).status == JobStatus.DEAD)
    with app.app_context():
        dead = db.session.get(ChainJob, replay_id)
        assert dead.tx_hash is not None and "header not found" in (dead.last_error or "")

    monkeypatch.setattr(client_, "revert_reason", original)
    with app.app_context():
        retry_dead_job(replay_id, actor="test")
    # retried, the receipt is read again and this time the reason too: the chain's refusal is recorded
    wait_until(app, lambda: db.session.get(ChainJob, replay_id).status == JobStatus.FAILED)
    with app.app_context():
        assert db.session.get(ChainJob, replay_id).error == "BillRootAlreadyAnchored"
