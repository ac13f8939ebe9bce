"""The NATS bus's addresses, TLS, nkeys, server lists and clusters, against real
nats-servers (the attacks themselves are in tests/security/test_nats_attacks.py)."""

from __future__ import annotations

import asyncio
import os
import string
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.conftest import until

from secmas.transport import NoResponders
from secmas.transport.address import MASK, BusAddress, BusAddressError, redact_userinfo
from secmas.transport.broker import MISSING_BINARY, NatsCluster, NatsServer, find_nats_server
from secmas.transport.credentials import (
    CredentialError,
    NatsUser,
    Permissions,
    issue_users,
    read_seed,
)
from secmas.transport.nats import BusUnavailable, NatsBus
from secmas.transport.tls import client_context, issue_run_pki

needs_server = pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 300))


# -- addresses -----------------------------------------------------------------------------
def test_a_server_list_keeps_order_defaults_and_schemes() -> None:
    address = BusAddress.parse(" tls://a.example , b:4333,nats://[::1]:4222,c.example")
    assert address.servers == (
        "tls://a.example:4222",
        "nats://b:4333",
        "nats://[::1]:4222",
        "nats://c.example:4222",
    )
    assert address.tls and not address.has_credentials
    assert address.redacted == address.plain == ",".join(address.servers)


def test_credentials_in_urls_are_kept_apart_and_masked() -> None:
    address = BusAddress.parse("tls://alice:s%40cret@a:1,tls://alice:s%40cret@b:2")
    assert (address.user, address.password, address.token) == ("alice", "s@cret", None)
    assert address.plain == "tls://a:1,tls://b:2"
    assert address.redacted == f"tls://{MASK}@a:1,tls://{MASK}@b:2"
    assert "cret" not in repr(address)
    token = BusAddress.parse("nats://t0ken@h")
    assert token.token == "t0ken" and token.userinfo == "t0ken"
    from_env = BusAddress.parse("nats://h", userinfo="bob:pw")
    assert (from_env.user, from_env.password) == ("bob", "pw")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no server"),
        ("nats://a:4222,", "empty (a stray comma?)"),
        ("nats://a:99999", "port is not a number"),
        ("nats://a:http", "port is not a number"),
        ("nats://a:0", "port 0"),
        ("http://a:4222", "scheme 'http'"),
        ("nats://a:4222/path", "no path"),
        ("nats://:4222", "no host"),
        ("nats://u:p@a,nats://v:q@b", "different credentials"),
        ("nats://@a", "empty credentials"),
    ],
)
def test_bad_bus_values_are_named(text: str, says: str) -> None:
    with pytest.raises(BusAddressError, match="--bus") as error:
        BusAddress.parse(text)
    assert says in str(error.value)


_secret = st.text(string.ascii_letters + string.digits, min_size=4, max_size=12)


@given(_secret, _secret, st.sampled_from(["nats", "tls", ""]), st.integers(1, 70_000))
def test_no_error_or_record_ever_shows_a_password(
    user: str, password: str, scheme: str, port: int
) -> None:
    prefix = f"{scheme}://" if scheme else ""
    # A password that is a word the output holds anyway ('serv' of "server", a port's
    # digits) shows nothing: only what the credentials add can leak them.
    assume(password not in _shown(f"{prefix}host.example:{port}"))
    text = f"{prefix}{user}:{password}@host.example:{port}"
    assert password not in redact_userinfo(text)
    assert password not in _shown(text)


def _shown(text: str) -> str:
    """Everything parsing `text` as --bus shows: the error, or the address's forms."""
    try:
        address = BusAddress.parse(text)
    except BusAddressError as exc:
        return str(exc)
    return address.redacted + address.plain + repr(address)


# -- credentials ---------------------------------------------------------------------------
def test_seed_files_are_owner_only_and_checked(tmp_path: Path) -> None:
    user = issue_users(tmp_path / "keys", ["pop1"])["pop1"]
    assert user.nkey.startswith("U") and user.seed_file is not None
    assert user.seed_file.stat().st_mode & 0o777 == 0o600
    assert read_seed(user.seed_file).startswith(b"SU")
    os.chmod(user.seed_file, 0o644)
    with pytest.raises(CredentialError, match="chmod 600"):
        read_seed(user.seed_file)
    bogus = tmp_path / "bogus.nk"
    bogus.write_text("SUNOTASEED")
    bogus.chmod(0o600)
    with pytest.raises(CredentialError, match="not an nkey seed"):
        read_seed(bogus)
    with pytest.raises(CredentialError, match="No such file"):
        read_seed(tmp_path / "missing.nk")


