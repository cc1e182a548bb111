"""Reorganisations, with Anvil's own `anvil_reorg` on a dedicated node (the session's Anvil is shared).

BILLCHAIN_CONFIRMATIONS=2: the worker re-checks the receipts of jobs it confirmed in the last two blocks. A
reorganisation that drops the block anchoring a batch sends the job back to SIGNED and its stored bytes out
again (same hash, same nonce); the batch is not anchored until the chain confirms it again, and then it is
anchored once: the registry's anchorOf has the root and the event index holds one BillsAnchored for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.bills.hexstr import from_hex
from app.chain import Deployment, deploy_v2
from app.extensions import db
from app.models import AnchorBatch, Bill, ChainEvent, ChainJob, Organisation
from app.outbox.worker import AnchorWorker
from dev import devchain
from dev.devchain import AnvilNode, rpc


@pytest.fixture
def anvil() -> Iterator[AnvilNode]:
    """This module's own Anvil: a reorganisation would rewrite the session node under other tests."""
    with devchain.start_anvil() as node:
        yield node


@pytest.fixture
def deployment(anvil: AnvilNode) -> Deployment:
    return deploy_v2(anvil.rpc_url, devchain.dev_account(0))


def anchor_of(app: Flask, issuer_id: int, root: str) -> tuple[str, int]:
    """The registry's own anchorOf(issuerId, root): (key, anchoredAt), zero when it has none."""
    with app.app_context():
        client = app.extensions["billchain"].client
        return tuple(  # type: ignore[return-value]
            client._view(
                "anchorOf(uint32,bytes32)", ["uint32", "bytes32"], [issuer_id, from_hex(root)], "(address,uint64)"
            )
        )


def test_an_anchor_dropped_by_a_reorganisation_is_anchored_again_once(
    app: Flask, client: FlaskClient, issuer: Org, anvil: AnvilNode
) -> None:
    app.config["BILLCHAIN_CONFIRMATIONS"] = 2
    worker: AnchorWorker = app.extensions.setdefault("test_worker", AnchorWorker(app, holder="tests"))
    rpc(anvil.rpc_url, "evm_mine")  # the block before the anchor holds nothing of ours
    created = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth).get_json()
    wait_until(app, lambda: db.session.get(Bill, created["id"]).status == "anchored")

    with app.app_context():
        bill = db.session.get(Bill, created["id"])
        batch = db.session.get(AnchorBatch, bill.batch_id)
        job = db.session.get(ChainJob, batch.job_id)
        root, tx_hash, first_block, job_id = batch.root, job.tx_hash, job.block_number, job.id
        issuer_id = db.session.get(Organisation, issuer.id).chain_org_id
        chain = app.extensions["billchain"].client
        assert chain.block_number() == first_block
    assert anchor_of(app, issuer_id, root)[1] > 0

    # The node drops the last two blocks (the anchor's among them) and mines two empty ones in their place.
    rpc(anvil.rpc_url, "anvil_reorg", [2, []])
    rpc(anvil.rpc_url, "evm_setAutomine", [False])  # the rebroadcast waits in the pool, to be seen
    with app.app_context():
        assert chain.receipt(tx_hash) is None
    assert anchor_of(app, issuer_id, root)[1] == 0

    report = worker.run_once()
    assert report.reorged == 1, report
    with app.app_context():
        job = db.session.get(ChainJob, job_id)
        assert (job.status, job.block_number, job.tx_hash) == ("signed", None, tx_hash)
        assert db.session.get(AnchorBatch, batch.id).status == "signed"
        assert db.session.get(Bill, created["id"]).status == "pending"  # not anchored until confirmed again
        pool = rpc(anvil.rpc_url, "txpool_content")
        pending = [tx["hash"] for by_nonce in pool["pending"].values() for tx in by_nonce.values()]
        assert pending == [tx_hash]  # the same transaction, once

    rpc(anvil.rpc_url, "evm_setAutomine", [True])
    rpc(anvil.rpc_url, "evm_mine")
    wait_until(app, lambda: db.session.get(Bill, created["id"]).status == "anchored")
    with app.app_context():
        job = db.session.get(ChainJob, job_id)
        assert job.status == "confirmed" and job.block_number > first_block and job.tx_hash == tx_hash
        assert db.session.get(AnchorBatch, batch.id).block_number == job.block_number
    assert anchor_of(app, issuer_id, root)[1] > 0

    # Two blocks later the anchor is deep enough for the event index: one BillsAnchored for the root.
    rpc(anvil.rpc_url, "anvil_mine", [3])

    def indexed() -> Any:
        return db.session.scalar(
            select(func.count(ChainEvent.id)).where(ChainEvent.name == "BillsAnchored", ChainEvent.root == root)
        )

    wait_until(app, lambda: indexed() >= 1)
    worker.run_once()
    with app.app_context():
        assert indexed() == 1
        assert worker.run_once().reorged == 0  # nothing else moves once the block is deep enough
