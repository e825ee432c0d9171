import socket

from tests.integration.conftest import empty_tables

__all__ = ["empty_tables", "free_port"]


def free_port() -> int:
    """A port nothing listens on now, for a daemon's API under test."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
