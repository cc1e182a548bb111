"""Anchor a few sample bills on a local chain, claim one, void one, and print what verify() says of each.

    ape run demo --network ethereum:local:node            # uses deployments/<chain_id>.json
    ape run demo --network ethereum:local:foundry --fresh # throw-away anvil: deploy a registry first

Local networks only: it signs with Ape's test accounts (0 = finance admin, 1 = issuer, 2 = claimant).
"""

from __future__ import annotations

import json
import os
from typing import Any

import click
from ape import accounts, project
from ape.api import NetworkAPI
from ape.cli import ConnectedProviderCommand, network_option

from app.bills.merkle import build
from scripts._billchain import KINDS, deployed_registry, format_record

REFUND = 2  # IBillRegistry void reason code


def _ensure_member(registry: Any, admin: Any, account: Any, name: str, kind: str) -> None:
    """Register `account` unless it already is; a revoked demo account cannot be reused."""
    org = registry.organisation(account)
    if org.kind == 0:
        registry.registerOrganisation(account, name, "91110000MA01DEMO0X", KINDS[kind], sender=admin)
    elif org.revokedAt:
        raise click.ClickException(f"demo {kind} {account.address} was revoked: deploy a fresh registry")


@click.command(cls=ConnectedProviderCommand, short_help="Anchor, claim and void sample bills; print verify()")
@network_option()
@click.option("--fresh", is_flag=True, help="Deploy a new registry for the demo (not recorded).")
@click.option("--bills", "count", default=4, show_default=True, type=click.IntRange(2, 64))
def cli(network: NetworkAPI, fresh: bool, count: int) -> None:
    if not network.is_local:
        raise click.UsageError("the demo signs with test accounts: local networks only")
    admin, issuer, claimant = accounts.test_accounts[0], accounts.test_accounts[1], accounts.test_accounts[2]
    registry = project.BillRegistry.deploy(admin, sender=admin) if fresh else deployed_registry()
    if not registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin):
        raise click.ClickException(f"test account 0 is not the finance admin of {registry.address}")
    _ensure_member(registry, admin, issuer, "示例开票单位 Demo Issuer", "issuer")
    _ensure_member(registry, admin, claimant, "示例报销单位 Demo Claimant", "claimant")

    # Random 32-byte billRefs and content hashes: sample data for the chain only. Real bills derive
    # billRef from bill code + number and contentHash from the EIP-712 digest (see app/bills).
    pairs = [(os.urandom(32), os.urandom(32)) for _ in range(count)]
    tree = build(pairs)
    registry.anchor(tree.root, sender=issuer)
    registry.claim(tree.root, tree.proof(0), *pairs[0], os.urandom(32), sender=claimant)
    registry.voidBill(tree.root, tree.proof(1), *pairs[1], REFUND, b"\x00" * 32, sender=issuer)

    click.echo(f"registry {registry.address}, root 0x{tree.root.hex()}")
    for i, (ref, content) in enumerate(pairs):
        record = format_record(registry.verify(tree.root, tree.proof(i), ref, content))
        click.echo(json.dumps({"billRef": "0x" + ref.hex(), **record}, ensure_ascii=False))
    tampered = format_record(registry.verify(tree.root, tree.proof(2), pairs[2][0], os.urandom(32)))
    click.echo(json.dumps({"billRef": "0x" + pairs[2][0].hex(), "tampered content": True, **tampered}))
