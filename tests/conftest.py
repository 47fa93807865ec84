import ipaddress
import socket

import pytest
import torch

# The suite runs under pytest-xdist with one worker per core; intra-op threads on top of that
# oversubscribe the CPU and make the tests several times slower.
torch.set_num_threads(1)


class NetworkDisabledError(RuntimeError):
    """A test tried to reach a non-loopback address; the suite must run offline."""


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", ""}


def _is_local(address: object) -> bool:
    """Loopback IPs, 'localhost', and anything that is not an (host, port) internet address."""
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths, abstract sockets
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS and the network


def _guard(sock: socket.socket, address: object) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise NetworkDisabledError(f"network access in a test: connect to {address!r}")


@pytest.fixture(scope="session", autouse=True)
def no_network():
    """Make every socket connection to a non-loopback address raise (AF_UNIX and loopback pass,
    for Ray and MLflow's local servers); HuggingFace code must never reach the hub."""
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    create_connection = socket.create_connection

    def guarded_connect(self, address):
        _guard(self, address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        _guard(self, address)
        return connect_ex(self, address)

    def guarded_create_connection(address, *args, **kwargs):
        if not _is_local(address):
            raise NetworkDisabledError(f"network access in a test: connection to {address!r}")
        return create_connection(address, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", guarded_connect)
        mp.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        mp.setattr(socket, "create_connection", guarded_create_connection)
        yield
