"""Scrubbing identifiers out of free text: each kind, known names, what is left alone."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.cti.freetext import PLACEHOLDERS, host_names, names_in, scrub

BANNER = "gvm-master.corp.internal (10.99.0.5) alice@corp.example /opt/gvm/secret-token=abc123"


def test_the_issue_banner_keeps_nothing_identifying() -> None:
    assert scrub(BANNER) == "[host] ([ip]) [email] [path][secret]"


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("mirror https://svc:Pa55@repo.corp.internal/x ok", "mirror [url] ok"),
        ("mail dave@branch7.example now", "mail [email] now"),
        ("login password=hunter2 ok", "login password=[secret] ok"),
        ("api_key: AbCd0123", "api_key: [secret]"),
        ("read C:\\Users\\bob\\key.pem and ~/.ssh/id_rsa", "read [path] and [path]"),
        ("from 2001:db8::5/64 and fe80::1 and 10.0.0.0/24.", "from [ip] and [ip] and [ip]."),
        ("digest deadbeefdeadbeef0011 seen", "digest [secret] seen"),
        ("bearer dGhpcyBpcyBhIHNlY3JldDEyMw== sent", "bearer [secret] sent"),
        ("db-07.branch7.example is down", "[host] is down"),
    ],
)
def test_each_kind_of_identifier_is_replaced(text: str, clean: str) -> None:
    assert scrub(text) == clean


@pytest.mark.parametrize(
    "text",
    [
        "HTTP/2 Rapid Reset denial of service",
        "OpenSSL X.400 address type confusion",
        "nginx mp4 module memory corruption",
        "Ubuntu 22.04.4 LTS",
        "OpenVAS 22.4 (GVM)",
        "ngx_http_mp4_module over-read at 04:10:12",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    ],
)
def test_ordinary_scanner_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_known_names_and_addresses_go_even_without_a_pattern() -> None:
    text = "gvm-master saw CDN-01 and 10.20.1.17 but not cdn-011"
    clean = scrub(text, hosts=("gvm-master", "cdn-01"), addresses=("10.20.1.17",))
    assert clean == "[host] saw [host] and [ip] but not cdn-011"


def test_full_names_give_their_short_forms() -> None:
    assert host_names("gvm-master.corp.internal") == ("gvm-master.corp.internal", "gvm-master")
    assert host_names("db.corp.internal") == ("db.corp.internal",)  # too short to match safely
    assert names_in(BANNER + " https://u:p@repo.corp.internal/x") == [
        "gvm-master.corp.internal",
        "corp.example",
        "repo.corp.internal",
    ]


LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=2, max_size=10).map(
    lambda t: f"x{t}"
)


@given(
    st.lists(LABEL, min_size=2, max_size=4).map(".".join).map(lambda n: f"{n}.corp"),
    st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
    st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n))),
    st.sampled_from(["", "see ", "("]),
)
def test_generated_names_and_addresses_are_always_scrubbed(host, ipv4, ipv6, before) -> None:
    clean = scrub(f"{before}{host}, {ipv4} / {ipv6})")
    for secret in (host, ipv4, ipv6):
        assert secret not in clean
    assert {"[host]", "[ip]"} <= {p for p in PLACEHOLDERS if p in clean}
