"""Faults as real processes, checked against the chain: a killed worker, a stopped node, a restarted database.

After each fault the chain is the judge: the issuer's `BillsAnchored` events are exactly the confirmed
batches, each root once; every bill sits in one confirmed batch (none lost, none anchored twice); a bill
has at most one `BillClaimed`. The worker is killed at a chosen point with the test-only crash point
(BILLCHAIN_TEST_CRASH_AFTER, app/outbox/worker.py), not by timing luck.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from appkit import Org, bill_payload, credit_code, make_config, wait_until
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.bills.hexstr import from_hex, to_hex
from app.chain import deploy
from app.extensions import db
from app.models import AnchorBatch, Bill, ChainJob, JobStatus, Organisation, OrgStatus
from app.outbox.worker import AnchorWorker
from app.services.organisations import onboard_organisation
from app.services.provisioning import ensure_finance, upgrade_database
from dev import devchain
from dev.devchain import AnvilNode, free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    with devchain.start_anvil(state_file=tmp_path / "anvil-state.json") as anvil:
        yield anvil


def _app(node: AnvilNode, database_url: str, tmp_path: Path, **overrides: Any) -> Flask:
    deployment = deploy(node.rpc_url, devchain.dev_account(0))
    config = make_config(node, deployment, database_url, tmp_path)
    config.update(BILLCHAIN_WORKER_LEASE=2.0, **overrides)
    app = create_app(config)
    app.config["TEST_CONFIG"] = config
    with app.app_context():
        upgrade_database()
        ensure_finance(password="finance-pass")
    return app


@pytest.fixture
def own_app(node: AnvilNode, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = _app(node, database_url, tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _onboard(app: Flask, kind: str) -> Org:
    with app.app_context():
        done = onboard_organisation(f"测试{kind}", credit_code(), kind, actor="test")
        org = Org(done.organisation.id, done.organisation.name, done.organisation.address, done.token, "", "")
    wait_until(app, lambda: db.session.get(Organisation, org.id).status == OrgStatus.ACTIVE)
    return org


def _issue(app: Flask, issuer: Org, n: int) -> list[str]:
    answer = app.test_client().post("/api/v1/bills", json=[bill_payload() for _ in range(n)], headers=issuer.auth)
    assert answer.status_code == 201, answer.get_json()
    return [b["id"] for b in answer.get_json()]


def _worker_process(app: Flask, tmp_path: Path, crash_after: str | None = None) -> subprocess.Popen[bytes]:
    """A real `flask --app app anchor-worker` on the same chain and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLCHAIN_")}
    env.update({k: str(v) for k, v in app.config["TEST_CONFIG"].items() if k.startswith("BILLCHAIN_")})
    env["BILLCHAIN_INSTANCE_PATH"] = str(tmp_path / "instance")
    if crash_after:
        env["BILLCHAIN_TEST_CRASH_AFTER"] = crash_after
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "anchor-worker"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def assert_chain_agrees(app: Flask, issuer: Org, bill_ids: list[str]) -> None:
    """BillsAnchored of the issuer = confirmed batches, each once; every bill in exactly one of them."""
    with app.app_context():
        db.session.expire_all()
        client = app.extensions["billchain"].client
        anchored = [
            to_hex(bytes(e.args["root"]))
            for e in client.events(0)
            if e.name == "BillsAnchored" and e.args["issuer"] == issuer.address
        ]
        confirmed = db.session.scalars(
            select(AnchorBatch).where(AnchorBatch.organisation_id == issuer.id, AnchorBatch.status == "confirmed")
        ).all()
        assert len(anchored) == len(set(anchored)), "a root anchored twice"
        assert set(anchored) == {b.root for b in confirmed}, "chain and confirmed batches differ"
        bills = [db.session.get(Bill, i) for i in bill_ids]
        assert {b.status for b in bills} == {"anchored"}, "a bill was lost"
        assert {b.batch.root for b in bills} <= set(anchored)
        assert sum(b.size for b in confirmed) == len(bill_ids), "a bill anchored twice (or lost)"
        for bill in bills:  # the chain knows each bill's root under this issuer
            owner = client.anchor_of(from_hex(bill.batch.root))
            assert owner is not None and owner[0] == issuer.address


@pytest.mark.parametrize("crash_after", ["signed", "sent"])
def test_worker_process_killed_after_a_step_loses_and_doubles_nothing(own_app, tmp_path, crash_after):
    issuer = _onboard(own_app, "issuer")
    own_app.extensions["test_worker"].release_lease()
    ids = _issue(own_app, issuer, 30)

    dying = _worker_process(own_app, tmp_path, crash_after)
    assert dying.wait(timeout=60) == 137  # it reached the crash point and died there
    with own_app.app_context():
        job = db.session.scalars(select(ChainJob).where(ChainJob.function == "anchor")).one()
        assert job.status == JobStatus.SIGNED  # signed and written down, not confirmed
        assert job.attempts == (0 if crash_after == "signed" else 1)
        db.session.remove()

    successor = _worker_process(own_app, tmp_path)
    try:
        wait_until(own_app, lambda: {db.session.get(Bill, i).status for i in ids} == {"anchored"}, 60, work=False)
    finally:
        _stop(successor)

    assert_chain_agrees(own_app, issuer, ids)
    with own_app.app_context():
        jobs = db.session.scalars(select(ChainJob).where(ChainJob.function == "anchor")).all()
        assert [j.status for j in jobs] == [JobStatus.CONFIRMED]  # the same signed bytes, not a second tx


