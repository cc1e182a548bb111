"""Two member platforms as real processes on one Anvil and one registry v2: platform A (the finance
department's, SQLite) and platform B (an insurer's own, PostgreSQL, no admin key). They share nothing but
the chain.

What is shown here, each against the chain's own record:
- admission across platforms: B's insurer asks with a request signed by its key, A's finance department
  approves it, B activates the insurer from the chain's event;
- B verifies A's bill from its bill file, and from the QR's URL through A's public proof; with A stopped,
  the file still verifies and the QR answer says A cannot be reached;
- 16 claims through A and 16 through B at once on one bill: one succeeds, on chain; every other answer is
  409 naming the winner; one BillClaimed; both databases agree;
- a reimbursing unit that keeps its own key (eth-account here; the platforms never see it) claims through
  the unsigned-call and relay endpoints, and both platforms record it from the chain's events.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from appkit import ANVIL_DEV_KEYS, bill_payload, credit_code
from conftest import POSTGRES_URL, _postgres_schema
from eth_account import Account
from flask import Flask

from app import create_app
from app.bills.admission import sign_admission
from app.bills.hexstr import from_hex
from app.chain import Deployment
from app.chain.registry_v2 import RegistryV2Client
from app.extensions import db
from app.models import ApiToken, Bill, BillPart, ChainEvent, Organisation, OrgKind, OrgStatus
from app.services.admissions import request_admission
from app.services.organisations import finance_organisation, onboard_organisation
from app.services.provisioning import ensure_finance, upgrade_database
from app.services.reporting import reconcile
from app.serving import gunicorn_command
from dev.devchain import AnvilNode

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Platform:
    name: str
    url: str
    config: dict[str, Any]
    app: Flask  # in this test process, on the platform's own database: for set-up and for reading what it holds
    process: subprocess.Popen[bytes] | None = None

    def start(self, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLCHAIN_")}
        env.update({k: str(v) for k, v in self.config.items() if k.startswith("BILLCHAIN_")})
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                gunicorn_command(self.url.removeprefix("http://"), workers=1, threads=16),
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/api/v1/health", timeout=1).status_code in (200, 503):
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise AssertionError(f"platform {self.name} did not start: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def read(self, fn: Callable[[], Any]) -> Any:
        with self.app.app_context():
            db.session.expire_all()
            try:
                return fn()
            finally:
                db.session.remove()

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.read(condition):
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: {what} not reached in time")


def _config(name: str, tmp: Path, database_url: str, anvil: AnvilNode, deployment: Deployment, **extra: Any) -> dict:
    return {
        "BILLCHAIN_DATABASE_URL": database_url,
        "BILLCHAIN_RPC_URL": anvil.rpc_url,
        "BILLCHAIN_REGISTRY": deployment.address,
        "BILLCHAIN_REGISTRY_VERSION": 2,
        "BILLCHAIN_CHAIN_ID": deployment.chain_id,
        "BILLCHAIN_DEPLOY_BLOCK": deployment.block,
        "BILLCHAIN_KEYSTORE_DIR": str(tmp / name / "keystore"),
        "BILLCHAIN_KEYSTORE_PASSWORD": f"{name}-password",
        "BILLCHAIN_KEYSTORE_KDF_N": 2**10,
        "BILLCHAIN_ANCHOR_INTERVAL": 0.05,
        "BILLCHAIN_CLAIM_WAIT": 20.0,
        "BILLCHAIN_SECRET_KEY": f"{name}-secret",
        "BILLCHAIN_RATELIMIT_STORAGE_URL": "memory://",
        "BILLCHAIN_RATELIMIT_ROUTES": "100000 per minute",
        "BILLCHAIN_RATELIMIT_VERIFY": "100000 per minute",
        **extra,
    }


@pytest.fixture
def platforms(anvil: AnvilNode, deployment_v2: Deployment, tmp_path: Path) -> Iterator[tuple[Platform, Platform]]:
    url_a, url_b = f"http://127.0.0.1:{_free_port()}", f"http://127.0.0.1:{_free_port()}"
    schema = f"consortium_b_{os.getpid()}"
    _postgres_schema(schema)
    config_a = _config(
        "a",
        tmp_path,
        f"sqlite:///{tmp_path / 'a.sqlite'}",
        anvil,
        deployment_v2,
        BILLCHAIN_ADMIN_KEY=ANVIL_DEV_KEYS[0],
        BILLCHAIN_BASE_URL=url_a,
        BILLCHAIN_MEMBER_PLATFORMS=url_b,
    )
    config_b = _config(
        "b",
        tmp_path,
        f"{POSTGRES_URL}?options=-csearch_path%3D{schema}",
        anvil,
        deployment_v2,
        BILLCHAIN_BASE_URL=url_b,
        BILLCHAIN_MEMBER_PLATFORMS=url_a,
    )
    os.environ["BILLCHAIN_INSTANCE_PATH"] = str(tmp_path / "instance")
    a = Platform("A", url_a, config_a, create_app(config_a))
    b = Platform("B", url_b, config_b, create_app(config_b))
    for platform in (a, b):
        with platform.app.app_context():
            upgrade_database()
    yield a, b
    for platform in (a, b):
        platform.stop()
        with platform.app.app_context():
            db.session.remove()
            db.engine.dispose()
    _postgres_schema(schema, drop=True)


def _token(org: Organisation) -> str:
    token, plain = ApiToken.issue(org)
    db.session.add(token)
    db.session.commit()
    return plain


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _chain(deployment: Deployment, anvil: AnvilNode) -> RegistryV2Client:
    return RegistryV2Client(anvil.rpc_url, deployment.address)


def test_two_member_platforms_share_only_the_chain(
    platforms: tuple[Platform, Platform], anvil: AnvilNode, deployment_v2: Deployment, tmp_path: Path
) -> None:
    a, b = platforms
    chain = _chain(deployment_v2, anvil)

    # ---- A: the finance department, a hospital and basic medical insurance, onboarded on A.
    with a.app.app_context():
        ensure_finance(password="finance-pass")
        finance_token = _token(finance_organisation())
        hospital = onboard_organisation("市第一人民医院", credit_code(), OrgKind.ISSUER, "test")
        insurance = onboard_organisation("市医疗保障局", credit_code(), OrgKind.CLAIMANT, "test")
        hospital_id, insurance_id = hospital.organisation.id, insurance.organisation.id
    # ---- B: a commercial insurer on its own platform asks for admission with its own key.
    with b.app.app_context():
        asked, request = request_admission("泰康商业保险", credit_code(), OrgKind.CLAIMANT, "test")
        insurer_id, insurer_token = asked.organisation.id, asked.token
    a.start(tmp_path / "a.log")
    a.wait(lambda: db.session.get(Organisation, hospital_id).status == OrgStatus.ACTIVE, "hospital active")
    a.wait(lambda: db.session.get(Organisation, insurance_id).status == OrgStatus.ACTIVE, "insurance active")

    received = requests.post(f"{a.url}/api/v1/admissions", json=request.to_dict(), headers=_auth(finance_token))
    assert received.status_code == 201, received.text
    assert received.json()["status"] == "pending"
    approved = requests.post(
        f"{a.url}/api/v1/admissions/{received.json()['id']}/approve", headers=_auth(finance_token), timeout=10
    )
    assert approved.status_code == 202, approved.text
    b.start(tmp_path / "b.log")
    # B learns of the admission from the chain's event alone.
    b.wait(lambda: db.session.get(Organisation, insurer_id).status == OrgStatus.ACTIVE, "insurer active on B")
    insurer_chain_id = b.read(lambda: db.session.get(Organisation, insurer_id).chain_org_id)
    assert chain.organisation_v2(insurer_chain_id).name == "泰康商业保险"

    # ---- A issues a bill; B verifies it from its file and from its QR (A's public proof).
    issued = requests.post(f"{a.url}/api/v1/bills", json=bill_payload(), headers=_auth(hospital.token), timeout=10)
    assert issued.status_code == 201, issued.text
    bill_id, verify_url = issued.json()["id"], issued.json()["verify_url"]
    a.wait(lambda: db.session.get(Bill, bill_id).status == "anchored", "bill anchored")
    bill_file = requests.get(f"{a.url}/api/v1/bills/{bill_id}/file", headers=_auth(hospital.token), timeout=10).json()

    by_file = requests.post(f"{b.url}/api/v1/verify", json=bill_file, timeout=10).json()
    assert by_file["verdict"] == "authentic", by_file
    assert by_file["issuer"]["name"] == "市第一人民医院"
    by_qr = requests.post(f"{b.url}/api/v1/verify", json={"url": verify_url}, timeout=10).json()
    assert by_qr["verdict"] == "authentic", by_qr
    assert any(a.url in note for note in by_qr["notes"])  # "checked from the proof A serves"
    assert by_qr["bill"] is None  # B never saw the bill's content

    # ---- The race: 16 claims through A (medical insurance) and 16 through B (the insurer) at once.
    def through_a(i: int) -> tuple[str, int, dict[str, Any]]:
        answer = requests.post(
            f"{a.url}/api/v1/bills/{bill_id}/claim", json={"claim_ref": f"MI-{i}"}, headers=_auth(insurance.token)
        )
        return "A", answer.status_code, answer.json()

    def through_b(i: int) -> tuple[str, int, dict[str, Any]]:
        answer = requests.post(
            f"{b.url}/api/v1/claims",
            json={"bill_file": bill_file, "claim_ref": f"TK-{i}"},
            headers=_auth(insurer_token),
        )
        return "B", answer.status_code, answer.json()

    with ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(through_a, i) for i in range(16)] + [pool.submit(through_b, i) for i in range(16)]
        answers = [f.result() for f in futures]
    winners = [(side, body) for side, status, body in answers if status == 200]
    assert len(winners) == 1, [(side, status, body.get("error")) for side, status, body in answers]
    winner_side = winners[0][0]
    winner_name = "市医疗保障局" if winner_side == "A" else "泰康商业保险"
    losers = [body for _, status, body in answers if status != 200]
    assert len(losers) == 31
    assert {s for _, s, _ in answers if s != 200} == {409}
    assert all(winner_name in (body.get("claimed_by"), body.get("last_settled_by")) for body in losers), losers

    # The chain's record names the same winner, and it holds exactly one BillClaimed for the bill.
    with a.app.app_context():
        bill = db.session.get(Bill, bill_id)
        leaf = (
            bill.organisation.chain_org_id,
            from_hex(bill.batch.root),
            [from_hex(p) for p in bill.proof or []],
            from_hex(bill.bill_ref),
            from_hex(bill.content_hash),
            bill.total_fen,
        )
        winner_chain_id = (
            db.session.get(Organisation, insurance_id).chain_org_id if winner_side == "A" else insurer_chain_id
        )
    record = chain.bill_record_v2(*leaf)
    assert record.status.name == "REIMBURSED" and record.last_settled_by == winner_chain_id
    # A bill is (issuer id, bill reference): another issuer's bill may carry the same reference.
    claims = [
        e
        for e in chain.events(deployment_v2.block)
        if e.name == "BillClaimed" and (e.args["issuerId"], bytes(e.args["billRef"])) == (leaf[0], leaf[3])
    ]
    assert len(claims) == 1 and claims[0].args["claimantId"] == winner_chain_id

    # Both databases agree after one round: A's bill is claimed by the winner; B holds the same event.
    a.wait(lambda: db.session.get(Bill, bill_id).status == "claimed", "A's bill claimed")
    parts = a.read(lambda: [(p.claimant_chain_id, p.amount_fen) for p in db.session.scalars(sa.select(BillPart))])
    assert parts == [(winner_chain_id, leaf[5])]
    b.wait(
        lambda: (
            db.session.scalar(
                sa.select(sa.func.count()).select_from(ChainEvent).where(ChainEvent.name == "BillClaimed")
            )
            >= 1
        ),
        "B indexed the claim",
    )

    # ---- A reimbursing unit that keeps its own key: admitted by request, claims via unsigned call + relay.
    own_key = Account.create()
    own_request = sign_admission(
        own_key,
        chain_id=deployment_v2.chain_id,
        registry=deployment_v2.address,
        name="自持密钥保险",
        credit_code=credit_code(),
        kind="claimant",
        deadline=int(time.time()) + 3600,
    )
    received = requests.post(f"{a.url}/api/v1/admissions", json=own_request.to_dict(), headers=_auth(finance_token))
    assert received.status_code == 201, received.text
    requests.post(f"{a.url}/api/v1/admissions/{received.json()['id']}/approve", headers=_auth(finance_token))
    deadline = time.monotonic() + 30
    while chain.key_record(own_key.address).org_id == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    own_chain_id = chain.key_record(own_key.address).org_id
    assert own_chain_id

    second = requests.post(f"{a.url}/api/v1/bills", json=bill_payload(), headers=_auth(hospital.token)).json()
    a.wait(lambda: db.session.get(Bill, second["id"]).status == "anchored", "second bill anchored")
    second_file = requests.get(f"{a.url}/api/v1/bills/{second['id']}/file", headers=_auth(hospital.token)).json()
    call = requests.post(
        f"{b.url}/api/v1/calls/claim",
        json={"bill_file": second_file, "claim_ref": "OWN-1", "sender": own_key.address},
    )
    assert call.status_code == 200, call.text
    unsigned = call.json()
    assert unsigned["to"] == deployment_v2.address and unsigned["chain_id"] == deployment_v2.chain_id
    w3 = chain.w3
    paid = chain.gas_is_paid()  # the test Anvil has free gas; on a paid chain the admission funds the key
    deadline = time.monotonic() + 30
    while paid and w3.eth.get_balance(own_key.address) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    signed = own_key.sign_transaction(
        {
            "to": unsigned["to"],
            "data": unsigned["data"],
            "chainId": unsigned["chain_id"],
            "gas": unsigned["gas"],
            "gasPrice": w3.eth.gas_price * 2 if paid else 0,
            "nonce": w3.eth.get_transaction_count(own_key.address),
            "value": 0,
        }
    )
    relayed = requests.post(f"{b.url}/api/v1/transactions", json={"raw": "0x" + bytes(signed.raw_transaction).hex()})
    assert relayed.status_code == 202, relayed.text
    # Recorded by both platforms from the chain's events: the issuing platform's bill, B's event copy.
    a.wait(lambda: db.session.get(Bill, second["id"]).status == "claimed", "A recorded the self-signed claim")
    assert (
        a.read(lambda: db.session.scalar(sa.select(BillPart.claimant_chain_id).where(BillPart.bill_id == second["id"])))
        == own_chain_id
    )
    b.wait(
        lambda: (
            db.session.scalar(
                sa.select(sa.func.count()).select_from(ChainEvent).where(ChainEvent.name == "BillClaimed")
            )
            >= 2
        ),
        "B indexed the self-signed claim",
    )

    # Reconciliation on A (its database against the chain's events it indexed) lists nothing.
    a.wait(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(BillPart)) == 2, "A indexed both parts")
    today = datetime.now(UTC).date()
    assert a.read(lambda: reconcile(db.session.get(Organisation, hospital_id), today)) == []

    # ---- A goes away: its bill file still verifies on B (the chain alone); its QR cannot be followed.
    a.stop()
    by_file = requests.post(f"{b.url}/api/v1/verify", json=bill_file, timeout=10).json()
    assert by_file["verdict"] == "claimed", by_file
    assert by_file["settlement"]["by_name"] == winner_name
    by_qr = requests.post(f"{b.url}/api/v1/verify", json={"url": verify_url}, timeout=10).json()
    assert by_qr["verdict"] == "unknown"
    assert any("cannot be reached" in note and "bill file" in note for note in by_qr["notes"]), by_qr


def test_the_proof_endpoint_serves_no_personal_data(platforms: tuple[Platform, Platform], tmp_path: Path) -> None:
    """Only the leaf and its proof: a stranger with a QR learns what the chain holds anyway."""
    a, _ = platforms
    with a.app.app_context():
        ensure_finance(password="finance-pass")
        hospital = onboard_organisation("区妇幼保健院", credit_code(), OrgKind.ISSUER, "test")
        hospital_id = hospital.organisation.id
    a.start(tmp_path / "a.log")
    a.wait(lambda: db.session.get(Organisation, hospital_id).status == OrgStatus.ACTIVE, "hospital active")
    issued = requests.post(f"{a.url}/api/v1/bills", json=bill_payload(), headers=_auth(hospital.token)).json()
    a.wait(lambda: db.session.get(Bill, issued["id"]).status == "anchored", "anchored")
    proof = requests.get(f"{a.url}/api/v1/proofs/{issued['bill_ref']}/{issued['content_hash']}", timeout=5)
    assert proof.status_code == 200
    assert set(proof.json()) == {
        "format",
        "chain_id",
        "registry",
        "issuer_id",
        "bill_ref",
        "content_hash",
        "total_fen",
        "root",
        "proof",
    }
    payer = bill_payload()["payer"]
    assert payer["name"] not in proof.text and payer.get("id_number", "@@") not in proof.text
    missing = requests.get(f"{a.url}/api/v1/proofs/0x{'00' * 32}/{issued['content_hash']}", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "bill_not_found"
