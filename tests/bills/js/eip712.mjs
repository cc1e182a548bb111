// Independent EIP-712 implementation (ethers v6) for cross-checking app/bills/hashing.py.
// stdin: [{typedData, signature}] (bytes as 0x hex); stdout: [{hash, recovered}].
import { TypedDataEncoder, verifyTypedData } from "ethers";

const input = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (chunk) => (data += chunk));
  process.stdin.on("end", () => resolve(data));
}));

const out = input.map(({ typedData, signature }) => {
  const types = { ...typedData.types };
  delete types.EIP712Domain;
  return {
    hash: TypedDataEncoder.hash(typedData.domain, types, typedData.message),
    recovered: verifyTypedData(typedData.domain, types, typedData.message, signature),
  };
});
process.stdout.write(JSON.stringify(out));
