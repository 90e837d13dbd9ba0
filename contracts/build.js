#!/usr/bin/env node
// Compile contracts/TestToken.sol with the pinned npm solcjs and write the artifact the
// Python side loads (ctrip_core/devnet/test_token.json). Settings are fixed and the CBOR
// metadata trailer is dropped, so the same solc always yields byte-identical output and
// the committed artifact can be checked by rebuilding (tests/devnet/test_test_token.py).
//
// Usage: node contracts/build.js [--out PATH]   (default: ctrip_core/devnet/test_token.json)
"use strict";

const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const SOURCE = path.join(__dirname, "TestToken.sol");
const DEFAULT_OUT = path.join(ROOT, "ctrip_core", "devnet", "test_token.json");
const solc = require(path.join(ROOT, ".tools", "node_modules", "solc"));

function outPath(argv) {
  const i = argv.indexOf("--out");
  return i >= 0 && argv[i + 1] ? path.resolve(argv[i + 1]) : DEFAULT_OUT;
}

function compile(source) {
  const input = {
    language: "Solidity",
    sources: { "TestToken.sol": { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun", // Anvil 1.7.1 defaults to the latest hardfork, which runs cancun code.
      metadata: { appendCBOR: false, bytecodeHash: "none" },
      outputSelection: { "TestToken.sol": { TestToken: ["abi", "evm.bytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) console.error(e.formattedMessage);
  if (errors.length) process.exit(1);
  return output.contracts["TestToken.sol"].TestToken;
}

function main() {
  const contract = compile(fs.readFileSync(SOURCE, "utf8"));
  const artifact = {
    contract: "TestToken",
    solc: solc.version(),
    abi: contract.abi,
    bytecode: "0x" + contract.evm.bytecode.object,
  };
  const out = outPath(process.argv.slice(2));
  fs.writeFileSync(out, JSON.stringify(artifact, null, 2) + "\n");
  console.log(`wrote ${path.relative(process.cwd(), out)} (solc ${artifact.solc})`);
}

main();
