"""The SSRF rules: unit tests on the resolver/validator (refusal at registration: tests/integration/outbound)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from platform_jobs.platform.ssrf import DestinationRefused, refusal_reason, resolve_target

REFUSED_ADDRESSES = [
    "127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "169.254.1.1", "0.0.0.0", "100.64.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.5",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "2001:db8::1",
]
PUBLIC_ADDRESSES = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


def fake_resolver(answers: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    return resolve


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_host_resolving_to_a_non_public_address_is_refused(address: str) -> None:
    resolver = fake_resolver({"hooks.example.com": [address]})
    with pytest.raises(DestinationRefused, match="non-public"):
        resolve_target("https://hooks.example.com/x", allowlist=[], require_https=True, resolver=resolver)


def test_one_private_record_among_public_ones_refuses_the_host() -> None:
    resolver = fake_resolver({"hooks.example.com": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(DestinationRefused, match="10.0.0.7"):
        resolve_target("https://hooks.example.com/", allowlist=[], require_https=True, resolver=resolver)


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/", "https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://[::ffff:7f00:1]/",
    "https://169.254.169.254/latest/meta-data", "https://[fd00::1]/", "https://[fe80::1]/", "https://0.0.0.0/",
])
def test_ip_literals_are_checked(url: str) -> None:
    with pytest.raises(DestinationRefused):
        resolve_target(url, allowlist=[], require_https=True, resolver=fake_resolver({}))


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.0.0.1", "017700000001",
                                  "3232235777", "0xA9FEA9FE"])
def test_decimal_hex_and_octal_ipv4_spellings_are_refused(host: str) -> None:
    with pytest.raises(DestinationRefused, match="non-standard spelling"):
        resolve_target(f"https://{host}/", allowlist=[], require_https=True, resolver=fake_resolver({}))


def test_resolution_uses_the_checked_address_and_keeps_the_host_name() -> None:
    target = resolve_target("https://Hooks.Example.com:8443/in?a=1", allowlist=[], require_https=True,
                            resolver=fake_resolver({"hooks.example.com": ["93.184.216.34"]}))
    assert (target.host, target.ip, target.port, target.path) == ("hooks.example.com", "93.184.216.34", 8443,
                                                                   "/in?a=1")
    assert target.host_header == "hooks.example.com:8443"


@pytest.mark.parametrize("url, reason", [
    ("http://hooks.example.com/", "https"),
    ("ftp://hooks.example.com/", "https://"),
    ("https://user:pw@hooks.example.com/", "credentials"),
    ("https:///nohost", "no host"),
    ("https://hooks.example.com/a b", "spaces"),
])
def test_url_rules(url: str, reason: str) -> None:
    with pytest.raises(DestinationRefused, match=reason):
        resolve_target(url, allowlist=[], require_https=True,
                       resolver=fake_resolver({"hooks.example.com": ["93.184.216.34"]}))


def test_allowlist_opens_only_the_named_host() -> None:
    resolver = fake_resolver({"localhost": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    target = resolve_target("http://localhost:9/", allowlist=["localhost"], require_https=False, resolver=resolver)
    assert target.ip == "127.0.0.1"
    with pytest.raises(DestinationRefused):
        resolve_target("http://other.test:9/", allowlist=["localhost"], require_https=False, resolver=resolver)
