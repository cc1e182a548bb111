"""Shared by the Ape scripts (the leading underscore keeps `ape run` from listing it as a script).

Deployment records: `deployments/<chain_id>.json` (or `$BILLCHAIN_DEPLOYMENTS_DIR`), the file the web app
reads to find the registry; `"version": 2` marks a BillRegistryV2 (records without it are v1). Signers: Ape
accounts (encrypted keystores), or Ape's test accounts on local networks only; no private key is ever read
from code or from this repository.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from ape import accounts, chain, project
from ape.api import AccountAPI, NetworkAPI
from ape.api.accounts import TestAccountAPI
from eth_utils import to_checksum_address

DEPLOYMENTS_ENV = "BILLCHAIN_DEPLOYMENTS_DIR"
KINDS = {"issuer": 1, "claimant": 2}  # IBillRegistry.OrgKind
STATUS_NAMES = ["Unknown", "Issued", "Claimed", "Voided"]  # IBillRegistry.BillStatus


def deployments_dir() -> Path:
    """$BILLCHAIN_DEPLOYMENTS_DIR, else ./deployments (relative to the project root Ape runs in)."""
    return Path(os.environ.get(DEPLOYMENTS_ENV) or "deployments")


def record_path(chain_id: int) -> Path:
    return deployments_dir() / f"{chain_id}.json"


def utc_iso(timestamp: int) -> str:
    """UTC ISO 8601 with a Z, as app.chain writes it."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def write_record(record: dict[str, Any]) -> Path:
    """Write the deployment record atomically: the web app never reads half a file."""
    path = record_path(int(record["chain_id"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path


def read_record(chain_id: int) -> dict[str, Any] | None:
    path = record_path(chain_id)
    return json.loads(path.read_text()) if path.exists() else None


def deployed_registry(versions: tuple[int, ...] = (1,)) -> Any:
    """The registry recorded for the connected chain (BillRegistry, or BillRegistryV2 when the record says
    `"version": 2`); a clear error if there is none, or if it is a version the calling script cannot drive."""
    chain_id = chain.provider.chain_id
    record = read_record(chain_id)
    if record is None:
        raise click.ClickException(f"no deployment record {record_path(chain_id)}: run `ape run deploy` first")
    address = to_checksum_address(record["address"])
    if not chain.provider.get_code(address):
        raise click.ClickException(f"{record_path(chain_id)} names {address}, which has no code on this chain")
    version = int(record.get("version", 1))
    if version not in versions:
        raise click.ClickException(
            f"{record_path(chain_id)} is registry v{version}; this script drives v{'/v'.join(map(str, versions))} "
            "only (v2 admits organisations by their own signed request: `flask --app app orgs ...`)"
        )
    return (project.BillRegistryV2 if version == 2 else project.BillRegistry).at(address)


def signer(account: AccountAPI | None, network: NetworkAPI) -> AccountAPI:
    """The sending account: a keystore alias anywhere; a test account (default TEST::0) only on local networks."""
    if account is None:
        if network.is_local:
            return accounts.test_accounts[0]
        raise click.UsageError("choose the signing keystore account with --account ALIAS (see `ape accounts list`)")
    if isinstance(account, TestAccountAPI) and not network.is_local:
        raise click.UsageError(f"test accounts sign only on local networks, not on {network.choice}")
    return account


def address_arg(value: str) -> str:
    """A checksummed address from the command line, or a usage error."""
    try:
        return to_checksum_address(value)
    except ValueError as err:
        raise click.BadParameter(f"not an address: {value}") from err


def format_record(record: Any) -> dict[str, Any]:
    """verify()'s BillRecord as plain JSON-friendly values."""
    status, issuer, anchored_at, revoked_at, settled_by, settled_at = record
    return {
        "status": STATUS_NAMES[status],
        "issuer": issuer,
        "anchoredAt": utc_iso(anchored_at) if anchored_at else None,
        "issuerRevokedAt": utc_iso(revoked_at) if revoked_at else None,
        "settledBy": None if int(settled_by, 16) == 0 else settled_by,
        "settledAt": utc_iso(settled_at) if settled_at else None,
    }
