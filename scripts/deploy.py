"""Deploy the registry and record it for the web app: `ape run deploy --network ... [--account ALIAS] [--v1]`.

BillRegistryV2 by default (the app's `make run` deploys it too); `--v1` deploys the first BillRegistry.
Writes deployments/<chain_id>.json (or $BILLCHAIN_DEPLOYMENTS_DIR/<chain_id>.json):
{"chain_id", "address", "block", "tx", "deployed_at" (UTC ISO 8601), "admin", "version"}.
"""

from __future__ import annotations

import json

import click
from ape import chain, project
from ape.api import AccountAPI, NetworkAPI
from ape.cli import ConnectedProviderCommand, account_option, network_option

from scripts._billchain import address_arg, read_record, record_path, signer, utc_iso, write_record


@click.command(cls=ConnectedProviderCommand, short_help="Deploy BillRegistry and write the deployment record")
@network_option()
@account_option(prompt=False)
@click.option(
    "--admin",
    "finance_admin",
    default=None,
    help="The finance department's address (DEFAULT_ADMIN_ROLE). Default: the deploying account.",
)
@click.option("--force", is_flag=True, help="Deploy even if this chain already has a recorded registry.")
@click.option("--v1", "v1", is_flag=True, help="Deploy registry v1 (BillRegistry) instead of BillRegistryV2.")
@click.option("--max-lock-days", default=30, show_default=True, help="v2: the longest review lock.")
@click.option(
    "--admin-delay", default=2 * 24 * 3600, show_default=True, help="v2: seconds a new finance admin waits to accept."
)
def cli(
    network: NetworkAPI,
    account: AccountAPI | None,
    finance_admin: str | None,
    force: bool,
    v1: bool,
    max_lock_days: int,
    admin_delay: int,
) -> None:
    sender = signer(account, network)
    admin = address_arg(finance_admin) if finance_admin else sender.address
    chain_id = chain.provider.chain_id

    existing = read_record(chain_id)
    if existing and not force and chain.provider.get_code(existing["address"]):
        raise click.ClickException(
            f"{record_path(chain_id)} already names a live registry at {existing['address']}; use --force to replace it"
        )

    if v1:
        registry = project.BillRegistry.deploy(admin, sender=sender)
    else:
        registry = project.BillRegistryV2.deploy(admin, admin_delay, max_lock_days * 24 * 3600, sender=sender)
    receipt = registry.creation_metadata.receipt
    record = {
        "chain_id": chain_id,
        "address": registry.address,
        "block": receipt.block_number,
        "tx": receipt.txn_hash,
        "deployed_at": utc_iso(receipt.timestamp),
        "admin": admin,
        "version": 1 if v1 else 2,
    }
    click.echo(json.dumps(record, indent=2))
    if chain.provider.name == "test":
        # Ape's in-process EVM vanishes with this process and shares chain id 1337 with Ganache:
        # a record of it would only hide a real Ganache deployment.
        click.echo("in-process EVM: nothing recorded (it ends with this command)", err=True)
        return
    path = write_record(record)
    click.echo(f"recorded in {path}", err=True)
