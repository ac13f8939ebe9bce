// Hardhat serves only as a local JSON-RPC node for the tests: the contracts are compiled by
// compile.js (solc-js), so no sources are configured and no compiler is ever downloaded.
module.exports = {
  paths: {
    sources: "./hardhat-cache/no-sources",
    cache: "./hardhat-cache",
    artifacts: "./hardhat-cache/artifacts",
  },
  networks: { hardhat: { chainId: 31337 } },
};
