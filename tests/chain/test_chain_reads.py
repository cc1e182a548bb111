"""Reads: what verifiers see for each bill status, organisations, anchors and settlements."""

from __future__ import annotations

from datetime import UTC, datetime

from chainkit import CLAIM_REF, bill, leaf, parent
from eth_account.signers.local import LocalAccount

from app.bills.chainview import ChainReader, ChainStatus
from app.chain import ZERO_ADDRESS as ZERO
from app.chain import RegistryClient, load_deployment, save_deployment
from dev.devchain import DEV_ORGS, DevRegistry


def _anchor_one(client: RegistryClient, issuer: LocalAccount, n: int = 1) -> tuple[bytes, bytes, bytes]:
    ref, content = bill(n)
    root = leaf(ref, content)
    client.transact(issuer, "anchor", root)
    return root, ref, content


def test_client_satisfies_chain_reader(client: RegistryClient, dev_registry: DevRegistry) -> None:
    reader: ChainReader = client  # mypy checks the protocol; the asserts check the values
    assert reader.chain_id == 31337
    assert reader.registry_address == dev_registry.deployment.address


def test_deployment_has_code_and_admin_role(client: RegistryClient, admin: LocalAccount) -> None:
    assert client.has_code()
    assert client.has_role("DEFAULT_ADMIN_ROLE", admin.address)


def test_deployment_round_trips_through_json(dev_registry: DevRegistry, tmp_path) -> None:
    path = save_deployment(tmp_path, dev_registry.deployment)
    assert path.name == "31337.json"
    assert load_deployment(tmp_path, 31337) == dev_registry.deployment
    assert load_deployment(tmp_path, 1) is None


def test_organisation_reads_registered_issuer(client: RegistryClient, issuer: LocalAccount) -> None:
    org = client.organisation(issuer.address)
    assert org is not None
    name, code, _ = DEV_ORGS["issuer"]
    assert (org.address, org.name, org.credit_code, org.kind) == (issuer.address, name, code, "issuer")
    assert org.registered_at.tzinfo == UTC
    assert org.revoked_at is None


def test_organisation_reads_claimant_kind(client: RegistryClient, claimant: LocalAccount) -> None:
    org = client.organisation(claimant.address)
    assert org is not None and org.kind == "claimant"


def test_organisation_is_none_when_unregistered(client: RegistryClient, stranger: LocalAccount) -> None:
    assert client.organisation(stranger.address) is None


def test_organisation_shows_revocation(client: RegistryClient, admin: LocalAccount, issuer: LocalAccount) -> None:
    receipt = client.transact(admin, "revokeOrganisation", issuer.address)
    org = client.organisation(issuer.address)
    assert org is not None and org.revoked_at == receipt.block_time


def test_bill_record_unknown_when_root_not_anchored(client: RegistryClient) -> None:
    ref, content = bill(1)
    record = client.bill_record(leaf(ref, content), [], ref, content)
    assert record.status is ChainStatus.UNKNOWN
    assert (record.issuer, record.anchored_at, record.settled_by, record.settled_at) == (ZERO, None, None, None)


def test_bill_record_unknown_when_content_differs(client: RegistryClient, issuer: LocalAccount) -> None:
    root, ref, _ = _anchor_one(client, issuer)
    assert client.bill_record(root, [], ref, b"\x01" * 32).status is ChainStatus.UNKNOWN


def test_bill_record_issued(client: RegistryClient, issuer: LocalAccount) -> None:
    root, ref, content = _anchor_one(client, issuer)
    record = client.bill_record(root, [], ref, content)
    assert record.status is ChainStatus.ISSUED
    assert record.issuer == issuer.address
    assert isinstance(record.anchored_at, datetime) and record.anchored_at.tzinfo == UTC
    assert (record.issuer_revoked_at, record.settled_by, record.settled_at) == (None, None, None)


