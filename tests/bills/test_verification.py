"""verify(): every verdict from a bill file, a verify URL and a QR photo.

The chain here is a small in-memory ChainReader that follows IBillRegistry.verify's rules: app/bills is
pure by design (no web3), so its unit tests cover every branch without a node, including states a real
registry never reaches (an anchor after a revocation). The same verdicts run against a real Anvil
through the app in tests/app/test_api_flow.py and tests/app/test_verify_on_chain.py.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from billkit import make_bill
from eth_account.signers.local import LocalAccount
from PIL import Image

from app.bills import merkle
from app.bills.billfile import BillFile, anchor_files, issue_bill_file
from app.bills.chainview import ChainBillRecord, ChainOrganisation, ChainStatus
from app.bills.errors import BillValidationError, ChainUnavailableError, QRNotFoundError, VerifyURLError
from app.bills.hashing import Domain
from app.bills.qr import render_png, verify_url
from app.bills.verification import CheckName, Verdict, format_result, verify

ZERO = "0x0000000000000000000000000000000000000000"
T0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
CLAIMANT = "0x" + "c1" * 20
BASE_URL = "https://bills.example.cn"


@dataclass
class InMemoryChain:
    """IBillRegistry's read side: anchors, settlements keyed by (issuer, billRef), organisations."""

    chain_id: int
    registry_address: str
    anchors: dict[bytes, tuple[str, datetime]] = field(default_factory=dict)
    settlements: dict[tuple[str, bytes], tuple[ChainStatus, str, datetime]] = field(default_factory=dict)
    organisations: dict[str, ChainOrganisation] = field(default_factory=dict)
    down: bool = False
    calls: int = 0

    def bill_record(self, root: bytes, proof: Sequence[bytes], bill_ref: bytes, content_hash: bytes) -> ChainBillRecord:
        self.calls += 1
        if self.down:
            raise ChainUnavailableError("node unreachable")
        anchored = self.anchors.get(root)
        if anchored is None or not merkle.verify_proof(root, proof, bill_ref, content_hash):
            return ChainBillRecord(ChainStatus.UNKNOWN, ZERO, None, None, None, None)
        issuer, at = anchored
        org = self.organisations.get(issuer)
        status, by, settled_at = self.settlements.get((issuer, bill_ref), (ChainStatus.ISSUED, None, None))
        return ChainBillRecord(status, issuer, at, org.revoked_at if org else None, by, settled_at)

    def organisation(self, address: str) -> ChainOrganisation | None:
        if self.down:
            raise ChainUnavailableError("node unreachable")
        return self.organisations.get(address)

    def register(self, address: str, name: str, credit_code: str, kind: str = "issuer") -> None:
        self.organisations[address] = ChainOrganisation(address, name, credit_code, kind, T0 - timedelta(days=30), None)

    def revoke(self, address: str, at: datetime) -> None:
        self.organisations[address] = replace(self.organisations[address], revoked_at=at)


@dataclass
class PlatformRecords:
    """The platform's database, as BillLookup sees it."""

    files: list[BillFile] = field(default_factory=list)

    def find_bill_file(self, bill_ref: bytes, content_hash: bytes) -> BillFile | None:
        return next((f for f in self.files if (f.bill_ref, f.content_hash) == (bill_ref, content_hash)), None)

    def has_bill_ref(self, bill_ref: bytes) -> bool:
        return any(f.bill_ref == bill_ref for f in self.files)


@pytest.fixture
def chain(domain: Domain, issuer_account: LocalAccount) -> InMemoryChain:
    c = InMemoryChain(domain.chain_id, domain.verifying_contract.lower())
    c.register(issuer_account.address, "北京市第一中学", make_bill().issuer.credit_code)
    c.register(CLAIMANT, "北京市财政局报销中心", "11110000000000001X", kind="claimant")
    return c


def anchor(chain: InMemoryChain, files: list[BillFile], issuer: str, at: datetime = T0) -> list[BillFile]:
    tree = merkle.build([(f.bill_ref, f.content_hash) for f in files])
    chain.anchors[tree.root] = (issuer, at)
    return anchor_files(files, tree, tx_hash=b"\x77" * 32, block_number=7, anchored_at=at)


@pytest.fixture
def batch(chain: InMemoryChain, domain: Domain, issuer_account: LocalAccount) -> list[BillFile]:
    files = [issue_bill_file(make_bill(bill_number=f"{n:010d}"), domain, issuer_account) for n in range(1, 6)]
    return anchor(chain, files, issuer_account.address)


