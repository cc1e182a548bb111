"""The command line (orgs, verify, worker), a real worker process killed mid-work, and failure answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from appkit import bill_payload, credit_code, make_config, wait_until
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.models import AnchorBatch, Bill, ChainJob, Organisation, OrgStatus

REPO = Path(__file__).resolve().parents[2]


def test_orgs_add_prints_address_and_token_and_registers_on_chain(app):
    code = credit_code()
    result = app.test_cli_runner().invoke(
        args=["orgs", "add", "北京市第三医院", "--kind", "issuer", "--credit-code", code, "--username", "h3"]
    )

    assert result.exit_code == 0, result.output
    assert "api token:    bct_" in result.output
    assert "status:       active on chain" in result.output
    with app.app_context():
        org = db.session.scalar(select(Organisation).where(Organisation.credit_code == code))
        assert org.status == OrgStatus.ACTIVE
        assert app.extensions["billchain"].client.organisation(org.address).name == "北京市第三医院"


def test_orgs_add_with_a_mistyped_credit_code_names_the_field(app):
    result = app.test_cli_runner().invoke(
        args=["orgs", "add", "X", "--kind", "issuer", "--credit-code", "91110000100000001A"]
    )

    assert result.exit_code != 0
    assert "credit_code" in result.output


def test_bills_verify_exit_status_says_authentic_or_not(app, client, issuer, worker, tmp_path):
    created = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth).get_json()
    wait_until(app, lambda: db.session.get(Bill, created["id"]).status == "anchored")
    bill_file = client.get(f"/api/v1/bills/{created['id']}/file", headers=issuer.auth).get_json()
    good = tmp_path / "bill.json"
    good.write_text(json.dumps(bill_file, ensure_ascii=False))
    bill_file["bill"]["total_fen"] += 1
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(bill_file, ensure_ascii=False))
    runner = app.test_cli_runner()

    ok = runner.invoke(args=["bills", "verify", str(good)])
    as_json = runner.invoke(args=["bills", "verify", created["verify_url"], "--json"])
    tampered = runner.invoke(args=["bills", "verify", str(bad)])

    assert ok.exit_code == 0, ok.output
    assert json.loads(as_json.output)["verdict"] == "authentic"
    assert tampered.exit_code == 1
    assert "tamper" in tampered.output.lower()


def test_public_verify_is_rate_limited_per_client(anvil, deployment, tmp_path):
    config = make_config(anvil, deployment, f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    config.update(RATELIMIT_ENABLED=True, BILLCHAIN_RATELIMIT_VERIFY="3 per minute")
    app = create_app(config)
    client = app.test_client()

    codes = [client.post("/api/v1/verify", json={"url": "http://x/v/bad"}).status_code for _ in range(4)]

    assert 429 not in codes[:3]
    assert codes[3] == 429
    assert client.post("/api/v1/verify", json={"url": "x"}).get_json()["error"] == "rate_limited"


def test_database_down_answers_503_json_not_500(anvil, deployment, tmp_path):
    config = make_config(anvil, deployment, "postgresql+psycopg://postgres@127.0.0.1:1/none", tmp_path)
    app = create_app(config)

    response = app.test_client().get("/api/v1/health")

    assert response.status_code == 503
    assert response.get_json()["error"] == "database_unavailable"


@pytest.mark.parametrize("database", ["sqlite"])
def test_worker_process_killed_mid_work_is_finished_by_a_new_one(anvil, deployment, tmp_path, database):
    """A real `flask anchor-worker` process gets SIGKILL while anchoring; a new process finishes the job."""
    config = make_config(anvil, deployment, f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    config["BILLCHAIN_WORKER_LEASE"] = 2.0
    app = create_app(config)
    env = {**os.environ, **{k: str(v) for k, v in config.items() if k.startswith("BILLCHAIN_")}}
    env["BILLCHAIN_INSTANCE_PATH"] = str(tmp_path / "instance")
    from app.services.organisations import onboard_organisation
    from app.services.provisioning import ensure_finance, upgrade_database

    with app.app_context():
        upgrade_database()
        ensure_finance(password="pw")
        done = onboard_organisation("北京市第一中学", credit_code(), "issuer", actor="test")
        org_id = done.organisation.id
    wait_until(app, lambda: db.session.get(Organisation, org_id).status == "active")
    app.extensions["test_worker"].release_lease()
    client = app.test_client()
    ids: list[str] = []
    for _ in range(5):
        response = client.post(
            "/api/v1/bills",
            json=[bill_payload() for _ in range(200)],
            headers={"Authorization": f"Bearer {done.token}"},
        )
        ids += [b["id"] for b in response.get_json()]

    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "anchor-worker"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_batches(app)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    successor = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "anchor-worker"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(  # poll only: the successor process does the work
            app,
            lambda: db.session.scalar(select(func.count(Bill.id)).where(Bill.status != "anchored")) == 0,
            timeout=60,
            work=False,
        )
    finally:
        successor.send_signal(signal.SIGTERM)
        successor.wait(timeout=20)
    with app.app_context():
        confirmed = db.session.scalars(select(AnchorBatch).where(AnchorBatch.status == "confirmed")).all()
        assert sum(b.size for b in confirmed) == len(ids)
        client_ = app.extensions["billchain"].client
        assert all(client_.anchor_of(bytes.fromhex(b.root[2:])) is not None for b in confirmed)
        failed = db.session.scalar(select(func.count(ChainJob.id)).where(ChainJob.status == "failed"))
        assert failed == 0
        db.session.remove()
        db.engine.dispose()


def wait_until_batches(app, timeout: float = 30.0) -> None:
    """Until the first worker has written at least one batch (so the kill lands mid-work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            db.session.expire_all()
            if db.session.scalar(select(func.count(AnchorBatch.id))):
                return
        time.sleep(0.01)
    raise AssertionError("the worker never started batching")


def test_pages_carry_security_headers(client):
    response = client.get("/verify")

    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_wsgi_entry_builds_the_app_and_tunes_the_garbage_collector(monkeypatch, tmp_path):
    import gc
    import importlib

    monkeypatch.setenv("BILLCHAIN_WORKER", "0")
    monkeypatch.setenv("BILLCHAIN_INSTANCE_PATH", str(tmp_path))
    thresholds = gc.get_threshold()
    try:
        wsgi = importlib.import_module("app.wsgi")

        assert wsgi.app.name == "app"
        assert gc.get_threshold()[0] == 50_000
        assert wsgi.app.extensions["billchain"].worker is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_a_key_that_cannot_be_unlocked_answers_503_naming_the_setting(app, client, issuer):
    app.config["BILLCHAIN_KEYSTORE_PASSWORD"] = "not-the-password"
    app.extensions["billchain"].keystore.forget()  # drop unlocked keys, as a restart would

    response = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)

    assert response.status_code == 503
    assert response.get_json()["error"] == "signing_key_unavailable"
    assert "BILLCHAIN_KEYSTORE_PASSWORD" in response.get_json()["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Bill.id))) == 0
