"""Secure aggregation with dropout recovery: the client and server of Bonawitz et al.,
"Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017, Fig. 4
(the version secure against an active adversary: signed keys and a consistency round),
with the SecAgg+ neighbourhoods of Bell et al. (CCS 2020) as an option.

Both sides are state machines, one method per round, that take a message object and
return the reply; nothing here does I/O, so any transport (or `secmas.secagg.session`'s
in-process driver) can carry them. Rounds (U1 ⊇ U2 ⊇ U3 ⊇ U4 ⊇ U5 are the clients the
server heard from in each; N(u) is u's neighbourhood, everyone for the complete graph):

0. AdvertiseKeys: u makes two X25519 key pairs, (c^PK, c^SK) for encrypting shares and
   (s^PK, s^SK) for pairwise masks, and signs (session, u, c^PK, s^PK) with its Ed25519
   identity key. The server and every neighbour check the signature under u's registered
   key: a client cannot advertise keys in another's name (ImpersonationError).
1. ShareKeys: u draws its self-mask seed b (32 random bytes), splits s^SK and b
   t-out-of-(|N(u) ∩ U1| + 1) (`secmas.secagg.field`) and sends each neighbour v its
   shares, AES-GCM-encrypted under HKDF(KA(c_u^SK, c_v^PK)).
2. MaskedInputCollection: u quantises x_u (`secmas.secagg.quantise`), appends its clipped
   count, and sends y_u = x_u + PRG(b_u) + Σ_{v ∈ N(u) ∩ U2} ±PRG(s_{u,v}) in Z_2^w, with
   s_{u,v} = HKDF(KA(s_u^SK, s_v^PK)) and + when u < v, − when u > v: the pairwise
   masks cancel in the sum.
3. ConsistencyCheck: the server tells the survivors U3; each signs U3.
4. Unmasking: u checks its neighbours' signatures over the same U3 (ConsistencyError if
   the server showed different sets), then reveals, for each neighbour v, its share of
   b_v if v ∈ U3, of s_v^SK if v dropped after round 1 — never both for one client, and
   only once. The server rebuilds each b of U3 and each s^SK of U2 \\ U3 from t shares
   (checking the rebuilt s^SK against the advertised s^PK, and b against the SHA-256
   commitment u sent with its shares in round 1), removes the self masks and the
   dropped clients' pairwise masks, and reads the exact sum of U3's quantised inputs.
   Wrong shares (a faulty or malicious holder) are corrected where the shares allow
   (`secmas.secagg.field.decode`: Berlekamp–Welch with more than t + 1 shares, the check
   against the key or commitment with t + 1) and named in `Server.wrong_shares`; with
   exactly t shares one wrong share is detected (ReconstructionError), never summed.
   The decoded sum is range-checked: a clipped count outside [0, |U3| · m] or a
   coordinate beyond |U3| · L is an OutputRangeError, not a model update.

A client whose masked input arrives after round 2 closed is not in U3: its neighbours
reveal its s^SK shares, never its b shares, so its input stays hidden under PRG(b).
Fewer than t clients left in any round is a ThresholdError.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.secagg import crypto, field, prg, wire
from secmas.secagg.errors import (
    ConsistencyError,
    ImpersonationError,
    OutputRangeError,
    ProtocolAbort,
    ReconstructionError,
    ThresholdError,
    WireError,
)
from secmas.secagg.messages import (
    Advertise,
    Config,
    ConsistencySignature,
    Forwarded,
    KeyBook,
    MaskedInput,
    Setup,
    ShareCiphertexts,
    SignatureBook,
    Survivors,
    UnmaskShares,
)

__all__ = ["ROUNDS", "Aggregate", "Client", "Server", "mask_key", "self_mask_key"]

ROUNDS = ("advertise keys", "share keys", "masked input", "consistency check", "unmasking")
SECRET_BYTES = 32
ELEMENTS = field.elements_for(SECRET_BYTES)
"""Field elements per shared secret (32 bytes in 3-byte chunks)."""


def _pair(a: int, b: int) -> bytes:
    low, high = min(a, b), max(a, b)
    return low.to_bytes(4, "little") + high.to_bytes(4, "little")


def mask_key(shared: bytes, session: bytes, u: int, v: int) -> bytes:
    """PRG key of the pairwise mask of u and v from their X25519 shared secret."""
    return prg.derive_key(shared, b"pairwise-mask", session + _pair(u, v))


def self_mask_key(seed: bytes, session: bytes, u: int) -> bytes:
    """PRG key of u's self mask from its seed b."""
    return prg.derive_key(seed, b"self-mask", session + u.to_bytes(4, "little"))


