"""Gas of the registry's transactions, measured on a local chain: `ape run gas [--network ethereum:local:foundry]`.

Fresh registry, Ape's test accounts. Claim and void use a 1024-bill batch, so their proofs have 10 levels.
"""

from __future__ import annotations

import click
from ape import accounts, project
from ape.api import NetworkAPI
from ape.cli import ConnectedProviderCommand, network_option
from eth_utils import keccak

from app.bills.merkle import build
from scripts._billchain import KINDS

CREDIT_CODE = "91110000MA01ABCD2X"
BATCH = 1024  # 2**10 bills: every proof is 10 hashes long


def _pair(label: str) -> tuple[bytes, bytes]:
    return keccak(text=f"ref:{label}"), keccak(text=f"content:{label}")


@click.command(cls=ConnectedProviderCommand, short_help="Print the gas of deploy, register, anchor, claim, void")
@network_option()
def cli(network: NetworkAPI) -> None:
    if not network.is_local:
        raise click.UsageError("gas signs with test accounts: local networks only")
    admin, issuer, claimant = accounts.test_accounts[0], accounts.test_accounts[1], accounts.test_accounts[2]
    rows: list[tuple[str, int]] = []

    registry = project.BillRegistry.deploy(admin, sender=admin)
    rows.append(("deploy BillRegistry", registry.creation_metadata.receipt.gas_used))
    receipt = registry.registerOrganisation(issuer, "北京市第一中学", CREDIT_CODE, KINDS["issuer"], sender=admin)
    rows.append(("registerOrganisation (issuer, 7-character name)", receipt.gas_used))
    registry.registerOrganisation(claimant, "中国人民保险", CREDIT_CODE, KINDS["claimant"], sender=admin)

    # Sample billRefs and content hashes: pseudo-random 32-byte values, derived from labels so that every
    # run prices the same calldata (zero bytes cost 4 gas, others 16: truly random data would wobble).
    single = _pair("single")
    single_root = build([single]).root
    rows.append(("anchor (single bill, root = leaf)", registry.anchor(single_root, sender=issuer).gas_used))
    receipt = registry.claim(single_root, [], *single, b"\x00" * 32, sender=claimant)
    rows.append(("claim (single bill, empty proof)", receipt.gas_used))

    pairs = [_pair(f"batch-{i}") for i in range(BATCH)]
    tree = build(pairs)
    assert len(tree.proof(0)) == 10
    rows.append((f"anchor ({BATCH}-bill batch)", registry.anchor(tree.root, sender=issuer).gas_used))
    receipt = registry.claim(tree.root, tree.proof(0), *pairs[0], b"\x01" * 32, sender=claimant)
    rows.append(("claim (10-level proof)", receipt.gas_used))
    receipt = registry.voidBill(tree.root, tree.proof(1), *pairs[1], 2, b"\x00" * 32, sender=issuer)
    rows.append(("voidBill (10-level proof)", receipt.gas_used))
    rows.append(("revokeOrganisation", registry.revokeOrganisation(claimant, sender=admin).gas_used))

    width = max(len(name) for name, _ in rows)
    click.echo(f"{'transaction':<{width}}  {'gas':>9}")
    click.echo(f"{'-' * width}  {'-' * 9}")
    for name, gas in rows:
        click.echo(f"{name:<{width}}  {gas:>9,}")
