"""The registry v2 client: stable organisation ids, per-issuer anchors, leaves with totals, review locks,
partial claims, paper conversion and voids that name their replacement.

It shares the v1 client's transport, signing, sending, receipts and logs (RegistryClient) and reads
registry state the same one way (`_view`: an eth_call decoded with eth-abi); only the ABI and the
shape of the answers differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from eth_utils import to_checksum_address

from app.bills.chainview import ChainOrgKind
from app.bills.chainview_v2 import ChainBillRecordV2, ChainKeyRecord, ChainOrganisationV2, ChainStatusV2
from app.chain.client import RegistryClient

_BILL_RECORD = (
    "(uint8,uint32,address,uint64,uint64,uint64,uint32,uint64,uint256,uint256,uint32,uint64,bytes32,bytes32,uint8)"
)


def _utc(seconds: int) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def _address(value: str) -> str | None:
    return None if int(value, 16) == 0 else to_checksum_address(value)


def _b32(value: bytes) -> bytes:
    if len(value) != 32:
        raise ValueError(f"expected 32 bytes, got {len(value)}")
    return bytes(value)


def paper_text(raw: bytes) -> str | None:
    """A paper bill number as stored (ASCII, left-aligned, zero-padded), None when there is none."""
    text = raw.rstrip(b"\0")
    return text.decode("ascii", errors="replace") if text else None


def paper_word(number: str) -> bytes:
    """A paper bill number for the chain: ASCII, at most 32 characters, left-aligned and zero-padded."""
    raw = number.strip().encode("ascii")
    if not raw or len(raw) > 32:
        raise ValueError("a paper bill number is 1-32 ASCII characters")
    return raw.ljust(32, b"\0")


class RegistryV2Client(RegistryClient):
    """BillRegistryV2 at `registry_address` (see contracts/IBillRegistryV2.sol)."""

    contract_name = "BillRegistryV2"
    version = 2

    def bill_record_v2(
        self,
        issuer_id: int,
        root: bytes,
        proof: Sequence[bytes],
        bill_ref: bytes,
        content_hash: bytes,
        total_fen: int,
    ) -> ChainBillRecordV2:
        """The registry's `verify`: UNKNOWN (all zero) unless `issuer_id` anchored the root and the proof holds."""
        (
            status,
            issuer,
            anchored_by,
            anchored_at,
            revoked_at,
            rotated_at,
            holder,
            until,
            total,
            reimbursed,
            settled_by,
            settled_at,
            paper,
            replacement,
            reason,
        ) = self._view(
            "verify(uint32,bytes32,bytes32[],bytes32,bytes32,uint256)",
            ["uint32", "bytes32", "bytes32[]", "bytes32", "bytes32", "uint256"],
            [issuer_id, _b32(root), [_b32(p) for p in proof], _b32(bill_ref), _b32(content_hash), total_fen],
            _BILL_RECORD,
        )
        return ChainBillRecordV2(
            status=ChainStatusV2(status),
            issuer_id=issuer,
            anchored_by=_address(anchored_by),
            anchored_at=_utc(anchored_at),
            issuer_revoked_at=_utc(revoked_at),
            anchor_key_rotated_at=_utc(rotated_at),
            lock_holder_id=holder,
            locked_until=_utc(until),
            total_fen=total,
            reimbursed_fen=reimbursed,
            last_settled_by=settled_by,
            last_settled_at=_utc(settled_at),
            paper_number=paper_text(paper),
            replacement_ref=None if replacement == bytes(32) else bytes(replacement),
            void_reason=reason,
        )

    def organisation_v2(self, org_id: int) -> ChainOrganisationV2 | None:
        """The organisation with stable id `org_id`, None if there is none."""
        name, credit_code, kind, key, registered_at, revoked_at = self._view(
            "organisation(uint32)", ["uint32"], [org_id], "(string,string,uint8,address,uint64,uint64)"
        )
        if kind == 0:
            return None
        return ChainOrganisationV2(
            org_id=org_id,
            name=name,
            credit_code=credit_code,
            kind=ChainOrgKind(kind),
            key=to_checksum_address(key),
            registered_at=datetime.fromtimestamp(registered_at, UTC),
            revoked_at=_utc(revoked_at),
        )

    def key_record(self, address: str) -> ChainKeyRecord:
        org_id, kind, rotated_at, revoked_at = self._view(
            "keyRecord(address)", ["address"], [to_checksum_address(address)], "(uint32,uint8,uint64,uint64)"
        )
        return ChainKeyRecord(org_id, ChainOrgKind(kind), _utc(rotated_at), _utc(revoked_at))

    def org_id_of(self, credit_code: str) -> int:
        """The stable id owning a credit code on chain, 0 if none does."""
        return int(self._view("orgIdOfCreditCode(string)", ["string"], [credit_code], "uint32"))

    def organisation_count(self) -> int:
        return int(self._view("organisationCount()", [], [], "uint32"))

    def max_lock_duration(self) -> int:
        """Seconds: the longest review lock the registry allows."""
        return int(self._view("maxLockDuration()", [], [], "uint64"))
