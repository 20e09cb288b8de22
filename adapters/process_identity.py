"""This process as a lease holder (a ``domain.ports.LeaseHolder``): ``host:pid:token``.

A holder on the same host whose process no longer exists is gone, so a daemon restarted after
``kill -9`` takes over the leases of its dead predecessor at once instead of waiting for them to
expire. A holder on another host (several daemons on PostGIS) is never judged here: its lease
expires unless renewed.
"""

from __future__ import annotations

import os
import secrets
import socket


class LocalProcess:
    """Names the current process; ``is_gone`` probes other local processes with signal 0."""

    def __init__(self) -> None:
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.name = f"{self.host}:{self.pid}:{secrets.token_hex(3)}"

    def is_gone(self, holder: str) -> bool:
        host, pid = _parse(holder)
        if host != self.host or pid is None or pid == self.pid:
            return False  # another machine, not ours to judge, or this very process
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, under another user
        return False


def _parse(holder: str) -> tuple[str, int | None]:
    host, pid, _token = (holder.rsplit(":", 2) + ["", ""])[:3]
    return host, int(pid) if pid.isdigit() else None
