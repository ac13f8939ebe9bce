// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentRegistry} from "./AgentRegistry.sol";

/// @title SecretStore: the pipeline key of each key epoch, sealed to each attested agent.
/// @notice The MLFO seals the pipeline key off-chain to every trusted agent's sealing key
/// and pushes the ciphertexts here; the contract only stores bytes. An agent reads its own
/// ciphertext for the current epoch, and only while the registry trusts it. A revocation
/// starts a new epoch, so the old ciphertexts are never served again.
contract SecretStore {
    AgentRegistry public immutable registry;
    address public immutable owner;
    mapping(bytes32 => mapping(uint64 => mapping(address => bytes))) private secrets;

    event SecretPushed(bytes32 indexed pipeline, uint64 epoch, address indexed account);

    constructor(AgentRegistry registry_) {
        require(msg.sender == registry_.owner(), "SecretStore: deployer is not the MLFO");
        registry = registry_;
        owner = msg.sender;
    }

    /// @notice Stores one sealed secret per account for the pipeline's current key epoch.
    function pushSecrets(
        bytes32 pipeline,
        uint64 epoch,
        address[] calldata accounts,
        bytes[] calldata sealedSecrets
    ) external {
        require(msg.sender == owner, "SecretStore: caller is not the MLFO");
        require(epoch == registry.keyEpoch(pipeline), "SecretStore: wrong key epoch");
        require(accounts.length == sealedSecrets.length, "SecretStore: array lengths differ");
        for (uint256 i = 0; i < accounts.length; i++) {
            address account = accounts[i];
            AgentRegistry.Agent memory a = registry.agentOf(pipeline, account);
            require(a.registered, "SecretStore: agent not registered");
            require(!a.revoked, "SecretStore: agent revoked");
            require(a.trusted, "SecretStore: agent not trusted");
            require(sealedSecrets[i].length > 0, "SecretStore: empty secret");
            secrets[pipeline][epoch][account] = sealedSecrets[i];
            emit SecretPushed(pipeline, epoch, account);
        }
    }

    /// @notice The caller's sealed secret for the current key epoch.
    function fetchSecret(bytes32 pipeline)
        external
        view
        returns (uint64 epoch, bytes memory sealedSecret)
    {
        require(registry.isTrusted(pipeline, msg.sender), "SecretStore: caller not trusted");
        epoch = registry.keyEpoch(pipeline);
        sealedSecret = secrets[pipeline][epoch][msg.sender];
        require(sealedSecret.length > 0, "SecretStore: no secret for caller in this epoch");
    }

    function hasSecret(bytes32 pipeline, uint64 epoch, address account)
        external
        view
        returns (bool)
    {
        return secrets[pipeline][epoch][account].length > 0;
    }
}
