"""The bill file: one self-contained JSON document that anyone can verify against any node of the chain.

It carries the bill, the EIP-712 domain its hash was computed in (so the hash can be recomputed before
the bill is anchored, and on any chain), the content hash and bill_ref (so a reader sees what was
claimed and verification can say which one was tampered with), the issuer's signature, and once
anchored the Merkle root and proof. Documented by ``schema/bill-file.v1.json`` (JSON Schema 2020-12).

Parsing checks the form of the file only; whether hash, ref, signature and proof hold is verification's
job, so a tampered file is answered "tampered" rather than refused as malformed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address

from app.bills.errors import BillValidationError, FieldError
from app.bills.hashing import DOMAIN_NAME, DOMAIN_VERSION, BillSignature, Domain, sign_bill
from app.bills.merkle import MerkleTree
from app.bills.model import Bill

VERSION = "billchain/bill-file/v1"
SCHEMA_PATH = Path(__file__).parent / "schema" / "bill-file.v1.json"


@dataclass(frozen=True)
class Anchoring:
    """Where and how the bill's batch root went on chain; the proof shows the bill under the root."""

    chain_id: int
    registry: str
    root: bytes
    proof: tuple[bytes, ...]
    tx_hash: bytes
    block_number: int
    anchored_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "registry": self.registry,
            "root": _hex(self.root),
            "proof": [_hex(p) for p in self.proof],
            "tx_hash": _hex(self.tx_hash),
            "block_number": self.block_number,
            "anchored_at": _iso(self.anchored_at),
        }


