"""Gas of the registry's transactions, measured on a local chain: `ape run gas [--network ethereum:local:foundry]`.

Fresh registries (v1, then v2 beside it), Ape's test accounts. Claims, locks, voids and conversions use a
1024-bill batch, so their proofs have 10 levels. v2 rows with a target print it and whether it is met.
"""

from __future__ import annotations

import click
from ape import accounts, chain, project
from ape.api import NetworkAPI
from ape.cli import ConnectedProviderCommand, network_option
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from app.bills.merkle import build
from scripts._billchain import KINDS

CREDIT_CODE = "91110000MA01ABCD2X"
BATCH = 1024  # 2**10 bills: every proof is 10 hashes long
# Ape's test mnemonic (ape-config.yaml `test.mnemonic`): the v2 admission requests are signed with these keys.
MNEMONIC = "test test test test test test test test test test test junk"
ADMIN_DELAY = 3 * 24 * 3600  # v2: a new finance admin waits 3 days before accepting
MAX_LOCK = 30 * 24 * 3600  # v2: the longest review lock
# v2 targets (gas): the issues that asked for v2.
TARGETS = {
    "v2 anchor": 48_200,
    "v2 claim, first and full (10-level proof)": 65_000,
    "v2 lock (10-level proof)": 65_000,
    "v2 claim by the lock holder after its lock": 50_000,
    "v2 release": 35_000,
}


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

    rows += _v2_rows(admin)

    width = max(len(name) for name, _ in rows)
    click.echo(f"{'transaction':<{width}}  {'gas':>9}  {'target':>8}")
    click.echo(f"{'-' * width}  {'-' * 9}  {'-' * 8}")
    for name, gas in rows:
        target = TARGETS.get(name)
        verdict = "" if target is None else f"{target:>8,}  {'ok' if gas <= target else 'MISSED'}"
        click.echo(f"{name:<{width}}  {gas:>9,}  {verdict}")


# ---------------------------------------------------------------- v2


def _triple(label: str, total_fen: int) -> tuple[bytes, bytes, int]:
    return keccak(text=f"ref:{label}"), keccak(text=f"content:{label}"), total_fen


def _signed(registry, key: bytes, primary: str, fields: list[tuple[str, str]], message: dict) -> bytes:
    """The EIP-712 signature of `message` in the v2 registry's domain, by `key`."""
    domain = {"name": "BillRegistry", "version": "2", "chainId": chain.chain_id, "verifyingContract": registry.address}
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            primary: [{"name": n, "type": t} for n, t in fields],
        },
        "primaryType": primary,
        "domain": domain,
        "message": message,
    }
    return bytes(Account.sign_message(encode_typed_data(full_message=typed), key).signature)


def _admission(registry, index: int, name: str, code: str, kind: int) -> tuple[tuple, bytes]:
    """(request, signature): test account `index` asks to be admitted."""
    Account.enable_unaudited_hdwallet_features()
    key = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    deadline = chain.pending_timestamp + 3600
    fields = [("account", "address"), ("name", "string"), ("creditCode", "string"), ("kind", "uint8")]
    message = {"account": key.address, "name": name, "creditCode": code, "kind": kind, "deadline": deadline}
    signature = _signed(registry, key.key, "AdmissionRequest", [*fields, ("deadline", "uint256")], message)
    return (key.address, name, code, kind, deadline), signature


def _v2_rows(admin) -> list[tuple[str, int]]:
    """Deploy v2, admit an issuer and a claimant, and price every v2 transaction once."""
    rows: list[tuple[str, int]] = []
    issuer, claimant, other = accounts.test_accounts[3], accounts.test_accounts[4], accounts.test_accounts[5]
    registry = project.BillRegistryV2.deploy(admin, ADMIN_DELAY, MAX_LOCK, sender=admin)
    rows.append(("deploy BillRegistryV2", registry.creation_metadata.receipt.gas_used))
    request, signature = _admission(registry, 3, "北京市第一中学", "121100004000000014", KINDS["issuer"])
    rows.append(
        (
            "v2 registerOrganisation (signed request)",
            registry.registerOrganisation(request, signature, sender=admin).gas_used,
        )
    )
    issuer_id = registry.organisationCount()
    for index, code in ((4, "911100001000000020"), (5, "911100001000000033")):
        request, signature = _admission(registry, index, f"报销单位{index}", code, KINDS["claimant"])
        registry.registerOrganisation(request, signature, sender=admin)

    # 1024 bills of 100.00 yuan: every proof has 10 levels.
    bills = [_triple(f"v2-{i}", 10_000) for i in range(BATCH)]
    tree = build(bills)  # v2 leaves (ref, hash, total): app.bills.merkle, = @openzeppelin/merkle-tree
    root, proofs = tree.root, [tree.proof(i) for i in range(len(bills))]
    assert len(proofs[0]) == 10
    rows.append(("v2 anchor", registry.anchor(root, sender=issuer).gas_used))

    def args(i: int) -> tuple:
        return (root, proofs[i], *bills[i])

    claim_ref = b"\x01" * 32
    receipt = registry.claim(issuer_id, *args(0), 0, claim_ref, sender=claimant)
    rows.append(("v2 claim, first and full (10-level proof)", receipt.gas_used))
    until = chain.pending_timestamp + 7 * 24 * 3600
    rows.append(("v2 lock (10-level proof)", registry.lock(issuer_id, *args(1), until, sender=claimant).gas_used))
    receipt = registry.claim(issuer_id, *args(1), 0, claim_ref, sender=claimant)
    rows.append(("v2 claim by the lock holder after its lock", receipt.gas_used))
    receipt = registry.claim(issuer_id, *args(2), 4_000, claim_ref, sender=claimant)
    rows.append(("v2 claim, first part (40 of 100 yuan)", receipt.gas_used))
    receipt = registry.claim(issuer_id, *args(2), 0, claim_ref, sender=other)
    rows.append(("v2 claim, remainder by another unit", receipt.gas_used))
    registry.lock(issuer_id, *args(3), until, sender=claimant)
    rows.append(("v2 release", registry.release(issuer_id, bills[3][0], sender=claimant).gas_used))
    paper = b"0110000012345678901".ljust(32, b"\x00")
    rows.append(("v2 convertToPaper", registry.convertToPaper(*args(4), paper, sender=issuer).gas_used))
    replacement = keccak(text="ref:v2-replacement")
    rows.append(("v2 voidBill with replacement", registry.voidBill(*args(5), 1, replacement, sender=issuer).gas_used))

    Account.enable_unaudited_hdwallet_features()
    new_key = Account.from_mnemonic(MNEMONIC, account_path="m/44'/60'/0'/0/6")
    deadline = chain.pending_timestamp + 3600
    fields = [("orgId", "uint32"), ("newKey", "address"), ("deadline", "uint256")]
    message = {"orgId": issuer_id, "newKey": new_key.address, "deadline": deadline}
    signature = _signed(registry, new_key.key, "KeyRotationRequest", fields, message)
    receipt = registry.rotateKey((issuer_id, new_key.address, deadline), signature, sender=admin)
    rows.append(("v2 rotateKey (signed request)", receipt.gas_used))
    rows.append(("v2 revokeOrganisation", registry.revokeOrganisation(issuer_id, sender=admin).gas_used))
    return rows
