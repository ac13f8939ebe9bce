"""What can go wrong in a secure aggregation, as exception classes.

Every failure the protocol can meet is one of these, with a message that says which
round, which client and why. `WireError` is a `ValueError` (a malformed frame is bad
input); the others derive from `SecAggError`.
"""

from __future__ import annotations

__all__ = [
    "ConsistencyError",
    "ImpersonationError",
    "OutputRangeError",
    "ProtocolAbort",
    "ReconstructionError",
    "ReplayError",
    "SecAggError",
    "ThresholdError",
    "WireError",
]


class SecAggError(Exception):
    """Base class of the secure-aggregation failures."""


class WireError(ValueError):
    """A frame that does not parse: wrong magic, version, kind, length or field."""


class ProtocolAbort(SecAggError):
    """A party stops: a message out of order, from the wrong round, or failing a check."""


class ImpersonationError(ProtocolAbort):
    """A key advertisement or signature that does not verify under the sender's identity
    key (someone claims to be a client it is not)."""


class ReplayError(ProtocolAbort):
    """A correctly signed message that is not for now: from another session, another
    round, or a second copy of one already taken (someone replays what it recorded)."""


class ConsistencyError(ProtocolAbort):
    """Round 3's consistency check failed: the server showed clients different survivor
    sets, or too few clients signed the one this client saw."""


class ThresholdError(SecAggError):
    """Fewer clients (or shares) than the threshold t are left: the sum cannot be
    recovered, and is not."""


class ReconstructionError(SecAggError):
    """Shares that do not lie on one polynomial, or a reconstructed key that does not
    match the public key its owner advertised."""


class OutputRangeError(SecAggError):
    """A decoded sum outside what honest inputs can add up to (a clipped count below zero
    or above the number of values, a coordinate beyond n · L): a wrong sum, refused."""
