"""Content hash (EIP-712) and signatures, cross-checked against ethers' TypedDataEncoder in node."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from billkit import PAYER_ORG_CREDIT_CODE, make_bill, many_items_bill
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from app.bills.hashing import BILL_TYPES, Domain, content_hash, recover_signer, sign_bill, typed_data
from app.bills.model import Bill, BillType, PayerKind


def _json_typed_data(bill: Bill, domain: Domain) -> dict[str, Any]:
    data = typed_data(bill, domain)
    data["message"]["salt"] = "0x" + bill.salt.hex()
    return data


def cross_check_bills() -> list[Bill]:
    return [
        make_bill(),
        make_bill(contact=None, remarks=None, bill_number="0000000003"),
        make_bill(
            bill_type="donation",
            payer={"kind": "organisation", "name": "某某慈善基金会 🌱", "id_number": PAYER_ORG_CREDIT_CODE},
            contact={"email": "juan@example.cn"},
        ),
        many_items_bill(120),
    ]


def test_content_hash_and_signature_match_ethers(
    domain: Domain, issuer_account: LocalAccount, run_node: Callable[[str, Any], Any]
) -> None:
    bills = cross_check_bills()
    signed = [sign_bill(bill, domain, issuer_account) for bill in bills]
    answers = run_node(
        "eip712.mjs",
        [
            {"typedData": _json_typed_data(bill, domain), "signature": "0x" + sig.value.hex()}
            for bill, (_, sig) in zip(bills, signed, strict=True)
        ],
    )
    for bill, (digest, sig), answer in zip(bills, signed, answers, strict=True):
        assert answer["hash"] == "0x" + digest.hex() == "0x" + content_hash(bill, domain).hex()
        assert answer["recovered"] == issuer_account.address == sig.signer


def test_signer_is_recovered_offline(domain: Domain, issuer_account: LocalAccount) -> None:
    bill = make_bill()
    _, sig = sign_bill(bill, domain, issuer_account)
    assert recover_signer(bill, domain, sig.value) == issuer_account.address


def test_signature_over_another_bill_recovers_someone_else(domain: Domain, issuer_account: LocalAccount) -> None:
    _, sig = sign_bill(make_bill(), domain, issuer_account)
    other = make_bill(bill_number="0000000009")
    assert recover_signer(other, domain, sig.value) != issuer_account.address


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 65, b"\x01" * 64, b"\xff" * 65])
def test_garbage_signatures_recover_nobody(domain: Domain, garbage: bytes) -> None:
    assert recover_signer(make_bill(), domain, garbage) is None


def test_domain_binds_chain_and_registry(domain: Domain) -> None:
    bill = make_bill()
    other_chain = Domain(1, domain.verifying_contract)
    other_registry = Domain(domain.chain_id, "0x" + "12" * 20)
    hashes = {content_hash(bill, d) for d in (domain, other_chain, other_registry)}
    assert len(hashes) == 3


def test_private_key_hex_is_accepted_as_signer(domain: Domain, issuer_account: LocalAccount) -> None:
    digest, sig = sign_bill(make_bill(), domain, "0x" + "11" * 32)
    assert sig.signer == issuer_account.address and digest == content_hash(make_bill(), domain)


def test_types_cover_every_model_field() -> None:
    """A field added to the model but not to BILL_TYPES would go unsigned: fail loudly instead."""
    names = {f["name"] for f in BILL_TYPES["Bill"]}
    camel = {"".join(w.capitalize() if i else w for i, w in enumerate(k.split("_"))) for k in Bill.model_fields}
    assert names == camel
    item_names = {f["name"] for f in BILL_TYPES["LineItem"]}
    assert len(item_names) == len(BILL_TYPES["LineItem"]) == 6


# ---------------------------------------------------------------- change any field, the hash changes

BASE = make_bill()
ITEM_COUNT = len(BASE.items)

text = st.text(min_size=1, max_size=20)
fen = st.integers(min_value=0, max_value=10**12)
MUTATIONS: dict[tuple[Any, ...], st.SearchStrategy[Any]] = {
    ("bill_type",): st.sampled_from(list(BillType)),
    ("bill_code",): st.from_regex(r"\A[0-9]{8}\Z"),
    ("bill_number",): st.from_regex(r"\A[0-9]{10}\Z"),
    ("check_code",): st.from_regex(r"\A[0-9]{6}\Z"),
    ("issued_at",): st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)
    ),
    ("issuer", "name"): text,
    ("issuer", "credit_code"): text,
    ("payer", "kind"): st.sampled_from(list(PayerKind)),
    ("payer", "name"): text,
    ("payer", "id_number"): st.none() | text,
    ("contact",): st.none(),
    ("contact", "phone"): st.none() | text,
    ("contact", "email"): st.none() | text,
    ("total_fen",): fen,
    ("currency",): text,
    ("handler",): text,
    ("checker",): text,
    ("remarks",): st.none() | text,
    ("salt",): st.binary(min_size=32, max_size=32),
    ("items",): st.just([]),
}
for _i in range(ITEM_COUNT):
    MUTATIONS |= {
        ("items", _i, "code"): text,
        ("items", _i, "name"): text,
        ("items", _i, "unit"): text,
        ("items", _i, "quantity"): st.decimals(min_value=Decimal("0.000001"), max_value=10**9, places=6),
        ("items", _i, "unit_price_fen"): fen,
        ("items", _i, "amount_fen"): fen,
    }


def _replace(model: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy with one field changed, bypassing validation: the hash must notice even broken values."""
    head, rest = path[0], path[1:]
    if isinstance(model, list):
        copy = list(model)
        copy[head] = _replace(copy[head], rest, value) if rest else value
        return copy
    assert isinstance(model, BaseModel)
    return model.model_copy(update={head: _replace(getattr(model, head), rest, value) if rest else value})


def _get(model: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        model = model[part] if isinstance(model, list) else getattr(model, part)
    return model


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_changing_any_single_field_changes_the_hash(data: st.DataObject) -> None:
    domain = Domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    path = data.draw(st.sampled_from(sorted(MUTATIONS, key=str)))
    old = _get(BASE, path)
    new = data.draw(MUTATIONS[path].filter(lambda v: v != old and not (v in (None, "") and old in (None, ""))))
    changed = _replace(BASE, path, new)
    assert content_hash(changed, domain) != content_hash(BASE, domain), path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=30).filter(lambda s: s.strip() and s.isprintable()),
    items=st.integers(min_value=1, max_value=12),
    chain_id=st.integers(min_value=1, max_value=2**63),
)
def test_fast_encoder_equals_eth_accounts_reference_encoder(name: str, items: int, chain_id: int) -> None:
    """content_hash is a hand-rolled EIP-712 encoder: it must agree with eth-account's generic one."""
    from app.bills.hashing import reference_digest
    from app.bills.model import BillValidationError

    try:
        bill = many_items_bill(items).model_copy(update={"remarks": name})
    except BillValidationError:
        return
    domain = Domain(chain_id, "0x5FbDB2315678afecb367f032d93F642f64180aa3")

    assert content_hash(bill, domain) == reference_digest(bill, domain)


def test_digest_signature_equals_typed_data_signature(domain: Domain, issuer_account: LocalAccount) -> None:
    """Signing the digest is what eth_signTypedData_v4 does: the signatures are byte-for-byte equal."""
    from eth_account.messages import encode_typed_data

    bill = make_bill()
    _, signature = sign_bill(bill, domain, issuer_account)
    reference = issuer_account.sign_message(encode_typed_data(full_message=typed_data(bill, domain)))

    assert signature.value == bytes(reference.signature)
