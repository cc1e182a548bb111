"""The contract tests' own Merkle oracle (registry_testkit) equals npm @openzeppelin/merkle-tree byte for byte.

The oracle is independent of app/bills/merkle.py on purpose; this is what keeps it honest. One node run
builds every tree; no chain is needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from registry_testkit import Bill, MerkleTree, leaf, make_bill

REPO = Path(__file__).resolve().parents[2]
SIZES = [1, 2, 3, 7, 100]

# stdin: {size: [[ref, contentHash], ...]}; stdout: {size: {root, tree, leaves, proofs}} (0x hex).
# `tree` is the flat node array (root first) that StandardMerkleTree.dump() writes.
OPENZEPPELIN_TREES = """
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {};
for (const [size, values] of Object.entries(input)) {
  const tree = StandardMerkleTree.of(values, ["bytes32", "bytes32"]);
  out[size] = {
    root: tree.root,
    tree: tree.dump().tree,
    leaves: values.map((v) => tree.leafHash(v)),
    proofs: values.map((_, i) => tree.getProof(i)),
  };
}
process.stdout.write(JSON.stringify(out));
"""


def bills_of(size: int) -> list[Bill]:
    return [make_bill(f"oracle-{size}-{i}") for i in range(size)]


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


@pytest.fixture(scope="module")
def openzeppelin() -> dict[int, dict[str, Any]]:
    """The npm library's trees over the same bills, keyed by size."""
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "@openzeppelin" / "merkle-tree").is_dir():
        pytest.fail("needs node and `npm ci`: the oracle is checked against @openzeppelin/merkle-tree")
    payload = {size: [[hex32(b.ref), hex32(b.content_hash)] for b in bills_of(size)] for size in SIZES}
    result = subprocess.run(
        [node, "-e", OPENZEPPELIN_TREES],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return {int(size): tree for size, tree in json.loads(result.stdout).items()}


@pytest.mark.parametrize("size", SIZES)
def test_oracle_leaves_match_openzeppelin(size: int, openzeppelin: dict[int, dict[str, Any]]) -> None:
    bills = bills_of(size)

    assert [hex32(leaf(b.ref, b.content_hash)) for b in bills] == openzeppelin[size]["leaves"]


@pytest.mark.parametrize("size", SIZES)
def test_oracle_root_and_node_layout_match_openzeppelin(size: int, openzeppelin: dict[int, dict[str, Any]]) -> None:
    tree = MerkleTree(bills_of(size))

    assert hex32(tree.root) == openzeppelin[size]["root"]
    assert [hex32(n) for n in tree.nodes] == openzeppelin[size]["tree"]


@pytest.mark.parametrize("size", SIZES)
def test_oracle_proofs_match_openzeppelin(size: int, openzeppelin: dict[int, dict[str, Any]]) -> None:
    bills = bills_of(size)
    tree = MerkleTree(bills)

    assert [[hex32(p) for p in tree.proof(b)] for b in bills] == openzeppelin[size]["proofs"]
