"""Who is calling: the socket peer, or the client a trusted proxy names (api.md)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """X-Forwarded-For counts only behind a trusted proxy, read from the right: the first hop
    that is not a trusted proxy is the client (entries further left are whatever it wrote)."""
    if not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    nearest = peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return nearest
        if not _is_trusted(hop, trusted):
            return hop
        nearest = hop
    return nearest
