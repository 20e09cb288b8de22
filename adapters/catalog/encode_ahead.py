"""Encode the next batch of scenes while the current one is written.

Turning Scenes into rows (``rows.encode_scenes``) is Python work that holds the GIL; writing
them is mostly SQLite work that releases it (each row's insert and index updates, the R*Tree
fill, the commit). With one batch encoded ahead in a worker thread the two overlap: a bulk
ingest then costs little more than its SQLite work (bench/catalog.py). Memory stays bounded by
two encoded batches.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Iterator, Sequence

from eoharvest.adapters.catalog.rows import EncodedScenes, encode_scenes
from eoharvest.domain.models import Scene


def encoded_batches(scenes: Sequence[Scene], bounds: Sequence[tuple[int, int]], now: datetime) -> Iterator[EncodedScenes]:
    """``encode_scenes(scenes[start:end], now)`` for each ``(start, end)`` of ``bounds``, in
    order, the next one encoded in a worker thread while the caller uses the current one."""
    if len(bounds) <= 1:
        for start, end in bounds:
            yield encode_scenes(scenes[start:end], now)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eoharvest-encode") as worker:
        pending = worker.submit(encode_scenes, scenes[bounds[0][0] : bounds[0][1]], now)
        for start, end in bounds[1:]:
            current = pending.result()
            pending = worker.submit(encode_scenes, scenes[start:end], now)
            yield current
        yield pending.result()
