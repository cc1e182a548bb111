"""What verification needs from the chain, as a Protocol: the web app's chain client implements it.

Kept apart from verification so the chain client (app/chain, over web3) imports only this module.
Values are already decoded: addresses checksummed, times as aware UTC datetimes, zero values as None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Protocol

from app.bills.errors import ChainUnavailableError

__all__ = [
    "ChainBillRecord",
    "ChainOrgKind",
    "ChainOrganisation",
    "ChainReader",
    "ChainStatus",
    "ChainUnavailableError",
]


class ChainStatus(IntEnum):
    """Mirrors IBillRegistry.BillStatus (same numbers)."""

    UNKNOWN = 0
    ISSUED = 1
    CLAIMED = 2
    VOIDED = 3


class ChainOrgKind(IntEnum):
    """Mirrors IBillRegistry.OrgKind (same numbers); `label` is the app's name for it."""

    NONE = 0
    ISSUER = 1
    CLAIMANT = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class ChainBillRecord:
    """IBillRegistry.verify's BillRecord. For UNKNOWN, issuer is the zero address and the rest None.

    ``as_of_block`` is the block whose state this record is (None when the reader cannot say): every
    claim or void mined at or before it is in the record.
    """

    status: ChainStatus
    issuer: str
    anchored_at: datetime | None
    issuer_revoked_at: datetime | None
    settled_by: str | None
    settled_at: datetime | None
    as_of_block: int | None = None


@dataclass(frozen=True)
class ChainOrganisation:
    """IBillRegistry.organisation; ``kind`` is "issuer" or "claimant"."""

    address: str
    name: str
    credit_code: str
    kind: str
    registered_at: datetime
    revoked_at: datetime | None


class ChainReader(Protocol):
    """Read-only view of one registry on one chain. Methods may raise ChainUnavailableError.

    ``chain_id`` and ``registry_address`` are read-only properties here so that a client with plain
    attributes of a narrower type (web3's ChecksumAddress is a str) still satisfies the protocol.
    """

    @property
    def chain_id(self) -> int: ...

    @property
    def registry_address(self) -> str: ...

    def bill_record(
        self, root: bytes, proof: Sequence[bytes], bill_ref: bytes, content_hash: bytes
    ) -> ChainBillRecord: ...

    def organisation(self, address: str) -> ChainOrganisation | None: ...
