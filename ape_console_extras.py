"""What `ape console` adds for Billchain: `registry`, `leaf(ref, hash[, total])`, `verify(root, proof, ref, hash)`.

`registry` is the registry recorded for the connected chain id in <folder>/<chain_id>.json (BillRegistryV2
when the record says `"version": 2`, else BillRegistry), the first folder that has one of:
$BILLCHAIN_DEPLOYMENTS_DIR, the one named in the instance file that `make run` writes (instance/billchain.env,
or under $BILLCHAIN_INSTANCE_PATH), deployments/ (`ape run deploy`), instance/deployments/ (`make run`).
None, with a hint, when there is none.
"""

from __future__ import annotations

import json as _json
import os as _os
from datetime import UTC as _UTC
from datetime import datetime as _datetime
from pathlib import Path as _Path
from typing import Any as _Any

from dotenv import dotenv_values as _dotenv_values
from eth_abi import encode as _encode
from eth_utils import keccak as _keccak
from eth_utils import to_checksum_address as _checksum
from hexbytes import HexBytes as _HexBytes

STATUS = ("Unknown", "Issued", "Claimed", "Voided")  # IBillRegistry.BillStatus
_registry: _Any = None


def deployment_folders(project_path: _Path) -> list[_Path]:
    """Where deployment records may be, in the order they are tried (see the module docstring)."""
    instance = _Path(_os.environ.get("BILLCHAIN_INSTANCE_PATH") or project_path / "instance")
    from_file = _dotenv_values(instance / "billchain.env") if (instance / "billchain.env").is_file() else {}
    named = [_os.environ.get("BILLCHAIN_DEPLOYMENTS_DIR"), from_file.get("BILLCHAIN_DEPLOYMENTS_DIR")]
    folders = [_Path(n) for n in named if n] + [project_path / "deployments", instance / "deployments"]
    return [f if f.is_absolute() else project_path / f for f in folders]


def find_deployment(chain_id: int, project_path: _Path) -> _Path | None:
    """The deployment record of `chain_id`: the first of deployment_folders() that has one."""
    return next((p for f in deployment_folders(project_path) if (p := f / f"{chain_id}.json").is_file()), None)


def ape_init_extras(chain: _Any, project: _Any) -> dict[str, _Any]:
    """Find the recorded registry for the connected chain (called once by `ape console`)."""
    global _registry
    path = find_deployment(chain.chain_id, _Path(project.path))
    if path is None:
        looked = ", ".join(str(f) for f in deployment_folders(_Path(project.path)))
        print(f"registry = None: no {chain.chain_id}.json in {looked}. Deploy with `ape run deploy --network ...`, or")
        print("  registry = project.BillRegistry.deploy(accounts.test_accounts[0], sender=accounts.test_accounts[0])")
        return {"registry": None}
    record = _json.loads(path.read_text())
    address = _checksum(record["address"])
    if not chain.provider.get_code(address):
        print(f"registry = None: {path} names {address}, which has no code on chain {chain.chain_id}")
        return {"registry": None}
    name = "BillRegistryV2" if int(record.get("version", 1)) == 2 else "BillRegistry"
    _registry = getattr(project, name).at(address)
    print(f"registry = {name} at {address} (from {path})")
    return {"registry": _registry}


def bytes32(value: _Any) -> bytes:
    """32 bytes from bytes, a 0x-hex string or an int."""
    if isinstance(value, int):
        return value.to_bytes(32, "big")
    data = bytes(_HexBytes(value))
    if len(data) != 32:
        raise ValueError(f"expected 32 bytes, got {len(data)}")
    return data


def leaf(bill_ref: _Any, content_hash: _Any, total_fen: int | None = None) -> _HexBytes:
    """The Merkle leaf of a bill, as leafOf and OpenZeppelin's StandardMerkleTree compute it: v1's of
    (ref, hash); registry v2's, with the bill's total in fen, of (ref, hash, total)."""
    values: list[_Any] = [bytes32(bill_ref), bytes32(content_hash)]
    types = ["bytes32", "bytes32"]
    if total_fen is not None:
        values.append(int(total_fen))
        types.append("uint256")
    return _HexBytes(_keccak(_keccak(_encode(types, values))))


def _when(timestamp: int) -> str | None:
    return _datetime.fromtimestamp(timestamp, _UTC).isoformat().replace("+00:00", "Z") if timestamp else None


def verify(root: _Any, proof: list[_Any], bill_ref: _Any, content_hash: _Any, registry: _Any = None) -> dict[str, _Any]:
    """registry.verify(...) as a readable dict; for a single-bill batch root = leaf(ref, hash) and proof = [].

    Registry v1 only: on v2 call registry.verify(issuerId, root, proof, ref, hash, totalFen) itself."""
    registry = registry or _registry
    if registry is None:
        raise RuntimeError("no registry: pass registry=... or deploy one with `ape run deploy`")
    if registry.contract_type.name == "BillRegistryV2":
        raise RuntimeError("registry v2: registry.verify(issuerId, root, proof, billRef, contentHash, totalFen)")
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
