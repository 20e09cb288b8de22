"""Verified, resumable HTTP transfers.

One call to :meth:`TransferEngine.fetch` either leaves a complete, size- and hash-checked file
at its final path, or raises and leaves at most a resumable ``.part`` (+ sidecar) beside it.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, NoReturn
from urllib.parse import urlsplit, urlunsplit

import httpx

from eoharvest.adapters.http.auth import NoAuth
from eoharvest.adapters.http.blocks import BLOCK_SIZE, MAX_HOLD_SECONDS, BlockWriter, WriterPool
from eoharvest.adapters.http.dirsync import DirectorySync
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.hashing import MultiHasher, file_digest, supported_algorithms
from eoharvest.adapters.http.hosts import HostHealth
from eoharvest.adapters.http.monitor import TransferMonitor, Watch
from eoharvest.adapters.http.partfile import LOCK_WAIT, PartFile, Sidecar, check_free_space, is_disk_full
from eoharvest.adapters.http.rawbody import body_blocks, raw_socket
from eoharvest.adapters.http.sending import send_guarded
from eoharvest.adapters.clock import SystemClock
from eoharvest.domain.content import wrong_content_reason
from eoharvest.domain.errors import (
    AuthError,
    DownloadCancelled,
    EoharvestError,
    HostPaused,
    InsufficientSpace,
    IntegrityError,
    ProviderResponseError,
    RetryExhausted,
    TooSlow,
)
from eoharvest.domain.models import Checksum
from eoharvest.domain.ports import Clock
from eoharvest.domain.redaction import redact
from eoharvest.domain.retry import RetryPolicy, is_retryable_status, parse_retry_after

log = logging.getLogger("eoharvest.transfer")

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")

Progress = Callable[[str, int, "int | None"], None]
Validator = Callable[[Path], None]


@dataclass(frozen=True)
class FetchSpec:
    """One file to fetch: from where, to which final path, and what it must be."""

    url: str
    dest: Path
    size: int | None = None
    checksums: tuple[Checksum, ...] = ()
    media_type: str | None = None
    provider: str = ""
    #: gives a freshly signed URL (Planetary Computer SAS) when the signed one was refused
    refresh_url: Callable[[], str] | None = field(default=None, compare=False, repr=False)

    @property
    def verifiable(self) -> tuple[Checksum, ...]:
        """The checksums this engine can compute (others are only informative)."""
        return tuple(c for c in self.checksums if c.algorithm in supported_algorithms())


def url_identity(url: str) -> str:
    """The URL without query or fragment: what a partial download is a prefix of. Signed links
    differ only in their query (tokens, expiry), and tokens must never be written to disk."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass(frozen=True)
class FetchOutcome:
    path: Path
    size: int
    sha256: str | None
    verified_with: str | None
    skipped: bool = False
    attempts: int = 0
    resumes: int = 0
    restarts: int = 0
    #: bytes received over the network by this fetch (a resumed file: only the rest)
    received: int = 0


def _peek(response: httpx.Response) -> bytes:
    """The first bytes of a small body (to name what an unexpected answer is), else nothing."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= 64 * 1024:
        try:
            return response.read()[:512]
        except httpx.HTTPError:
            return b""
    return b""


class _Transient(Exception):
    """An attempt failed in a way another attempt may fix."""

    def __init__(
        self,
        reason: str,
        *,
        immediate: bool = False,
        retry_after: float | None = None,
        cause: BaseException | None = None,
        signature: tuple[object, ...] | None = None,
        host: bool = False,
        slow: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.immediate = immediate  # a protocol hiccup (bad range): retry at once, no backoff
        self.retry_after = retry_after
        self.cause = cause
        #: what exactly was wrong with the bytes (wrong size N, checksum X): the same twice is
        #: the file itself, not the transfer, and another attempt would only repeat it
        self.signature = signature
        #: the host failed (no answer, stall, 5xx, 429), not this file's bytes
        self.host = host
        #: cut off below the throughput floor: the whole attempt was lost time
        self.slow = slow


class _Bound(Exception):
    """A body without a declared length grew past ``TransferLimits.max_unknown_size``."""


class _NoSpace(Exception):
    """Free space on the download's filesystem dropped below the margin while writing."""

    def __init__(self, free: int) -> None:
        super().__init__(free)
        self.free = free


