// One-off generator of tests/bills/vectors/pinned-v1.json: fixed bills with the content hashes, bill refs,
// leaves, roots and proofs that ethers (TypedDataEncoder) and @openzeppelin/merkle-tree compute for them.
//
// Run once, from the repository root:  node tests/bills/js/make_vectors.mjs
// and commit the output. Do NOT re-run it to make tests/bills/test_pinned_vectors.py pass again: those
// hashes are anchored on chain, and a bill whose hash changes can no longer be verified. An intended
// encoding change gets a new domain version and a new vector file next to this one.
//
// Everything here is written from the rules the Python docstrings state (app/bills/model.py,
// hashing.py, merkle.py), not from the Python code: bill documents in their canonical to_dict() form,
// line amounts (round half up), check codes, bill refs, the EIP-712 message and types.
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { TypedDataEncoder, concat, keccak256, toUtf8Bytes } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";

const REPO = new URL("../../../", import.meta.url);
const OUT = new URL("tests/bills/vectors/pinned-v1.json", REPO);

const DOMAIN = {
  name: "Billchain",
  version: "1",
  chainId: 31337,
  verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
};

const TYPES = {
  Bill: [
    { name: "billType", type: "string" },
    { name: "billCode", type: "string" },
    { name: "billNumber", type: "string" },
    { name: "checkCode", type: "string" },
    { name: "issuedAt", type: "uint64" },
    { name: "issuer", type: "Issuer" },
    { name: "payer", type: "Payer" },
    { name: "contact", type: "Contact" },
    { name: "items", type: "LineItem[]" },
    { name: "totalFen", type: "uint256" },
    { name: "currency", type: "string" },
    { name: "handler", type: "string" },
    { name: "checker", type: "string" },
    { name: "remarks", type: "string" },
    { name: "salt", type: "bytes32" },
  ],
  Issuer: [
    { name: "name", type: "string" },
    { name: "creditCode", type: "string" },
  ],
  Payer: [
    { name: "kind", type: "string" },
    { name: "name", type: "string" },
    { name: "idNumber", type: "string" },
  ],
  Contact: [
    { name: "phone", type: "string" },
    { name: "email", type: "string" },
  ],
  LineItem: [
    { name: "code", type: "string" },
    { name: "name", type: "string" },
    { name: "unit", type: "string" },
    { name: "quantityE6", type: "uint256" },
    { name: "unitPriceFen", type: "uint256" },
    { name: "amountFen", type: "uint256" },
  ],
};

// ------------------------------------------------------------------ rules (from the Python docstrings)

/** "1.5" → 1500000n: the quantity × 10^6 (at most 6 decimals). */
function quantityE6(text) {
  const [whole, frac = ""] = text.split(".");
  if (frac.length > 6) throw new Error(`too many decimals: ${text}`);
  return BigInt(whole) * 1_000_000n + BigInt(frac.padEnd(6, "0"));
}

/** round_half_up(quantity × unit_price_fen), in integers. */
function lineAmountFen(quantity, unitPriceFen) {
  return Number((quantityE6(quantity) * BigInt(unitPriceFen) + 500_000n) / 1_000_000n);
}

const unixSeconds = (iso) => Date.parse(iso) / 1000;

/** keccak256(utf8("billchain:check-code:v1:" + code:number:credit:seconds:total) ‖ salt) mod 10^6. */
function checkCode(doc) {
  const text = `billchain:check-code:v1:${doc.bill_code}:${doc.bill_number}:${doc.issuer.credit_code}:` +
    `${unixSeconds(doc.issued_at)}:${doc.total_fen}`;
  const n = BigInt(keccak256(concat([toUtf8Bytes(text), doc.salt]))) % 1_000_000n;
  return n.toString().padStart(6, "0");
}

const billRef = (doc) => keccak256(toUtf8Bytes(`billchain:bill-ref:v1:${doc.bill_code}:${doc.bill_number}`));

