"""Pytest fixtures for fault servers; import the ones you need into a ``conftest.py``.

``fault_server`` is a started server on 127.0.0.1; ``second_origin`` is another server
on a different loopback address (127.0.0.2 when it can bind, else another port) that
records every credential it receives; ``origin_pair`` wires the first to redirect to the
second; ``fault_server_factory`` builds servers with custom options and stops them all.
"""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from faultserver.server import FaultServer


def second_loopback_host() -> str:
    """Return ``127.0.0.2`` if a socket can bind there, else ``127.0.0.1``."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.2", 0))
        return "127.0.0.2"
    except OSError:
        return "127.0.0.1"


@pytest.fixture
def fault_server_factory() -> Iterator[Callable[..., FaultServer]]:
    """Factory ``make(**FaultServer kwargs) -> started server``; all stop at teardown."""
    servers: list[FaultServer] = []

    def make(**kwargs: Any) -> FaultServer:
        server = FaultServer(**kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def fault_server(fault_server_factory: Callable[..., FaultServer]) -> FaultServer:
    """A started, fault-free ``FaultServer`` on 127.0.0.1 (set ``.plan`` or ``script``)."""
    return fault_server_factory(name="primary")


@pytest.fixture
def second_origin(fault_server_factory: Callable[..., FaultServer]) -> FaultServer:
    """A started server on another loopback origin, named ``foreign``.

    Check leaks with ``second_origin.canary_hits(secret)`` or
    ``second_origin.credential_requests()``.
    """
    return fault_server_factory(host=second_loopback_host(), name="foreign")


@pytest.fixture
def origin_pair(fault_server: FaultServer,
                second_origin: FaultServer) -> tuple[FaultServer, FaultServer]:
    """``(primary, foreign)`` where ``redirect`` faults on primary point at foreign."""
    fault_server.redirect_to = second_origin.origin
    return fault_server, second_origin
