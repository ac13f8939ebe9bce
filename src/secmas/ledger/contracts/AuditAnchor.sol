// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AuditAnchor: the heads of hash-chained audit logs, anchored by their writer.
/// @notice A log is kept off-chain (secmas.policy.audit); every so often its writer anchors
/// (number of entries, hash of the last entry) here. Anchors only grow: each count is above
/// the previous one, so a log cut short or rewritten after an anchor no longer matches it.
/// Logs are told apart by a bytes32 id (sha256 of the run's id). Only the deployer anchors.
/// Revert reasons are plain strings "AuditAnchor: <rule>" so every client can show them.
contract AuditAnchor {
    struct Anchor {
        uint64 count;
        uint64 timestamp;
        bytes32 head;
    }

    address public immutable owner;
    mapping(bytes32 => Anchor[]) private anchors;

    event Anchored(bytes32 indexed log, uint64 count, bytes32 head);

    constructor() {
        owner = msg.sender;
    }

    /// @notice Records that the first `count` entries of `log` end with the entry `head`.
    function anchor(bytes32 log, uint64 count, bytes32 head) external {
        require(msg.sender == owner, "AuditAnchor: caller is not the owner");
        require(head != bytes32(0), "AuditAnchor: zero head");
        Anchor[] storage list = anchors[log];
        uint64 last = list.length == 0 ? 0 : list[list.length - 1].count;
        require(count > last, "AuditAnchor: count not above the last anchored count");
        list.push(Anchor(count, uint64(block.timestamp), head));
        emit Anchored(log, count, head);
    }

    /// @notice How many anchors `log` has.
    function anchorCount(bytes32 log) external view returns (uint256) {
        return anchors[log].length;
    }

    /// @notice The `index`-th anchor of `log` (0 is the oldest) and its block's timestamp.
    function anchorAt(bytes32 log, uint256 index)
        external
        view
        returns (uint64 count, bytes32 head, uint64 timestamp)
    {
        require(index < anchors[log].length, "AuditAnchor: no anchor at this index");
        Anchor storage a = anchors[log][index];
        return (a.count, a.head, a.timestamp);
    }
}
