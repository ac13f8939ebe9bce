"""Anonymisation: keyed pseudonyms, IP prefix truncation, generalisation."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from secmas.cti.anonymise import (
    METHODS,
    anonymise,
    generalise_cpe,
    generalise_cvss,
    generalise_date,
    generalise_os,
    generalise_port,
    pseudonym,
    truncate_ip,
)
from secmas.cti.reports import MAP_FIELDS

keys = st.binary(min_size=1, max_size=64)
values = st.text(max_size=80)
fields = st.sampled_from(["hostname", "cve", "host"])


@given(keys, fields, values)
def test_pseudonym_is_deterministic_per_key(key: bytes, field: str, value: str) -> None:
    assert pseudonym(key, field, value) == pseudonym(bytes(key), field, value)


@given(keys, keys, fields, values)
def test_different_keys_give_different_pseudonyms(
    key1: bytes, key2: bytes, field: str, value: str
) -> None:
    assume(key1 != key2)
    assert pseudonym(key1, field, value) != pseudonym(key2, field, value)


@given(keys, fields, values, values)
def test_different_values_give_different_pseudonyms(
    key: bytes, field: str, value1: str, value2: str
) -> None:
    assume(value1 != value2)
    assert pseudonym(key, field, value1) != pseudonym(key, field, value2)


@given(keys, values)
def test_pseudonym_does_not_contain_the_value_and_depends_on_the_field(
    key: bytes, value: str
) -> None:
    assume(len(value) >= 3)
    hostname = pseudonym(key, "hostname", value)
    assert value not in hostname.removeprefix("hostname-")
    assert hostname.startswith("hostname-") and len(hostname) == len("hostname-") + 16
    assert hostname[-16:] != pseudonym(key, "cve", value)[-16:]


def test_pseudonym_needs_a_key() -> None:
    with pytest.raises(ValueError, match="key"):
        pseudonym(b"", "hostname", "x")


@given(st.ip_addresses(v=4), st.integers(0, 32))
def test_ipv4_truncation_keeps_the_prefix(address: ipaddress.IPv4Address, bits: int) -> None:
    network = ipaddress.ip_network(truncate_ip(str(address), v4_prefix=bits))
    assert network.prefixlen == bits
    assert address in network
    mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
    assert int(network.network_address) == int(address) & mask


@given(st.ip_addresses(v=6), st.integers(0, 128))
def test_ipv6_truncation_keeps_the_prefix(address: ipaddress.IPv6Address, bits: int) -> None:
    network = ipaddress.ip_network(truncate_ip(str(address), v6_prefix=bits))
    assert network.prefixlen == bits
    assert address in network


def test_ip_truncation_defaults() -> None:
    assert truncate_ip("10.20.1.17") == "10.20.1.0/24"
    assert truncate_ip("2001:db8:abcd:12::7") == "2001:db8:abcd::/48"


def test_cpe_generalisation_drops_the_version_and_later_parts() -> None:
    cpe = "cpe:2.3:a:openbsd:openssh:8.9:p1:*:*:*:*:*:*"
    assert generalise_cpe(cpe) == "cpe:2.3:a:openbsd:openssh:*:*:*:*:*:*:*:*"
    assert generalise_cpe("cpe:/a:nginx:nginx:1.16.1") == "cpe:/a:nginx:nginx"
    escaped = r"cpe:2.3:a:acme:web\:server:2.0:*:*:*:*:*:*:*"
    assert generalise_cpe(escaped) == r"cpe:2.3:a:acme:web\:server:*:*:*:*:*:*:*:*"


@given(
    st.sampled_from("aoh"),
    st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True),
    st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True),
    st.lists(st.from_regex(r"[a-z0-9.*-]{1,8}", fullmatch=True), min_size=8, max_size=8),
)
def test_cpe_generalisation_keeps_part_vendor_product(
    part: str, vendor: str, product: str, rest: list[str]
) -> None:
    cpe = ":".join(["cpe", "2.3", part, vendor, product, *rest])
    general = generalise_cpe(cpe)
    assert general == f"cpe:2.3:{part}:{vendor}:{product}" + ":*" * 8
    assert generalise_cpe(general) == general


@pytest.mark.parametrize(
    ("os", "family"),
    [
        ("Ubuntu 22.04.4 LTS", "Ubuntu"),
        ("Debian GNU/Linux 12 (bookworm)", "Debian GNU/Linux"),
        ("Alpine Linux v3.18", "Alpine Linux"),
        ("CentOS Linux 7.9.2009", "CentOS Linux"),
        ("10.0.19045", "unknown"),
        ("FreeBSD", "FreeBSD"),
    ],
)
def test_os_generalisation_keeps_the_family(os: str, family: str) -> None:
    assert generalise_os(os) == family


def test_other_generalisations() -> None:
    assert generalise_port("443/tcp") == "tcp"
    assert generalise_port("general/udp") == "udp"
    assert generalise_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == "CVSS:3.1"
    assert generalise_date("2021-06-01") == "2021"


def test_every_shareable_field_has_a_method() -> None:
    assert set(METHODS) == set(MAP_FIELDS)
    key = b"k"
    sample = {
        "host_ip": "10.0.0.1",
        "hostname": "a",
        "os": "Ubuntu 1",
        "port": "1/tcp",
        "cpe": "cpe:/a:b:c:1",
        "cve": "CVE-2020-1234",
        "cvss_vector": "CVSS:3.1/AV:N",
        "published": "2020-01-01",
    }
    for field, value in sample.items():
        assert anonymise(field, value, key) != value
    for free_text in ("title", "scanner", "task"):  # redacted: left out altogether
        assert anonymise(free_text, "OpenVAS on gvm-01.corp.internal", key) == ""
        assert METHODS[free_text] == "redaction"
    with pytest.raises(ValueError, match="unknown field"):
        anonymise("colour", "blue", key)