def test_a_ca_file_that_is_no_certificate_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="CA file"):
        client_context(junk)


# -- TLS against real servers ---------------------------------------------------------------
@needs_server
def test_tls_url_without_the_ca_fails_at_once_naming_the_cure(tmp_path: Path) -> None:
    pki = issue_run_pki(tmp_path, ["nats"])
    with NatsServer(tls=pki["nats"]) as server:
        with pytest.raises(BusUnavailable, match="--bus-ca"):
            run(NatsBus.connect(server.url))
        bus = run(_round_trip(server.url, pki["nats"].ca_file))
    assert bus == b"pong"


async def _round_trip(url: str, ca: Path | None, nkey: Path | None = None) -> bytes:
    bus = await NatsBus.connect(url, ca_file=ca, nkey_file=nkey)
    try:

        async def pong(_s: str, _d: bytes) -> bytes:
            return b"pong"

        await bus.subscribe("svc", pong)
        return await bus.request("svc", b"ping", 2)
    finally:
        await bus.close()


@needs_server
def test_a_nats_url_upgrades_when_the_server_requires_tls(tmp_path: Path) -> None:
    pki = issue_run_pki(tmp_path, ["nats"])
    with NatsServer(tls=pki["nats"]) as server:
        plain_scheme = server.url.replace("tls://", "nats://")
        assert run(_round_trip(plain_scheme, pki["nats"].ca_file)) == b"pong"


@needs_server
def test_tls_url_to_a_plain_server_fails_at_once() -> None:
    with NatsServer() as server, pytest.raises(BusUnavailable, match="did not require TLS"):
        run(NatsBus.connect(server.url.replace("nats://", "tls://")))


# -- server lists and clusters --------------------------------------------------------------
@needs_server
def test_a_server_list_skips_dead_servers_and_fails_over() -> None:
    async def scenario(first: NatsServer, second: NatsServer) -> tuple[str, int]:
        dead = "nats://127.0.0.1:1"
        bus = await NatsBus.connect(f"{dead},{first.url},{second.url}", reconnect_wait=0.05)
        got: list[bytes] = []

        async def keep(_s: str, data: bytes) -> None:
            got.append(data)

        await bus.subscribe("fail.over", keep)
        await asyncio.to_thread(first.stop)
        await until(lambda: bus.reconnects == 1)
        await bus.publish("fail.over", b"after")
        await until(lambda: got == [b"after"])
        url = bus.server or ""
        await bus.close()
        return url, bus.reconnects

    with NatsServer() as first, NatsServer() as second:
        url, reconnects = run(scenario(first, second))
    assert url == second.url and reconnects == 1


@needs_server
def test_no_server_of_a_list_listening_is_one_clear_error() -> None:
    with pytest.raises(BusUnavailable, match=r"no NATS server at nats://127.0.0.1:1,"):
        run(NatsBus.connect("nats://127.0.0.1:1,nats://127.0.0.1:2"))


@needs_server
def test_a_three_node_tls_cluster_carries_requests_between_nodes(tmp_path: Path) -> None:
    """Clients with their own nkeys on different nodes of a TLS cluster: a request from n1
    is answered on n3, a broadcast from n2 reaches all; permissions hold on every node."""
    names = ["n1", "n2", "n3"]
    pki = issue_run_pki(tmp_path / "pki", names)
    keys = issue_users(tmp_path / "keys", ["mlfo", "pop1", "pop2"])
    pop = Permissions(publish=("svc.>", "_INBOX.>"), subscribe=("svc.>", "cast", "_INBOX.>"))
    users = [keys["mlfo"]] + [
        NatsUser(n, keys[n].nkey, pop, keys[n].seed_file) for n in ("pop1", "pop2")
    ]
    ca = pki["n1"].ca_file

    async def scenario(cluster: NatsCluster) -> tuple[bytes, list[list[bytes]], dict[str, int]]:
        mlfo, pop1, pop2 = [
            await NatsBus.connect(url, ca_file=ca, nkey_file=keys[name].seed_file)
            for url, name in zip(cluster.urls, ["mlfo", "pop1", "pop2"], strict=True)
        ]
        heard: list[list[bytes]] = [[], []]
        try:

            async def answer(_s: str, data: bytes) -> bytes:
                return b"pop2 answers " + data

            await pop2.subscribe("svc.pop2", answer)
            for bus, box in zip((pop1, pop2), heard, strict=True):

                async def keep(_s: str, data: bytes, box: list[bytes] = box) -> None:
                    box.append(data)

                await bus.subscribe("cast", keep)
            await until(lambda: all(NatsCluster.routes(s) == 2 for s in cluster.servers))
            await until(lambda: NatsCluster.interest(cluster.servers[0], "cast") == 2)
            reply = await _retry_request(pop1, "svc.pop2", b"hello")
            await mlfo.publish("cast", b"to all")
            await pop1.publish("cast", b"forged")
            await until(lambda: all(b"to all" in box for box in heard))
            await until(lambda: "cast" in pop1.denied)
        finally:
            for bus in (mlfo, pop1, pop2):
                await bus.close()
        return reply, heard, pop1.denied

    with NatsCluster(3, tls=pki, users=users) as cluster:
        assert cluster.bus.count("tls://") == 3
        reply, heard, denied = run(scenario(cluster))
    assert reply == b"pop2 answers hello"
    assert heard == [[b"to all"], [b"to all"]]
    assert denied == {"cast": 1}


