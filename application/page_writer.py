"""Commits search pages to the catalog in a background thread while the next page is fetched.

Fetching, decoding and mapping a page is Python work; writing it to SQLite is mostly work in
the database library, which runs without the GIL. Overlapping the two made a catalog-only
harvest about a quarter faster (bench/harvest.py). The overlap is one page deep: ``put(page)``
first waits until the previous page is committed, so at most one received page is ever
uncommitted (page k is in the catalog before page k + 2 is requested) and memory stays bounded.
"""

from __future__ import annotations

import logging
import queue
import threading
from types import TracebackType
from typing import Sequence

from eoharvest.domain.models import Scene
from eoharvest.domain.ports import CatalogRepository

log = logging.getLogger("eoharvest.harvest")


class PageWriter:
    """``with PageWriter(catalog) as writer: writer.put(page)``; leaving the block waits for the
    last page's commit and raises the first catalog error, if any. ``new`` counts new scenes."""

    def __init__(self, catalog: CatalogRepository) -> None:
        self._catalog = catalog
        self._pages: queue.Queue[Sequence[Scene] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self.new = 0
        self._thread = threading.Thread(target=self._run, name="eoharvest-catalog-writer", daemon=True)
        self._thread.start()

    def put(self, page: Sequence[Scene]) -> None:
        """Hand ``page`` to the writer once the previous page is committed; raises the writer's
        error instead if a commit failed."""
        self._pages.join()
        self._raise_error()
        self._pages.put(page)

    def close(self) -> None:
        """Wait for every handed-over page to be committed; raise the first catalog error."""
        if self._thread.is_alive():
            self._pages.put(None)
            self._thread.join()
        self._raise_error()

    def __enter__(self) -> PageWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
            return
        try:  # something else failed: still commit what was received, then let that error through
            self.close()
        except Exception as exc:  # noqa: BLE001 - the error already propagating matters more
            log.error("the catalog could not record the last page: %s", exc)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            page = self._pages.get()
            try:
                if page is None:
                    return
                if self._error is None:
                    self.new += self._catalog.upsert_scenes(page)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by put/close
                self._error = exc
            finally:
                page = None  # a committed page must not outlive its commit while we wait
                self._pages.task_done()
