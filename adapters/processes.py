"""Who this process is, for order claims and saved-search leases in the catalog, and whether a
claimant or holder still runs."""

from __future__ import annotations

import os
import secrets
import socket


def process_owner() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """False only when ``owner`` is a process of this host that no longer exists; a process of
    another host is assumed alive (its claim still runs out after its lease)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


class LocalProcess:
    """This process as a lease holder (a ``domain.ports.LeaseHolder``): ``host:pid/token``.

    The token tells apart two holders in one process. A holder whose process on this host no
    longer exists is gone, so a daemon restarted after ``kill -9`` takes over the leases of its
    dead predecessor at once instead of waiting for them to expire; a holder on another host
    (several daemons on PostGIS) is never judged here: its lease expires unless renewed.
    """

    def __init__(self) -> None:
        self.name = f"{process_owner()}/{secrets.token_hex(3)}"

    def is_gone(self, holder: str) -> bool:
        owner = holder.partition("/")[0]  # host names have no "/"
        return owner != process_owner() and not owner_alive(owner)