async def _retry_request(bus: NatsBus, subject: str, data: bytes) -> bytes:
    """Interest crosses routes asynchronously: a request right after a subscription on
    another node may find no responder yet."""
    for _ in range(100):
        try:
            return await bus.request(subject, data, 2)
        except NoResponders:
            await asyncio.sleep(0.02)
    raise AssertionError(f"nobody answered on {subject}")


@needs_server
def test_a_cluster_as_one_bus_value_survives_the_loss_of_a_node(tmp_path: Path) -> None:
    pki = issue_run_pki(tmp_path, ["n1", "n2", "n3"])
    ca = pki["n1"].ca_file

    async def scenario(cluster: NatsCluster) -> bytes:
        bus = await NatsBus.connect(cluster.bus, ca_file=ca, reconnect_wait=0.05)
        try:
            await asyncio.to_thread(cluster.servers[0].stop)
            await until(lambda: bus.reconnects == 1)
            got: list[bytes] = []

            async def keep(_s: str, data: bytes) -> None:
                got.append(data)

            await bus.subscribe("still", keep)
            await bus.publish("still", b"here")
            await until(lambda: got == [b"here"])
            return got[0]
        finally:
            await bus.close()

    with NatsCluster(3, tls=pki) as cluster:
        assert run(scenario(cluster)) == b"here"


@needs_server
def test_a_tls_nkey_client_reconnects_after_a_server_restart(tmp_path: Path) -> None:
    """The seed is read again for the new nonce; TLS is required again on the new link."""
    pki = issue_run_pki(tmp_path / "pki", ["nats"])
    keys = issue_users(tmp_path / "keys", ["a"])
    server = NatsServer(tls=pki["nats"], users=[keys["a"]])

    async def scenario() -> list[bytes]:
        ca, seed = pki["nats"].ca_file, keys["a"].seed_file
        bus = await NatsBus.connect(server.url, ca_file=ca, nkey_file=seed, reconnect_wait=0.05)
        got: list[bytes] = []

        async def keep(_s: str, data: bytes) -> None:
            got.append(data)

        try:
            await bus.subscribe("back", keep)
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
            await until(lambda: bus.reconnects == 1, timeout=10)
            await bus.publish("back", b"again")
            await until(lambda: got == [b"again"])
        finally:
            await bus.close()
        return got

    with server:
        assert run(scenario()) == [b"again"]


@needs_server
def test_credentials_without_tls_are_warned_about(tmp_path: Path, caplog) -> None:
    keys = issue_users(tmp_path, ["a"])
    with NatsServer(users=[keys["a"]]) as server, caplog.at_level("WARNING"):
        run(_round_trip(server.url, None, keys["a"].seed_file))
    assert "credentials go in clear" in caplog.text


def test_rotated_lists_spread_clients_over_nodes() -> None:
    address = BusAddress.parse("tls://u:pw@a:1,tls://u:pw@b:2,tls://u:pw@c:3")
    firsts = {address.rotated(i).split(",")[0] for i in range(6)}
    assert firsts == {"tls://a:1", "tls://b:2", "tls://c:3"}
    assert all("pw" not in address.rotated(i) for i in range(3))
