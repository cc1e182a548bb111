"""Writes: revert decoding, receipts, idempotent sends, nonces for the outbox worker."""

from __future__ import annotations

import pytest
from chainkit import CLAIM_REF, bill, leaf
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from app.chain import NonceConflict, RegistryClient, RegistryRevert, TransactionTimeout
from dev.devchain import DevRegistry, rpc

ISSUER_ROLE = keccak(text="ISSUER_ROLE")


def _claimed_bill(client: RegistryClient, issuer: LocalAccount, claimant: LocalAccount) -> tuple:
    ref, content = bill(1)
    root = leaf(ref, content)
    client.transact(issuer, "anchor", root)
    first = client.transact(claimant, "claim", root, [], ref, content, CLAIM_REF)
    return root, ref, content, first


def test_claim_reverts_when_already_claimed_with_args(
    client: RegistryClient, issuer: LocalAccount, claimant: LocalAccount
) -> None:
    root, ref, content, first = _claimed_bill(client, issuer, claimant)
    with pytest.raises(RegistryRevert) as caught:
        client.transact(claimant, "claim", root, [], ref, content, CLAIM_REF)
    assert caught.value.name == "BillAlreadyClaimed"
    assert caught.value.error_args == {
        "billRef": ref,
        "by": claimant.address,
        "at": int(first.block_time.timestamp()),
    }


def test_anchor_reverts_for_stranger_with_access_control_error(client: RegistryClient, stranger: LocalAccount) -> None:
    with pytest.raises(RegistryRevert) as caught:
        client.transact(stranger, "anchor", b"\x01" * 32)
    assert caught.value.name == "AccessControlUnauthorizedAccount"
    assert caught.value.error_args == {"account": stranger.address, "neededRole": ISSUER_ROLE}


def test_register_reverts_for_non_admin(client: RegistryClient, issuer: LocalAccount) -> None:
    with pytest.raises(RegistryRevert) as caught:
        client.transact(issuer, "registerOrganisation", issuer.address, "x", "1" * 18, 1)
    assert caught.value.error_args == {"account": issuer.address, "neededRole": b"\x00" * 32}


def test_error_without_args_decodes(client: RegistryClient, issuer: LocalAccount) -> None:
    with pytest.raises(RegistryRevert) as caught:
        client.simulate(issuer.address, "anchor", b"\x00" * 32)
    assert (caught.value.name, caught.value.error_args) == ("BillRootZero", {})


def test_void_by_other_issuer_reverts_with_both_addresses(
    client: RegistryClient, issuer: LocalAccount, other_issuer: LocalAccount
) -> None:
    ref, content = bill(1)
    root = leaf(ref, content)
    client.transact(issuer, "anchor", root)
    with pytest.raises(RegistryRevert) as caught:
        client.simulate(other_issuer.address, "voidBill", root, [], ref, content, 1, b"\x00" * 32)
    assert caught.value.name == "BillNotIssuedBy"
    assert caught.value.error_args == {
        "billRef": ref,
        "issuer": issuer.address,
        "caller": other_issuer.address,
    }


def test_simulate_sends_nothing(client: RegistryClient, issuer: LocalAccount) -> None:
    before = client.block_number()
    assert client.simulate(issuer.address, "anchor", b"\x05" * 32) == []
    assert client.block_number() == before
    assert client.anchor_of(b"\x05" * 32) is None


def test_build_and_sign_raises_the_revert_from_estimation(
    client: RegistryClient, issuer: LocalAccount, claimant: LocalAccount
) -> None:
    root, ref, content, _ = _claimed_bill(client, issuer, claimant)
    nonce = client.pending_nonce(claimant.address)
    with pytest.raises(RegistryRevert, match="BillAlreadyClaimed"):
        client.build_and_sign(claimant, "claim", [root, [], ref, content, CLAIM_REF], nonce)


