"""Write and hash received bytes on a second thread, so receiving, writing and hashing overlap
(hashlib and file writes release the GIL). Memory stays bounded by the queue length."""

from __future__ import annotations

import queue
import threading
from typing import BinaryIO

from eoharvest.adapters.http.hashing import MultiHasher

_DONE = object()


class PipelinedSink:
    """``with PipelinedSink(file, hasher) as sink: sink.write(chunk)``.

    Leaving the block waits until every queued chunk is written and hashed, closes the file,
    and re-raises a write error (e.g. ENOSPC) from the worker, which then takes precedence
    over whatever interrupted the transfer.
    """

    def __init__(self, out: BinaryIO, hasher: MultiHasher, max_pending: int = 64) -> None:
        self._out = out
        self._hasher = hasher
        self._queue: queue.Queue[object] = queue.Queue(max_pending)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="eoharvest-sink", daemon=True)

    def __enter__(self) -> PipelinedSink:
        self._thread.start()
        return self

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is _DONE:
                return
            if self._error is not None:
                continue  # drain without writing after a failure
            try:
                self._out.write(chunk)  # type: ignore[arg-type]
                self._hasher.update(chunk)  # type: ignore[arg-type]
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self._error = exc

    def __exit__(self, *exc_info: object) -> None:
        self._queue.put(_DONE)
        self._thread.join()
        try:
            self._out.flush()
        except OSError as exc:
            self._error = self._error or exc
        finally:
            self._out.close()
        if self._error is not None:
            raise self._error
