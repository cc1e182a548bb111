"""What `ape console` adds for Billchain: `registry`, `leaf(ref, hash)`, `verify(root, proof, ref, hash)`.

`registry` is the BillRegistry recorded for the connected chain id in deployments/<chain_id>.json (or
$BILLCHAIN_DEPLOYMENTS_DIR), as `ape run deploy` writes it; None, with a hint, when there is none.
"""

from __future__ import annotations

import json as _json
import os as _os
from datetime import UTC as _UTC
from datetime import datetime as _datetime
from pathlib import Path as _Path
from typing import Any as _Any

from eth_abi import encode as _encode
from eth_utils import keccak as _keccak
from eth_utils import to_checksum_address as _checksum
from hexbytes import HexBytes as _HexBytes

STATUS = ("Unknown", "Issued", "Claimed", "Voided")  # IBillRegistry.BillStatus
_registry: _Any = None


def ape_init_extras(chain: _Any, project: _Any) -> dict[str, _Any]:
    """Find the recorded registry for the connected chain (called once by `ape console`)."""
    global _registry
    folder = _Path(_os.environ.get("BILLCHAIN_DEPLOYMENTS_DIR") or project.path / "deployments")
    path = folder / f"{chain.chain_id}.json"
    if not path.exists():
        print(f"registry = None: no {path}. Deploy with `ape run deploy --network ...`, or")
        print("  registry = project.BillRegistry.deploy(accounts.test_accounts[0], sender=accounts.test_accounts[0])")
        return {"registry": None}
    address = _checksum(_json.loads(path.read_text())["address"])
    if not chain.provider.get_code(address):
        print(f"registry = None: {path} names {address}, which has no code on chain {chain.chain_id}")
        return {"registry": None}
    _registry = project.BillRegistry.at(address)
    print(f"registry = BillRegistry at {address} (from {path})")
    return {"registry": _registry}


def bytes32(value: _Any) -> bytes:
    """32 bytes from bytes, a 0x-hex string or an int."""
    if isinstance(value, int):
        return value.to_bytes(32, "big")
    data = bytes(_HexBytes(value))
    if len(data) != 32:
        raise ValueError(f"expected 32 bytes, got {len(data)}")
    return data


def leaf(bill_ref: _Any, content_hash: _Any) -> _HexBytes:
    """The Merkle leaf of a bill, as IBillRegistry.leafOf and OpenZeppelin's StandardMerkleTree compute it."""
    return _HexBytes(_keccak(_keccak(_encode(["bytes32", "bytes32"], [bytes32(bill_ref), bytes32(content_hash)]))))


def _when(timestamp: int) -> str | None:
    return _datetime.fromtimestamp(timestamp, _UTC).isoformat().replace("+00:00", "Z") if timestamp else None


def verify(root: _Any, proof: list[_Any], bill_ref: _Any, content_hash: _Any, registry: _Any = None) -> dict[str, _Any]:
    """registry.verify(...) as a readable dict; for a single-bill batch root = leaf(ref, hash) and proof = []."""
    registry = registry or _registry
    if registry is None:
        raise RuntimeError("no registry: pass registry=... or deploy one with `ape run deploy`")
    status, issuer, anchored_at, revoked_at, settled_by, settled_at = registry.verify(
        bytes32(root), [bytes32(p) for p in proof], bytes32(bill_ref), bytes32(content_hash)
    )
    return {
        "status": STATUS[status],
        "issuer": issuer,
        "anchoredAt": _when(anchored_at),
        "issuerRevokedAt": _when(revoked_at),
        "settledBy": settled_by if int(settled_by, 16) else None,
        "settledAt": _when(settled_at),
    }
