"""Attacks on the secure channel by a malicious but attested member of the pipeline.

Mallory passed attestation, holds her own identity keys and every epoch's pipeline secret
she was given, sees every frame on the bus and may publish anything. With one pipeline
secret per epoch she could derive every link's key (HKDF over the secret and the link's
names), seal frames in another member's name and push that member's replay window to
2^64-1. Each test is her attempt; each must fail."""

from __future__ import annotations

import asyncio
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tests.transport.channel_members import FLOOR, Clock, inbox, recipient

from secmas.transport import MemoryBus
from secmas.transport.channel import (
    GROUP,
    REQUEST,
    SIGNED,
    VERSION,
    Drop,
    SecureBus,
)
from secmas.transport.replay import MAX_SEQ
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import (
    EpochKeyring,
    PeerKeys,
    group_info,
    group_key,
    pair_info,
    pair_key,
)

PIPELINE, VNI = "ddos", 7
SECRET_1, SECRET_2 = bytes(range(32)), bytes(range(100, 132))


class Members:
    """Honest members and Mallory on one MemoryBus, keyed in epoch 1 from one directory
    of registered public keys (as the registry on chain holds them)."""

    def __init__(self, names: tuple[str, ...] = ("alice", "bob", "mallory")) -> None:
        self.bus = MemoryBus()
        self.clock = Clock()
        self.identities = {n: AgentIdentity.generate(n) for n in names}
        self.directory = {n: PeerKeys.of(i) for n, i in self.identities.items()}
        self.keys = {
            n: EpochKeyring(i, PIPELINE, VNI, self.directory, clock=self.clock)
            for n, i in self.identities.items()
        }
        for keys in self.keys.values():
            keys.install(1, SECRET_1)
        self.buses = {n: SecureBus(self.bus, n, VNI, k, recipient) for n, k in self.keys.items()}


class Inbox:
    def __init__(self) -> None:
        self.got: list[bytes] = []

    async def __call__(self, _subject: str, data: bytes) -> None:
        self.got.append(data)


class Tap:
    """A raw subscription on the bus: every frame as the wire carries it."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, bytes]] = []

    async def __call__(self, subject: str, frame: bytes) -> None:
        self.frames.append((subject, frame))


async def watched(net: Members, receiver: str) -> tuple[Tap, Inbox]:
    """A tap on the NFV-A subjects and `receiver`'s plaintext inbox for all of them."""
    tap, got = Tap(), Inbox()
    await net.bus.subscribe("nfva.>", tap)
    await net.buses[receiver].subscribe("nfva.>", got)
    return tap, got


def forge(
    sender: str,
    subject: str,
    payload: bytes,
    key: bytes,
    *,
    epoch: int = 1,
    seq: int = 1,
    flags: int = 0,
    signature: bytes | None = None,
) -> bytes:
    """Mallory's own frame writer: the documented wire format, any field she likes."""
    raw = sender.encode()
    header = bytes([VERSION]) + VNI.to_bytes(3, "big") + bytes([len(raw)]) + raw
    header += struct.pack(">IQB", epoch, seq, flags)
    if flags & REQUEST:
        header += bytes([len(b"_INBOX.m.1")]) + b"_INBOX.m.1"
    body = AESGCM(key).encrypt(struct.pack(">4xQ", seq), payload, header + subject.encode())
    return header + body + (signature or b"")


def shared_secret_key(secret: bytes, sender: str, receiver: str, epoch: int = 1) -> bytes:
    """What a link key was when it came from the pipeline secret alone: HKDF over the
    secret with the link's names in `info`. Every member could compute it."""
    fields = (b"secmas/link/1", PIPELINE.encode(), VNI.to_bytes(3, "big"))
    fields += (epoch.to_bytes(4, "big"), sender.encode(), receiver.encode())
    info = b"".join(len(f).to_bytes(2, "big") + f for f in fields)
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(secret)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 300))


