"""Download progress for the CLI: rich bars on a terminal, nothing when not a TTY."""

from __future__ import annotations

import sys
import threading
from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class ProgressBars:
    """A ``progress(name, bytes_done, total)`` callback showing one bar per file (thread-safe)."""

    def __init__(self, *, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskID] = {}
        self._progress: Progress | None = None
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}", justify="left"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )

    def __call__(self, name: str, done: int, total: int | None) -> None:
        if self._progress is None:
            return
        with self._lock:
            task = self._tasks.get(name)
            if task is None:
                task = self._progress.add_task(name[:40], total=total)
                self._tasks[name] = task
            self._progress.update(task, completed=done, total=total)

    def __enter__(self) -> ProgressBars:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