def _share_key(shared: bytes, session: bytes, u: int, v: int) -> bytes:
    return prg.derive_key(shared, b"share-encryption", session + _pair(u, v))


def _share_aad(session: bytes, sender: int, recipient: int) -> bytes:
    return (
        b"secmas.secagg/shares"
        + session
        + sender.to_bytes(4, "little")
        + recipient.to_bytes(4, "little")
    )


def _sign(u: int, v: int) -> int:
    """+1 if u adds the pairwise mask of (u, v), −1 if it subtracts it."""
    return 1 if u < v else -1


def check_config(config: Config) -> None:
    """What every client checks before taking part: the threshold protects it (more than
    half of the k + 1 share holders are needed, so the server cannot get both b and s^SK
    shares of a client from honest holders) and sums cannot wrap around the ring."""
    k = config.degree
    if 2 * config.threshold < k + 2:
        raise ProtocolAbort(
            f"threshold t = {config.threshold} is too low for {k + 1} share holders "
            f"(t must be > {(k + 1) / 2})"
        )
    if config.wraps:
        raise ProtocolAbort(
            f"a sum of {len(config.clients)} inputs can wrap around Z_2^{config.ring_bits}"
        )


class Client:
    """One client of the protocol: call `advertise`, `share_keys`, `masked_input`,
    `consistency` and `unmask` with the server's requests, in this order, once each.

    `identity` is the client's Ed25519 signing key; `directory` maps every client id to its
    registered raw Ed25519 public key (the PKI: e.g. the agents' keys on the ledger).
    """

    def __init__(
        self, client: int, identity: Ed25519PrivateKey, directory: Mapping[int, bytes]
    ) -> None:
        self.id = client
        self._identity = identity
        self._directory = dict(directory)
        self._round = 0
        self.config: Config | None = None
        self._cipher = crypto.KeyPair.generate()
        self._mask = crypto.KeyPair.generate()
        self._seed = b""
        self._book: dict[int, Advertise] = {}
        self._share_keys: dict[int, bytes] = {}
        self._own_share: np.ndarray | None = None
        self._held: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._u2: tuple[int, ...] = ()
        self._u3: frozenset[int] = frozenset()
        self.clipped = 0

    def _step(self, expected: int) -> Config:
        if self._round != expected:
            raise ProtocolAbort(
                f"client {self.id}: got a round-{expected} ({ROUNDS[expected]}) request "
                f"while at round {self._round}"
            )
        self._round += 1
        assert self.config is not None or expected == 0
        return self.config  # type: ignore[return-value]

    def _need(self, present: int, what: str) -> None:
        assert self.config is not None
        if present < self.config.threshold:
            raise ThresholdError(
                f"client {self.id}: {present} {what}, fewer than the threshold "
                f"t = {self.config.threshold}"
            )

    def advertise(self, setup: Setup) -> Advertise:
        """Round 0: check the session's configuration, advertise two signed public keys."""
        self._step(0)
        config = setup.config
        if self.id not in config.clients:
            raise ProtocolAbort(f"client {self.id} is not in the session's roster")
        check_config(config)
        self.config = config
        message = crypto.advert_message(
            config.session, self.id, self._cipher.public, self._mask.public
        )
        signature = crypto.sign(self._identity, message)
        return Advertise(self.id, self._cipher.public, self._mask.public, signature)

    def share_keys(self, book: KeyBook) -> ShareCiphertexts:
        """Round 1: verify the neighbours' adverts, share s^SK and b with them."""
        config = self._step(1)
        neighbours = set(config.graph[self.id])
        adverts: dict[int, Advertise] = {}
        for advert in book.adverts:
            if advert.client in adverts:
                raise ProtocolAbort(f"client {self.id}: two adverts for client {advert.client}")
            if advert.client != self.id and advert.client not in neighbours:
                raise ProtocolAbort(
                    f"client {self.id}: got the keys of {advert.client}, not a neighbour"
                )
            registered = self._directory.get(advert.client)
            message = crypto.advert_message(
                config.session, advert.client, advert.cipher_pk, advert.mask_pk
            )
            if registered is None or not crypto.verify(registered, advert.signature, message):
                raise ImpersonationError(
                    f"client {self.id}: the keys advertised for client {advert.client} are "
                    "not signed by its identity key"
                )
            adverts[advert.client] = advert
        mine = adverts.get(self.id)
        if mine is None or (mine.cipher_pk, mine.mask_pk) != (
            self._cipher.public,
            self._mask.public,
        ):
            raise ProtocolAbort(f"client {self.id}: the server altered or left out its own keys")
        keys = [k for a in adverts.values() for k in (a.cipher_pk, a.mask_pk)]
        if len(set(keys)) != len(keys):
            raise ProtocolAbort(f"client {self.id}: two advertised public keys are equal")
        self._need(len(adverts), "clients advertised keys in its neighbourhood")
        self._book = adverts

        self._seed = os.urandom(SECRET_BYTES)
        secret = np.concatenate(
            [field.encode_secret(self._mask.private_bytes()), field.encode_secret(self._seed)]
        )
        holders = sorted(adverts)
        shares = field.split(secret, config.threshold, [h + 1 for h in holders])
        items = []
        for holder, row in zip(holders, shares, strict=True):
            if holder == self.id:
                self._own_share = row
                continue
            key = self._share_keys[holder] = _share_key(
                crypto.agree(self._cipher.private, adverts[holder].cipher_pk),
                config.session,
                self.id,
                holder,
            )
            payload = wire.encode_share_payload(self.id, holder, row[:ELEMENTS], row[ELEMENTS:])
            items.append(
                (holder, crypto.seal(key, payload, _share_aad(config.session, self.id, holder)))
            )
        commitment = crypto.commit_seed(config.session, self.id, self._seed)
        return ShareCiphertexts(self.id, commitment, tuple(items))

    def masked_input(self, forwarded: Forwarded, x: np.ndarray) -> MaskedInput:
        """Round 2: store the shares received, send y_u = x_u + masks in Z_2^w."""
        config = self._step(2)
        values = np.asarray(x, dtype=np.float64)
        if values.shape != (config.length,):
            raise ValueError(
                f"client {self.id}: input of shape {values.shape}, expected ({config.length},)"
            )
        for sender, sealed in forwarded.items:
            if sender == self.id or sender not in self._book or sender in self._held:
                raise ProtocolAbort(f"client {self.id}: unexpected shares from client {sender}")
            key = self._share_keys[sender]
            what = f"client {self.id}: shares from client {sender}"
            plain = crypto.open_sealed(
                key, sealed, _share_aad(config.session, sender, self.id), what
            )
            try:
                src, dst, key_share, seed_share = wire.decode_share_payload(plain)
            except WireError as exc:
                raise ProtocolAbort(f"{what}: {exc}") from None
            if (src, dst) != (sender, self.id) or len(key_share) != ELEMENTS:
                raise ProtocolAbort(f"{what}: addressed from {src} to {dst}")
            self._held[sender] = (key_share, seed_share)
        self._u2 = tuple(sorted(self._held))
        self._need(len(self._u2) + 1, "neighbours shared their keys")

        quantised = config.quantiser.quantise(values)
        self.clipped = quantised.clipped
        ring = config.ring
        vector = ring.encode(np.append(quantised.values, quantised.clipped))
        prg.expand_into(self_mask_key(self._seed, config.session, self.id), vector, +1)
        for v in self._u2:
            shared = crypto.agree(self._mask.private, self._book[v].mask_pk)
            prg.expand_into(mask_key(shared, config.session, self.id, v), vector, _sign(self.id, v))
        return MaskedInput(self.id, vector)

    def consistency(self, survivors: Survivors) -> ConsistencySignature:
        """Round 3: sign the survivor set U3 the server announced."""
        config = self._step(3)
        u3 = frozenset(survivors.clients)
        if len(u3) != len(survivors.clients) or self.id not in u3:
            raise ProtocolAbort(f"client {self.id}: malformed survivor set")
        neighbours = set(config.graph[self.id])
        if not (u3 & neighbours) <= set(self._u2):
            raise ProtocolAbort(
                f"client {self.id}: survivors include neighbours that never shared keys"
            )
        self._need(len(u3 & neighbours) + 1, "neighbours survived round 2")
        self._u3 = u3
        message = crypto.survivors_message(config.session, u3)
        return ConsistencySignature(self.id, crypto.sign(self._identity, message))

    def unmask(self, book: SignatureBook) -> UnmaskShares:
        """Round 4: check the neighbours signed the same U3, reveal one share per neighbour:
        of b if it survived, of s^SK if it dropped."""
        config = self._step(4)
        message = crypto.survivors_message(config.session, self._u3)
        neighbours = set(config.graph[self.id])
        offered = [signer for signer, _ in book.items]
        if len(set(offered)) != len(offered) or not set(offered) <= neighbours & self._u3:
            raise ConsistencyError(
                f"client {self.id}: signatures of clients that are not surviving neighbours"
            )
        signers = {self.id}
        for signer, signature in book.items:
            if len(signers) >= config.threshold:
                break  # t confirmations are what the check needs
            if not crypto.verify(self._directory[signer], signature, message):
                raise ConsistencyError(
                    f"client {self.id}: client {signer} did not sign the survivor set this "
                    "client was shown (the server is inconsistent)"
                )
            signers.add(signer)
        if len(signers) < config.threshold:
            raise ConsistencyError(
                f"client {self.id}: {len(signers)} clients confirmed the survivor set, "
                f"fewer than t = {config.threshold}"
            )
        assert self._own_share is not None
        self_mask = [(self.id, self._own_share[ELEMENTS:])]
        mask_keys = []
        for v in self._u2:
            key_share, seed_share = self._held[v]
            if v in self._u3:
                self_mask.append((v, seed_share))
            else:
                mask_keys.append((v, key_share))
        self._held.clear()  # answered once: nothing more can be asked of it
        return UnmaskShares(self.id, tuple(self_mask), tuple(mask_keys))


