#!/usr/bin/env node
// A native-solc lookalike over solc-js (the official soljson build), so that py-solc-x and
// ape-solidity can compile offline: no compiler binary can be downloaded on these machines.
// Answers `--version` and `--standard-json` (input on stdin), resolving imports from
// --base-path, --include-path, --allow-paths and the working directory.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

const args = process.argv.slice(2);
if (args.includes("--version")) {
  // py-solc-x parses the "Version: X.Y.Z+commit..." line.
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("solc-shim: only --version and --standard-json are supported\n");
  process.exit(2);
}

const roots = [process.cwd()];
for (let i = 0; i < args.length; i++) {
  if (["--base-path", "--include-path", "--allow-paths"].includes(args[i]) && args[i + 1]) {
    for (const p of args[i + 1].split(",")) roots.push(path.resolve(p));
    i++;
  }
}

function findImports(importPath) {
  for (const root of [...roots, "/"]) {
    const candidate = path.resolve(root, importPath);
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `File not found: ${importPath}` };
}

const input = fs.readFileSync(0, "utf8");
process.stdout.write(solc.compile(input, { import: findImports }));
