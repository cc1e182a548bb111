"""Deploying the registry and remembering where it lives: deployments/<chain_id>.json per chain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from app.bills.hexstr import to_hex
from app.bills.times import parse_utc_iso, utc_iso
from app.chain.abi import load_artifact
from app.chain.client import ZERO_ADDRESS, RegistryClient
from app.chain.errors import TransactionFailed


@dataclass(frozen=True)
class Deployment:
    """Where a registry lives on one chain; persisted as deployments/<chain_id>.json."""

    address: str
    block: int
    tx_hash: str
    chain_id: int
    admin: str | None = None
    deployed_at: datetime | None = None
    version: int = 1  # which registry: 1 BillRegistry, 2 BillRegistryV2 (records without it are v1)


def deploy(
    rpc_url: str,
    admin_account: LocalAccount,
    artifact_path: str | Path | None = None,
    finance_admin: str | None = None,
    *,
    timeout: float = 30.0,
) -> Deployment:
    """Deploy a BillRegistry whose DEFAULT_ADMIN_ROLE goes to `finance_admin` (the deployer by default)."""
    abi, bytecode = load_artifact(artifact_path)
    if not bytecode or bytecode == "0x":
        raise FileNotFoundError("artefact has no deployment bytecode: run `make compile`")
    admin = to_checksum_address(finance_admin or admin_account.address)
    # A client without a registry yet: the zero address is never called, only its transport and fees.
    client = RegistryClient(rpc_url, ZERO_ADDRESS, timeout=timeout, artifact_path=artifact_path)
    data = client.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(admin).data_in_transaction
    return _send_creation(client, admin_account, data, admin, timeout)


def deploy_v2(
    rpc_url: str,
    admin_account: LocalAccount,
    *,
    max_lock_days: int = 30,
    admin_transfer_delay: int = 2 * 24 * 3600,
    artifact_path: str | Path | None = None,
    timeout: float = 30.0,
) -> Deployment:
    """Deploy a BillRegistryV2: the deployer is the finance admin; handing the admin role over takes two
    steps `admin_transfer_delay` seconds apart; review locks last at most `max_lock_days` days."""
    abi, bytecode = load_artifact(artifact_path, "BillRegistryV2")
    if not bytecode or bytecode == "0x":
        raise FileNotFoundError("artefact has no deployment bytecode: run `make compile`")
    client = RegistryClient(rpc_url, ZERO_ADDRESS, timeout=timeout, artifact_path=artifact_path)
    constructor = client.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(
        admin_account.address, admin_transfer_delay, max_lock_days * 24 * 3600
    )
    return _send_creation(
        client, admin_account, constructor.data_in_transaction, admin_account.address, timeout, version=2
    )


def _send_creation(
    client: RegistryClient, deployer: LocalAccount, data: str, admin: str, timeout: float, *, version: int = 1
) -> Deployment:
    """Sign and send a contract creation, wait for it, and say where the registry now lives."""
    signed = client.sign_data(deployer, data, client.pending_nonce(deployer.address), to=None)
    client.send_raw(signed)
    mined = client.wait_for_receipt(signed.hash, timeout)
    if not mined.status or mined.contract_address is None:
        raise TransactionFailed(mined)
    return Deployment(
        address=mined.contract_address,
        block=mined.block_number,
        tx_hash=to_hex(mined.tx_hash),
        chain_id=client.chain_id,
        admin=admin,
        deployed_at=mined.block_time,
        version=version,
    )


def save_deployment(deployments_dir: str | Path, deployment: Deployment) -> Path:
    """Write deployments/<chain_id>.json in the format scripts/deploy.py writes."""
    directory = Path(deployments_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{deployment.chain_id}.json"
    deployed_at = deployment.deployed_at or datetime.now(UTC)
    record = {
        "chain_id": deployment.chain_id,
        "address": deployment.address,
        "block": deployment.block,
        "tx": deployment.tx_hash,
        "deployed_at": utc_iso(deployed_at),
        "admin": deployment.admin,
        "version": deployment.version,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a file
    return path


def load_deployment(deployments_dir: str | Path, chain_id: int) -> Deployment | None:
    """The deployment recorded for `chain_id`, None if there is none."""
    path = Path(deployments_dir) / f"{chain_id}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    deployed_at = record.get("deployed_at")
    return Deployment(
        address=to_checksum_address(record["address"]),
        block=int(record["block"]),
        tx_hash=record["tx"],
        chain_id=int(record["chain_id"]),
        admin=record.get("admin"),
        deployed_at=parse_utc_iso(deployed_at) if deployed_at else None,
        version=int(record.get("version", 1)),
    )
