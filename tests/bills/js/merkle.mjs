// Reference trees from @openzeppelin/merkle-tree for cross-checking app/bills/merkle.py.
// stdin: {values: [[ref, hash], ...], proofs: [index, ...]}; stdout: {root, leaves, proofs, verified}.
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { standardLeafHash } from "@openzeppelin/merkle-tree/dist/hashes.js";

const input = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (chunk) => (data += chunk));
  process.stdin.on("end", () => resolve(data));
}));

const encoding = ["bytes32", "bytes32"];
const tree = StandardMerkleTree.of(input.values, encoding);
const proofs = input.proofs.map((i) => tree.getProof(i));
const verified = input.proofs.every((i, p) => StandardMerkleTree.verify(tree.root, encoding, input.values[i], proofs[p]));
process.stdout.write(JSON.stringify({
  root: tree.root,
  leaves: input.proofs.map((i) => standardLeafHash(encoding, input.values[i])),
  proofs,
  verified,
}));
