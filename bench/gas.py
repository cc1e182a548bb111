"""Gas of every registry operation on a fresh Anvil, with real Merkle trees (app.bills.merkle).

Registry v2 (BillRegistryV2, deployed beside v1 on the same Anvil) adds its rows under `v2` with their
targets under `v2_targets`; its 3-field leaves (billRef, contentHash, totalFen) are built here until
app.bills.merkle learns them in the integration step.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from eth_account.messages import encode_typed_data
from eth_utils import keccak
from web3 import Web3

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
            ref, content = tree.values[0][:2]
            proof = tree.proof(0)
            receipt = client.transact(claimant, "claim", tree.root, proof, ref, content, os.urandom(32))
            out[f"claim_tree_{n}"] = receipt.gas_used
            out[f"claim_tree_{n}_proof_len"] = len(proof)
        tree = trees[1_000]
        ref, content = tree.values[1][:2]
        out["void"] = client.transact(
            issuer, "voidBill", tree.root, tree.proof(1), ref, content, 1, b"\0" * 32
        ).gas_used
        out["v2"] = run_v2(node.rpc_url, admin, issuer, claimant, dev_account(3), dev_account(4))
    out["v2_targets"] = [
        {"target": f"v2 {name} ≤ {limit:,}", "value": out["v2"][name], "limit": limit, "pass": out["v2"][name] <= limit}
        for name, limit in V2_TARGETS.items()
    ]
    out["big_tree"] = big
    return out


# ---------------------------------------------------------------- v2

V2_TARGETS = {
    "anchor": 48_200,
    "claim_full_10": 65_000,
    "lock_10": 65_000,
    "claim_after_lock": 50_000,
    "release": 35_000,
}
V2_MANIFEST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".build", "__local__.json")


def run_v2(rpc_url: str, admin: Any, issuer: Any, claimant: Any, other: Any, new_key: Any) -> dict[str, int]:
    """Deploy BillRegistryV2 on the node and price each of its transactions once (10-level proofs)."""
    with open(V2_MANIFEST, encoding="utf-8") as manifest:
        contract_type = json.load(manifest)["contractTypes"]["BillRegistryV2"]
    w3 = Web3(Web3.HTTPProvider(rpc_url))

    def send(account: Any, tx: dict[str, Any]) -> Any:
        tx = {**tx, "from": account.address, "nonce": w3.eth.get_transaction_count(account.address)}
        tx["gas"] = int(w3.eth.estimate_gas(tx) * 1.2)  # type: ignore[arg-type]
        if "maxFeePerGas" not in tx:
            tx.setdefault("gasPrice", w3.eth.gas_price)
        signed = account.sign_transaction(tx)
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
        assert receipt["status"] == 1, receipt
        return receipt

    factory = w3.eth.contract(abi=contract_type["abi"], bytecode=contract_type["deploymentBytecode"]["bytecode"])
    deployed = send(
        admin, factory.constructor(admin.address, 3 * 86_400, 30 * 86_400).build_transaction({"from": admin.address})
    )
    registry = w3.eth.contract(address=deployed["contractAddress"], abi=contract_type["abi"])
    chain_id = w3.eth.chain_id

    def call(account: Any, name: str, *args: Any) -> int:
        tx = getattr(registry.functions, name)(*args).build_transaction({"from": account.address})
        return int(send(account, {k: v for k, v in tx.items() if k not in ("nonce", "gas")})["gasUsed"])

    def signed(account: Any, primary: str, fields: list[tuple[str, str]], message: dict[str, Any]) -> bytes:
        domain = {"name": "BillRegistry", "version": "2", "chainId": chain_id, "verifyingContract": registry.address}
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
        return bytes(account.sign_message(encode_typed_data(full_message=typed)).signature)

    deadline = w3.eth.get_block("latest")["timestamp"] + 3_600
    fields = [
        ("account", "address"),
        ("name", "string"),
        ("creditCode", "string"),
        ("kind", "uint8"),
        ("deadline", "uint256"),
    ]
    out: dict[str, int] = {"deploy": int(deployed["gasUsed"])}
    for account, name, code, kind in (
        (issuer, "北京市第一中学", "121100004000000014", 1),
        (claimant, "示例保险股份有限公司", "911100001000000020", 2),
        (other, "北京大学财务处", "911100001000000033", 2),
    ):
        message = {"account": account.address, "name": name, "creditCode": code, "kind": kind, "deadline": deadline}
        gas = call(
            admin, "registerOrganisation", tuple(message.values()), signed(account, "AdmissionRequest", fields, message)
        )
        out.setdefault("register_organisation", gas)

    bills = [(keccak(text=f"bench-v2-ref-{i}"), keccak(text=f"bench-v2-content-{i}"), 10_000) for i in range(1_024)]
    tree = build(bills)  # v2 leaves (ref, hash, total): app.bills.merkle, = @openzeppelin/merkle-tree
    root, proofs = tree.root, [tree.proof(i) for i in range(len(bills))]

    def args(i: int) -> tuple[Any, ...]:
        return (root, proofs[i], *bills[i])

    ref = b"\x01" * 32
    until = w3.eth.get_block("latest")["timestamp"] + 7 * 86_400
    out["anchor"] = call(issuer, "anchor", root)
    out["claim_full_10"] = call(claimant, "claim", 1, *args(0), 0, ref)
    out["lock_10"] = call(claimant, "lock", 1, *args(1), until)
    out["claim_after_lock"] = call(claimant, "claim", 1, *args(1), 0, ref)
    out["claim_part_10"] = call(claimant, "claim", 1, *args(2), 4_000, ref)
    out["claim_remainder_other_unit"] = call(other, "claim", 1, *args(2), 0, ref)
    call(claimant, "lock", 1, *args(3), until)
    out["release"] = call(claimant, "release", 1, bills[3][0])
    out["convert_to_paper"] = call(issuer, "convertToPaper", *args(4), b"011000001234567890".ljust(32, b"\0"))
    out["void_with_replacement"] = call(issuer, "voidBill", *args(5), 1, keccak(text="bench-v2-replacement"))
    rotation = {"orgId": 1, "newKey": new_key.address, "deadline": deadline}
    rotation_fields = [("orgId", "uint32"), ("newKey", "address"), ("deadline", "uint256")]
    signature = signed(new_key, "KeyRotationRequest", rotation_fields, rotation)
    out["rotate_key"] = call(admin, "rotateKey", tuple(rotation.values()), signature)
    out["revoke_organisation"] = call(admin, "revokeOrganisation", 1)
    return out
