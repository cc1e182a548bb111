"""Gas of every registry operation on a fresh Anvil, with real Merkle trees (app.bills.merkle)."""

from __future__ import annotations

import os
import time
from typing import Any

from app.bills.merkle import MerkleTree, build
from app.chain import RegistryClient, deploy
from dev.devchain import DEV_ORGS, dev_account, start_anvil


def random_pairs(n: int) -> list[tuple[bytes, bytes]]:
    """n random (bill_ref, content_hash) pairs: gas does not depend on the values."""
    blob = os.urandom(64 * n)
    return [(blob[64 * i : 64 * i + 32], blob[64 * i + 32 : 64 * i + 64]) for i in range(n)]


def run(tiny: bool) -> dict[str, Any]:
    """Deploy, register, anchor, claim and void once each; gas from the receipts."""
    admin, issuer, claimant = dev_account(0), dev_account(1), dev_account(2)
    big = 2_000 if tiny else 100_000
    out: dict[str, Any] = {}
    with start_anvil() as node:
        deployment = deploy(node.rpc_url, admin)
        client = RegistryClient(node.rpc_url, deployment.address, chain_id=deployment.chain_id)
        mined = client.receipt(bytes.fromhex(deployment.tx_hash.removeprefix("0x")))
        assert mined is not None
        out["deploy"] = mined.gas_used
        (issuer_name, issuer_code, _), (claimant_name, claimant_code, _) = (
            DEV_ORGS["issuer"],
            DEV_ORGS["claimant"],
        )
        out["register_organisation"] = client.transact(
            admin, "registerOrganisation", issuer.address, issuer_name, issuer_code, 1
        ).gas_used
        client.transact(admin, "registerOrganisation", claimant.address, claimant_name, claimant_code, 2)

        trees: dict[int, MerkleTree] = {}
        for n in (1, 10, 100, 1_000):
            trees[n] = build(random_pairs(n))
            gas = client.transact(issuer, "anchor", trees[n].root).gas_used
            if n == 1:
                out["anchor_single"] = gas
            else:
                out[f"anchor_root_{n}"] = gas
                out[f"anchor_gas_per_bill_{n}"] = gas / n
        pairs = random_pairs(big)
        start = time.perf_counter()
        trees[big] = build(pairs)
        out[f"merkle_build_{big}_s"] = time.perf_counter() - start
        client.transact(issuer, "anchor", trees[big].root)

        for n in (1, 1_000, big):
            tree = trees[n]
            ref, content = tree.values[0]
            proof = tree.proof(0)
            receipt = client.transact(claimant, "claim", tree.root, proof, ref, content, os.urandom(32))
            out[f"claim_tree_{n}"] = receipt.gas_used
            out[f"claim_tree_{n}_proof_len"] = len(proof)
        tree = trees[1_000]
        ref, content = tree.values[1]
        out["void"] = client.transact(
            issuer, "voidBill", tree.root, tree.proof(1), ref, content, 1, b"\0" * 32
        ).gas_used
    out["big_tree"] = big
    return out
