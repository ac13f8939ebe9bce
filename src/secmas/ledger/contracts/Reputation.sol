// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentRegistry} from "./AgentRegistry.sol";

/// @title Reputation: the promises each agent of a pipeline kept and broke, as its peers saw.
/// @notice An NFV-A award is a promise of the winner to the initiator; the initiator judges
/// it kept (the plan acted) or broken (failed, lease lapsed, download overran the bid, gone,
/// bid implausible) off-chain (secmas.agents.reputation). Each agent reports its own
/// judgements from its own account: only while the registry trusts it, never about itself,
/// only about agents registered in the same pipeline. Tallies only grow. Anyone reads a
/// peer's totals, or one observer's tally of it, and computes the beta reputation
/// (kept + 1) / (kept + broken + 2) (Josang and Ismail, 2002).
/// Revert reasons are plain strings "Reputation: <rule>" so every client can show them.
contract Reputation {
    struct Tally {
        uint64 kept;
        uint64 broken;
    }

    AgentRegistry public immutable registry;
    mapping(bytes32 => mapping(address => Tally)) private totals;
    mapping(bytes32 => mapping(address => mapping(address => Tally))) private tallies;

    event Reported(
        bytes32 indexed pipeline,
        address indexed observer,
        address indexed peer,
        uint64 kept,
        uint64 broken
    );

    constructor(AgentRegistry registry_) {
        registry = registry_;
    }

    /// @notice Adds the caller's judgements of `peers` (promises kept and broken towards it).
    function report(
        bytes32 pipeline,
        address[] calldata peers,
        uint64[] calldata kept,
        uint64[] calldata broken
    ) external {
        require(registry.isTrusted(pipeline, msg.sender), "Reputation: observer not trusted");
        require(
            peers.length == kept.length && peers.length == broken.length,
            "Reputation: array lengths differ"
        );
        for (uint256 i = 0; i < peers.length; i++) {
            address peer = peers[i];
            require(peer != msg.sender, "Reputation: an agent does not rate itself");
            require(registry.agentOf(pipeline, peer).registered, "Reputation: peer not registered");
            require(kept[i] > 0 || broken[i] > 0, "Reputation: empty tally");
            Tally storage mine = tallies[pipeline][msg.sender][peer];
            Tally storage all = totals[pipeline][peer];
            mine.kept += kept[i];
            mine.broken += broken[i];
            all.kept += kept[i];
            all.broken += broken[i];
            emit Reported(pipeline, msg.sender, peer, kept[i], broken[i]);
        }
    }

    /// @notice Every observer's judgements of `peer` added up.
    function tally(bytes32 pipeline, address peer) external view returns (uint64 kept, uint64 broken) {
        Tally storage t = totals[pipeline][peer];
        return (t.kept, t.broken);
    }

    /// @notice What `observer` reported of `peer`.
    function tallyBy(bytes32 pipeline, address observer, address peer)
        external
        view
        returns (uint64 kept, uint64 broken)
    {
        Tally storage t = tallies[pipeline][observer][peer];
        return (t.kept, t.broken);
    }
}
