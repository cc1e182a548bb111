"""Verification answers as of a named block, from the event index when it is at the head, never stale about a claim.

The rule under test: a verify answer names `as_of_block`, and it never says "not reimbursed" for a
bill whose claim was mined at or before that block.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.bills.hexstr import from_hex
from app.chain.transport import RawJsonRpc
from app.extensions import db
from app.models import Bill, BillStatus, ChainJob, JobKind, Organisation
from app.outbox.indexer import index_new_events
from app.outbox.worker import AnchorWorker
from app.runtime import runtime
from app.services.issuing import issue_bills
from dev.devchain import AnvilNode


def _anchored(app: Flask, client: FlaskClient, issuer: Org) -> dict[str, Any]:
    created: dict[str, Any] = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth).get_json()
    wait_until(app, lambda: db.session.get(Bill, created["id"]).status == BillStatus.ANCHORED)
    return created


def _verify(client: FlaskClient, url: str) -> dict[str, Any]:
    answer = client.get(urlsplit(url).path, headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    result: dict[str, Any] = answer.get_json()
    return result


def _head(app: Flask) -> int:
    with app.app_context():
        return runtime().client.block_number()


def test_answer_names_the_head_block_and_comes_from_the_index_when_it_is_there(app, client, issuer):
    created = _anchored(app, client, issuer)
    index_new_events(app)
    head = _head(app)

    answer = _verify(client, created["verify_url"])

    assert answer["verdict"] == "authentic"
    assert answer["as_of_block"] == head
    with app.app_context():
        assert runtime().verify_reader.answered == {"index": 1, "chain": 0}


def test_a_revisit_at_the_same_block_is_the_same_answer_without_asking_again(app, client, issuer):
    created = _anchored(app, client, issuer)
    index_new_events(app)
    first = _verify(client, created["verify_url"])

    again = _verify(client, created["verify_url"])

    assert again == first
    with app.app_context():
        assert runtime().verify_reader.answered == {"index": 1, "chain": 0}  # the second came from the cache


def test_claim_then_verify_at_once_says_claimed_as_of_a_block_that_has_the_claim(app, client, issuer, claimant, worker):
    app.config["BILLCHAIN_VERIFY_CACHE"] = 600.0  # only the worker's confirmation may refresh the head here
    created = _anchored(app, client, issuer)
    before = _verify(client, created["verify_url"])
    assert before["verdict"] == "authentic"

    claimed = client.post(f"/api/v1/bills/{created['id']}/claim", json={"claim_ref": "F-1"}, headers=claimant.auth)
    assert claimed.status_code == 200, claimed.get_json()
    answer = _verify(client, created["verify_url"])

    with app.app_context():
        job = db.session.scalar(
            select(ChainJob).where(ChainJob.bill_id == created["id"], ChainJob.function == JobKind.CLAIM)
        )
        claim_block = job.block_number
    assert answer["verdict"] == "claimed"
    assert answer["as_of_block"] >= claim_block
    assert answer["settlement"]["by"].lower() == claimant.address.lower()


def test_claim_sent_straight_to_the_chain_is_never_hidden_behind_the_block_an_answer_names(
    app, client, issuer, claimant
):
    app.config["BILLCHAIN_VERIFY_CACHE"] = 600.0
    created = _anchored(app, client, issuer)
    assert _verify(client, created["verify_url"])["verdict"] == "authentic"  # head and index cached now
    with app.app_context():
        bill = db.session.get(Bill, created["id"])
        args = [from_hex(bill.batch.root), [from_hex(p) for p in bill.proof], from_hex(bill.bill_ref)]
        args += [from_hex(bill.content_hash), b"\x01" * 32]
        rt = runtime()
        # Another platform's claim: straight to the registry, past this app's outbox, worker and index.
        mined = rt.client.transact(rt.account(claimant.address), "claim", *args)

    cached = _verify(client, created["verify_url"])
    assert cached["verdict"] == "claimed" or cached["as_of_block"] < mined.block_number

    with app.app_context():
        reader = runtime().verify_reader
        reader.head_ttl = 0.0  # ask the head every time from here on
        reader.expire_head()
        asked = dict(reader.answered)
    fresh = _verify(client, created["verify_url"])
    assert fresh["verdict"] == "claimed"
    assert fresh["as_of_block"] >= mined.block_number
    assert reader.answered["chain"] == asked["chain"] + 1  # the index lags the head: the chain was read

    index_new_events(app)
    indexed = _verify(client, created["verify_url"])
    assert indexed["verdict"] == "claimed"
    assert indexed["as_of_block"] >= mined.block_number
    assert reader.answered["index"] == asked["index"] + 1
    assert indexed["settlement"] == fresh["settlement"]  # the index answers what the chain answered


def test_several_reads_share_one_json_rpc_batch_in_the_order_asked(anvil: AnvilNode):
    rpc = RawJsonRpc(anvil.rpc_url, 5.0)
    head = int(rpc.call("eth_blockNumber", []), 16)

    chain_id, number, block = rpc.batch(
        [("eth_chainId", []), ("eth_blockNumber", []), ("eth_getBlockByNumber", ["0x0", False])]
    )

    assert int(chain_id, 16) == 31337
    assert int(number, 16) >= head
    assert block["number"] == "0x0"


def test_worker_anchors_bills_from_another_process_before_its_interval_is_up(app: Flask, issuer: Org):
    app.config["BILLCHAIN_ANCHOR_INTERVAL"] = 600.0  # a tick would come only after the test's timeout
    worker = AnchorWorker(app)
    if "test_worker" in app.extensions:
        app.extensions["test_worker"].release_lease()
    app.extensions["billchain"].worker = worker
    worker.start()
    wait_until(app, lambda: worker.last_report.leased, work=False)
    # A second app on the same database stands for another web process: it cannot wake this worker.
    other = create_app({**app.config, "BILLCHAIN_WORKER": False})
    with other.app_context():
        org = db.session.get(Organisation, issuer.id)
        bill_id = issue_bills(org, [bill_payload()], actor="other-process")[0].id
        db.session.remove()

    wait_until(app, lambda: db.session.get(Bill, bill_id).status == BillStatus.ANCHORED, timeout=15, work=False)
    worker.stop()
