"""Registry v2 as a consortium uses it, on a real Anvil: member platforms that share only the chain.

Each "platform" here is its own set of keys (nothing else is shared): the finance department's admin
key, a hospital's key on platform A, an insurer's key on platform A and an employer's key on platform
B. Every decision below is the chain's: the clients only sign and send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from app.bills.admission import AdmissionRequest, sign_admission, sign_rotation
from app.bills.chainview_v2 import ChainStatusV2
from app.bills.identifiers import credit_code_check_char
from app.bills.merkle import build
from app.chain import RegistryRevert, TransactionFailed, deploy_v2
from app.chain.registry_v2 import RegistryV2Client, paper_word
from dev import devchain
from dev.devchain import AnvilNode

TOTAL = 100_000  # fen: a 1,000-yuan hospital bill


def _credit_code(n: int) -> str:
    first17 = f"12110000{n:09d}"
    return first17 + credit_code_check_char(first17)


@dataclass
class Consortium:
    client: RegistryV2Client
    admin: LocalAccount

    def admit(self, key: LocalAccount, name: str, code: str, kind: str) -> int:
        request = sign_admission(
            key,
            chain_id=self.client.chain_id,
            registry=self.client.registry_address,
            name=name,
            credit_code=code,
            kind=kind,
            deadline=int(time.time()) + 3600,
        )
        # The request travels as a file between platforms: parse it back as the finance platform would.
        received = AdmissionRequest.from_dict(request.to_dict())
        struct, signature = received.as_call()
        self.client.transact(self.admin, "registerOrganisation", struct, signature)
        return self.client.org_id_of(code)


@pytest.fixture
def anvil() -> Iterator[AnvilNode]:
    with devchain.start_anvil() as node:
        yield node


@pytest.fixture
def consortium(anvil: AnvilNode) -> Consortium:
    admin = devchain.dev_account(0)
    deployment = deploy_v2(anvil.rpc_url, admin, max_lock_days=30)
    return Consortium(RegistryV2Client(anvil.rpc_url, deployment.address), admin)


def _bill(n: int) -> tuple[bytes, bytes, int]:
    return (n.to_bytes(32, "big"), (10_000 + n).to_bytes(32, "big"), TOTAL)


def _claim_args(issuer_id: int, tree, index: int, amount: int, ref: bytes) -> list:  # type: ignore[no-untyped-def]
    bill_ref, content_hash, total = tree.values[index]
    return [issuer_id, tree.root, tree.proof(index), bill_ref, content_hash, total, amount, ref]


def test_admission_needs_the_keys_own_signature(consortium: Consortium) -> None:
    key, impostor = Account.create(), Account.create()
    request = sign_admission(
        impostor,
        chain_id=consortium.client.chain_id,
        registry=consortium.client.registry_address,
        name="冒名医院",
        credit_code=_credit_code(1),
        kind="issuer",
        deadline=int(time.time()) + 3600,
    )
    forged = {**request.to_dict(), "account": key.address}
    with pytest.raises(Exception, match="signature"):
        AdmissionRequest.from_dict(forged)
    struct = (key.address, "冒名医院", _credit_code(1), 1, request.deadline)
    with pytest.raises(RegistryRevert) as refused:
        consortium.client.transact(consortium.admin, "registerOrganisation", struct, request.signature)
    assert refused.value.name == "OrgSignatureInvalid"
    # The impostor's signature was over its own request: over this one it recovers to nobody's key.
    assert refused.value.error_args["expected"] == key.address
    assert refused.value.error_args["signer"] != key.address
    assert consortium.client.org_id_of(_credit_code(1)) == 0


def test_32_claims_from_two_platforms_race_and_the_chain_picks_one(consortium: Consortium) -> None:
    hospital, insurer_a, employer_b = Account.create(), Account.create(), Account.create()
    hospital_id = consortium.admit(hospital, "市第一医院", _credit_code(2), "issuer")
    insurer_id = consortium.admit(insurer_a, "平台A 医保", _credit_code(3), "claimant")
    employer_id = consortium.admit(employer_b, "平台B 雇主", _credit_code(4), "claimant")
    tree = build([_bill(i) for i in range(1, 11)])
    consortium.client.transact(hospital, "anchor", tree.root)

    client = consortium.client
    signed = []
    for key in (insurer_a, employer_b):
        nonce = client.pending_nonce(key.address)
        for i in range(16):
            args = _claim_args(hospital_id, tree, 3, 0, f"case-{key.address[-4:]}-{i}".encode().ljust(32, b"\0"))
            signed.append(client.build_and_sign(key, "claim", args, nonce + i, gas=300_000))
    start = threading.Barrier(len(signed))

    def send(tx) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        client.send_raw(tx)

    threads = [threading.Thread(target=send, args=(tx,)) for tx in signed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    receipts = [client.wait_for_receipt(tx.hash) for tx in signed]

    winners = [r for r in receipts if r.status]
    assert len(winners) == 1
    claimed = [e for e in winners[0].events if e.name == "BillClaimed"]
    assert len(claimed) == 1 and claimed[0].args["amountFen"] == TOTAL and claimed[0].args["remainingFen"] == 0
    winner_id = claimed[0].args["claimantId"]
    assert winner_id in (insurer_id, employer_id)
    assert sum(1 for r in receipts if not r.status) == 31  # mined and reverted: the chain refused them
    # Anvil may mine several of the queued claims into one block, so a replay on the block before can
    # miss why; asking the chain now answers what every loser met: reimbursed, by whom.
    for key in (insurer_a, employer_b):
        with pytest.raises(RegistryRevert) as late:
            client.simulate(key.address, "claim", *_claim_args(hospital_id, tree, 3, 0, bytes(32)))
        assert late.value.name == "BillAlreadyReimbursed" and late.value.error_args["by"] == winner_id
    record = client.bill_record_v2(hospital_id, tree.root, tree.proof(3), *tree.values[3])
    assert record.status == ChainStatusV2.REIMBURSED
    assert record.reimbursed_fen == TOTAL and record.last_settled_by == winner_id
    events = [e for e in client.events(0) if e.name == "BillClaimed"]
    assert len(events) == 1


def test_split_reimbursement_is_capped_at_the_total_across_units(consortium: Consortium) -> None:
    hospital, insurance, insurer = Account.create(), Account.create(), Account.create()
    hospital_id = consortium.admit(hospital, "市第二医院", _credit_code(5), "issuer")
    insurance_id = consortium.admit(insurance, "医保局", _credit_code(6), "claimant")
    insurer_id = consortium.admit(insurer, "商业保险", _credit_code(7), "claimant")
    tree = build([_bill(i) for i in range(20, 23)])
    consortium.client.transact(hospital, "anchor", tree.root)
    client = consortium.client
    bill = tree.values[1]
    proof = tree.proof(1)

    until = int(time.time()) + 7 * 24 * 3600
    client.transact(insurance, "lock", hospital_id, tree.root, proof, *bill, until)
    with pytest.raises(RegistryRevert) as locked:
        client.transact(insurer, "claim", *_claim_args(hospital_id, tree, 1, 1000, b"x".ljust(32, b"\0")))
    assert locked.value.name == "BillLockedBy" and locked.value.error_args["holderId"] == insurance_id

    client.transact(insurance, "claim", *_claim_args(hospital_id, tree, 1, 70_000, b"yb-1".ljust(32, b"\0")))
    part = client.bill_record_v2(hospital_id, tree.root, proof, *bill)
    assert part.status == ChainStatusV2.PARTLY_REIMBURSED and part.remaining_fen == 30_000

    client.transact(insurer, "claim", *_claim_args(hospital_id, tree, 1, 0, b"sy-1".ljust(32, b"\0")))
    done = client.bill_record_v2(hospital_id, tree.root, proof, *bill)
    assert done.status == ChainStatusV2.REIMBURSED and done.reimbursed_fen == TOTAL
    assert done.last_settled_by == insurer_id

    with pytest.raises(RegistryRevert) as over:
        client.transact(insurance, "claim", *_claim_args(hospital_id, tree, 1, 1, b"again".ljust(32, b"\0")))
    assert over.value.name in ("BillClaimExceedsRemaining", "BillAlreadyReimbursed")


def test_paper_conversion_stops_electronic_claims(consortium: Consortium) -> None:
    hospital, insurer = Account.create(), Account.create()
    hospital_id = consortium.admit(hospital, "市第三医院", _credit_code(8), "issuer")
    consortium.admit(insurer, "某保险", _credit_code(9), "claimant")
    tree = build([_bill(i) for i in range(30, 32)])
    client = consortium.client
    client.transact(hospital, "anchor", tree.root)
    client.transact(hospital, "convertToPaper", tree.root, tree.proof(0), *tree.values[0], paper_word("ZJ2026-000123"))
    with pytest.raises(RegistryRevert) as refused:
        client.transact(insurer, "claim", *_claim_args(hospital_id, tree, 0, 0, b"p".ljust(32, b"\0")))
    assert refused.value.name == "BillOnPaper"
    record = client.bill_record_v2(hospital_id, tree.root, tree.proof(0), *tree.values[0])
    assert record.status == ChainStatusV2.CONVERTED_TO_PAPER and record.paper_number == "ZJ2026-000123"


def test_rotated_key_keeps_old_bills_verifying_and_can_do_nothing(consortium: Consortium) -> None:
    old_key, new_key = Account.create(), Account.create()
    school_id = consortium.admit(old_key, "市第一中学", _credit_code(10), "issuer")
    client = consortium.client
    before = build([_bill(40)])
    client.transact(old_key, "anchor", before.root)

    deadline = int(time.time()) + 3600
    signature = sign_rotation(
        new_key, chain_id=client.chain_id, registry=client.registry_address, org_id=school_id, deadline=deadline
    )
    client.transact(consortium.admin, "rotateKey", (school_id, new_key.address, deadline), signature)

    record = client.bill_record_v2(school_id, before.root, before.proof(0), *before.values[0])
    assert record.status == ChainStatusV2.ISSUED and record.issuer_id == school_id
    assert record.anchored_by == old_key.address and record.anchor_key_rotated_at is not None
    after = build([_bill(41)])
    with pytest.raises((RegistryRevert, TransactionFailed)) as refused:
        client.transact(old_key, "anchor", after.root)
    assert "AccessControlUnauthorizedAccount" in str(refused.value)
    client.transact(new_key, "anchor", after.root)
    assert client.key_record(old_key.address).can_act is False
    assert client.organisation_v2(school_id).key == new_key.address  # type: ignore[union-attr]


def test_an_issuer_cannot_anchor_another_issuers_root_first(consortium: Consortium) -> None:
    school, thief = Account.create(), Account.create()
    school_id = consortium.admit(school, "市第四中学", _credit_code(11), "issuer")
    thief_id = consortium.admit(thief, "某单位", _credit_code(12), "issuer")
    tree = build([_bill(50), _bill(51)])
    consortium.client.transact(thief, "anchor", tree.root)  # anchors it for the thief only
    consortium.client.transact(school, "anchor", tree.root)  # the school's own anchor still goes through
    mine = consortium.client.bill_record_v2(school_id, tree.root, tree.proof(0), *tree.values[0])
    theirs = consortium.client.bill_record_v2(thief_id, tree.root, tree.proof(0), *tree.values[0])
    assert mine.status == ChainStatusV2.ISSUED and mine.anchored_by == school.address
    assert theirs.anchored_by == thief.address  # the thief's copy is its own, and verifies as the thief's
