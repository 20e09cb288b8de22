"""A deliberately naive resuming downloader: the mutant for the T-03 range-torture check.

It always asks for ``Range: bytes=<have>-`` (``bytes=0-`` on a fresh file) but never sends
``If-Range``, appends whatever body arrives (even a 200 full body or a 206 starting
elsewhere), ignores the ``Content-Range`` start, and never checks a hash.
If a fault mix cannot make *this* client produce a corrupt file, the mix is too weak.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import httpx


def _total_length(response: httpx.Response) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) if response.status_code == 200 and length else None


def naive_download(client: httpx.Client, url: str, dest: Path, max_attempts: int = 10) -> bool:
    """Download ``url`` to ``dest``; return True when it *believes* it has the whole file."""
    total: int | None = None
    for _ in range(max_attempts):
        have = dest.stat().st_size if dest.exists() else 0
        if total is not None and have >= total:
            return True
        headers = {"Range": f"bytes={have}-"}
        try:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 416:
                    return True
                if response.status_code >= 400:
                    continue
                total = total or _total_length(response)
                with dest.open("ab") as out:
                    for chunk in response.iter_raw():
                        out.write(chunk)
        except httpx.TransportError:
            continue
    have = dest.stat().st_size if dest.exists() else 0
    return total is not None and have >= total


def naive_download_all(base_url: str, names: Iterable[str], dest_dir: Path,
                       timeout: float = 5.0) -> dict[str, bool]:
    """Fetch ``/files/<name>`` for each name sequentially; map name -> reported success."""
    results: dict[str, bool] = {}
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        for name in names:
            results[name] = naive_download(client, f"/files/{name}", dest_dir / name)
    return results