@pytest.fixture
def anchored(batch: list[BillFile]) -> BillFile:
    return batch[2]


# ---------------------------------------------------------------- verdicts from a bill file


def test_anchored_unsettled_bill_is_authentic(chain: InMemoryChain, anchored: BillFile) -> None:
    result = verify(anchored, chain)
    assert result.verdict is Verdict.AUTHENTIC
    assert result.authentic and result.usable_for_reimbursement
    assert all(c.passed for c in result.checks)
    assert result.issuer is not None and result.issuer.name == "北京市第一中学"
    assert result.anchoring is not None and result.anchoring.anchored_at == T0
    assert "北京市第一中学" in result.message


def test_json_text_dict_and_bytes_sources_agree(chain: InMemoryChain, anchored: BillFile) -> None:
    text = anchored.to_json()
    verdicts = {verify(s, chain).verdict for s in (anchored, text, json.loads(text), text.encode())}
    assert verdicts == {Verdict.AUTHENTIC}


def test_claimed_bill_is_authentic_but_not_usable(
    chain: InMemoryChain, anchored: BillFile, issuer_account: LocalAccount
) -> None:
    at = T0 + timedelta(days=3)
    chain.settlements[(issuer_account.address, anchored.bill_ref)] = (ChainStatus.CLAIMED, CLAIMANT, at)
    result = verify(anchored, chain)
    assert result.verdict is Verdict.CLAIMED
    assert result.authentic and not result.usable_for_reimbursement
    assert (result.settled_by, result.settled_at, result.settled_by_name) == (CLAIMANT, at, "北京市财政局报销中心")
    assert "北京市财政局报销中心" in result.message


def test_voided_bill_is_neither_authentic_nor_usable(
    chain: InMemoryChain, anchored: BillFile, issuer_account: LocalAccount
) -> None:
    at = T0 + timedelta(days=1)
    chain.settlements[(issuer_account.address, anchored.bill_ref)] = (ChainStatus.VOIDED, issuer_account.address, at)
    result = verify(anchored, chain)
    assert result.verdict is Verdict.VOIDED
    assert not result.authentic and not result.usable_for_reimbursement
    assert result.settled_by == issuer_account.address and result.settled_at == at


def test_changed_amount_with_consistent_total_is_tampered_by_content_hash(
    chain: InMemoryChain, anchored: BillFile
) -> None:
    data = anchored.to_dict()
    item = data["bill"]["items"][0]
    item["unit_price_fen"] = item["amount_fen"] = item["unit_price_fen"] * 10
    data["bill"]["total_fen"] = sum(i["amount_fen"] for i in data["bill"]["items"])
    # a careful forger also recomputes the check code: it needs the salt, which the file carries
    from app.bills.model import derive_check_code

    b = anchored.bill
    data["bill"]["check_code"] = derive_check_code(
        b.bill_code, b.bill_number, b.issuer.credit_code, b.issued_at, data["bill"]["total_fen"], b.salt
    )
    result = verify(data, chain)
    assert result.verdict is Verdict.TAMPERED
    assert result.failed_check is CheckName.CONTENT_HASH
    assert not result.authentic


def test_bill_that_breaks_its_own_rules_is_tampered(chain: InMemoryChain, anchored: BillFile) -> None:
    data = anchored.to_dict()
    data["bill"]["items"][0]["amount_fen"] += 100
    result = verify(data, chain)
    assert result.verdict is Verdict.TAMPERED and result.failed_check is CheckName.BILL_RULES
    assert "items[0].amount_fen" in result.message


def test_changed_bill_ref_is_tampered(chain: InMemoryChain, anchored: BillFile) -> None:
    result = verify(replace(anchored, bill_ref=b"\x01" * 32), chain)
    assert result.verdict is Verdict.TAMPERED and result.failed_check is CheckName.BILL_REF


def test_proof_for_another_root_is_tampered(chain: InMemoryChain, anchored: BillFile, batch: list[BillFile]) -> None:
    assert anchored.anchoring is not None and batch[0].anchoring is not None
    wrong = replace(anchored, anchoring=replace(anchored.anchoring, proof=batch[0].anchoring.proof))
    result = verify(wrong, chain)
    assert result.verdict is Verdict.TAMPERED and result.failed_check is CheckName.PROOF


