"""Issue 13: what verification keeps in memory stays bounded however many bills a process meets.

The soak showed server RSS rising every minute: the bill-file and answer caches were bounded by count
(20,000 entries each, ~150 MB and ~350 MB a process at the entry sizes measured there). They are now
bounded by bytes; these tests fill them far past their bound and look at what they hold. No timings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account

from app.bills.billfile import issue_bill_file
from app.bills.chainview import ChainStatus
from app.bills.hashing import Domain
from app.bills.identifiers import credit_code_check_char, resident_id_check_char
from app.bills.model import Bill
from app.services.verification import AnswerCache, BillFileCache, IndexedRegistry, StoredBill

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ISSUER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _bill(number: int, items: int = 2) -> Bill:
    return Bill.create(
        {
            "bill_type": "school_fee",
            "bill_code": "11010125",
            "bill_number": f"{number:010d}",
            "issued_at": "2026-03-01T08:30:00+08:00",
            "issuer": {
                "name": "北京市第一中学",
                "credit_code": "91110000600037341" + credit_code_check_char("91110000600037341"),
            },
            "payer": {
                "kind": "person",
                "name": "张三",
                "id_number": "11010119900307123" + resident_id_check_char("11010119900307123"),
            },
            "items": [
                {
                    "code": f"{i:03d}",
                    "name": "学费",
                    "unit": "次",
                    "quantity": "1",
                    "unit_price_fen": 100,
                    "amount_fen": 100,
                }
                for i in range(items)
            ],
            "total_fen": 100 * items,
            "handler": "李四",
            "checker": "王五",
        },
        salt=bytes(range(32)),
    )


@pytest.fixture(scope="module")
def stored() -> list[StoredBill]:
    signer = Account.create()
    domain = Domain(31337, REGISTRY)
    return [StoredBill(issue_bill_file(_bill(n), domain, signer), f"bill-{n}", 1) for n in range(1, 11)]


def test_a_bill_file_entry_is_measured_in_kilobytes_and_grows_with_its_items(stored):
    two_items = BillFileCache.entry_bytes(stored[0])
    many = BillFileCache.entry_bytes(
        StoredBill(issue_bill_file(_bill(99, items=60), Domain(31337, REGISTRY), Account.create()), "b", 1)
    )

    assert 2_000 < two_items < 20_000  # ~7.6 KB in the soak's process
    assert many > 5 * two_items


def test_the_bill_file_cache_filled_far_past_its_bound_stays_within_its_bytes(stored):
    bound = 20 * BillFileCache.entry_bytes(("0x" + "00" * 32, stored[0]))
    cache = BillFileCache(max_bytes=bound)

    for n in range(2_000):
        cache.put(f"0x{n:064x}", stored[n % len(stored)])

    held = list(cache._files.items())
    assert cache.bytes <= bound
    assert sum(BillFileCache.entry_bytes((key, value[0])) for key, value in held) <= bound
    assert 10 <= len(cache) <= 20
    assert cache.get(f"0x{1_999:064x}") is stored[1_999 % len(stored)]  # the newest stay
    assert cache.get(f"0x{0:064x}") is None  # the oldest went


def test_a_bill_file_read_again_is_kept_over_older_ones(stored):
    cache = BillFileCache(max_bytes=3 * BillFileCache.entry_bytes(("0x" + "00" * 32, stored[0])) + 100)
    for n in range(3):
        cache.put(f"0x{n:064x}", stored[n])

    assert cache.get(f"0x{0:064x}") is stored[0]  # used: now the most recent
    cache.put(f"0x{3:064x}", stored[3])

    assert cache.get(f"0x{0:064x}") is stored[0]
    assert cache.get(f"0x{1:064x}") is None


def _reader(block: int) -> Any:
    return SimpleNamespace(index=SimpleNamespace(block=block), head=lambda: block)


def _answer(block: int, stored: StoredBill) -> tuple[Any, str, int]:
    return (SimpleNamespace(as_of_block=block, file=stored.file), stored.bill_id, stored.organisation_id)


def test_the_answer_cache_filled_far_past_its_bound_stays_within_its_bytes(stored):
    one = BillFileCache.entry_bytes((f"http://x/v/{0:060d}", _answer(5, stored[0])))
    cache = AnswerCache(ttl=30.0, max_bytes=25 * one)
    reader = _reader(5)

    for n in range(2_000):
        cache.put(f"http://x/v/{n:060d}", reader, _answer(5, stored[n % len(stored)]))

    assert cache.bytes <= 25 * one
    assert 10 <= len(cache) <= 25
    assert cache.get(f"http://x/v/{1_999:060d}", reader) is not None
    assert cache.get(f"http://x/v/{0:060d}", reader) is None


def test_the_first_answer_of_a_new_block_lets_every_earlier_answer_go(stored):
    cache = AnswerCache(ttl=30.0)
    for n in range(50):
        cache.put(f"http://x/v/{n}", _reader(5), _answer(5, stored[n % len(stored)]))
    assert len(cache) == 50

    cache.put("http://x/v/new", _reader(6), _answer(6, stored[0]))

    assert len(cache) == 1
    assert cache.get("http://x/v/new", _reader(6)) is not None
    assert cache.get("http://x/v/1", _reader(6)) is None


def test_an_answer_of_another_block_than_the_index_is_not_kept(stored):
    cache = AnswerCache(ttl=30.0)

    cache.put("http://x/v/a", _reader(6), _answer(5, stored[0]))

    assert len(cache) == 0


def test_the_index_shares_issuer_addresses_and_block_times_and_answers_the_same():
    index = IndexedRegistry()
    at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    for n in range(100):
        claim = {"issuer": ISSUER, "billRef": f"0x{n:064x}", "claimant": ISSUER}
        index._apply("BillClaimed", claim, datetime.fromtimestamp(at.timestamp(), UTC))

    keys = list(index.settlements)
    values = list(index.settlements.values())
    assert all(key[0] is keys[0][0] for key in keys)
    assert all(value[2] is values[0][2] for value in values)
    assert index.settlements[(ISSUER.lower(), f"0x{7:064x}")] == (ChainStatus.CLAIMED, ISSUER, at)


def test_the_index_refresh_reads_only_the_new_blocks_by_their_index(tmp_path):
    """The refresh's query searches the block-number index, not every event of its names ever indexed."""
    from sqlalchemy import event

    from app import create_app
    from app.extensions import db
    from app.models import ChainEvent, ChainState
    from app.outbox.indexer import CURSOR_KEY
    from app.services.provisioning import upgrade_database

    app = create_app(
        {
            "BILLCHAIN_DATABASE_URL": f"sqlite:///{tmp_path / 'index.sqlite'}",
            "BILLCHAIN_INSTANCE_PATH": str(tmp_path / "instance"),
            "BILLCHAIN_RATELIMIT_STORAGE_URL": "memory://",
            "BILLCHAIN_WORKER": False,
        }
    )
    at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    seen: list[str] = []
    with app.app_context():
        upgrade_database()
        for n in range(30):
            name = ("BillsAnchored", "BillClaimed", "RoleGranted")[n % 3]
            args = {"issuer": ISSUER, "root": f"0x{n:064x}", "billRef": f"0x{n:064x}", "claimant": ISSUER}
            db.session.add(
                ChainEvent(block_number=n, tx_hash=f"0x{n:064x}", log_index=0, name=name, args=args, block_time=at)
            )
        db.session.add(ChainState(key=CURSOR_KEY, value="19"))
        db.session.commit()
        index = IndexedRegistry()

        def note(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            if "chain_events" in statement:
                seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", note)
        assert index.refresh() == 19
        db.session.get(ChainState, CURSOR_KEY).value = "29"  # type: ignore[union-attr]
        db.session.commit()
        assert index.refresh() == 29
        event.remove(db.engine, "before_cursor_execute", note)
        explained = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + seen[-1], (19, 29))
        plan = " ".join(str(row[3]) for row in explained)
        db.session.remove()

    assert len(index.anchors) == 10 and len(index.settlements) == 10  # RoleGranted passed over
    assert "ix_chain_events_block_number" in plan, plan
