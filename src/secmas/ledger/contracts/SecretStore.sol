// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentRegistry} from "./AgentRegistry.sol";

/// @title SecretStore: the pipeline key of each key epoch, sealed to each attested agent.
/// @notice The MLFO seals the pipeline key off-chain to every trusted agent's sealing key
/// and pushes the ciphertexts here. Each ciphertext travels in its push's `SecretPushed`
/// log, on chain for good like any log; storage keeps only the block of each agent's box
/// (one slot, where six or more held the bytes). An agent asks for that block of the
/// current epoch, and only while the registry trusts it, then reads its box from the
/// block's logs. Chain data is public either way: only the sealing keeps the key secret.
/// A revocation starts a new epoch, so the old ciphertexts are never pointed to again.
contract SecretStore {
    AgentRegistry public immutable registry;
    address public immutable owner;
    mapping(bytes32 => mapping(uint64 => mapping(address => uint64))) private pushedIn;

    event SecretPushed(
        bytes32 indexed pipeline, uint64 indexed epoch, address indexed account, bytes sealedSecret
    );

    constructor(AgentRegistry registry_) {
        require(msg.sender == registry_.owner(), "SecretStore: deployer is not the MLFO");
        registry = registry_;
        owner = msg.sender;
    }

    /// @notice One sealed secret per account for the pipeline's current key epoch.
    function pushSecrets(
        bytes32 pipeline,
        uint64 epoch,
        address[] calldata accounts,
        bytes[] calldata sealedSecrets
    ) external {
        require(msg.sender == owner, "SecretStore: caller is not the MLFO");
        require(epoch == registry.keyEpoch(pipeline), "SecretStore: wrong key epoch");
        require(accounts.length == sealedSecrets.length, "SecretStore: array lengths differ");
        (, uint8 problem) = registry.keyProblem(pipeline, accounts);
        require(problem != 1, "SecretStore: agent not registered");
        require(problem != 2, "SecretStore: agent revoked");
        require(problem != 3, "SecretStore: agent not trusted");
        mapping(address => uint64) storage blocks = pushedIn[pipeline][epoch];
        for (uint256 i = 0; i < accounts.length; i++) {
            require(sealedSecrets[i].length > 0, "SecretStore: empty secret");
            blocks[accounts[i]] = uint64(block.number);
            emit SecretPushed(pipeline, epoch, accounts[i], sealedSecrets[i]);
        }
    }

    /// @notice The current key epoch and the block whose `SecretPushed` log holds the
    /// caller's sealed secret for it.
    function fetchSecret(bytes32 pipeline) external view returns (uint64 epoch, uint64 pushed) {
        require(registry.isTrusted(pipeline, msg.sender), "SecretStore: caller not trusted");
        epoch = registry.keyEpoch(pipeline);
        pushed = pushedIn[pipeline][epoch][msg.sender];
        require(pushed != 0, "SecretStore: no secret for caller in this epoch");
    }

    function hasSecret(bytes32 pipeline, uint64 epoch, address account)
        external
        view
        returns (bool)
    {
        return pushedIn[pipeline][epoch][account] != 0;
    }
}