def test_a_member_cannot_forge_a_directed_frame_in_another_members_name():
    """Mallory holds the pipeline secret and her own X25519 key; alice -> bob's key needs
    alice's or bob's private key."""

    async def main():
        net = Members()
        got = Inbox()
        bob = net.buses["bob"]
        await bob.subscribe(inbox("bob"), got)
        mallory = net.identities["mallory"]
        candidates = [
            shared_secret_key(SECRET_1, "alice", "bob"),  # the one-secret derivation
            group_key(SECRET_1, group_info(PIPELINE, VNI, 1, "alice")),  # alice's group key
            # her own Diffie-Hellman value with bob, under alice's name in `info`
            pair_key(
                mallory.sealing.exchange(
                    X25519PublicKey.from_public_bytes(net.directory["bob"].sealing)
                ),
                SECRET_1,
                pair_info(
                    PIPELINE,
                    VNI,
                    1,
                    "alice",
                    "bob",
                    net.directory["alice"].sealing,
                    net.directory["bob"].sealing,
                ),
            ),
        ]
        for seq, key in enumerate(candidates, start=1):
            await net.bus.publish(inbox("bob"), forge("alice", inbox("bob"), b"stop", key, seq=seq))
        await net.buses["alice"].publish(inbox("bob"), b"genuine")
        await net.bus.flush()
        assert got.got == [b"genuine"]
        assert bob.channel_stats.dropped == {Drop.AUTH: len(candidates)}

    run(main())


def test_a_member_cannot_forge_a_group_frame_in_another_members_name():
    """The group key is every member's, so Mallory can seal a group frame as alice; its
    signature must then be alice's, and she can only sign as herself."""

    async def main():
        net = Members()
        got = Inbox()
        bob = net.buses["bob"]
        await bob.subscribe(FLOOR, got)
        key = group_key(SECRET_1, group_info(PIPELINE, VNI, 1, "alice"))
        unsigned = forge("alice", FLOOR, b"cfp", key, seq=1)
        header_len = len(unsigned) - len(b"cfp") - 16
        signed_frame = forge("alice", FLOOR, b"cfp", key, seq=2, flags=SIGNED)
        by_mallory = net.identities["mallory"].sign(
            signed_frame[:header_len] + FLOOR.encode() + signed_frame[header_len:]
        )
        await net.bus.publish(FLOOR, unsigned)
        await net.bus.publish(FLOOR, signed_frame + by_mallory)
        await net.bus.publish(FLOOR, signed_frame + bytes(64))
        await net.buses["alice"].publish(FLOOR, b"genuine")
        await net.bus.flush()
        assert got.got == [b"genuine"]
        assert bob.channel_stats.dropped == {Drop.FLAGS: 1, Drop.SIGNATURE: 2}

    run(main())


def test_a_forged_top_sequence_number_does_not_shut_a_sender_out():
    """Mallory sends sequence 2^64-1 in alice's name, on the group subject and on bob's
    inbox, then in her own name: alice's next frames must still arrive."""

    async def main():
        net = Members()
        got_floor, got_inbox = Inbox(), Inbox()
        bob = net.buses["bob"]
        await bob.subscribe(FLOOR, got_floor)
        await bob.subscribe(inbox("bob"), got_inbox)
        alice, mallory = net.buses["alice"], net.buses["mallory"]
        await alice.publish(FLOOR, b"a1")
        await alice.publish(inbox("bob"), b"a1")
        group = group_key(SECRET_1, group_info(PIPELINE, VNI, 1, "alice"))
        poison = forge("alice", FLOOR, b"x", group, seq=MAX_SEQ, flags=SIGNED)
        await net.bus.publish(FLOOR, poison + net.identities["mallory"].sign(poison))
        direct = shared_secret_key(SECRET_1, "alice", "bob")
        await net.bus.publish(inbox("bob"), forge("alice", inbox("bob"), b"x", direct, seq=MAX_SEQ))
        mallory.channel._counters[GROUP, 1] = MAX_SEQ - 1  # her own window: hers alone
        await mallory.publish(FLOOR, b"m-last")
        for i in range(2, 5):
            await alice.publish(FLOOR, b"a%d" % i)
            await alice.publish(inbox("bob"), b"a%d" % i)
        await net.bus.flush()
        assert got_floor.got == [b"a1", b"m-last", b"a2", b"a3", b"a4"]
        assert got_inbox.got == [b"a1", b"a2", b"a3", b"a4"]
        assert bob.channel_stats.dropped == {Drop.SIGNATURE: 1, Drop.AUTH: 1}

    run(main())