def test_signature_by_someone_else_is_invalid(
    chain: InMemoryChain, anchored: BillFile, stranger_account: LocalAccount, domain: Domain
) -> None:
    forged = issue_bill_file(anchored.bill, domain, stranger_account)
    claimed_signer = replace(forged.signature, signer=anchored.signature.signer)
    result = verify(replace(anchored, signature=claimed_signer), chain)
    assert result.verdict is Verdict.SIGNATURE_INVALID and result.failed_check is CheckName.SIGNATURE


def test_signer_who_did_not_anchor_is_signature_invalid(
    chain: InMemoryChain, domain: Domain, issuer_account: LocalAccount, stranger_account: LocalAccount
) -> None:
    chain.register(stranger_account.address, "某某医院", "12110000400000005X")
    forged = issue_bill_file(make_bill(bill_number="0000000099"), domain, stranger_account)
    # the genuine issuer anchors a root that happens to contain the stranger-signed bill
    (anchored,) = anchor(chain, [forged], issuer_account.address)
    result = verify(anchored, chain)
    assert result.verdict is Verdict.SIGNATURE_INVALID and result.failed_check is CheckName.ISSUER_MATCH


def test_issuer_claiming_another_organisations_credit_code_is_signature_invalid(
    chain: InMemoryChain, domain: Domain, stranger_account: LocalAccount
) -> None:
    chain.register(stranger_account.address, "某某医院", "12110000400000005X")
    pretending = issue_bill_file(make_bill(bill_number="0000000098"), domain, stranger_account)
    (anchored,) = anchor(chain, [pretending], stranger_account.address)
    result = verify(anchored, chain)
    assert result.verdict is Verdict.SIGNATURE_INVALID and result.failed_check is CheckName.ISSUER_IDENTITY


def test_issuer_revoked_after_anchoring_keeps_bill_authentic_with_a_note(
    chain: InMemoryChain, anchored: BillFile, issuer_account: LocalAccount
) -> None:
    chain.revoke(issuer_account.address, T0 + timedelta(days=10))
    result = verify(anchored, chain)
    assert result.verdict is Verdict.AUTHENTIC
    assert result.issuer_revoked_at == T0 + timedelta(days=10)
    assert result.note_messages and "after this bill was anchored" in result.note_messages[0]


def test_issuer_revoked_before_anchoring_is_not_valid(
    chain: InMemoryChain, anchored: BillFile, issuer_account: LocalAccount
) -> None:
    chain.revoke(issuer_account.address, T0 - timedelta(seconds=1))
    result = verify(anchored, chain)
    assert result.verdict is Verdict.ISSUER_REVOKED
    assert not result.authentic and result.failed_check is CheckName.ISSUER_STANDING


def test_pending_file_known_to_the_platform_is_not_anchored(
    chain: InMemoryChain, domain: Domain, issuer_account: LocalAccount
) -> None:
    pending = issue_bill_file(make_bill(bill_number="0000000050"), domain, issuer_account)
    result = verify(pending, chain, PlatformRecords([pending]))
    assert result.verdict is Verdict.NOT_ANCHORED
    assert not result.authentic and chain.calls == 0


def test_pending_file_anchored_since_is_verified_with_the_platforms_anchoring(
    chain: InMemoryChain, domain: Domain, issuer_account: LocalAccount
) -> None:
    pending = issue_bill_file(make_bill(bill_number="0000000051"), domain, issuer_account)
    (now_anchored,) = anchor(chain, [pending], issuer_account.address)
    assert verify(pending, chain, PlatformRecords([now_anchored])).verdict is Verdict.AUTHENTIC


def test_file_nobody_knows_is_unknown(chain: InMemoryChain, domain: Domain, issuer_account: LocalAccount) -> None:
    stray = issue_bill_file(make_bill(bill_number="0000000052"), domain, issuer_account)
    assert verify(stray, chain).verdict is Verdict.UNKNOWN
    assert verify(stray, chain, PlatformRecords()).verdict is Verdict.UNKNOWN


def test_root_never_anchored_is_unknown_or_pending(chain: InMemoryChain, anchored: BillFile) -> None:
    assert anchored.anchoring is not None
    del chain.anchors[anchored.anchoring.root]
    assert verify(anchored, chain).verdict is Verdict.UNKNOWN
    assert verify(anchored, chain, PlatformRecords([anchored])).verdict is Verdict.NOT_ANCHORED


def test_file_for_another_chain_is_unknown_here(
    chain: InMemoryChain, issuer_account: LocalAccount, anchored: BillFile
) -> None:
    other = issue_bill_file(make_bill(), Domain(1, chain.registry_address), issuer_account)
    result = verify(other, chain)
    assert result.verdict is Verdict.UNKNOWN and result.failed_check is CheckName.DOMAIN
    assert "chain 1" in result.message