class _Resign(Exception):
    """A signed link was refused (expired token): sign it again with ``refresh``, once per fetch."""

    def __init__(self, refresh: Callable[[], str]) -> None:
        super().__init__("the signed link was refused")
        self.refresh = refresh


@dataclass(frozen=True)
class TransferLimits:
    min_throughput: int = 1024  # bytes/s averaged over throughput_window
    throughput_window: float = 20.0
    #: the time one file may lose to failed attempts and the waits between them (stalls,
    #: trickles, refused connections); a Retry-After the server asks for is not counted
    failure_budget: float = 60.0
    max_redirects: int = 10
    chunk_size: int = 1 << 20
    #: free bytes that must stay free on the download's filesystem, checked before and while writing
    free_space_margin: int = 0
    #: a file whose size the provider's metadata does not give may not exceed this (the server's
    #: Content-Length, when it sends one, is checked against it before the body is read)
    max_unknown_size: int = 50 << 30
    #: free space is checked again after every this many bytes written
    space_check_interval: int = 16 << 20
    #: how long to wait for another process downloading the same file before giving up
    lock_wait: float = LOCK_WAIT


class TransferEngine:
    """Streams to a part file, resumes with Range + If-Range, verifies, then renames.

    The engine holds what every fetch shares (client, URL guard, auth, retry policy, limits,
    clock); each call to :meth:`fetch` runs a :class:`_Fetch` for the one file it moves.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        guard: UrlGuard,
        auth: httpx.Auth | None = None,
        policy: RetryPolicy | None = None,
        limits: TransferLimits | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        hosts: HostHealth | None = None,
        monitor: TransferMonitor | None = None,
        writers: WriterPool | None = None,
        directories: DirectorySync | None = None,
    ) -> None:
        self.client = client
        self.guard = guard
        self.auth = auth or NoAuth()
        self.policy = policy or RetryPolicy()
        self.limits = limits or TransferLimits()
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.hosts = hosts or HostHealth(monotonic=self.clock.monotonic)
        self.monitor = monitor or TransferMonitor(self.clock.monotonic)
        self.writers = writers or WriterPool()
        self.directories = directories or DirectorySync()

    def fetch(
        self,
        spec: FetchSpec,
        *,
        overwrite: bool = False,
        stopped: Callable[[], bool] | None = None,
        progress: Progress | None = None,
        validate: Validator | None = None,
    ) -> FetchOutcome:
        """Download ``spec`` to ``spec.dest``.

        ``validate(part_path)`` runs after size and hash checks and before the rename (archive
        structure checks go there). Raises RetryExhausted, AuthError, IntegrityError (also
        at once when the same wrong size or checksum arrives twice), ProviderResponseError
        (at once for 404/410), UnsafeURL, InsufficientSpace, HostPaused or DownloadCancelled.
        """
        stopped = stopped or _never
        if spec.dest.exists() and not overwrite:
            existing = self._check_existing(spec, validate, remove_if_bad=False)
            if existing is not None:
                return existing
        before = _identity(spec.dest)
        part = PartFile(spec.dest)
        part.lock(stopped=stopped, timeout=self.limits.lock_wait)
        try:
            # Checked again under the lock: another process may have published the file while
            # we waited for it (with ``overwrite``, only a file published meanwhile counts).
            if spec.dest.exists() and (not overwrite or _identity(spec.dest) != before):
                existing = self._check_existing(spec, validate, remove_if_bad=True)
                if existing is not None:
                    part.discard()  # what we created to lock; the file is complete and verified
                    return existing
            return _Fetch(self, spec, part, stopped, progress, validate).run()
        finally:
            part.unlock()

    def _check_existing(
        self, spec: FetchSpec, validate: Validator | None, *, remove_if_bad: bool
    ) -> FetchOutcome | None:
        """An existing final file counts only if it passes the same checks as a new download;
        one that does not (truncated, changed, corrupt) is removed (only ``remove_if_bad``, i.e.
        under the part lock) and fetched again."""
        try:
            size = spec.dest.stat().st_size
        except FileNotFoundError:
            return None
        problem = None
        if spec.size is not None and size != spec.size:
            problem = f"{size} bytes instead of {spec.size}"
        digests: dict[str, str] = {}
        if problem is None:
            hasher = MultiHasher(c.algorithm for c in spec.verifiable)
            hasher.update_from_file(spec.dest, size)
            digests = hasher.hexdigests()
            bad = [c.algorithm for c in spec.verifiable if digests.get(c.algorithm) != c.value]
            problem = f"{bad[0]} does not match" if bad else None
        if problem is None and validate is not None:
            try:
                validate(spec.dest)
            except EoharvestError as exc:
                problem = str(exc)
        if problem is not None:
            if remove_if_bad:
                log.warning("%s exists but fails verification (%s); fetching it again", spec.dest, problem)
                spec.dest.unlink(missing_ok=True)
            return None
        verified = next((f"{c.algorithm}:{c.source}" for c in spec.verifiable), None)
        return FetchOutcome(spec.dest, size, digests.get("sha256") or file_digest(spec.dest), verified, skipped=True)


def _never() -> bool:
    return False


def _host_of(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2]


def _identity(path: Path) -> tuple[int, int, int] | None:
    """Which file is at ``path`` now (device, inode, mtime), or None."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