def test_bill_record_issued_under_two_bill_root(client: RegistryClient, issuer: LocalAccount) -> None:
    (ref1, c1), (ref2, c2) = bill(1), bill(2)
    root = parent(leaf(ref1, c1), leaf(ref2, c2))
    client.transact(issuer, "anchor", root)
    assert client.bill_record(root, [leaf(ref2, c2)], ref1, c1).status is ChainStatus.ISSUED
    assert client.bill_record(root, [leaf(ref1, c1)], ref2, c2).status is ChainStatus.ISSUED
    assert client.bill_record(root, [], ref1, c1).status is ChainStatus.UNKNOWN


def test_bill_record_claimed(client: RegistryClient, issuer: LocalAccount, claimant: LocalAccount) -> None:
    root, ref, content = _anchor_one(client, issuer)
    receipt = client.transact(claimant, "claim", root, [], ref, content, CLAIM_REF)
    record = client.bill_record(root, [], ref, content)
    assert record.status is ChainStatus.CLAIMED
    assert (record.settled_by, record.settled_at) == (claimant.address, receipt.block_time)


def test_bill_record_voided(client: RegistryClient, issuer: LocalAccount) -> None:
    root, ref, content = _anchor_one(client, issuer)
    receipt = client.transact(issuer, "voidBill", root, [], ref, content, 2, b"\x00" * 32)
    record = client.bill_record(root, [], ref, content)
    assert record.status is ChainStatus.VOIDED
    assert (record.settled_by, record.settled_at) == (issuer.address, receipt.block_time)


def test_bill_record_shows_revoked_issuer(client: RegistryClient, admin: LocalAccount, issuer: LocalAccount) -> None:
    root, ref, content = _anchor_one(client, issuer)
    revoked = client.transact(admin, "revokeOrganisation", issuer.address)
    record = client.bill_record(root, [], ref, content)
    assert record.status is ChainStatus.ISSUED
    assert record.issuer_revoked_at == revoked.block_time


def test_anchor_of(client: RegistryClient, issuer: LocalAccount) -> None:
    root, _, _ = _anchor_one(client, issuer)
    found = client.anchor_of(root)
    assert found is not None and found[0] == issuer.address
    assert client.anchor_of(b"\x07" * 32) is None


def test_settlement_of(client: RegistryClient, issuer: LocalAccount, claimant: LocalAccount) -> None:
    root, ref, content = _anchor_one(client, issuer)
    assert client.settlement_of(issuer.address, ref) is None
    receipt = client.transact(claimant, "claim", root, [], ref, content, CLAIM_REF)
    settlement = client.settlement_of(issuer.address, ref)
    assert settlement is not None
    assert (settlement.status, settlement.by, settlement.at) == (
        ChainStatus.CLAIMED,
        claimant.address,
        receipt.block_time,
    )


def test_events_cover_every_registry_event_in_order(
    client: RegistryClient, issuer: LocalAccount, claimant: LocalAccount, dev_registry: DevRegistry
) -> None:
    root, ref, content = _anchor_one(client, issuer)
    client.transact(claimant, "claim", root, [], ref, content, CLAIM_REF)
    events = client.events(dev_registry.deployment.block, with_time=True)
    names = [e.name for e in events]
    assert names.count("OrganisationRegistered") == 3
    assert names[-2:] == ["BillsAnchored", "BillClaimed"]
    claimed = events[-1]
    assert claimed.args == {
        "issuer": issuer.address,
        "billRef": ref,
        "claimant": claimant.address,
        "root": root,
        "claimRef": CLAIM_REF,
    }
    assert claimed.block_time is not None and claimed.block_time.tzinfo == UTC
    assert [(e.block_number, e.log_index) for e in events] == sorted((e.block_number, e.log_index) for e in events)


def test_events_are_the_same_in_small_chunks(client: RegistryClient, issuer: LocalAccount) -> None:
    _anchor_one(client, issuer, 1)
    _anchor_one(client, issuer, 2)
    assert client.events(0, chunk=2) == client.events(0)