def _claims_on_chain(app: Flask, bill_ref: str) -> list[Any]:
    with app.app_context():
        client = app.extensions["billchain"].client
        return [e for e in client.events(0) if e.name == "BillClaimed" and to_hex(bytes(e.args["billRef"])) == bill_ref]


def test_node_stopped_mid_claim_claims_once_when_back(node, database_url, tmp_path):
    app = _app(node, database_url, tmp_path, BILLCHAIN_CLAIM_WAIT=1.0)
    issuer, claimant, rival = _onboard(app, "issuer"), _onboard(app, "claimant"), _onboard(app, "claimant")
    (bill_id,) = _issue(app, issuer, 1)
    wait_until(app, lambda: db.session.get(Bill, bill_id).status == "anchored")
    app.extensions["test_worker"].release_lease()
    worker = AnchorWorker(app, holder="in-process")
    app.extensions["billchain"].worker = worker
    worker.start()
    try:
        node.stop()
        client = app.test_client()
        during = client.post(f"/api/v1/bills/{bill_id}/claim", json={"claim_ref": "CASE-1"}, headers=claimant.auth)
        assert during.status_code in (202, 503), during.get_json()
        node.restart()
        if during.status_code == 503:  # refused before anything was queued: the client retries, as told
            retried = client.post(f"/api/v1/bills/{bill_id}/claim", json={"claim_ref": "CASE-1"}, headers=claimant.auth)
            assert retried.status_code in (200, 202), retried.get_json()
        wait_until(app, lambda: db.session.get(Bill, bill_id).status == "claimed", 60, work=False)
        again = client.post(f"/api/v1/bills/{bill_id}/claim", json={"claim_ref": "CASE-1"}, headers=claimant.auth)
        other = client.post(f"/api/v1/bills/{bill_id}/claim", json={"claim_ref": "X-2"}, headers=rival.auth)
    finally:
        worker.stop()

    assert again.status_code == other.status_code == 409
    with app.app_context():
        bill = db.session.get(Bill, bill_id)
        assert bill.settled_by_org_id == claimant.id
        ref = bill.bill_ref
    claims = _claims_on_chain(app, ref)
    assert len(claims) == 1 and claims[0].args["claimant"] == claimant.address
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class Cluster:
    """A throwaway PostgreSQL cluster (Debian's binaries, as tools/with-postgres.sh), to stop and start at will."""

    def __init__(self, root: Path) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            pytest.skip("Debian's postgresql package is not installed")
        self.bin = found[-1].parent
        self.data, self.port = root / "data", free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data.parent} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data.parent / "log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="billchain-pgfault-"))
    made = Cluster(root)
    yield made
    with contextlib.suppress(subprocess.CalledProcessError):
        made.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_database_restarted_mid_batch_loses_and_doubles_nothing(node, cluster, tmp_path):
    app = _app(node, cluster.url, tmp_path, BILLCHAIN_ANCHOR_BATCH_SIZE=50)
    issuer = _onboard(app, "issuer")
    app.extensions["test_worker"].release_lease()
    ids = [i for _ in range(4) for i in _issue(app, issuer, 100)]
    engine = sa.create_engine(cluster.url)

    worker = _worker_process(app, tmp_path)
    try:
        deadline = time.monotonic() + 60
        with engine.connect() as conn:  # the first batch is written: the worker is mid-work
            while not conn.execute(sa.text("SELECT count(*) FROM anchor_batches")).scalar():
                assert time.monotonic() < deadline, "the worker wrote no batch"
                time.sleep(0.02)
            confirmed = conn.execute(sa.text("SELECT count(*) FROM anchor_batches WHERE status = 'confirmed'")).scalar()
        assert confirmed < len(ids) // 50, "all batches were done before the database went down"
        engine.dispose()
        cluster.stop()
        time.sleep(1.0)  # the worker meets a dead database for a round or more
        cluster.start()
        assert worker.poll() is None, "the worker died with the database"
        with app.app_context():
            db.engine.dispose()  # the test's own pool holds dead connections
        more = _issue(app, issuer, 20)  # issuing works again at once
        wait_until(app, lambda: {db.session.get(Bill, i).status for i in ids + more} == {"anchored"}, 90, work=False)
    finally:
        _stop(worker)

    assert_chain_agrees(app, issuer, ids + more)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
