"""Who the client is: X-Forwarded-For counts only behind a trusted proxy, read from the right."""

from __future__ import annotations

import pytest

from api.client_ip import client_ip, trusted_networks

PROXIES = trusted_networks(["10.0.0.0/8", "192.0.2.1", "fd00::/8"])


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_ip("198.51.100.4", "203.0.113.9", trusted_networks([])) == "198.51.100.4"


def test_a_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip("198.51.100.4", "203.0.113.9", PROXIES) == "198.51.100.4"


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client() -> None:
    assert client_ip("10.1.2.3", "203.0.113.9", PROXIES) == "203.0.113.9"


def test_addresses_the_client_wrote_left_of_the_proxys_entry_do_not_count() -> None:
    assert client_ip("10.1.2.3", "1.2.3.4, 5.6.7.8, 203.0.113.9", PROXIES) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop() -> None:
    header = "1.2.3.4, 203.0.113.9, 192.0.2.1, 10.9.9.9"
    assert client_ip("10.1.2.3", header, PROXIES) == "203.0.113.9"


def test_when_every_hop_is_a_proxy_the_left_most_proxy_is_the_client() -> None:
    assert client_ip("10.1.2.3", "10.0.0.5, 192.0.2.1", PROXIES) == "10.0.0.5"


def test_a_garbage_hop_stops_the_walk_at_the_last_address_that_made_sense() -> None:
    assert client_ip("10.1.2.3", "203.0.113.9, not-an-ip", PROXIES) == "10.1.2.3"
    assert client_ip("10.1.2.3", "not-an-ip, 10.0.0.7", PROXIES) == "10.0.0.7"


@pytest.mark.parametrize("header", [None, "", " , ,"])
def test_an_empty_header_leaves_the_peer(header: str | None) -> None:
    assert client_ip("10.1.2.3", header, PROXIES) == "10.1.2.3"


def test_ipv6_proxies_and_clients_are_understood() -> None:
    assert client_ip("fd00::1", "2001:db8::7", PROXIES) == "2001:db8::7"
    assert client_ip("2001:db8::1", "203.0.113.9", PROXIES) == "2001:db8::1"


def test_a_peer_that_is_not_an_address_is_never_trusted() -> None:
    assert client_ip("unknown", "203.0.113.9", PROXIES) == "unknown"


def test_single_addresses_are_read_as_one_address_networks() -> None:
    assert client_ip("192.0.2.1", "203.0.113.9", PROXIES) == "203.0.113.9"
    assert client_ip("192.0.2.2", "203.0.113.9", PROXIES) == "192.0.2.2"