/** The EIP-712 message: absent optional text is "", a bill without contact has Contact("", ""). */
function message(doc) {
  return {
    billType: doc.bill_type,
    billCode: doc.bill_code,
    billNumber: doc.bill_number,
    checkCode: doc.check_code,
    issuedAt: unixSeconds(doc.issued_at),
    issuer: { name: doc.issuer.name, creditCode: doc.issuer.credit_code },
    payer: { kind: doc.payer.kind, name: doc.payer.name, idNumber: doc.payer.id_number ?? "" },
    contact: { phone: doc.contact?.phone ?? "", email: doc.contact?.email ?? "" },
    items: doc.items.map((item) => ({
      code: item.code,
      name: item.name,
      unit: item.unit,
      quantityE6: Number(quantityE6(item.quantity)),
      unitPriceFen: item.unit_price_fen,
      amountFen: item.amount_fen,
    })),
    totalFen: doc.total_fen,
    currency: doc.currency,
    handler: doc.handler,
    checker: doc.checker,
    remarks: doc.remarks ?? "",
    salt: doc.salt,
  };
}

/** A canonical bill document (Bill.to_dict() key order) with amounts, total and check code filled in. */
function bill(fields) {
  const items = fields.items.map(([code, name, unit, quantity, unit_price_fen]) => ({
    code, name, unit, quantity, unit_price_fen, amount_fen: lineAmountFen(quantity, unit_price_fen),
  }));
  const doc = {
    bill_type: fields.bill_type,
    bill_code: fields.bill_code,
    bill_number: fields.bill_number,
    check_code: "",
    issued_at: fields.issued_at,
    issuer: fields.issuer,
    payer: fields.payer,
    contact: fields.contact,
    items,
    total_fen: items.reduce((sum, item) => sum + item.amount_fen, 0),
    currency: "CNY",
    handler: fields.handler,
    checker: fields.checker,
    remarks: fields.remarks,
    salt: fields.salt,
  };
  doc.check_code = checkCode(doc);
  return doc;
}

// ------------------------------------------------------------------ the fixed bills

const hexSalt = (bytes) => "0x" + Buffer.from(bytes).toString("hex");
const range32 = [...Array(32).keys()];
const SCHOOL = { name: "北京市第一中学", credit_code: "91110000600037341L" };
const HOSPITAL = { name: "北京协和医院", credit_code: "121100004000000027" };

const BILLS = [
  {
    label: "school-fee",
    note: "Chinese text, 1.5 quantity; the same bill as tests/bills/billkit.make_bill()",
    document: bill({
      bill_type: "school_fee", bill_code: "11010125", bill_number: "0000000001",
      issued_at: "2025-03-01T00:30:00Z", issuer: SCHOOL,
      payer: { kind: "person", name: "张三", id_number: "110101199003071233" },
      contact: { phone: "13812345678", email: "zhang.san@example.cn" },
      items: [["301", "学费", "学期", "1", 250000], ["302", "住宿费", "月", "1.5", 12345]],
      handler: "李四", checker: "王五", remarks: "2025 春季学期", salt: hexSalt(range32),
    }),
  },
  {
    label: "donation-emoji",
    note: "emoji in payer, item and remarks; organisation payer; e-mail only; total above 2^32 fen",
    document: bill({
      bill_type: "donation", bill_code: "11010188", bill_number: "0000000042",
      issued_at: "2025-06-01T02:00:00Z", issuer: { name: "北京市慈善协会", credit_code: "51110000500000001E" },
      payer: { kind: "organisation", name: "某某慈善基金会 🌱", id_number: "121100004000000014" },
      contact: { phone: null, email: "juan@example.cn" },
      items: [["D01", "捐赠款 💝", "笔", "1", 5_000_000_000]],
      handler: "赵六", checker: "钱七", remarks: "感谢您的爱心捐赠 🙏", salt: keccak256(toUtf8Bytes("salt:donation")),
    }),
  },
  {
    label: "outpatient-half",
    note: "0.5 quantity rounding half up (6172.5 → 6173), a 6-decimal quantity, passport payer, phone only",
    document: bill({
      bill_type: "medical_outpatient", bill_code: "11010130", bill_number: "0000001234",
      issued_at: "2025-11-20T07:15:42Z", issuer: HOSPITAL,
      payer: { kind: "person", name: "John Smith 约翰", id_number: "E12345678" },
      contact: { phone: "+8613900001111", email: null },
      items: [
        ["GH01", "挂号费", "次", "1", 5000],
        ["YP02", "阿莫西林胶囊", "盒", "0.5", 12345],
        ["ZY03", "中药颗粒", "克", "3.141593", 100],
      ],
      handler: "孙八", checker: "周九", remarks: null, salt: keccak256(toUtf8Bytes("salt:outpatient")),
    }),
  },
  {
    label: "inpatient-120-items",
    note: "120 line items with emoji names (tests/bills/billkit.many_items_bill(120)), long remarks",
    document: bill({
      bill_type: "medical_inpatient", bill_code: "11010125", bill_number: "0000000002",
      issued_at: "2025-03-01T00:30:00Z", issuer: SCHOOL,
      payer: { kind: "person", name: "张三", id_number: "110101199003071233" },
      contact: { phone: "13812345678", email: "zhang.san@example.cn" },
      items: [...Array(120).keys()].map((i) => [
        `I${String(i).padStart(3, "0")}`, `项目${i} 🧾 检查费`, "次",
        i % 3 ? `${(i % 7) + 1}.${i % 3}` : `${(i % 7) + 1}`, 1000 + i,
      ]),
      handler: "李四", checker: "王五", remarks: "住院 ".repeat(100).trim(), salt: hexSalt([...range32].reverse()),
    }),
  },
  {
    label: "parking-no-id",
    note: "payer without id number, no contact, no remarks; issued after 2038 (Unix seconds above 2^31)",
    document: bill({
      bill_type: "parking", bill_code: "11010501", bill_number: "9999999999",
      issued_at: "2038-06-01T00:00:00Z", issuer: { name: "北京市朝阳区停车管理中心", credit_code: "111101050000000017" },
      payer: { kind: "person", name: "李雷", id_number: null },
      contact: null,
      items: [["P1", "停车费", "小时", "2.5", 600]],
      handler: "韩梅梅", checker: "王五", remarks: null, salt: keccak256(toUtf8Bytes("salt:parking")),
    }),
  },
];