@dataclass(frozen=True)
class BillFile:
    """A signed bill with everything needed to verify it; ``anchoring`` is None until it is on chain."""

    bill: Bill
    domain: Domain
    content_hash: bytes
    bill_ref: bytes
    signature: BillSignature
    anchoring: Anchoring | None = None

    def with_anchoring(self, anchoring: Anchoring) -> BillFile:
        """The same file once its batch is anchored."""
        if (anchoring.chain_id, anchoring.registry) != (self.domain.chain_id, self.domain.verifying_contract):
            raise ValueError("anchoring must be on the chain and registry of the file's domain")
        return replace(self, anchoring=anchoring)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "bill": self.bill.to_dict(),
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chain_id": self.domain.chain_id,
                "verifying_contract": self.domain.verifying_contract,
            },
            "content_hash": _hex(self.content_hash),
            "bill_ref": _hex(self.bill_ref),
            "signature": {"signer": self.signature.signer, "value": _hex(self.signature.value)},
            "anchoring": self.anchoring.to_dict() if self.anchoring else None,
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """UTF-8 JSON with Chinese text as is (not \\u escapes), keys in the documented order."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> BillFile:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BillValidationError.single("$", f"is not JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> BillFile:
        """Parse a bill file; every problem (envelope and bill) is reported, bill ones under "bill."."""
        return _Parser().parse(data)


def issue_bill_file(bill: Bill, domain: Domain, signer: LocalAccount | str | bytes) -> BillFile:
    """Sign a new bill: the file the issuer keeps and hands out, pending until its batch is anchored."""
    digest, signature = sign_bill(bill, domain, signer)
    return BillFile(bill=bill, domain=domain, content_hash=digest, bill_ref=bill.bill_ref, signature=signature)


def anchor_files(
    files: Sequence[BillFile],
    tree: MerkleTree,
    *,
    tx_hash: bytes,
    block_number: int,
    anchored_at: datetime,
) -> list[BillFile]:
    """Attach the anchoring to each file of a batch; ``tree`` must be ``merkle.build`` over the same files."""
    if not files:
        return []
    domain = files[0].domain
    updated = []
    for f in files:
        if f.domain != domain:
            raise ValueError("all files of a batch must share one domain")
        index = tree.index_of((f.bill_ref, f.content_hash))
        anchoring = Anchoring(
            chain_id=domain.chain_id,
            registry=domain.verifying_contract,
            root=tree.root,
            proof=tuple(tree.proof(index)),
            tx_hash=tx_hash,
            block_number=block_number,
            anchored_at=anchored_at.astimezone(UTC).replace(microsecond=0),
        )
        updated.append(f.with_anchoring(anchoring))
    return updated


# ---------------------------------------------------------------- parsing


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Parser:
    """Collects every envelope error with its path instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def obj(self, data: Any, path: str, keys: Sequence[str]) -> Mapping[str, Any] | None:
        if not isinstance(data, Mapping):
            self.fail(path, "must be an object")
            return None
        for key in keys:
            if key not in data:
                self.fail(f"{path}.{key}" if path != "$" else key, "is required")
        for key in data:
            if key not in keys:
                self.fail(f"{path}.{key}" if path != "$" else str(key), "is not a field of a bill file")
        return data

    def hex_bytes(self, value: Any, path: str, length: int) -> bytes:
        if isinstance(value, str) and value.startswith("0x") and len(value) == 2 + 2 * length:
            try:
                return bytes.fromhex(value[2:])
            except ValueError:
                pass
        self.fail(path, f"must be 0x followed by {2 * length} hex digits ({length} bytes)")
        return b""

    def address(self, value: Any, path: str) -> str:
        if isinstance(value, str) and is_address(value):
            return str(to_checksum_address(value))
        self.fail(path, "must be an Ethereum address (0x + 40 hex digits, valid checksum if mixed case)")
        return ""

    def integer(self, value: Any, path: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(path, f"must be an integer ≥ {minimum}")
            return 0
        return value

    def moment(self, value: Any, path: str) -> datetime:
        try:
            if isinstance(value, str):
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is not None:
                    return parsed.astimezone(UTC)
        except ValueError:
            pass
        self.fail(path, "must be an ISO 8601 date-time with a time zone, e.g. 2025-03-01T00:30:00Z")
        return datetime.fromtimestamp(0, UTC)

    def parse(self, data: Any) -> BillFile:
        keys = ("version", "bill", "domain", "content_hash", "bill_ref", "signature", "anchoring")
        top = self.obj(data, "$", keys)
        if top is None:
            raise BillValidationError(self.errors)
        if "version" in top and top["version"] != VERSION:
            self.fail("version", f'must be "{VERSION}" (got {top["version"]!r})')
        domain = self.domain(top.get("domain"))
        content_hash = self.hex_bytes(top.get("content_hash"), "content_hash", 32)
        bill_ref = self.hex_bytes(top.get("bill_ref"), "bill_ref", 32)
        signature = self.signature(top.get("signature"))
        anchoring = self.anchoring(top.get("anchoring"), domain)
        bill: Bill | None = None
        if "bill" in top:
            try:
                bill = Bill.from_dict(top["bill"]) if isinstance(top["bill"], Mapping) else None
                if bill is None:
                    self.fail("bill", "must be an object")
            except BillValidationError as exc:
                self.errors += [FieldError(f"bill.{e.field}", e.message) for e in exc.errors]
        if self.errors or bill is None or domain is None or signature is None:
            raise BillValidationError(self.errors or [FieldError("$", "is not a bill file")])
        return BillFile(bill, domain, content_hash, bill_ref, signature, anchoring)

    def domain(self, data: Any) -> Domain | None:
        d = self.obj(data, "domain", ("name", "version", "chain_id", "verifying_contract"))
        if d is None:
            return None
        if d.get("name") != DOMAIN_NAME or d.get("version") != DOMAIN_VERSION:
            self.fail("domain", f'must be the "{DOMAIN_NAME}" domain version "{DOMAIN_VERSION}"')
        chain_id = self.integer(d.get("chain_id"), "domain.chain_id", 1)
        contract = self.address(d.get("verifying_contract"), "domain.verifying_contract")
        if not chain_id or not contract:
            return None
        return Domain(chain_id=chain_id, verifying_contract=contract)

    def signature(self, data: Any) -> BillSignature | None:
        s = self.obj(data, "signature", ("signer", "value"))
        if s is None:
            return None
        return BillSignature(
            signer=self.address(s.get("signer"), "signature.signer"),
            value=self.hex_bytes(s.get("value"), "signature.value", 65),
        )

    def anchoring(self, data: Any, domain: Domain | None) -> Anchoring | None:
        if data is None:
            return None
        keys = ("chain_id", "registry", "root", "proof", "tx_hash", "block_number", "anchored_at")
        a = self.obj(data, "anchoring", keys)
        if a is None:
            return None
        proof_data = a.get("proof")
        if not isinstance(proof_data, list):
            self.fail("anchoring.proof", "must be a list of 32-byte hex strings")
            proof_data = []
        anchoring = Anchoring(
            chain_id=self.integer(a.get("chain_id"), "anchoring.chain_id", 1),
            registry=self.address(a.get("registry"), "anchoring.registry"),
            root=self.hex_bytes(a.get("root"), "anchoring.root", 32),
            proof=tuple(self.hex_bytes(p, f"anchoring.proof[{i}]", 32) for i, p in enumerate(proof_data)),
            tx_hash=self.hex_bytes(a.get("tx_hash"), "anchoring.tx_hash", 32),
            block_number=self.integer(a.get("block_number"), "anchoring.block_number", 0),
            anchored_at=self.moment(a.get("anchored_at"), "anchoring.anchored_at"),
        )
        if domain is not None and anchoring.chain_id and anchoring.registry:
            if anchoring.chain_id != domain.chain_id:
                self.fail("anchoring.chain_id", "must equal domain.chain_id")
            if anchoring.registry != domain.verifying_contract:
                self.fail("anchoring.registry", "must equal domain.verifying_contract")
        return anchoring
