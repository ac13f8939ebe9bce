#!/usr/bin/env node
// Compiles the ledger contracts with solc-js (standard JSON, cancun, optimizer on) and writes
// one artifact per contract: ABI, bytecode, compiler settings and the sha256 of every source,
// so that stale artifacts can be detected without a compiler.
// Usage: node compile.js [--contracts DIR] [--out DIR]
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const CONTRACTS = ["AgentRegistry", "AuditAnchor", "Reputation", "SecretStore"];
const SETTINGS = {
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? path.resolve(process.argv[i + 1]) : fallback;
}

const root = path.resolve(__dirname, "..", "..");
const contractsDir = option("--contracts", path.join(root, "src/secmas/ledger/contracts"));
const outDir = option("--out", path.join(root, "src/secmas/ledger/artifacts"));

const sources = {};
const hashes = {};
for (const name of fs.readdirSync(contractsDir).filter((f) => f.endsWith(".sol")).sort()) {
  const content = fs.readFileSync(path.join(contractsDir, name), "utf8");
  sources[name] = { content };
  hashes[name] = crypto.createHash("sha256").update(content, "utf8").digest("hex");
}

const input = { language: "Solidity", sources, settings: SETTINGS };
const output = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const err of output.errors || []) {
  process.stderr.write(err.formattedMessage || err.message);
  failed = failed || err.severity === "error";
}
if (failed) {
  process.exit(1);
}

fs.mkdirSync(outDir, { recursive: true });
for (const contract of CONTRACTS) {
  const sourceName = `${contract}.sol`;
  const compiled = output.contracts[sourceName][contract];
  const artifact = {
    contractName: contract,
    sourceName,
    sourceSha256: hashes[sourceName],
    sources: hashes,
    compiler: {
      name: "solc-js",
      version: solc.version(),
      evmVersion: SETTINGS.evmVersion,
      optimizer: SETTINGS.optimizer,
    },
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`,
    deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
  };
  fs.writeFileSync(path.join(outDir, `${contract}.json`), `${JSON.stringify(artifact, null, 2)}\n`);
  process.stdout.write(`${contract}: ${compiled.evm.deployedBytecode.object.length / 2} bytes\n`);
}
