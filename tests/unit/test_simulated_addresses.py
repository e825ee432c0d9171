"""The client addresses a simulation calls from: fresh for each run, never a real client's."""

from __future__ import annotations

import ipaddress

from simulation.client import ClientAddresses

DOCUMENTATION = ipaddress.IPv6Network("2001:db8::/32")


def test_each_run_draws_its_own_network_inside_the_documentation_prefix() -> None:
    runs = [ClientAddresses.fresh() for _ in range(20)]

    assert all(run.network.subnet_of(DOCUMENTATION) for run in runs)
    assert len({run.network for run in runs}) > 1


def test_people_and_the_operator_of_a_run_call_from_distinct_addresses() -> None:
    addresses = ClientAddresses.fresh()

    people = [addresses.of_person(index) for index in range(1000)]

    assert len({*people, addresses.operator}) == 1001
    assert all(ipaddress.ip_address(address) in addresses.network for address in people)