@dataclass(frozen=True, eq=False)
class Aggregate:
    """The outcome: the survivors' sum, as floats and as the exact integer sum.

    `survivors` is U3 (whose inputs are summed); `recovered` the clients of U2 \\ U3 whose
    pairwise masks were removed; `clipped` how many input values were clipped in total
    (summed securely like the inputs), `clipped_fraction` of all values summed;
    `error_bound` the largest quantisation error of one coordinate.
    """

    total: np.ndarray
    integers: np.ndarray
    survivors: tuple[int, ...]
    recovered: tuple[int, ...]
    clipped: int
    clipped_fraction: float
    error_bound: float
    ring_bits: int

    @property
    def mean(self) -> np.ndarray:
        """The survivors' average input."""
        return self.total / len(self.survivors)


def _secret_of(elements: np.ndarray) -> bytes | None:
    try:
        return field.decode_secret(elements, SECRET_BYTES)
    except ReconstructionError:
        return None


def check_output(signed: np.ndarray, count: int, config: Config) -> None:
    """The decoded sum of `count` clients (inputs, then the clipped count) is one honest
    inputs can make: each coordinate within ±count · L, the clipped count in
    [0, count · length]. OutputRangeError otherwise (a wrong mask or a forged input)."""
    values = count * config.length
    clipped = int(signed[-1])
    if not 0 <= clipped <= values:
        raise OutputRangeError(
            f"the decoded clipped count {clipped} is outside [0, {values}] for {count} "
            f"clients of {config.length} values: the sum is wrong"
        )
    bound = count * config.quantiser.levels
    worst = int(np.max(np.abs(signed[:-1]))) if config.length else 0
    if worst > bound:
        raise OutputRangeError(
            f"a decoded coordinate of magnitude {worst} exceeds {count} clients × "
            f"{config.quantiser.levels} (the quantised range): the sum is wrong"
        )


