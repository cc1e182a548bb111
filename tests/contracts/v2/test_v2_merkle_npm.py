"""The v2 test oracle's 3-field trees equal npm @openzeppelin/merkle-tree's, and the contract's leafOf agrees."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from v2kit import Bill, MerkleTree, make_bill

REPO = Path(__file__).resolve().parents[3]
SIZES = [1, 2, 3, 7, 33]
ENCODING = ["bytes32", "bytes32", "uint256"]

# stdin: {size: [[ref, contentHash, totalFen], ...]}; stdout: {size: {root, leaves, proofs}} (0x hex).
OPENZEPPELIN_TREES = """
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {};
for (const [size, values] of Object.entries(input)) {
  const tree = StandardMerkleTree.of(values, ENCODING);
  out[size] = {
    root: tree.root,
    leaves: values.map((v) => tree.leafHash(v)),
    proofs: values.map((_, i) => tree.getProof(i)),
  };
}
process.stdout.write(JSON.stringify(out));
""".replace("ENCODING", json.dumps(ENCODING))


def bills_of(size: int) -> list[Bill]:
    # Totals from 0 fen to above 2**64, so the uint256 word is exercised, not only small numbers.
    return [make_bill(f"npm-{size}-{i}", total_fen=[0, 1, 10_000, 2**64 + 7][i % 4] + i) for i in range(size)]


@pytest.fixture(scope="module")
def openzeppelin() -> dict[str, dict]:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "@openzeppelin" / "merkle-tree").is_dir():
        pytest.fail("needs node and `npm ci`: the v2 oracle is checked against @openzeppelin/merkle-tree")
    payload = {
        size: [["0x" + b.ref.hex(), "0x" + b.content_hash.hex(), str(b.total_fen)] for b in bills_of(size)]
        for size in SIZES
    }
    result = subprocess.run(
        [node, "-e", OPENZEPPELIN_TREES],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("size", SIZES)
def test_oracle_tree_equals_openzeppelin(openzeppelin, size):
    bills = bills_of(size)
    tree = MerkleTree(bills)
    theirs = openzeppelin[str(size)]

    assert "0x" + tree.root.hex() == theirs["root"]
    assert ["0x" + b.leaf.hex() for b in bills] == theirs["leaves"]
    assert [["0x" + p.hex() for p in tree.proof(b)] for b in bills] == theirs["proofs"]


def test_contract_leaf_equals_openzeppelin(registry_v2, openzeppelin):
    bills = bills_of(7)

    for bill, theirs in zip(bills, openzeppelin["7"]["leaves"], strict=True):
        assert "0x" + bytes(registry_v2.leafOf(*bill.values)).hex() == theirs
