#!/usr/bin/env node
// Compile the contracts with the pinned npm solcjs and write the artifacts the Python side loads
// (test contracts under ctrip_core/devnet/; BalanceReader, the balance auditor's deployless reader,
// under ctrip_core/chains/). Settings are fixed and the CBOR metadata trailer
// is dropped, so the same solc always yields byte-identical output and each committed artifact can
// be checked by rebuilding (tests/devnet/test_test_token.py, tests/devnet/test_forwarder.py, tests/chains/test_balance_reader.py).
//
// Usage: node contracts/build.js [--only NAME] [--out PATH]
//   default: every contract of CONTRACTS to its `out`; --out needs --only (one contract to PATH).
"use strict";

const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const DEVNET = path.join(ROOT, "ctrip_core", "devnet");
const solc = require(path.join(ROOT, ".tools", "node_modules", "solc"));

// One entry per contract: its name (= the .sol file's) and where its artifact goes.
const CONTRACTS = [
  { name: "TestToken", out: path.join(DEVNET, "test_token.json") },
  { name: "Forwarder", out: path.join(DEVNET, "forwarder.json") },
  { name: "NoReturnToken", out: path.join(DEVNET, "no_return_token.json") },
  { name: "GasPriceOracle", out: path.join(DEVNET, "gas_price_oracle.json") },
  { name: "CodeTreasury", out: path.join(DEVNET, "code_treasury.json") },
  { name: "TestAggregator", out: path.join(DEVNET, "test_aggregator.json") },
  { name: "BalanceReader", out: path.join(ROOT, "ctrip_core", "chains", "balance_reader.json") },
];

function arg(argv, flag) {
  const i = argv.indexOf(flag);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : null;
}

function compile(name, source) {
  const file = `${name}.sol`;
  const input = {
    language: "Solidity",
    sources: { [file]: { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun", // Anvil 1.7.1 defaults to the latest hardfork, which runs cancun code.
      metadata: { appendCBOR: false, bytecodeHash: "none" },
      outputSelection: { [file]: { [name]: ["abi", "evm.bytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) console.error(e.formattedMessage);
  if (errors.length) process.exit(1);
  return output.contracts[file][name];
}

function build(entry, out) {
  const contract = compile(entry.name, fs.readFileSync(path.join(__dirname, `${entry.name}.sol`), "utf8"));
  const artifact = {
    contract: entry.name,
    solc: solc.version(),
    abi: contract.abi,
    bytecode: "0x" + contract.evm.bytecode.object,
  };
  fs.writeFileSync(out, JSON.stringify(artifact, null, 2) + "\n");
  console.log(`wrote ${path.relative(process.cwd(), out)} (solc ${artifact.solc})`);
}

function main() {
  const argv = process.argv.slice(2);
  const only = arg(argv, "--only");
  const out = arg(argv, "--out");
  const entries = only ? CONTRACTS.filter((c) => c.name === only) : CONTRACTS;
  if (!entries.length) {
    console.error(`no contract named ${only}; known: ${CONTRACTS.map((c) => c.name).join(", ")}`);
    process.exit(2);
  }
  if (out && !only) {
    console.error("--out needs --only NAME (one contract, one file)");
    process.exit(2);
  }
  for (const entry of entries) build(entry, out ? path.resolve(out) : entry.out);
}

main();
