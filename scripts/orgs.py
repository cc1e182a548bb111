"""Admit and revoke organisations as the finance department.

    ape run orgs register 0xADDRESS --name 北京市第一中学 --credit-code 91110000MA01ABCD2X --kind issuer \
        --network ethereum:local:node --account finance
    ape run orgs revoke 0xADDRESS --network ethereum:local:node --account finance
    ape run orgs show 0xADDRESS --network ethereum:local:node
"""

from __future__ import annotations

import click
from ape.api import AccountAPI, NetworkAPI
from ape.cli import ConnectedProviderCommand, account_option, network_option
from ape.exceptions import ContractLogicError

from scripts._billchain import KINDS, address_arg, deployed_registry, signer, utc_iso


def _explain(err: ContractLogicError) -> click.ClickException:
    """A revert as one line: the custom error's name and arguments."""
    name = getattr(err, "name", None) or type(err).__name__
    inputs = getattr(err, "inputs", None)
    if inputs is None:
        return click.ClickException(f"reverted: {name}: {err}")
    args = ", ".join(f"{k}={'0x' + bytes(v).hex() if isinstance(v, bytes) else v}" for k, v in inputs.items())
    return click.ClickException(f"reverted: {name}({args})")


@click.group(short_help="Register, revoke and show organisations in BillRegistry")
def cli() -> None:
    """Register, revoke and show organisations (the finance department's account signs)."""


@cli.command(cls=ConnectedProviderCommand)
@network_option()
@account_option(prompt=False)
@click.argument("address")
@click.option("--name", required=True, help="Registered name, e.g. 北京市第一中学.")
@click.option("--credit-code", required=True, help="18-character unified social credit code.")
@click.option("--kind", type=click.Choice(list(KINDS)), required=True, help="Issuer or claimant.")
def register(
    network: NetworkAPI, account: AccountAPI | None, address: str, name: str, credit_code: str, kind: str
) -> None:
    """Admit ADDRESS as an issuer or claimant."""
    registry = deployed_registry()
    sender = signer(account, network)
    try:
        receipt = registry.registerOrganisation(address_arg(address), name, credit_code, KINDS[kind], sender=sender)
    except ContractLogicError as err:
        raise _explain(err) from err
    click.echo(f"registered {address} as {kind} ({name}, {credit_code}) in tx {receipt.txn_hash}")


@cli.command(cls=ConnectedProviderCommand)
@network_option()
@account_option(prompt=False)
@click.argument("address")
def revoke(network: NetworkAPI, account: AccountAPI | None, address: str) -> None:
    """Revoke ADDRESS: bills it anchored before now keep verifying; it can do nothing more."""
    registry = deployed_registry()
    sender = signer(account, network)
    try:
        receipt = registry.revokeOrganisation(address_arg(address), sender=sender)
    except ContractLogicError as err:
        raise _explain(err) from err
    revoked_at = registry.organisation(address_arg(address)).revokedAt
    click.echo(f"revoked {address} at {utc_iso(revoked_at)} in tx {receipt.txn_hash}")


@cli.command(cls=ConnectedProviderCommand)
@network_option()
@click.argument("address")
def show(address: str) -> None:
    """Print the organisation recorded for ADDRESS."""
    org = deployed_registry().organisation(address_arg(address))
    if org.kind == 0:
        raise click.ClickException(f"{address} is not a registered organisation")
    kind = {v: k for k, v in KINDS.items()}[org.kind]
    click.echo(f"{org.name} ({org.creditCode}), {kind}, registered {utc_iso(org.registeredAt)}")
    if org.revokedAt:
        click.echo(f"revoked {utc_iso(org.revokedAt)}")