def test_mined_revert_has_status_false_and_a_reason(
    client: RegistryClient, issuer: LocalAccount, claimant: LocalAccount
) -> None:
    root, ref, content, _ = _claimed_bill(client, issuer, claimant)
    nonce = client.pending_nonce(claimant.address)
    # A fixed gas skips estimation, so the node mines the failing call, as a racing claim would be.
    signed = client.build_and_sign(claimant, "claim", [root, [], ref, content, CLAIM_REF], nonce, gas=200_000)
    client.send_raw(signed)
    receipt = client.wait_for_receipt(signed.hash, timeout=5)
    assert receipt.status is False and receipt.events == []
    reason = client.revert_reason(signed.hash)
    assert reason is not None and reason.name == "BillAlreadyClaimed"


def test_receipt_decodes_registry_events(client: RegistryClient, issuer: LocalAccount) -> None:
    receipt = client.transact(issuer, "anchor", b"\x09" * 32)
    assert receipt.status is True
    assert [(e.name, e.args) for e in receipt.events] == [
        ("BillsAnchored", {"root": b"\x09" * 32, "issuer": issuer.address})
    ]
    assert receipt.events[0].block_time == receipt.block_time


def test_receipt_is_none_for_unknown_hash(client: RegistryClient) -> None:
    assert client.receipt(b"\x01" * 32) is None


def test_send_raw_is_idempotent_for_the_same_transaction(client: RegistryClient, issuer: LocalAccount) -> None:
    signed = client.build_and_sign(issuer, "anchor", [b"\x0a" * 32], client.pending_nonce(issuer.address))
    assert client.send_raw(signed) == signed.hash
    assert client.send_raw(signed) == signed.hash  # mined already: "nonce too low" for a known hash
    assert client.send_raw(signed.raw) == signed.hash  # raw bytes, as the outbox stores them
    assert client.wait_for_receipt(signed.hash, 5).status


def test_send_raw_is_idempotent_while_pending(unmined_registry: DevRegistry) -> None:
    client, issuer = unmined_registry.client, unmined_registry.issuer
    signed = client.build_and_sign(issuer, "anchor", [b"\x0b" * 32], client.pending_nonce(issuer.address))
    assert client.send_raw(signed) == signed.hash
    assert client.send_raw(signed) == signed.hash  # in the pool: "already imported"
    assert client.receipt(signed.hash) is None
    rpc(unmined_registry.node_url, "evm_mine")
    assert client.wait_for_receipt(signed.hash, 5).status


def test_send_raw_reports_a_nonce_taken_by_another_transaction(client: RegistryClient, issuer: LocalAccount) -> None:
    nonce = client.pending_nonce(issuer.address)
    winner = client.build_and_sign(issuer, "anchor", [b"\x0c" * 32], nonce)
    loser = client.build_and_sign(issuer, "anchor", [b"\x0d" * 32], nonce)
    client.send_raw(winner)
    client.wait_for_receipt(winner.hash, 5)
    with pytest.raises(NonceConflict):
        client.send_raw(loser)


def test_consecutive_nonces_sent_back_to_back_all_confirm(client: RegistryClient, issuer: LocalAccount) -> None:
    first = client.pending_nonce(issuer.address)
    signed = [
        client.build_and_sign(issuer, "anchor", [keccak(text=f"root-{i}")], first + i, gas=80_000) for i in range(50)
    ]
    for tx in signed:
        client.send_raw(tx)
    receipts = [client.wait_for_receipt(tx.hash, 10) for tx in signed]
    assert all(r.status for r in receipts)
    assert client.pending_nonce(issuer.address) == first + 50
    assert client.anchor_of(keccak(text="root-49")) is not None


def test_wait_for_receipt_times_out_when_nothing_is_mined(unmined_registry: DevRegistry) -> None:
    client, issuer = unmined_registry.client, unmined_registry.issuer
    signed = client.build_and_sign(issuer, "anchor", [b"\x0e" * 32], client.pending_nonce(issuer.address))
    client.send_raw(signed)
    with pytest.raises(TransactionTimeout):  # how soon: `make bench` (faults: chain timeouts)
        client.wait_for_receipt(signed.hash, timeout=0.3)
