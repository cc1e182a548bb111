"""Registry v2 as verifiers see it: statuses, one bill's record, organisations by stable id.

Mirrors contracts/IBillRegistryV2.sol (same enum numbers). Values are decoded: addresses checksummed,
times aware UTC datetimes (None for zero), amounts integer fen, ids 0 meaning "none".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Protocol

from app.bills.chainview import ChainOrgKind


class ChainStatusV2(IntEnum):
    """Mirrors IBillRegistryV2.BillStatus."""

    UNKNOWN = 0
    ISSUED = 1
    PARTLY_REIMBURSED = 2
    REIMBURSED = 3
    CONVERTED_TO_PAPER = 4
    VOIDED = 5


@dataclass(frozen=True)
class ChainBillRecordV2:
    """IBillRegistryV2.verify's BillRecord. For UNKNOWN every other field is zero/None."""

    status: ChainStatusV2
    issuer_id: int
    anchored_by: str | None
    anchored_at: datetime | None
    issuer_revoked_at: datetime | None
    anchor_key_rotated_at: datetime | None
    lock_holder_id: int
    locked_until: datetime | None
    total_fen: int
    reimbursed_fen: int
    last_settled_by: int
    last_settled_at: datetime | None
    paper_number: str | None
    replacement_ref: bytes | None
    void_reason: int

    @property
    def remaining_fen(self) -> int:
        return max(self.total_fen - self.reimbursed_fen, 0)

    @property
    def locked(self) -> bool:
        """A live review lock (the registry reports only live ones)."""
        return self.lock_holder_id != 0


@dataclass(frozen=True)
class ChainOrganisationV2:
    """IBillRegistryV2.organisation: a stable id, its current key."""

    org_id: int
    name: str
    credit_code: str
    kind: ChainOrgKind
    key: str
    registered_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class ChainKeyRecord:
    """IBillRegistryV2.keyRecord: whose a key is (for ever) and whether it still acts."""

    org_id: int
    kind: ChainOrgKind
    rotated_at: datetime | None
    revoked_at: datetime | None

    @property
    def can_act(self) -> bool:
        return self.org_id != 0 and self.rotated_at is None and self.revoked_at is None


class ChainReaderV2(Protocol):
    """Read-only view of one registry v2 (``version == 2``); methods may raise ChainUnavailableError."""

    version: int

    @property
    def chain_id(self) -> int: ...

    @property
    def registry_address(self) -> str: ...

    def key_record(self, address: str) -> ChainKeyRecord: ...

    def bill_record_v2(
        self,
        issuer_id: int,
        root: bytes,
        proof: Sequence[bytes],
        bill_ref: bytes,
        content_hash: bytes,
        total_fen: int,
    ) -> ChainBillRecordV2: ...

    def organisation_v2(self, org_id: int) -> ChainOrganisationV2 | None: ...