def test_a_captured_frame_replayed_is_dropped_in_and_after_its_epoch():
    async def main():
        net = Members()
        tap, got = await watched(net, "bob")
        captured = tap.frames
        bob = net.buses["bob"]
        await net.buses["alice"].publish(FLOOR, b"bid 10")
        await net.buses["alice"].publish(inbox("bob"), b"accept")
        await net.bus.flush()
        for subject, frame in captured[:2]:
            await net.bus.publish(subject, frame)  # replayed at once
        await net.bus.flush()
        for keys in net.keys.values():
            keys.install(2, SECRET_2)
            keys.activate(2)
        net.clock.now = 100.0  # epoch 1 retired
        for subject, frame in captured[:2]:
            await net.bus.publish(subject, frame)  # replayed in the next epoch
        await net.bus.flush()
        assert got.got == [b"bid 10", b"accept"]
        assert bob.channel_stats.dropped == {Drop.REPLAY: 2, Drop.NO_KEY: 2}

    run(main())


def test_a_revoked_member_can_neither_read_nor_forge_new_epoch_traffic():
    """Mallory is revoked and left out of epoch 2's secret. She keeps epoch 1's secret,
    her identity keys and every frame she sees: none of it opens epoch 2's frames, and
    nothing she sends is accepted any more."""

    async def main():
        net = Members()
        for name in ("alice", "bob"):
            net.keys[name].revoke("mallory")
            net.keys[name].install(2, SECRET_2)
            net.keys[name].activate(2)
        tap, got = await watched(net, "bob")
        seen = tap.frames
        bob = net.buses["bob"]
        alice = net.buses["alice"]
        await alice.publish(FLOOR, b"group secret")
        await alice.publish(inbox("bob"), b"pairwise secret")
        await net.bus.flush()
        assert [struct.unpack_from(">I", f, 5 + len(b"alice"))[0] for _, f in seen] == [2, 2]

        mallory = net.identities["mallory"]
        dh = {
            peer: mallory.sealing.exchange(
                X25519PublicKey.from_public_bytes(net.directory[peer].sealing)
            )
            for peer in ("alice", "bob")
        }
        guesses = []
        for epoch in (1, 2):
            guesses.append(group_key(SECRET_1, group_info(PIPELINE, VNI, epoch, "alice")))
            guesses.append(shared_secret_key(SECRET_1, "alice", "bob", epoch))
            for shared in dh.values():
                info = pair_info(
                    PIPELINE,
                    VNI,
                    epoch,
                    "alice",
                    "bob",
                    net.directory["alice"].sealing,
                    net.directory["bob"].sealing,
                )
                guesses.append(pair_key(shared, SECRET_1, info))
        for subject, frame in seen:
            header = 5 + frame[4] + 13  # sender id, epoch, sequence number, flags
            body = frame[header:-64] if subject == FLOOR else frame[header:]
            nonce = b"\0" * 4 + frame[header - 9 : header - 1]
            for key in guesses:
                try:
                    AESGCM(key).decrypt(nonce, body, frame[:header] + subject.encode())
                except InvalidTag:
                    continue
                raise AssertionError(f"a revoked member opened {subject}")

        # Forging: her own frames (old keys, still valid in her keyring), then epoch-2
        # frames in alice's name under every key she can guess.
        await net.buses["mallory"].publish(FLOOR, b"from the revoked")
        await net.buses["mallory"].publish(inbox("bob"), b"from the revoked")
        for seq, key in enumerate(guesses, start=10):
            await net.bus.publish(
                inbox("bob"), forge("alice", inbox("bob"), b"x", key, epoch=2, seq=seq)
            )
        await net.bus.flush()
        assert got.got == [b"group secret", b"pairwise secret"]
        assert bob.channel_stats.dropped == {Drop.REVOKED: 2, Drop.AUTH: len(guesses)}

    run(main())
