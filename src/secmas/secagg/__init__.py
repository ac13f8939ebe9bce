"""Secure data aggregation (004_… Section 5): clients' vectors are summed without any
single party seeing one of them.

- Centralised: the protocol of Bonawitz et al. (CCS 2017) with dropout recovery, and the
  sparse neighbourhoods of SecAgg+ (Bell et al., CCS 2020) as an option —
  `secmas.secagg.protocol` (client and server state machines), `run_secagg` (all in one
  process); parameters from a threat model: `ThreatModel`, `choose`.
- MPC: additive shares over several computation parties — `secmas.secagg.mpc`, `run_mpc`.
- Robust aggregation under MPC (clamping, norm bounding, coordinate-wise trimmed mean):
  `secmas.secagg.robust`, `robust_mpc`.
- Federated training of the analytics' LSTM autoencoder across agents with secure
  aggregation of the model updates, each clipped to a norm bound: `secmas.secagg.federated`
  (the coordinator), `tasks` and `learner` (what each agent contributes); over a secure
  channel, each agent's side and the coordinator's: `fedbus`; by a run's attested agents
  after bring-up, in one process or each its own (also for the training alone, `secmas
  detect train --federated --processes`, `secmas.api.training`): `fedrun`.
- Among agents: every round message in a signed envelope (`secmas.secagg.envelope`:
  spoofed and replayed messages refused), the rounds over the agents' bus — in-memory,
  NATS, or through the secure channel (`secmas.secagg.agent`: `ClientAgent`,
  `aggregate_over_bus`; `python -m secmas.secagg.agent` for an agent process).

Building blocks: `field` (Shamir over GF(2³¹ − 1)), `prg` (AES-256-CTR), `quantise`,
`crypto` (X25519, AES-GCM, Ed25519), `wire` (the versioned binary format), `beaver`
(two-party computation with a dealer). Wrong Shamir shares are corrected or detected
(`field.decode`), and decoded sums range-checked (OutputRangeError).
"""

from secmas.secagg.errors import (
    ConsistencyError,
    ImpersonationError,
    OutputRangeError,
    ProtocolAbort,
    ReconstructionError,
    ReplayError,
    SecAggError,
    ThresholdError,
    WireError,
)
from secmas.secagg.messages import Config
from secmas.secagg.mpc import ComputationParty, MpcClient, MpcRun, combine, mpc_config, run_mpc
from secmas.secagg.neighbours import GraphParameters, ThreatModel, choose
from secmas.secagg.protocol import Aggregate, Client, Server
from secmas.secagg.quantise import Quantiser, Ring
from secmas.secagg.robust import (
    RobustOptions,
    RobustResult,
    clip_norm,
    robust_aggregate,
    robust_mpc,
    trimmed_mean,
)
from secmas.secagg.session import Identities, RoundStats, Run, make_config, run_secagg

__all__ = [
    "Aggregate",
    "Client",
    "ComputationParty",
    "Config",
    "ConsistencyError",
    "GraphParameters",
    "Identities",
    "ImpersonationError",
    "MpcClient",
    "MpcRun",
    "OutputRangeError",
    "ProtocolAbort",
    "Quantiser",
    "ReconstructionError",
    "ReplayError",
    "Ring",
    "RobustOptions",
    "RobustResult",
    "RoundStats",
    "Run",
    "SecAggError",
    "Server",
    "ThreatModel",
    "ThresholdError",
    "WireError",
    "choose",
    "clip_norm",
    "combine",
    "make_config",
    "mpc_config",
    "robust_aggregate",
    "robust_mpc",
    "run_mpc",
    "run_secagg",
    "trimmed_mean",
]