class _Fetch:
    """One file being fetched into its locked part file: the retry loop and each attempt.

    Holds what belongs to this file (spec, part file, sidecar, the caller's hooks, counters);
    the engine's shared parts are read through ``self.engine``.
    """

    def __init__(
        self,
        engine: TransferEngine,
        spec: FetchSpec,
        part: PartFile,
        stopped: Callable[[], bool],
        progress: Progress | None,
        validate: Validator | None,
    ) -> None:
        self.engine = engine
        self.spec = spec  # replaced by a freshly signed one after a refused signed link
        self.part = part
        self.stopped = stopped
        self.progress = progress
        self.validate = validate
        self.attempts = 0
        self.resumes = 0
        self.restarts = 0
        self.resigned = False
        self.received = 0  # bytes received over all attempts
        self.lost = 0.0  # seconds lost to failed attempts and backoff (TransferLimits.failure_budget)
        self.seen_wrong: set[tuple[object, ...]] = set()
        self._attempt_received = 0
        self._last_byte_at = 0.0
        self.sidecar = self._adopt_or_reset()

    # -- the retry loop ------------------------------------------------------------------
    def run(self) -> FetchOutcome:
        engine, part = self.engine, self.part
        clock = engine.clock
        started = clock.monotonic()
        published = False
        try:
            while True:
                self._check_stopped()
                self._check_host()
                self.attempts += 1
                attempt_started = self._last_byte_at = clock.monotonic()
                self._attempt_received = 0
                try:
                    sha256, verified = self._attempt()
                    engine.hosts.succeeded(self.spec.url)
                    if self.validate is not None:
                        try:
                            self.validate(part.part)
                        except EoharvestError:
                            part.discard()  # bytes matched but the content is unusable: never resume it
                            raise
                    size = part.size()
                    # Nobody reads an unvalidated file back right away: its pages can go.
                    path = part.publish(engine.directories, drop_cache=self.validate is None)
                    published = True
                    log.info("downloaded %s (%d bytes, %s)", path.name, size, verified or "size only")
                    return FetchOutcome(
                        path, size, sha256, verified, False, self.attempts, self.resumes, self.restarts,
                        self.received,
                    )
                except _Resign as resign:
                    self.resigned = True
                    self.spec = replace(self.spec, url=resign.refresh())
                    log.info("%s: the signed link was refused; signed it again", self.spec.dest.name)
                    continue
                except OSError as exc:
                    if is_disk_full(exc):  # e.g. the sidecar could not be written
                        raise self._disk_full() from None
                    raise
                except _Transient as failure:
                    self._settle(failure, attempt_started)
                    delay = 0.0 if failure.immediate else engine.policy.delay(
                        self.attempts, failure.retry_after, engine.rng
                    )
                    # The server's own Retry-After is obeyed, not counted as lost; our backoff is.
                    lost_wait = 0.0 if failure.retry_after is not None else delay
                    elapsed = clock.monotonic() - started
                    if not engine.policy.allows(self.attempts, elapsed, delay) or (
                        self.lost + lost_wait >= engine.limits.failure_budget
                    ):
                        raise self._give_up(failure, elapsed)
                    log.warning("%s: %s; retrying in %.1f s", self.spec.dest.name, failure.reason, delay)
                    self.lost += lost_wait
                    self._sleep(delay)
        finally:
            # Keep a non-empty partial for resuming; never leave empty, orphaned or unresumable
            # leftovers (a partial nothing can validate is truncated by the next attempt anyway).
            # Once published, nothing of ours is left to clean (the rename took the partial and
            # publish removed the sidecar; a new .part would be another process's, on its own
            # inode): no stat, no unlinks.
            if not published and (not part.part.exists() or part.size() == 0 or not self._resumable()):
                part.discard()

    def _settle(self, failure: _Transient, attempt_started: float) -> None:
        """Count what a failed attempt cost, and stop at once when retrying cannot help."""
        now = self.engine.clock.monotonic()
        gained = self._attempt_received > 0
        # Time spent receiving bytes was not lost; the silence after the last one was.
        self.lost += now - (attempt_started if failure.slow or not gained else self._last_byte_at)
        if failure.host and not gained:
            pause = self.engine.hosts.failed(self.spec.url)
            if pause:
                log.warning("%s failed %d times in a row; no requests to it for %.0f s",
                            _host_of(self.spec.url), self.engine.hosts.policy.failures, pause)
        if failure.signature is not None:
            if failure.signature in self.seen_wrong:
                raise IntegrityError(
                    f"{failure.cause or failure.reason} (the same in {self.attempts} attempts; not retried)",
                    hint="the provider's metadata and the file it serves disagree; "
                    "try again later or report it to the provider",
                ) from failure.cause
            self.seen_wrong.add(failure.signature)

    def _give_up(self, failure: _Transient, elapsed: float) -> EoharvestError:
        name, budget = self.spec.dest.name, self.engine.limits.failure_budget
        attempts = f"{self.attempts} attempt" + ("s" if self.attempts != 1 else "")
        why = f"gave up after {attempts} in {elapsed:.0f} s ({self.lost:.0f} s lost to failures; at most {budget:g} s per file)"
        if isinstance(failure.cause, IntegrityError):
            # Bytes that never matched are an integrity failure, however often they were fetched.
            error: EoharvestError = IntegrityError(
                f"{failure.cause} ({why})", hint="try again later or report it to the provider"
            )
        else:
            error = RetryExhausted(
                f"{name}: {why}; last error: {failure.reason}",
                hint="the partial download is kept; run the same command again to resume"
                if self._resumable() and self.part.size() else "run the same command again",
            )
        error.__cause__ = failure.cause
        return error

    def _check_host(self) -> None:
        """Ask nothing of a paused host: the file fails at once (its worker is free for other
        hosts) and says when to try again."""
        left = self.engine.hosts.paused_for(self.spec.url)
        if left > 0:
            host = _host_of(self.spec.url)
            raise HostPaused(
                f"{self.spec.dest.name}: not attempted: {host} failed {self.engine.hosts.policy.failures} "
                f"times in a row and is paused for another {left:.0f} s",
                retry_in=left,
                hint="the partial download (if any) is kept; run the same command again later",
            )

    def _resumable(self) -> bool:
        """Whether a later request may continue the partial: the same test :meth:`_attempt` makes."""
        sidecar = self.sidecar
        validator = sidecar.strong_etag or (sidecar.last_modified if not sidecar.etag else None)
        return bool(validator or self.spec.verifiable)

    def _disk_full(self) -> InsufficientSpace:
        kept = "kept and will resume" if self._resumable() else "removed, as nothing could resume it"
        return InsufficientSpace(
            f"disk full while writing {self.part.part} ({self.part.size():,} bytes written)",
            hint=f"free some space; the partial download is {kept}",
        )

    def _adopt_or_reset(self) -> Sidecar:
        """Keep a partial only if its sidecar says it is a prefix of this very file."""
        spec, part = self.spec, self.part
        expected = {c.algorithm: c.value for c in spec.checksums}
        existing = part.load_sidecar()
        if (
            existing is not None
            and part.size() > 0
            and existing.url == url_identity(spec.url)
            and existing.expected_size == spec.size
            and existing.checksums == expected
        ):
            return existing
        if part.size() > 0:
            log.info("%s: discarding a partial that belongs to another request", spec.dest.name)
            part.truncate()
        # Saved once the response's validators are known, before its first byte is written.
        return Sidecar(url=url_identity(spec.url), expected_size=spec.size, checksums=expected, provider=spec.provider)

    # -- one attempt -----------------------------------------------------------------------
    def _attempt(self) -> tuple[str, str | None]:
        """One request: resume or start, stream the body, verify. Returns (sha256, verified with)."""
        spec, part, sidecar = self.spec, self.part, self.sidecar
        offset = part.size()
        headers = {"Accept-Encoding": "identity"}
        if offset > 0:
            validator = sidecar.strong_etag or (sidecar.last_modified if not sidecar.etag else None)
            if validator is None and not spec.verifiable:
                # Without a validator or a checksum nothing could tell a stale prefix apart.
                part.truncate()
                offset = 0
            else:
                headers["Range"] = f"bytes={offset}-"
                self.resumes += 1
                if validator:
                    headers["If-Range"] = validator
        if spec.size is not None:
            check_free_space(spec.dest.parent, spec.size - offset, self.engine.limits.free_space_margin)
        try:
            response = self._send(headers)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Transient(f"connection failed: {type(exc).__name__}", cause=exc, host=True) from None
        try:
            # 410: an expired signed link (Planet); signing it again is the fix, as for 401/403
            if response.status_code in (401, 403, 410) and spec.refresh_url is not None and not self.resigned:
                raise _Resign(spec.refresh_url)
            offset, total = self._interpret_status(response, offset)
            if spec.size is None and total is not None:
                self._check_declared(total, offset)
            # Hash in-stream; only a resumed prefix is read back from disk.
            hasher = MultiHasher(c.algorithm for c in spec.checksums)
            if offset:
                hasher.update_from_file(part.part, offset)
            if total is None or offset < total:
                self._stream_body(response, offset, total, hasher)
        finally:
            response.close()
        return self._verify(total, hasher)

    def _check_declared(self, total: int, offset: int) -> None:
        """A size only the server declares: within the unknown-size bound, and it must fit."""
        bound = self.engine.limits.max_unknown_size
        if total > bound:
            raise self._too_large(f"the server announces {total:,} bytes, more than")
        check_free_space(self.spec.dest.parent, total - offset, self.engine.limits.free_space_margin)

    def _too_large(self, what: str) -> ProviderResponseError:
        """The bound of a transfer without a known size was broken: its partial is junk.
        ``what`` ends in "more than" ("the server sent more than")."""
        self.part.discard()
        return ProviderResponseError(
            f"{self.spec.dest.name}: {what} the {self.engine.limits.max_unknown_size:,} bytes allowed "
            "for a file whose size the provider does not give; the partial download was removed",
            hint="if the file really is that large, raise [download] max_unknown_size_bytes "
            "(EOHARVEST_MAX_UNKNOWN_SIZE_BYTES)",
        )

    def _check_space(self, pending: int) -> None:
        """Raise _NoSpace when writing ``pending`` more bytes would eat into the margin."""
        free = shutil.disk_usage(self.part.part.parent).free
        if free - pending < self.engine.limits.free_space_margin:
            raise _NoSpace(free)

    def _no_space(self, free: int) -> InsufficientSpace:
        # Built once the writer has written what it held, so the count is what the partial has.
        kept = "is kept and will resume" if self._resumable() else "was removed, as nothing could resume it"
        return InsufficientSpace(
            f"only {free:,} bytes are free in {self.part.part.parent} while writing {self.part.part.name} "
            f"({self.part.size():,} bytes written); {self.engine.limits.free_space_margin:,} must stay free",
            hint=f"free some space or choose another download directory; the partial download {kept}",
        )

    def _send(self, headers: dict[str, str]) -> httpx.Response:
        engine = self.engine
        return send_guarded(
            engine.client,
            "GET",
            self.spec.url,
            guard=engine.guard,
            auth=engine.auth,
            max_redirects=engine.limits.max_redirects,
            stream=True,
            headers=headers,
            timeout=self._timeout(),
        )

    def _remaining_budget(self) -> float:
        return max(self.engine.limits.failure_budget - self.lost, 0.1)

    def _timeout(self) -> httpx.Timeout:
        """The client's timeouts, shortened to what is left of the file's failure budget (a
        server that never answers must not outlast it)."""
        base, left = self.engine.client.timeout, self._remaining_budget()

        def cap(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(connect=cap(base.connect), read=cap(base.read), write=base.write, pool=base.pool)

    def _interpret_status(self, response: httpx.Response, offset: int) -> tuple[int, int | None]:
        """Returns (offset to write from, total size or None) or raises."""
        spec, sidecar = self.spec, self.sidecar
        status = response.status_code
        if status == 200:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else spec.size
            if spec.size is not None and total is not None and total != spec.size:
                # Often an error page served with 200: retried like one, and the partial we
                # already have is kept for the next ranged request.
                page = wrong_content_reason(_peek(response), response.headers.get("Content-Type"), spec.media_type)
                reason = page or f"server announces {total} bytes, the provider's metadata says {spec.size}"
                if page:  # an error page is the server's state, not the file's bytes
                    raise _Transient(reason, cause=ProviderResponseError(f"{spec.dest.name}: {reason}"))
                raise _Transient(reason, cause=IntegrityError(f"{spec.dest.name}: {reason}"), signature=("size", total))
            if offset:
                log.info("%s: server sent the whole file instead of a range; restarting", spec.dest.name)
                self.restarts += 1
                self.part.truncate()
            self._remember_validators(response)
            return 0, total
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            expected_total = spec.size or sidecar.expected_size
            if (
                not offset
                or match is None
                or int(match.group(1)) != offset
                or (match.group(3) != "*" and expected_total is not None and int(match.group(3)) != expected_total)
            ):
                self.restarts += 1
                self._reset()
                raise _Transient(
                    f"unusable Content-Range {response.headers.get('Content-Range')!r} for offset {offset}",
                    immediate=True,
                )
            total = int(match.group(3)) if match.group(3) != "*" else expected_total
            return offset, total
        if status == 416:
            unsatisfied = _UNSATISFIED_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if offset and unsatisfied and int(unsatisfied.group(1)) == offset:
                return offset, offset  # already complete; verification decides
            self.restarts += 1
            self._reset()
            raise _Transient("range not satisfiable", immediate=True)
        self._raise_for_status(response)

    def _raise_for_status(self, response: httpx.Response) -> NoReturn:
        engine = self.engine
        status = response.status_code
        where = f"{self.spec.dest.name}: HTTP {status} from {response.url.host}"
        if is_retryable_status(status):
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=engine.clock.now(), cap=engine.policy.retry_after_cap
            )
            raise _Transient(f"HTTP {status}", retry_after=retry_after, host=True)
        if status == 401:
            raise self._rejected(response, where)
        if status == 403:
            raise AuthError(f"{where}: access denied", hint="the account may lack the licence/EULA or permission for this product")
        if status in (404, 410):
            raise ProviderResponseError(
                f"{where} ({'not found' if status == 404 else 'gone'}) for {redact(str(response.url))[:200]}; "
                "not retried",
                hint="the provider no longer serves this file; search again for a current link",
            )
        raise ProviderResponseError(f"{where} for {redact(str(response.url))[:200]}")

    def _rejected(self, response: httpx.Response, where: str) -> AuthError:
        """A 401 says what actually happened: whether credentials were sent to that host at
        all, and whether they were renewed and sent again (the auth flow's retry shows as a 401
        in the response's history)."""
        renewed = any(earlier.status_code == 401 for earlier in response.history)
        allows = getattr(self.engine.auth, "allows", None)
        sent = not isinstance(self.engine.auth, NoAuth) and (allows is None or allows(str(response.url)))
        if renewed:
            return AuthError(f"{where}: credentials rejected, also after renewing them once",
                             hint="check the provider's credentials")
        if sent:
            return AuthError(f"{where}: credentials rejected", hint="check the provider's credentials")
        return AuthError(
            f"{where}: the server asks for credentials, and none are sent to {response.url.host}",
            hint="this link needs a login eoharvest does not have for that host; "
            "download it through its provider with credentials configured",
        )

    def _remember_validators(self, response: httpx.Response) -> None:
        self.sidecar.etag = response.headers.get("ETag")
        self.sidecar.last_modified = response.headers.get("Last-Modified")
        self.part.save_sidecar(self.sidecar)

    def _stream_body(self, response: httpx.Response, offset: int, total: int | None, hasher: MultiHasher) -> None:
        # The loop runs once per received block: everything it reads is bound to a local first.
        name, media_type = self.spec.dest.name, self.spec.media_type
        stopped, progress = self.stopped, self.progress
        clock, limits = self.engine.clock, self.engine.limits
        written = 0
        first = True
        # No body may outgrow its file: the expected size, else the bound for unknown sizes.
        bound = limits.max_unknown_size if total is None else total
        # Check often enough that what arrives between two checks cannot use up the margin.
        space_interval = limits.space_check_interval
        if limits.free_space_margin:
            space_interval = min(space_interval, max(limits.free_space_margin // 4, 256 << 10))
        next_space_check = 0
        watch = Watch(
            response, stopped, now=clock.monotonic(), min_throughput=limits.min_throughput,
            window=limits.throughput_window, stall_limit=self._remaining_budget(),
        )  # fmt: skip
        remaining = None if total is None else total - offset
        raw = raw_socket(response, remaining) if remaining is not None else None

        def received(n: int) -> None:
            watch.received += n
            self.received += n
            self._attempt_received += n
            self._last_byte_at = clock.monotonic()

        self.engine.monitor.watch(watch)
        fd = self.part.open_fd_for_append()
        try:
            # A file that is validated (an archive) is read again at once: keep it cached.
            # A body of one block is hashed and written by this thread: handing it over costs more.
            inline = remaining is not None and remaining <= BLOCK_SIZE
            with BlockWriter(self.engine.writers, fd, hasher, offset=offset, drop_behind=self.validate is None,
                             inline=inline) as out:
                blocks = body_blocks(
                    response, raw, remaining, buffer=out.buffer, received=received,
                    read_timeout=self._timeout().read, max_hold=MAX_HOLD_SECONDS,
                )  # fmt: skip
                # Bytes go to the file as they arrive (at most a block or 0.25 s held back), so
                # an interrupted transfer keeps what it received.
                for block, length, recycle in blocks:
                    if first and offset == 0:
                        head = bytes(memoryview(block)[: min(length, 1024)])
                        reason = wrong_content_reason(head, response.headers.get("Content-Type"), media_type)
                        if reason:
                            raise _Transient(reason, cause=ProviderResponseError(f"{name}: {reason}"))
                    first = False
                    if offset + written + length > bound:
                        raise _Bound()
                    if written >= next_space_check:
                        # Received but not yet written bytes (the writer's queue) count as used.
                        self._check_space(written + length - out.flushed)
                        next_space_check = written + space_interval
                    out.hand_over(block, length, recycle=recycle)
                    written += length
                    if progress:
                        progress(name, offset + written, total)
                    if stopped():
                        raise self._cancelled()
                    if watch.fired:
                        break  # the watcher cut it off between two reads
        except _Bound:
            if total is None:
                raise self._too_large("the server sent more than") from None
            self._reset()
            reason = f"the server sent more than the {total:,} bytes expected"
            raise _Transient(
                reason, cause=IntegrityError(f"{name}: {reason}"), signature=("overlong", total)
            ) from None
        except _NoSpace as low:
            raise self._no_space(low.free) from None
        except OSError as exc:
            if is_disk_full(exc):
                raise self._disk_full() from None
            raise
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.StreamClosed) as exc:
            if not watch.fired:
                # The partial's size, not a count of bytes received: that is what was kept.
                raise _Transient(
                    f"transfer interrupted at byte {self.part.size():,}: {type(exc).__name__}", cause=exc, host=True
                ) from None
        finally:
            os.close(fd)
            self.engine.monitor.unwatch(watch)
        if watch.cancelled:
            raise self._cancelled()
        if watch.reason is not None:
            slow = watch.reason.startswith("too slow")
            raise _Transient(
                f"{watch.reason} at byte {self.part.size():,}",
                cause=TooSlow(f"{name}: {watch.reason}; at least {limits.min_throughput} B/s are expected"),
                host=True,
                slow=slow,
            )
        if first and offset == 0 and total:
            raise _Transient("empty body")
        if total is not None and offset + written < total:
            raise _Transient(f"body ended early: {offset + written} of {total} bytes", host=True)

    def _reset(self) -> None:
        """Start over: empty the partial (keeping the locked inode) and forget its validators."""
        self.part.truncate()
        self.sidecar.etag = self.sidecar.last_modified = None
        self.part.save_sidecar(self.sidecar)

    def _verify(self, total: int | None, hasher: MultiHasher) -> tuple[str, str | None]:
        spec = self.spec
        size = self.part.size()
        expected = spec.size if spec.size is not None else total
        if expected is not None and size != expected:
            self._reset()
            raise _Transient(
                f"size {size} does not match the expected {expected}",
                cause=IntegrityError(f"{spec.dest.name}: {size} bytes instead of {expected}"),
                signature=("size", size),
            )
        digests = hasher.hexdigests()
        verified: str | None = None
        for checksum in spec.checksums:
            got = digests.get(checksum.algorithm)
            if got is None:
                continue
            if got != checksum.value:
                self._reset()
                raise _Transient(
                    f"{checksum.algorithm} mismatch",
                    cause=IntegrityError(
                        f"{spec.dest.name}: {checksum.algorithm} {got} does not match the provider's {checksum.value}"
                    ),
                    signature=(checksum.algorithm, got),
                )
            verified = f"{checksum.algorithm}:{checksum.source}"
        return digests["sha256"], verified

    # -- waiting and cancellation ------------------------------------------------------------
    def _cancelled(self) -> DownloadCancelled:
        return DownloadCancelled(f"download of {self.spec.dest.name} cancelled; the partial is kept for resuming")

    def _check_stopped(self) -> None:
        if self.stopped():
            raise self._cancelled()

    def _sleep(self, seconds: float) -> None:
        clock = self.engine.clock
        deadline = clock.monotonic() + seconds
        while True:
            self._check_stopped()
            left = deadline - clock.monotonic()
            if left <= 0:
                return
            clock.sleep(min(left, 0.2))
