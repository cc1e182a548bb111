// The peer in `make bench`: OpenAttestation's verifier (oa-verify) on the same Anvil as Billchain.
// Deploys a DocumentStore (compiled artifact from @govtechsg/document-store), wraps N distinct v2
// documents under one Merkle root, issues the root, then verifies the documents' integrity and issuance
// status (the DNS identity check is left out: no network here) with C concurrent verifications for S
// seconds. Prints one JSON line: {"verifications_per_s", "p50_ms", "p99_ms", "valid", ...}.
//
// usage: node peer.js RPC_URL PRIVATE_KEY N SECONDS CONCURRENCY
"use strict";

const { ethers } = require("ethers");
const { wrapDocuments } = require("@govtechsg/open-attestation");
const { DocumentStoreFactory } = require("@govtechsg/document-store");
const {
  verificationBuilder,
  openAttestationHash,
  openAttestationEthereumDocumentStoreStatus,
  isValid,
} = require("@govtechsg/oa-verify");

async function main() {
  const [rpcUrl, key, n, seconds, concurrency] = process.argv.slice(2);
  const count = Number(n);
  // StaticJsonRpcProvider: the network is asked once, not before every call (ethers 5's advice for a fixed node).
  const provider = new ethers.providers.StaticJsonRpcProvider(rpcUrl);
  const signer = new ethers.Wallet(key, provider);
  const store = await new DocumentStoreFactory(signer).deploy("Bench Document Store", signer.address);
  await store.deployed();

  const raw = [];
  for (let i = 0; i < count; i++) {
    raw.push({
      $template: { name: "main", type: "EMBEDDED_RENDERER", url: "https://localhost:3000/renderer" },
      id: `BENCH-${i}`,
      recipient: { name: `Payer ${i}` },
      amount: 12345 + i,
      issuers: [
        {
          name: "Bench issuer",
          documentStore: store.address,
          identityProof: { type: "DNS-TXT", location: "example.com" },
        },
      ],
    });
  }
  const wrapped = wrapDocuments(raw);
  const root = "0x" + wrapped[0].signature.merkleRoot;
  await (await store.issue(root)).wait();

  const verify = verificationBuilder([openAttestationHash, openAttestationEthereumDocumentStoreStatus], { provider });
  const checked = ["DOCUMENT_INTEGRITY", "DOCUMENT_STATUS"]; // identity (DNS) is left out
  const first = await verify(wrapped[0]);
  if (!isValid(first, checked)) throw new Error("peer's own document does not verify: " + JSON.stringify(first));

  const latencies = [];
  let invalid = 0;
  let next = 0;
  const deadline = Date.now() + Number(seconds) * 1000;
  const started = Date.now();
  async function loop() {
    while (Date.now() < deadline) {
      const doc = wrapped[next++ % wrapped.length];
      const t0 = process.hrtime.bigint();
      const fragments = await verify(doc);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (!isValid(fragments, checked)) invalid++;
    }
  }
  await Promise.all(Array.from({ length: Number(concurrency) }, loop));
  const elapsed = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (q) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((q / 100) * latencies.length) - 1))];
  console.log(
    JSON.stringify({
      verifier: "@govtechsg/oa-verify 9.4.0 (integrity + document-store issuance status), ethers 5",
      documents: count,
      concurrency: Number(concurrency),
      verifications: latencies.length,
      invalid,
      seconds: elapsed,
      verifications_per_s: latencies.length / elapsed,
      p50_ms: pct(50),
      p99_ms: pct(99),
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