// ------------------------------------------------------------------ hashes and trees

const bills = BILLS.map(({ label, note, document }) => {
  const msg = message(document);
  return {
    label,
    note,
    document,
    billRef: billRef(document),
    message: msg,
    contentHash: TypedDataEncoder.hash(DOMAIN, TYPES, msg),
  };
});

function batch(encoding, values) {
  const tree = StandardMerkleTree.of(values, encoding);
  return {
    leafEncoding: encoding,
    values,
    leaves: values.map((v) => tree.leafHash(v)),
    root: tree.root,
    tree: tree.dump().tree,
    proofs: values.map((_, i) => tree.getProof(i)),
  };
}

const version = (pkg) => JSON.parse(readFileSync(new URL(`node_modules/${pkg}/package.json`, REPO))).version;

const vectors = {
  about:
    "Pinned vectors, generated once by tests/bills/js/make_vectors.mjs and checked without node by " +
    "tests/bills/test_pinned_vectors.py. Never regenerate them to make a test pass: these hashes are " +
    "anchored on chain. v1 is the leaf the app anchors today; v2 is the coming leaf with the total.",
  generatedWith: { ethers: version("ethers"), "@openzeppelin/merkle-tree": version("@openzeppelin/merkle-tree") },
  domain: DOMAIN,
  primaryType: "Bill",
  types: TYPES,
  bills,
  v1: batch(["bytes32", "bytes32"], bills.map((b) => [b.billRef, b.contentHash])),
  v2: batch(
    ["bytes32", "bytes32", "uint256"],
    bills.map((b) => [b.billRef, b.contentHash, String(b.document.total_fen)]),
  ),
};

for (const b of bills) {
  for (const n of [b.message.totalFen, b.message.issuedAt, ...b.message.items.map((i) => i.quantityE6)]) {
    if (!Number.isSafeInteger(n)) throw new Error(`${b.label}: ${n} does not survive JSON`);
  }
}

mkdirSync(new URL(".", OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify(vectors, null, 2) + "\n");
console.log(`wrote ${OUT.pathname}: ${bills.length} bills, v1 root ${vectors.v1.root}, v2 root ${vectors.v2.root}`);