class Server:
    """The aggregation server: call `setup`, then for each round `receive` every reply and
    `close_round` for the next requests (a mapping client → message); `result` after
    round 4. Replies of a closed round are recorded in `late` and ignored; replies that
    fail a check are recorded in `rejected` (client, round, reason) and ignored.
    """

    def __init__(self, config: Config, directory: Mapping[int, bytes]) -> None:
        self.config = config
        self._directory = dict(directory)
        self.round = 0
        self.late: list[tuple[int, int]] = []
        self.rejected: list[tuple[int, int, str]] = []
        self.adverts: dict[int, Advertise] = {}
        self._ciphertexts: dict[int, dict[int, bytes]] = {}
        self._commitments: dict[int, bytes] = {}
        self.wrong_shares: list[tuple[int, int, str]] = []
        """(holder, owner, what) of every share found wrong and left out."""
        self._sum: np.ndarray | None = None
        self._u3: tuple[int, ...] = ()
        self._signatures: dict[int, bytes] = {}
        self._shares: dict[int, UnmaskShares] = {}
        self._result: Aggregate | None = None

    @property
    def u1(self) -> tuple[int, ...]:
        """Clients whose keys were accepted in round 0."""
        return tuple(sorted(self.adverts))

    @property
    def u2(self) -> tuple[int, ...]:
        """Clients that shared their keys in round 1."""
        return tuple(sorted(self._ciphertexts))

    @property
    def u3(self) -> tuple[int, ...]:
        """Clients whose masked inputs are summed."""
        return self._u3

    def setup(self) -> dict[int, Setup]:
        """Round 0 requests: the configuration, to every client of the roster."""
        check_config(self.config)
        return {c: Setup(self.config) for c in self.config.clients}

    def _reject(self, client: int, reason: str) -> None:
        self.rejected.append((client, self.round, reason))

    def receive(self, message: object) -> None:
        """Take one client's reply to the current round."""
        expected = (Advertise, ShareCiphertexts, MaskedInput, ConsistencySignature, UnmaskShares)
        client = getattr(message, "client", -1)
        for number, kind in enumerate(expected):
            if isinstance(message, kind) and number != self.round:
                if number < self.round:
                    self.late.append((client, number))
                else:
                    self._reject(client, f"a round-{number} message during round {self.round}")
                return
        handler = (self._advert, self._shares_in, self._masked, self._signature, self._unmask)
        if self.round >= len(handler) or not isinstance(message, expected[self.round]):
            self._reject(client, f"not a message of round {self.round}")
            return
        handler[self.round](message)

    def _advert(self, message: Advertise) -> None:
        config = self.config
        registered = self._directory.get(message.client)
        if message.client not in config.clients or registered is None:
            self._reject(message.client, "not in the roster")
            return
        if message.client in self.adverts:
            self._reject(message.client, "advertised twice")
            return
        signed = crypto.advert_message(
            config.session, message.client, message.cipher_pk, message.mask_pk
        )
        if not crypto.verify(registered, message.signature, signed):
            self._reject(message.client, "keys not signed by the client's identity key")
            return
        self.adverts[message.client] = message

    def _shares_in(self, message: ShareCiphertexts) -> None:
        u = message.client
        if u not in self.adverts or u in self._ciphertexts:
            self._reject(u, "not expected in round 1")
            return
        expected = {v for v in self.config.graph[u] if v in self.adverts}
        got = [v for v, _ in message.items]
        if len(got) != len(set(got)) or set(got) != expected:
            self._reject(u, "shares not addressed to exactly its neighbours in U1")
            return
        if len(message.commitment) != crypto.KEY_BYTES:
            self._reject(u, "no commitment to its self-mask seed")
            return
        self._ciphertexts[u] = dict(message.items)
        self._commitments[u] = message.commitment

    def _masked(self, message: MaskedInput) -> None:
        u = message.client
        config = self.config
        if u not in self._ciphertexts or u in self._u3:
            self._reject(u, "not expected in round 2")
            return
        vector = message.vector
        if vector.dtype != config.ring.dtype or vector.shape != (config.width,):
            self._reject(u, f"masked vector of {vector.dtype} {vector.shape}")
            return
        if self._sum is None:
            self._sum = config.ring.zeros(config.width)
        np.add(self._sum, vector, out=self._sum)
        self._u3 = (*self._u3, u)

    def _signature(self, message: ConsistencySignature) -> None:
        u = message.client
        if u not in self._u3 or u in self._signatures:
            self._reject(u, "not expected in round 3")
            return
        signed = crypto.survivors_message(self.config.session, self._u3)
        if not crypto.verify(self._directory[u], message.signature, signed):
            self._reject(u, "consistency signature does not verify")
            return
        self._signatures[u] = message.signature

    def _unmask(self, message: UnmaskShares) -> None:
        u = message.client
        if u not in self._signatures or u in self._shares:
            self._reject(u, "not expected in round 4")
            return
        holders = set(self.config.graph[u]) | {u}
        survivors, u2 = set(self._u3), set(self._ciphertexts)
        owners_b = [o for o, _ in message.self_mask]
        owners_s = [o for o, _ in message.mask_key]
        if (
            not set(owners_b) <= holders & survivors
            or not set(owners_s) <= (holders - {u}) & (u2 - survivors)
            or len(set(owners_b)) != len(owners_b)
            or len(set(owners_s)) != len(owners_s)
            or any(len(s) != ELEMENTS for _, s in message.self_mask + message.mask_key)
        ):
            self._reject(u, "shares for clients it may not reveal")
            return
        self._shares[u] = message

    def _need(self, present: int, what: str) -> None:
        if present < self.config.threshold:
            raise ThresholdError(
                f"round {self.round} ({ROUNDS[self.round]}): {present} {what}, fewer than "
                f"the threshold t = {self.config.threshold}; the sum cannot be recovered"
            )

    def close_round(self) -> dict[int, object]:
        """End the current round: the requests of the next one, by client.

        Raises ThresholdError when fewer than t clients answered.
        """
        graph = self.config.graph
        if self.round == 0:
            self._need(len(self.adverts), "clients advertised valid keys")
            self.round = 1
            return {
                u: KeyBook(
                    tuple(self.adverts[v] for v in sorted({u, *graph[u]}) if v in self.adverts)
                )
                for u in self.u1
            }
        if self.round == 1:
            self._need(len(self._ciphertexts), "clients shared their keys")
            self.round = 2
            return {
                u: Forwarded(
                    tuple((v, self._ciphertexts[v][u]) for v in graph[u] if v in self._ciphertexts)
                )
                for u in self.u2
            }
        if self.round == 2:
            self._need(len(self._u3), "clients sent masked inputs")
            self._u3 = tuple(sorted(self._u3))
            self.round = 3
            return {u: Survivors(self._u3) for u in self._u3}
        if self.round == 3:
            self._need(len(self._signatures), "clients signed the survivor set")
            self.round = 4
            return {
                u: SignatureBook(
                    tuple((v, self._signatures[v]) for v in graph[u] if v in self._signatures)
                )
                for u in sorted(self._signatures)
            }
        if self.round == 4:
            self._need(len(self._shares), "clients sent unmasking shares")
            self._result = self._unmask_sum()
            self.round = 5
            return {}
        raise ProtocolAbort("the session is over")

    def result(self) -> Aggregate:
        """The aggregate, once round 4 is closed."""
        if self._result is None:
            raise ProtocolAbort("the aggregate is not ready: round 4 is not closed")
        return self._result

    def _collect(self, owners: Iterable[int], kind: str) -> dict[int, list[tuple[int, np.ndarray]]]:
        collected: dict[int, list[tuple[int, np.ndarray]]] = {o: [] for o in owners}
        for holder, message in self._shares.items():
            items = message.self_mask if kind == "b" else message.mask_key
            for owner, share in items:
                if owner in collected:
                    collected[owner].append((holder + 1, share))
        return collected

    def _rebuild(
        self,
        collected: dict[int, list[tuple[int, np.ndarray]]],
        what: str,
        check: Callable[[int, bytes], bool],
    ) -> dict[int, bytes]:
        """Each owner's 32-byte secret from its shares, batched by identical holder sets;
        an owner whose shares disagree or whose secret fails `check` is decoded on its own
        (`field.decode`), the wrong shares named in `wrong_shares`."""
        t = self.config.threshold
        groups: dict[tuple[int, ...], list[int]] = {}
        for owner, shares in collected.items():
            if len(shares) < t:
                raise ThresholdError(
                    f"{len(shares)} shares of client {owner}'s {what}, fewer than t = {t}"
                )
            shares.sort(key=lambda item: item[0])
            groups.setdefault(tuple(x for x, _ in shares), []).append(owner)
        secrets: dict[int, bytes] = {}
        for xs, owners in groups.items():
            stacked = np.concatenate(
                [np.stack([s for _, s in collected[o]]) for o in owners], axis=1
            )
            try:
                elements = field.reconstruct(xs, stacked, t)
            except ReconstructionError:
                elements = None
            for i, owner in enumerate(owners):
                if elements is not None:
                    chunk = elements[i * ELEMENTS : (i + 1) * ELEMENTS]
                    secret = _secret_of(chunk)
                    if secret is not None and check(owner, secret):
                        secrets[owner] = secret
                        continue
                secrets[owner] = self._decode_one(owner, collected[owner], what, check)
        return secrets

    def _decode_one(
        self,
        owner: int,
        shares: list[tuple[int, np.ndarray]],
        what: str,
        check: Callable[[int, bytes], bool],
    ) -> bytes:
        def passes(elements: np.ndarray) -> bool:
            secret = _secret_of(elements)
            return secret is not None and check(owner, secret)

        xs = [x for x, _ in shares]
        try:
            decoded = field.decode(
                xs, np.stack([s for _, s in shares]), self.config.threshold, passes
            )
        except ReconstructionError as exc:
            raise ReconstructionError(f"{what} of client {owner}: {exc}") from None
        for x in decoded.wrong:
            self.wrong_shares.append((x - 1, owner, what))
        return field.decode_secret(decoded.secret, SECRET_BYTES)

    def _check_seed(self, owner: int, seed: bytes) -> bool:
        return crypto.commit_seed(self.config.session, owner, seed) == self._commitments[owner]

    def _check_mask_key(self, owner: int, key: bytes) -> bool:
        return crypto.public_of(key) == self.adverts[owner].mask_pk

    def _unmask_sum(self) -> Aggregate:
        config = self.config
        assert self._sum is not None
        survivors = set(self._u3)
        dropped = [v for v in self.u2 if v not in survivors]
        total = self._sum.copy()
        seeds = self._rebuild(self._collect(self._u3, "b"), "self-mask seed", self._check_seed)
        for u in self._u3:
            prg.expand_into(self_mask_key(seeds[u], config.session, u), total, -1)
        keys = self._rebuild(self._collect(dropped, "s"), "mask key", self._check_mask_key)
        for v in dropped:
            pair = crypto.KeyPair.from_private_bytes(keys[v])
            for u in config.graph[v]:
                if u in survivors:
                    shared = crypto.agree(pair.private, self.adverts[u].mask_pk)
                    # u added _sign(u, v) · PRG(s_uv); take it away
                    prg.expand_into(mask_key(shared, config.session, u, v), total, -_sign(u, v))
        signed = config.ring.decode(total)
        clipped = int(signed[-1])
        quantiser = config.quantiser
        count = len(self._u3)
        check_output(signed, count, config)
        return Aggregate(
            total=quantiser.dequantise(signed[:-1]),
            integers=signed[:-1],
            survivors=self._u3,
            recovered=tuple(dropped),
            clipped=clipped,
            clipped_fraction=clipped / (count * config.length),
            error_bound=quantiser.error_bound(count),
            ring_bits=config.ring_bits,
        )
