// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AgentRegistry: the agents of each MAS pipeline and their attestation chain.
/// @notice The MLFO (deployer) registers and funds agents; the SECaaS account attests the
/// first agent, which becomes the root of trust (RoT). From then on the RoT is elected
/// verifier of the next agent in the pipeline's attestation plan; an agent that passes
/// becomes the new RoT, so trust travels along the plan (cyclically, round after round).
/// A failed agent is distrusted and never becomes RoT.
/// Steps are numbered from 1; records of the SECaaS's initial attestations carry step 0.
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
        address measured;
        address verifier;
        bool passed;
        uint64 timestamp;
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
        bytes32 nonce;
    }

    struct Pipeline {
        mapping(address => Agent) agents;
        address[] members;
        address[] plan;
        // Absolute plan position: entry = plan[cursor % plan.length], round = cursor / plan.length.
        uint64 cursor;
        // Absolute plan position of the open step's measured agent.
        uint64 stepPosition;
        address rootOfTrust;
        // 0 stands for epoch 1, so a fresh pipeline needs no initialisation.
        uint64 epoch;
        uint32 stepCount;
        Record[] records;
        Step step;
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
    event PlanSet(bytes32 indexed pipeline, uint32 length);
    event StepOpened(bytes32 indexed pipeline, uint32 step, address verifier, address measured);
    /// @notice A step ended without a result (revocation, re-election).
    event StepClosed(bytes32 indexed pipeline, uint32 step);
    event ReferenceProvided(bytes32 indexed pipeline, uint32 step, address verifier);
    event AttestationRecorded(
        bytes32 indexed pipeline,
        uint32 index,
        uint32 step,
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
    /// part in ends (a revoked RoT leaves the pipeline without one).
    function revoke(bytes32 pipeline, address account) external onlyOwner {
        Pipeline storage p = pipelines[pipeline];
        Agent storage a = _active(p, account);
        a.revoked = true;
        a.trusted = false;
        emit AgentRevoked(pipeline, account);
        p.epoch = _epoch(p) + 1;
        emit KeyEpochStarted(pipeline, p.epoch);
        if (p.rootOfTrust == account) {
            p.rootOfTrust = address(0);
            _close(pipeline, p);
        } else if (p.step.open && p.step.measured == account) {
            _close(pipeline, p);
            _elect(pipeline, p);
        }
    }

    /// @notice Sets the attestation plan (the order in which agents are measured) and
    /// starts from its first entry; with a RoT in place the first step opens at once.
    function setPlan(bytes32 pipeline, address[] calldata plan_) external onlyOwner {
        require(plan_.length > 0, "AgentRegistry: empty plan");
        Pipeline storage p = pipelines[pipeline];
        for (uint256 i = 0; i < plan_.length; i++) {
            _active(p, plan_[i]);
        }
        p.plan = plan_;
        p.cursor = 0;
        emit PlanSet(pipeline, uint32(plan_.length));
        _close(pipeline, p);
        _elect(pipeline, p);
    }

    /// @notice The SECaaS's own attestation of an agent under the SECaaS's own fresh
    /// `nonce`: a pass (which must name its evidence digest) makes it the RoT.
    function recordInitial(
        bytes32 pipeline,
        address measured,
        bytes32 nonce,
        bool passed,
        bytes32 evidence
    ) external onlySecaas {
        require(nonce != bytes32(0), "AgentRegistry: empty nonce");
        require(!passed || evidence != bytes32(0), "AgentRegistry: a pass needs an evidence digest");
        Pipeline storage p = pipelines[pipeline];
        Agent storage a = _active(p, measured);
        a.trusted = passed;
        if (passed) {
            p.rootOfTrust = measured;
        } else if (p.rootOfTrust == measured) {
            p.rootOfTrust = address(0);
        }
        _record(pipeline, p, 0, measured, msg.sender, passed, evidence, nonce);
        if (p.plan.length > 0) {
            _close(pipeline, p);
            _elect(pipeline, p);
        }
    }

    /// @notice Opens a step again, e.g. after a revocation ended the previous one.
    function openStep(bytes32 pipeline) external {
        require(
            msg.sender == owner || msg.sender == secaas,
            "AgentRegistry: caller is not the MLFO or the SECaaS"
        );
        Pipeline storage p = pipelines[pipeline];
        require(p.rootOfTrust != address(0), "AgentRegistry: no root of trust");
        _close(pipeline, p);
        require(_elect(pipeline, p), "AgentRegistry: no agent to measure");
    }

    /// @notice The SECaaS hands the elected verifier the reference measurement of the
    /// measured agent, sealed to the verifier's sealing key.
    function provideReference(bytes32 pipeline, uint32 step, bytes calldata sealedReference)
        external
        onlySecaas
    {
        require(sealedReference.length > 0, "AgentRegistry: empty reference");
        Pipeline storage p = pipelines[pipeline];
        Step storage s = p.step;
        require(s.open, "AgentRegistry: no open step");
        require(s.index == step, "AgentRegistry: wrong step index");
        require(!s.referenceProvided, "AgentRegistry: reference already provided");
        p.sealedReferences[step] = sealedReference;
        s.referenceProvided = true;
        emit ReferenceProvided(pipeline, step, s.verifier);
    }

    /// @notice What the elected verifier needs: the step, whom to measure, the nonce to
    /// challenge with and the sealed reference. Only the verifier may ask (msg.sender).
    function referenceFor(bytes32 pipeline)
        external
        view
        returns (uint32 step, address measured, bytes32 nonce, bytes memory sealedReference)
    {
        Pipeline storage p = pipelines[pipeline];
        Step storage s = p.step;
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
        uint32 step,
        bytes32 nonce,
        bool passed,
        bytes32 evidence
    ) external {
        Pipeline storage p = pipelines[pipeline];
        _checkVerifier(p, step);
        require(p.step.referenceProvided, "AgentRegistry: reference not provided");
        _result(pipeline, p, step, nonce, passed, evidence);
    }

    /// @notice One transaction per step: the elected verifier records the sealed reference
    /// SECaaS handed it off chain together with its verdict (as `recordResult`). SECaaS's
    /// signature over `referenceDigest` of the open step and this reference proves where
    /// the reference came from; it names the step's nonce, so it fits no other step.
    function recordStep(
        bytes32 pipeline,
        uint32 step,
        bytes32 nonce,
        bool passed,
        bytes32 evidence,
        bytes calldata sealedReference,
        bytes calldata secaasSignature
    ) external {
        require(sealedReference.length > 0, "AgentRegistry: empty reference");
        Pipeline storage p = pipelines[pipeline];
        _checkVerifier(p, step);
        bytes32 digest = referenceDigest(pipeline, keccak256(sealedReference));
        require(
            _signer(digest, secaasSignature) == secaas,
            "AgentRegistry: reference not signed by the SECaaS"
        );
        p.step.referenceProvided = true;
        emit ReferenceProvided(pipeline, step, msg.sender);
        _result(pipeline, p, step, nonce, passed, evidence);
    }

    /// @notice What SECaaS signs (EIP-191 personal message of 32 bytes) to hand the open
    /// step's verifier a reference whose keccak256 is `referenceHash`: it binds the chain,
    /// this contract, the pipeline, the step, its nonce, verifier and measured agent.
    function referenceDigest(bytes32 pipeline, bytes32 referenceHash)
        public
        view
        returns (bytes32)
    {
        Step storage s = pipelines[pipeline].step;
        require(s.open, "AgentRegistry: no open step");
        return keccak256(
            abi.encode(
                REFERENCE_TAG,
                block.chainid,
                address(this),
                pipeline,
                s.index,
                s.nonce,
                s.verifier,
                s.measured,
                referenceHash
            )
        );
    }

    function _checkVerifier(Pipeline storage p, uint32 step) private view {
        Agent storage caller = p.agents[msg.sender];
        require(caller.registered, "AgentRegistry: agent not registered");
        require(!caller.revoked, "AgentRegistry: agent revoked");
        require(caller.trusted, "AgentRegistry: caller not trusted");
        Step storage s = p.step;
        require(s.open, "AgentRegistry: no open step");
        require(s.verifier == msg.sender, "AgentRegistry: caller is not the elected verifier");
        require(s.index == step, "AgentRegistry: wrong step index");
    }

    /// @dev The verdict on the open step: a pass hands the RoT to the measured agent;
    /// either way the next step opens.
    function _result(
        bytes32 pipeline,
        Pipeline storage p,
        uint32 step,
        bytes32 nonce,
        bool passed,
        bytes32 evidence
    ) private {
        Step storage s = p.step;
        require(nonce == s.nonce, "AgentRegistry: nonce is not the step's");
        require(!passed || evidence != bytes32(0), "AgentRegistry: a pass needs an evidence digest");
        address measured = s.measured;
        p.agents[measured].trusted = passed;
        if (passed) {
            p.rootOfTrust = measured;
        }
        s.open = false;
        p.cursor = p.stepPosition + 1;
        _record(pipeline, p, step, measured, msg.sender, passed, evidence, nonce);
        _elect(pipeline, p);
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

    function plan(bytes32 pipeline) external view returns (address[] memory) {
        return pipelines[pipeline].plan;
    }

    /// @notice Position of the next plan entry to measure and the number of full rounds.
    function cursor(bytes32 pipeline) external view returns (uint32 position, uint32 rounds) {
        Pipeline storage p = pipelines[pipeline];
        uint256 n = p.plan.length;
        if (n == 0) {
            return (0, 0);
        }
        return (uint32(p.cursor % n), uint32(p.cursor / n));
    }

    function rootOfTrust(bytes32 pipeline) external view returns (address) {
        return pipelines[pipeline].rootOfTrust;
    }

    function keyEpoch(bytes32 pipeline) external view returns (uint64) {
        return _epoch(pipelines[pipeline]);
    }

    function isTrusted(bytes32 pipeline, address account) external view returns (bool) {
        Agent storage a = pipelines[pipeline].agents[account];
        return a.trusted && !a.revoked;
    }

    function isActive(bytes32 pipeline, address account) external view returns (bool) {
        Agent storage a = pipelines[pipeline].agents[account];
        return a.registered && !a.revoked;
    }

    function recordCount(bytes32 pipeline) external view returns (uint256) {
        return pipelines[pipeline].records.length;
    }

    function recordAt(bytes32 pipeline, uint256 i) external view returns (Record memory) {
        Record[] storage records = pipelines[pipeline].records;
        require(i < records.length, "AgentRegistry: record index out of range");
        return records[i];
    }

    /// @notice The latest record (what a relying party checks a verdict against).
    function lastRecord(bytes32 pipeline) external view returns (uint256 index, Record memory) {
        Record[] storage records = pipelines[pipeline].records;
        require(records.length > 0, "AgentRegistry: no record yet");
        return (records.length - 1, records[records.length - 1]);
    }

    /// @notice Up to `count` records from index `start`, so clients read a chain in one call.
    function recordRange(bytes32 pipeline, uint256 start, uint256 count)
        external
        view
        returns (Record[] memory out)
    {
        Record[] storage records = pipelines[pipeline].records;
        uint256 end = start + count;
        if (end > records.length) {
            end = records.length;
        }
        if (start >= end) {
            return new Record[](0);
        }
        out = new Record[](end - start);
        for (uint256 i = start; i < end; i++) {
            out[i - start] = records[i];
        }
    }

    /// @notice The current step without its sealed reference (see referenceFor).
    function currentStep(bytes32 pipeline)
        external
        view
        returns (
            uint32 index,
            address verifier,
            address measured,
            bool referenceProvided,
            bool open,
            bytes32 nonce
        )
    {
        Step storage s = pipelines[pipeline].step;
        return (s.index, s.verifier, s.measured, s.referenceProvided, s.open, s.nonce);
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

    function _record(
        bytes32 pipeline,
        Pipeline storage p,
        uint32 step,
        address measured,
        address verifier,
        bool passed,
        bytes32 evidence,
        bytes32 nonce
    ) private {
        uint32 index = uint32(p.records.length);
        p.records.push(
            Record({
                step: step,
                measured: measured,
                verifier: verifier,
                passed: passed,
                timestamp: uint64(block.timestamp),
                newRoot: p.rootOfTrust,
                evidence: evidence,
                nonce: nonce
            })
        );
        emit AttestationRecorded(
            pipeline, index, step, measured, verifier, passed, p.rootOfTrust, evidence, nonce
        );
    }

    function _close(bytes32 pipeline, Pipeline storage p) private {
        if (p.step.open) {
            p.step.open = false;
            emit StepClosed(pipeline, p.step.index);
        }
    }

    /// @dev Elects the RoT as verifier of the next active plan entry other than itself,
    /// scanning at most one round from the cursor. Returns whether a step opened.
    function _elect(bytes32 pipeline, Pipeline storage p) private returns (bool) {
        address verifier = p.rootOfTrust;
        if (verifier == address(0) || !p.agents[verifier].trusted) {
            return false;
        }
        uint256 n = p.plan.length;
        for (uint256 k = 0; k < n; k++) {
            uint64 position = p.cursor + uint64(k);
            address candidate = p.plan[position % n];
            if (candidate != verifier && !p.agents[candidate].revoked) {
                Step storage s = p.step;
                uint32 index = ++p.stepCount;
                s.index = index;
                s.verifier = verifier;
                s.measured = candidate;
                s.referenceProvided = false;
                s.open = true;
                // Fresh per step: nobody knows it before the block that opens the step.
                s.nonce = keccak256(
                    abi.encode(
                        blockhash(block.number - 1),
                        block.prevrandao,
                        address(this),
                        pipeline,
                        index,
                        verifier,
                        candidate
                    )
                );
                p.stepPosition = position;
                emit StepOpened(pipeline, index, verifier, candidate);
                return true;
            }
        }
        return false;
    }
}
