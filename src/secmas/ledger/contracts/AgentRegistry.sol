// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AgentRegistry: the agents of each MAS pipeline and their attestation chain.
/// @notice The MLFO (deployer) registers and funds agents; the SECaaS account attests the
/// first agent, which becomes the root of trust (RoT). From then on the RoT is elected
/// verifier of the next agent in the pipeline's attestation plan; an agent that passes
/// becomes the new RoT, so trust travels along the plan (cyclically, round after round).
/// A failed agent is distrusted and never becomes RoT.
/// Steps are numbered from 1; records of the SECaaS's initial attestations carry step 0.
/// A record lives in its `AttestationRecorded` log, which every field of it is in, not in
/// storage: nothing on chain reads a past record, a relying party reads the log of the
/// verdict's own transaction, and a record in storage cost seven more slots a step (more
/// than half of its gas). The contract counts records (`recordCount`, each record's index).
/// Each step's sealed reference is kept under its step number and written once, so its
/// gas depends on its own length only (overwriting a longer one would pay to clear it).
/// Every step commits a fresh nonce when it opens; the verifier must challenge with it and
/// record its verdict under it, and a pass must name the digest of the evidence it
/// appraised, so a record cannot be made for evidence that was never produced for this
/// step (`001_…` steps 10–12; RFC 9334 freshness).
/// A step costs one transaction (`recordStep`): SECaaS hands the verifier its sealed
/// reference off chain with an ECDSA signature over the step, and the verifier records the
/// reference (as calldata) and its verdict together, so that a step waits for one block,
/// not two. `provideReference` + `recordResult` remain the two-transaction
/// form, where the verifier reads the reference from storage (`referenceFor`).
/// The agents may be split into attestation groups, each its own chain: its own plan, cursor,
/// rotating RoT and open step, so that the groups' steps run side by side and an agent is
/// re-attested every round of its group, however many agents there are. With more than one
/// group every round of a group ends with a guest step, in which its RoT measures a member
/// of another group (the group and the member rotate with the round): every group is
/// measured from outside once per round, so a corrupted group cannot vouch for itself for
/// longer than that. A guest's pass trusts it but does not hand it the RoT: each group keeps
/// its own. One group is the seed's single chain, with no guest steps.
/// Revert reasons are plain strings "AgentRegistry: <rule>" so every client can show them.
contract AgentRegistry {
    struct Agent {
        bytes32 id;
        bytes32 signingKey;
        bytes32 sealingKey;
        bool registered;
        bool revoked;
        bool trusted;
        uint64 registeredAt;
    }

    struct Record {
        uint32 step;
        uint32 group;
        address measured;
        address verifier;
        bool passed;
        address newRoot;
        bytes32 evidence;
        bytes32 nonce;
    }

    struct Step {
        uint32 index;
        address verifier;
        address measured;
        bool referenceProvided;
        bool open;
        bool guest;
        bytes32 nonce;
    }

    /// @dev An agent's place: its attestation group, and the group whose guest step last
    /// measured it (plus one; 0 for none), so that its revocation ends that step too.
    struct Seat {
        uint32 group;
        uint32 guestOf;
    }

    /// @dev One attestation group's chain. Its turns cycle through the plan and, with more
    /// than one group, a guest slot after it: turn = cursor % span, round = cursor / span.
    struct Chain {
        address[] plan;
        uint64 cursor;
        // Absolute turn of the open step's measured agent.
        uint64 stepPosition;
        address rootOfTrust;
        Step step;
    }

    struct Pipeline {
        mapping(address => Agent) agents;
        mapping(address => Seat) seats;
        address[] members;
        mapping(uint32 => Chain) chains;
        uint32 groups;
        // 0 stands for epoch 1, so a fresh pipeline needs no initialisation.
        uint64 epoch;
        uint32 stepCount;
        uint32 recordCount;
        mapping(uint32 => bytes) sealedReferences;
    }

    /// @notice Domain tag of the digest SECaaS signs for `recordStep` (`referenceDigest`).
    bytes32 public constant REFERENCE_TAG = keccak256("secmas/AgentRegistry/reference/v1");
    /// Half the secp256k1 order: signatures with a higher s are refused (EIP-2).
    uint256 private constant HALF_ORDER =
        0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    address public immutable owner;
    address public immutable secaas;
    mapping(bytes32 => Pipeline) private pipelines;

    event AgentRegistered(bytes32 indexed pipeline, address indexed account, bytes32 id);
    event AgentRevoked(bytes32 indexed pipeline, address indexed account);
    event KeyEpochStarted(bytes32 indexed pipeline, uint64 epoch);
    event PlanSet(bytes32 indexed pipeline, uint32 group, uint32 length);
    event StepOpened(
        bytes32 indexed pipeline,
        uint32 group,
        uint32 step,
        address verifier,
        address measured,
        bool guest
    );
    /// @notice A step ended without a result (revocation, re-election).
    event StepClosed(bytes32 indexed pipeline, uint32 group, uint32 step);
    event ReferenceProvided(bytes32 indexed pipeline, uint32 step, address verifier);
    event AttestationRecorded(
        bytes32 indexed pipeline,
        uint32 index,
        uint32 step,
        uint32 group,
        address indexed measured,
        address indexed verifier,
        bool passed,
        address newRoot,
        bytes32 evidence,
        bytes32 nonce
    );

    modifier onlyOwner() {
        require(msg.sender == owner, "AgentRegistry: caller is not the MLFO");
        _;
    }

    modifier onlySecaas() {
        require(msg.sender == secaas, "AgentRegistry: caller is not the SECaaS");
        _;
    }

    constructor(address secaas_) {
        require(secaas_ != address(0), "AgentRegistry: zero SECaaS address");
        owner = msg.sender;
        secaas = secaas_;
    }

    /// @notice Registers agents and splits msg.value equally among them as gas funding, so
    /// one transaction enrols a whole pipeline. The remainder of the division is refunded.
    function registerAgents(
        bytes32 pipeline,
        address[] calldata accounts,
        bytes32[] calldata ids,
        bytes32[] calldata signingKeys,
        bytes32[] calldata sealingKeys
    ) external payable onlyOwner {
        uint256 n = accounts.length;
        require(n > 0, "AgentRegistry: no agents");
        require(
            ids.length == n && signingKeys.length == n && sealingKeys.length == n,
            "AgentRegistry: array lengths differ"
        );
        Pipeline storage p = pipelines[pipeline];
        for (uint256 i = 0; i < n; i++) {
            address account = accounts[i];
            require(account != address(0), "AgentRegistry: zero address");
            Agent storage a = p.agents[account];
            require(!a.registered, "AgentRegistry: agent already registered");
            a.id = ids[i];
            a.signingKey = signingKeys[i];
            a.sealingKey = sealingKeys[i];
            a.registered = true;
            a.registeredAt = uint64(block.timestamp);
            p.members.push(account);
            emit AgentRegistered(pipeline, account, ids[i]);
        }
        uint256 share = msg.value / n;
        if (share > 0) {
            for (uint256 i = 0; i < n; i++) {
                _pay(accounts[i], share);
            }
        }
        uint256 rest = msg.value - share * n;
        if (rest > 0) {
            _pay(msg.sender, rest);
        }
    }

    /// @notice Revokes an agent for good: it loses trust, the key epoch advances (the
    /// pipeline key must be re-sealed to the remaining agents), and any step it takes
    /// part in ends (a revoked RoT leaves its group without one).
    function revoke(bytes32 pipeline, address account) external onlyOwner {
        Pipeline storage p = pipelines[pipeline];
        Agent storage a = _active(p, account);
        a.revoked = true;
        a.trusted = false;
        emit AgentRevoked(pipeline, account);
        p.epoch = _epoch(p) + 1;
        emit KeyEpochStarted(pipeline, p.epoch);
        Seat storage seat = p.seats[account];
        Chain storage own = p.chains[seat.group];
        if (own.rootOfTrust == account) {
            own.rootOfTrust = address(0);
            _close(pipeline, seat.group, own);
        } else if (own.step.open && own.step.measured == account) {
            _close(pipeline, seat.group, own);
            _elect(pipeline, p, seat.group);
        }
        if (seat.guestOf != 0) {
            uint32 host = seat.guestOf - 1;
            Chain storage c = p.chains[host];
            if (c.step.open && c.step.measured == account) {
                _close(pipeline, host, c);
                _elect(pipeline, p, host);
            }
        }
    }

    /// @notice Splits the pipeline into `groups` attestation groups and sets the plans
    /// (the order in which each group's agents are measured) of groups `first` onwards,
    /// each from its first entry; a group with a RoT in place opens its first step at once.
    /// Large pipelines set their plans in several calls (each within a block's gas).
    function setPlans(bytes32 pipeline, uint32 groups, uint32 first, address[][] calldata plans)
        external
        onlyOwner
    {
        require(plans.length > 0, "AgentRegistry: no plan");
        require(first + plans.length <= groups, "AgentRegistry: group out of range");
        Pipeline storage p = pipelines[pipeline];
        p.groups = groups;
        for (uint256 g = 0; g < plans.length; g++) {
            uint32 group = first + uint32(g);
            address[] calldata plan_ = plans[g];
            require(plan_.length > 0, "AgentRegistry: empty plan");
            for (uint256 i = 0; i < plan_.length; i++) {
                _active(p, plan_[i]);
                p.seats[plan_[i]].group = group;
            }
            Chain storage c = p.chains[group];
            c.plan = plan_;
            c.cursor = 0;
            emit PlanSet(pipeline, group, uint32(plan_.length));
            _close(pipeline, group, c);
            _elect(pipeline, p, group);
        }
    }

    /// @notice The SECaaS's own attestations, each of an agent under the SECaaS's own fresh
    /// nonce: a pass (which must name its evidence digest) makes the agent its group's RoT.
    /// Several go in one transaction: at bring-up the SECaaS attests every group's first
    /// agent at once, and a transaction each was a fifth of a large bring-up's ledger work.
    /// One refused attestation (a revoked agent, an empty nonce) refuses them all.
    function recordInitials(
        bytes32 pipeline,
        address[] calldata measured,
        bytes32[] calldata nonces,
        bool[] calldata passed,
        bytes32[] calldata evidence
    ) external onlySecaas {
        uint256 n = measured.length;
        require(n > 0, "AgentRegistry: no attestation");
        require(
            nonces.length == n && passed.length == n && evidence.length == n,
            "AgentRegistry: array lengths differ"
        );
        Pipeline storage p = pipelines[pipeline];
        for (uint256 i = 0; i < n; i++) {
            _initial(pipeline, p, measured[i], nonces[i], passed[i], evidence[i]);
        }
    }

    /// @notice Opens a step of `group` again, e.g. after a revocation ended the previous one.
    function openStep(bytes32 pipeline, uint32 group) external {
        require(
            msg.sender == owner || msg.sender == secaas,
            "AgentRegistry: caller is not the MLFO or the SECaaS"
        );
        Pipeline storage p = pipelines[pipeline];
        Chain storage c = p.chains[group];
        require(c.rootOfTrust != address(0), "AgentRegistry: no root of trust");
        _close(pipeline, group, c);
        require(_elect(pipeline, p, group), "AgentRegistry: no agent to measure");
    }

    /// @notice The SECaaS hands the elected verifier the reference measurement of the
    /// measured agent, sealed to the verifier's sealing key.
    function provideReference(
        bytes32 pipeline,
        uint32 group,
        uint32 step,
        bytes calldata sealedReference
    ) external onlySecaas {
        require(sealedReference.length > 0, "AgentRegistry: empty reference");
        Pipeline storage p = pipelines[pipeline];
        Step storage s = p.chains[group].step;
        require(s.open, "AgentRegistry: no open step");
        require(s.index == step, "AgentRegistry: wrong step index");
        require(!s.referenceProvided, "AgentRegistry: reference already provided");
        p.sealedReferences[step] = sealedReference;
        s.referenceProvided = true;
        emit ReferenceProvided(pipeline, step, s.verifier);
    }

    /// @notice What the elected verifier needs: the step, whom to measure, the nonce to
    /// challenge with and the sealed reference. Only the verifier may ask (msg.sender).
    function referenceFor(bytes32 pipeline, uint32 group)
        external
        view
        returns (uint32 step, address measured, bytes32 nonce, bytes memory sealedReference)
    {
        Pipeline storage p = pipelines[pipeline];
        Step storage s = p.chains[group].step;
        require(s.open, "AgentRegistry: no open step");
        require(s.verifier == msg.sender, "AgentRegistry: caller is not the elected verifier");
        require(s.referenceProvided, "AgentRegistry: reference not provided");
        return (s.index, s.measured, s.nonce, p.sealedReferences[s.index]);
    }

    /// @notice The elected verifier's verdict on the measured agent, under the step's
    /// nonce; a pass must name the digest of the appraised evidence (a fail may carry none:
    /// the measured agent may not have answered). A pass hands the RoT to the measured
    /// agent; either way the next step opens.
    function recordResult(
        bytes32 pipeline,
        uint32 group,
        uint32 step,
        bytes32 nonce,
        bool passed,
        bytes32 evidence
    ) external {
        Pipeline storage p = pipelines[pipeline];
        Chain storage c = p.chains[group];
        _checkVerifier(p, c, step);
        require(c.step.referenceProvided, "AgentRegistry: reference not provided");
        _result(pipeline, p, group, step, nonce, passed, evidence);
    }

    /// @notice One transaction per step: the elected verifier records the sealed reference
    /// SECaaS handed it off chain together with its verdict (as `recordResult`). SECaaS's
    /// signature over `referenceDigest` of the open step and this reference proves where
    /// the reference came from; it names the step's nonce, so it fits no other step.
    function recordStep(
        bytes32 pipeline,
        uint32 group,
        uint32 step,
        bytes32 nonce,
        bool passed,
        bytes32 evidence,
        bytes calldata sealedReference,
        bytes calldata secaasSignature
    ) external {
        require(sealedReference.length > 0, "AgentRegistry: empty reference");
        Pipeline storage p = pipelines[pipeline];
        Chain storage c = p.chains[group];
        _checkVerifier(p, c, step);
        bytes32 digest = referenceDigest(pipeline, group, keccak256(sealedReference));
        require(
            _signer(digest, secaasSignature) == secaas,
            "AgentRegistry: reference not signed by the SECaaS"
        );
        c.step.referenceProvided = true;
        emit ReferenceProvided(pipeline, step, msg.sender);
        _result(pipeline, p, group, step, nonce, passed, evidence);
    }

    /// @notice What SECaaS signs (EIP-191 personal message of 32 bytes) to hand the open
    /// step of `group` to its verifier with a reference whose keccak256 is `referenceHash`:
    /// it binds the chain, this contract, the pipeline, the group, the step, its nonce,
    /// verifier and measured agent.
    function referenceDigest(bytes32 pipeline, uint32 group, bytes32 referenceHash)
        public
        view
        returns (bytes32)
    {
        Step storage s = pipelines[pipeline].chains[group].step;
        require(s.open, "AgentRegistry: no open step");
        return keccak256(
            abi.encode(
                REFERENCE_TAG,
                block.chainid,
                address(this),
                pipeline,
                group,
                s.index,
                s.nonce,
                s.verifier,
                s.measured,
                referenceHash
            )
        );
    }

    function _checkVerifier(Pipeline storage p, Chain storage c, uint32 step) private view {
        Agent storage caller = p.agents[msg.sender];
        require(caller.registered, "AgentRegistry: agent not registered");
        require(!caller.revoked, "AgentRegistry: agent revoked");
        require(caller.trusted, "AgentRegistry: caller not trusted");
        Step storage s = c.step;
        require(s.open, "AgentRegistry: no open step");
        require(s.verifier == msg.sender, "AgentRegistry: caller is not the elected verifier");
        require(s.index == step, "AgentRegistry: wrong step index");
    }

    /// @dev The verdict on the open step of `group`: a pass hands the group's RoT to the
    /// measured agent (a guest's pass trusts it only); either way the next step opens.
    function _result(
        bytes32 pipeline,
        Pipeline storage p,
        uint32 group,
        uint32 step,
        bytes32 nonce,
        bool passed,
        bytes32 evidence
    ) private {
        Chain storage c = p.chains[group];
        Step storage s = c.step;
        require(nonce == s.nonce, "AgentRegistry: nonce is not the step's");
        require(!passed || evidence != bytes32(0), "AgentRegistry: a pass needs an evidence digest");
        address measured = s.measured;
        p.agents[measured].trusted = passed;
        if (passed && !s.guest) {
            c.rootOfTrust = measured;
        }
        s.open = false;
        c.cursor = c.stepPosition + 1;
        _record(pipeline, p, _entry(step, group, measured, passed, evidence, nonce));
        _elect(pipeline, p, group);
    }

    /// @dev One of the SECaaS's attestations (`recordInitials`).
    function _initial(
        bytes32 pipeline,
        Pipeline storage p,
        address measured,
        bytes32 nonce,
        bool passed,
        bytes32 evidence
    ) private {
        require(nonce != bytes32(0), "AgentRegistry: empty nonce");
        require(!passed || evidence != bytes32(0), "AgentRegistry: a pass needs an evidence digest");
        Agent storage a = _active(p, measured);
        uint32 group = p.seats[measured].group;
        Chain storage c = p.chains[group];
        a.trusted = passed;
        if (passed) {
            c.rootOfTrust = measured;
        } else if (c.rootOfTrust == measured) {
            c.rootOfTrust = address(0);
        }
        _record(pipeline, p, _entry(0, group, measured, passed, evidence, nonce));
        if (c.plan.length > 0) {
            _close(pipeline, group, c);
            _elect(pipeline, p, group);
        }
    }

    function agentOf(bytes32 pipeline, address account) external view returns (Agent memory) {
        return pipelines[pipeline].agents[account];
    }

    function members(bytes32 pipeline) external view returns (address[] memory) {
        return pipelines[pipeline].members;
    }

    /// @notice Up to `count` members from index `start` with what is registered of each,
    /// so that an agent learns a large pipeline's members in a few calls, not one per member.
    function memberRange(bytes32 pipeline, uint256 start, uint256 count)
        external
        view
        returns (address[] memory accounts, Agent[] memory agents)
    {
        Pipeline storage p = pipelines[pipeline];
        uint256 end = start + count;
        if (end > p.members.length) {
            end = p.members.length;
        }
        uint256 n = start < end ? end - start : 0;
        accounts = new address[](n);
        agents = new Agent[](n);
        for (uint256 i = 0; i < n; i++) {
            accounts[i] = p.members[start + i];
            agents[i] = p.agents[accounts[i]];
        }
    }

    function plan(bytes32 pipeline, uint32 group) external view returns (address[] memory) {
        return pipelines[pipeline].chains[group].plan;
    }

    function groupCount(bytes32 pipeline) external view returns (uint32) {
        return pipelines[pipeline].groups;
    }

    function groupOf(bytes32 pipeline, address account) external view returns (uint32) {
        return pipelines[pipeline].seats[account].group;
    }

    /// @notice The group's next turn (a plan position, or the plan's length for its guest
    /// slot) and the number of full rounds.
    function cursor(bytes32 pipeline, uint32 group)
        external
        view
        returns (uint32 position, uint32 rounds)
    {
        Pipeline storage p = pipelines[pipeline];
        uint256 n = _span(p, p.chains[group]);
        if (n == 0) {
            return (0, 0);
        }
        uint64 turns = p.chains[group].cursor;
        return (uint32(turns % n), uint32(turns / n));
    }

    function rootOfTrust(bytes32 pipeline, uint32 group) external view returns (address) {
        return pipelines[pipeline].chains[group].rootOfTrust;
    }

    function keyEpoch(bytes32 pipeline) external view returns (uint64) {
        return _epoch(pipelines[pipeline]);
    }

    function isTrusted(bytes32 pipeline, address account) external view returns (bool) {
        Agent storage a = pipelines[pipeline].agents[account];
        return a.trusted && !a.revoked;
    }

    /// @notice The first of `accounts` that may not be given the pipeline key and why
    /// (`problem` 0: every one may; 1 not registered, 2 revoked, 3 not trusted): one call
    /// for a whole push rather than one per agent.
    function keyProblem(bytes32 pipeline, address[] calldata accounts)
        external
        view
        returns (uint256 index, uint8 problem)
    {
        mapping(address => Agent) storage agents = pipelines[pipeline].agents;
        for (uint256 i = 0; i < accounts.length; i++) {
            Agent storage a = agents[accounts[i]];
            if (!a.registered) {
                return (i, 1);
            }
            if (a.revoked) {
                return (i, 2);
            }
            if (!a.trusted) {
                return (i, 3);
            }
        }
        return (0, 0);
    }

    function isActive(bytes32 pipeline, address account) external view returns (bool) {
        Agent storage a = pipelines[pipeline].agents[account];
        return a.registered && !a.revoked;
    }

    function recordCount(bytes32 pipeline) external view returns (uint256) {
        return pipelines[pipeline].recordCount;
    }

    /// @notice The current step of `group` without its sealed reference (see referenceFor).
    function currentStep(bytes32 pipeline, uint32 group) external view returns (Step memory) {
        return pipelines[pipeline].chains[group].step;
    }

    function _active(Pipeline storage p, address account) private view returns (Agent storage a) {
        a = p.agents[account];
        require(a.registered, "AgentRegistry: agent not registered");
        require(!a.revoked, "AgentRegistry: agent revoked");
    }

    function _epoch(Pipeline storage p) private view returns (uint64) {
        return p.epoch == 0 ? 1 : p.epoch;
    }

    /// @dev The signer of an EIP-191 personal message of the 32 bytes `digest`; the zero
    /// address for a malformed or high-s signature.
    function _signer(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) {
            return address(0);
        }
        bytes32 r = bytes32(signature[0:32]);
        bytes32 sv = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) {
            v += 27;
        }
        if (uint256(sv) > HALF_ORDER || (v != 27 && v != 28)) {
            return address(0);
        }
        bytes32 message = keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", digest));
        return ecrecover(message, v, r, sv);
    }

    function _pay(address to, uint256 amount) private {
        (bool ok,) = payable(to).call{value: amount}("");
        require(ok, "AgentRegistry: funding transfer failed");
    }

    /// @dev A record of the caller's verdict (its time is its block's); `_record` fills in
    /// the new root.
    function _entry(
        uint32 step,
        uint32 group,
        address measured,
        bool passed,
        bytes32 evidence,
        bytes32 nonce
    ) private view returns (Record memory) {
        return Record({
            step: step,
            group: group,
            measured: measured,
            verifier: msg.sender,
            passed: passed,
            newRoot: address(0),
            evidence: evidence,
            nonce: nonce
        });
    }

    function _record(bytes32 pipeline, Pipeline storage p, Record memory r) private {
        Chain storage c = p.chains[r.group];
        r.newRoot = c.rootOfTrust;
        uint32 index = p.recordCount++;
        emit AttestationRecorded(
            pipeline,
            index,
            r.step,
            r.group,
            r.measured,
            r.verifier,
            r.passed,
            r.newRoot,
            r.evidence,
            r.nonce
        );
    }

    function _close(bytes32 pipeline, uint32 group, Chain storage c) private {
        if (c.step.open) {
            c.step.open = false;
            emit StepClosed(pipeline, group, c.step.index);
        }
    }

    /// @dev Turns in a round of the group: its plan, and a guest slot when there are
    /// other groups.
    function _span(Pipeline storage p, Chain storage c) private view returns (uint256) {
        uint256 n = c.plan.length;
        return p.groups > 1 && n > 0 ? n + 1 : n;
    }

    /// @dev The guest of `group`'s round `round`: a member of another group, the group
    /// offset by 1 + round (mod the others), so that in each round every group is some
    /// group's guest; the member rotates with the round too. Zero when that group has no plan.
    function _guest(Pipeline storage p, uint32 group, uint64 round) private view returns (address) {
        uint64 others = p.groups - 1;
        uint32 host = uint32((uint64(group) + 1 + (round % others)) % p.groups);
        address[] storage guests = p.chains[host].plan;
        if (guests.length == 0) {
            return address(0);
        }
        return guests[round % guests.length];
    }

    /// @dev Elects the group's RoT as verifier of its next turn's agent (a plan entry, or
    /// the round's guest) that is active and not itself, scanning at most one round from
    /// the cursor. Returns whether a step opened.
    function _elect(bytes32 pipeline, Pipeline storage p, uint32 group) private returns (bool) {
        Chain storage c = p.chains[group];
        address verifier = c.rootOfTrust;
        if (verifier == address(0) || !p.agents[verifier].trusted) {
            return false;
        }
        uint256 n = c.plan.length;
        uint256 span = _span(p, c);
        for (uint256 k = 0; k < span; k++) {
            uint64 position = c.cursor + uint64(k);
            bool guest = position % span == n;
            address candidate =
                guest ? _guest(p, group, position / uint64(span)) : c.plan[position % span];
            if (
                candidate != address(0) && candidate != verifier
                    && !p.agents[candidate].revoked
            ) {
                c.stepPosition = position;
                _open(pipeline, p, group, candidate, guest);
                return true;
            }
        }
        return false;
    }

    /// @dev Opens the group's step in which its RoT measures `measured`.
    function _open(bytes32 pipeline, Pipeline storage p, uint32 group, address measured, bool guest)
        private
    {
        Step storage s = p.chains[group].step;
        uint32 index = ++p.stepCount;
        s.index = index;
        s.verifier = p.chains[group].rootOfTrust;
        s.measured = measured;
        s.referenceProvided = false;
        s.open = true;
        s.guest = guest;
        if (guest) {
            p.seats[measured].guestOf = group + 1;
        }
        // Fresh per step: nobody knows it before the block that opens the step.
        s.nonce = keccak256(
            abi.encode(
                blockhash(block.number - 1),
                block.prevrandao,
                address(this),
                pipeline,
                index,
                s.verifier,
                measured
            )
        );
        emit StepOpened(pipeline, group, index, s.verifier, measured, guest);
    }
}