def test_chain_outage_propagates(chain: InMemoryChain, anchored: BillFile) -> None:
    chain.down = True
    with pytest.raises(ChainUnavailableError):
        verify(anchored, chain)


def test_malformed_file_raises_validation_error(chain: InMemoryChain, anchored: BillFile) -> None:
    data = anchored.to_dict()
    data["signature"] = "nope"
    with pytest.raises(BillValidationError):
        verify(data, chain)
    with pytest.raises(BillValidationError):
        verify("{not json", chain)


# ---------------------------------------------------------------- verify URL and QR photo


def test_url_of_an_anchored_bill_is_authentic(chain: InMemoryChain, batch: list[BillFile]) -> None:
    url = verify_url(BASE_URL, batch[1].bill_ref, batch[1].content_hash)
    result = verify(url, chain, PlatformRecords(batch))
    assert result.verdict is Verdict.AUTHENTIC and result.source == "url"


def test_url_with_a_known_ref_but_other_hash_is_tampered(chain: InMemoryChain, batch: list[BillFile]) -> None:
    url = verify_url(BASE_URL, batch[1].bill_ref, b"\x99" * 32)
    result = verify(url, chain, PlatformRecords(batch))
    assert result.verdict is Verdict.TAMPERED and result.failed_check is CheckName.CONTENT_HASH


def test_url_nobody_knows_is_unknown(chain: InMemoryChain, batch: list[BillFile]) -> None:
    result = verify(verify_url(BASE_URL, b"\x98" * 32, b"\x99" * 32), chain, PlatformRecords(batch))
    assert result.verdict is Verdict.UNKNOWN and result.bill is None


def test_url_needs_the_platform_records(chain: InMemoryChain, batch: list[BillFile]) -> None:
    with pytest.raises(ValueError, match="lookup"):
        verify(verify_url(BASE_URL, batch[0].bill_ref, batch[0].content_hash), chain)


def test_malformed_url_raises(chain: InMemoryChain) -> None:
    with pytest.raises(VerifyURLError):
        verify("https://bills.example.cn/v/garbage", chain, PlatformRecords())


def test_qr_photo_of_an_anchored_bill_is_authentic(chain: InMemoryChain, batch: list[BillFile]) -> None:
    png = render_png(verify_url(BASE_URL, batch[4].bill_ref, batch[4].content_hash), box_size=5)
    result = verify(png, chain, PlatformRecords(batch))
    assert result.verdict is Verdict.AUTHENTIC and result.source == "image"


def test_photo_without_a_qr_code_raises(chain: InMemoryChain) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), "white").save(buffer, format="PNG")
    with pytest.raises(QRNotFoundError):
        verify(buffer.getvalue(), chain, PlatformRecords())


def test_qr_with_a_foreign_url_raises(chain: InMemoryChain) -> None:
    import qrcode

    buffer = io.BytesIO()
    qrcode.make("https://example.com/not-a-bill").save(buffer)
    with pytest.raises(QRNotFoundError, match="not a Billchain verify URL"):
        verify(buffer.getvalue(), chain, PlatformRecords())


# ---------------------------------------------------------------- output


def test_to_dict_is_json_and_masks_personal_data(
    chain: InMemoryChain, anchored: BillFile, issuer_account: LocalAccount
) -> None:
    chain.settlements[(issuer_account.address, anchored.bill_ref)] = (ChainStatus.CLAIMED, CLAIMANT, T0)
    data = json.loads(json.dumps(verify(anchored, chain).to_dict(), ensure_ascii=False))
    assert data["verdict"] == "claimed" and data["authentic"] is True
    assert data["usable_for_reimbursement"] is False
    assert data["settlement"]["by_name"] == "北京市财政局报销中心"
    assert anchored.bill.payer.id_number is not None
    assert anchored.bill.payer.id_number not in json.dumps(data)
    assert "salt" not in data["bill"]
    assert [c["name"] for c in data["checks"]][:4] == ["bill_rules", "bill_ref", "content_hash", "signature"]


def test_format_result_reads_well(chain: InMemoryChain, anchored: BillFile) -> None:
    text = format_result(verify(anchored, chain))
    assert text.startswith("AUTHENTIC: ")
    assert "贰仟陆佰捌拾伍元壹角捌分" in text and "[ok] content_hash" in text
    tampered = format_result(verify(replace(anchored, bill_ref=b"\x01" * 32), chain))
    assert "[FAILED] bill_ref" in tampered
