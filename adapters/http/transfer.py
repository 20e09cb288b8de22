"""Verified, resumable HTTP transfers (invariants I1, I3, I4 of the test plan).

One call to :meth:`TransferEngine.fetch` either leaves a complete, size- and hash-checked file
at its final path, or raises and leaves at most a resumable ``.part`` (+ sidecar) beside it.
"""

from __future__ import annotations

import logging
import random
import re
import socket
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import httpx

from eoharvest.adapters.http.auth import NoAuth
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.hashing import MultiHasher, file_digest, supported_algorithms
from eoharvest.adapters.http.partfile import PartFile, Sidecar, check_free_space, is_disk_full
from eoharvest.adapters.http.sending import send_guarded
from eoharvest.adapters.http.sink import PipelinedSink
from eoharvest.adapters.clock import SystemClock
from eoharvest.domain.content import wrong_content_reason
from eoharvest.domain.errors import (
    AuthError,
    DownloadCancelled,
    EoharvestError,
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


def _peek(response: httpx.Response) -> bytes:
    """The first bytes of a small body (to name what an unexpected answer is), else nothing."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= 64 * 1024:
        try:
            return response.read()[:512]
        except httpx.HTTPError:
            return b""
    return b""


class _CancelWatchdog:
    """Closes the response when ``stopped()`` turns true, so a read stalled inside the socket
    is interrupted at once instead of after the read timeout."""

    POLL = 0.2

    def __init__(self, stopped: Callable[[], bool], response: httpx.Response) -> None:
        self.fired = False
        self._done = threading.Event()
        self._stopped = stopped
        self._response = response
        self._thread = threading.Thread(target=self._run, name="eoharvest-cancel", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self.POLL):
            if self._stopped():
                self.fired = True
                # close() alone does not wake a thread blocked in recv(); shutdown() does.
                stream = self._response.extensions.get("network_stream")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


class _Transient(Exception):
    """An attempt failed in a way another attempt may fix."""

    def __init__(
        self,
        reason: str,
        *,
        immediate: bool = False,
        retry_after: float | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.immediate = immediate  # a protocol hiccup (bad range): retry at once, no backoff
        self.retry_after = retry_after
        self.cause = cause


@dataclass
class _Counts:
    attempts: int = 0
    resumes: int = 0
    restarts: int = 0
    resigned: bool = False


class _Resign(Exception):
    """A signed link was refused (expired token): sign it again, once per fetch."""


@dataclass(frozen=True)
class TransferLimits:
    min_throughput: int = 1024  # bytes/s averaged over throughput_window
    throughput_window: float = 60.0
    max_redirects: int = 10
    chunk_size: int = 1 << 20
    free_space_margin: int = 0


class TransferEngine:
    """Streams to a part file, resumes with Range + If-Range, verifies, then renames."""

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
    ) -> None:
        self.client = client
        self.guard = guard
        self.auth = auth or NoAuth()
        self.policy = policy or RetryPolicy()
        self.limits = limits or TransferLimits()
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()

    # -- public ------------------------------------------------------------------------
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
        structure checks go there). Raises RetryExhausted, AuthError, IntegrityError,
        ProviderResponseError, UnsafeURL, InsufficientSpace or DownloadCancelled.
        """
        if spec.dest.exists() and not overwrite:
            existing = self._check_existing(spec, validate)
            if existing is not None:
                return existing
        part = PartFile(spec.dest)
        part.lock()
        try:
            return self._fetch_locked(spec, part, stopped or (lambda: False), progress, validate)
        finally:
            part.unlock()

    def _check_existing(self, spec: FetchSpec, validate: Validator | None) -> FetchOutcome | None:
        """An existing final file counts only if it passes the same checks as a new download;
        one that does not (truncated, changed, corrupt) is removed and fetched again."""
        size = spec.dest.stat().st_size
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
            log.warning("%s exists but fails verification (%s); fetching it again", spec.dest, problem)
            spec.dest.unlink()
            return None
        verified = next((f"{c.algorithm}:{c.source}" for c in spec.verifiable), None)
        return FetchOutcome(spec.dest, size, digests.get("sha256") or file_digest(spec.dest), verified, skipped=True)

    # -- the retry loop ------------------------------------------------------------------
    def _fetch_locked(self, spec, part, stopped, progress, validate) -> FetchOutcome:  # type: ignore[no-untyped-def]
        sidecar = self._adopt_or_reset(spec, part)
        started = self.clock.monotonic()
        counts = _Counts()
        try:
            while True:
                self._check_stopped(stopped, spec)
                counts.attempts += 1
                try:
                    sha256, verified = self._attempt(spec, part, sidecar, stopped, progress, counts)
                    if validate is not None:
                        try:
                            validate(part.part)
                        except EoharvestError:
                            part.discard()  # bytes matched but the content is unusable: never resume it
                            raise
                    size = part.size()
                    path = part.publish()
                    log.info("downloaded %s (%d bytes, %s)", path.name, size, verified or "size only")
                    return FetchOutcome(
                        path, size, sha256, verified, False, counts.attempts, counts.resumes, counts.restarts
                    )
                except _Resign:
                    counts.resigned = True
                    spec = replace(spec, url=spec.refresh_url())
                    log.info("%s: the signed link was refused; signed it again", spec.dest.name)
                    continue
                except _Transient as failure:
                    elapsed = self.clock.monotonic() - started
                    delay = 0.0 if failure.immediate else self.policy.delay(
                        counts.attempts, failure.retry_after, self.rng
                    )
                    if not self.policy.allows(counts.attempts, elapsed, delay):
                        raise RetryExhausted(
                            f"{spec.dest.name}: gave up after {counts.attempts} attempts in {elapsed:.0f} s; "
                            f"last error: {failure.reason}",
                            hint="the partial download is kept; run the same command again to resume",
                        ) from failure.cause
                    log.warning("%s: %s; retrying in %.1f s", spec.dest.name, failure.reason, delay)
                    self._sleep(delay, stopped, spec)
        finally:
            # Keep a non-empty partial for resuming; never leave empty or orphaned leftovers.
            if not part.part.exists() or part.size() == 0:
                part.discard()

    def _adopt_or_reset(self, spec: FetchSpec, part: PartFile) -> Sidecar:
        """Keep a partial only if its sidecar says it is a prefix of this very file."""
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
        sidecar = Sidecar(url=url_identity(spec.url), expected_size=spec.size, checksums=expected, provider=spec.provider)
        part.save_sidecar(sidecar)
        return sidecar

    # -- one attempt -----------------------------------------------------------------------
    def _attempt(self, spec, part, sidecar, stopped, progress, counts) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
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
                counts.resumes += 1
                if validator:
                    headers["If-Range"] = validator
        if spec.size is not None:
            check_free_space(spec.dest.parent, spec.size - offset, self.limits.free_space_margin)
        try:
            response = self._send(spec.url, headers)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Transient(f"connection failed: {type(exc).__name__}", cause=exc) from None
        try:
            if response.status_code in (401, 403) and spec.refresh_url is not None and not counts.resigned:
                raise _Resign()
            offset, total = self._interpret_status(spec, part, sidecar, response, offset, counts)
            # Hash in-stream; only a resumed prefix is read back from disk.
            hasher = MultiHasher(c.algorithm for c in spec.checksums)
            if offset:
                hasher.update_from_file(part.part, offset)
            if total is None or offset < total:
                self._stream_body(spec, part, response, offset, total, stopped, progress, hasher)
        finally:
            response.close()
        return self._verify(spec, part, sidecar, total, hasher)

    def _send(self, url: str, headers: dict[str, str]) -> httpx.Response:
        return send_guarded(
            self.client,
            "GET",
            url,
            guard=self.guard,
            auth=self.auth,
            max_redirects=self.limits.max_redirects,
            stream=True,
            headers=headers,
        )

    def _interpret_status(self, spec, part, sidecar, response, offset, counts):  # type: ignore[no-untyped-def]
        """Returns (offset to write from, total size or None) or raises."""
        status = response.status_code
        if status == 200:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else spec.size
            if spec.size is not None and total is not None and total != spec.size:
                # Often an error page served with 200: retried like one (T-12), and the
                # partial we already have is kept for the next ranged request.
                reason = wrong_content_reason(
                    _peek(response), response.headers.get("Content-Type"), spec.media_type
                ) or f"server announces {total} bytes, the provider's metadata says {spec.size}"
                raise _Transient(reason, cause=IntegrityError(f"{spec.dest.name}: {reason}"))
            if offset:
                log.info("%s: server sent the whole file instead of a range; restarting", spec.dest.name)
                counts.restarts += 1
                part.truncate()
            self._remember_validators(part, sidecar, response)
            return 0, total
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            expected_total = spec.size or (sidecar.expected_size if sidecar else None)
            if (
                not offset
                or match is None
                or int(match.group(1)) != offset
                or (match.group(3) != "*" and expected_total is not None and int(match.group(3)) != expected_total)
            ):
                counts.restarts += 1
                self._reset(part, sidecar)
                raise _Transient(
                    f"unusable Content-Range {response.headers.get('Content-Range')!r} for offset {offset}",
                    immediate=True,
                )
            total = int(match.group(3)) if match.group(3) != "*" else expected_total
            return offset, total
        if status == 416:
            match = _UNSATISFIED_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if offset and match and int(match.group(1)) == offset:
                return offset, offset  # already complete; verification decides
            counts.restarts += 1
            self._reset(part, sidecar)
            raise _Transient("range not satisfiable", immediate=True)
        self._raise_for_status(spec, response)
        raise AssertionError("unreachable")

    def _raise_for_status(self, spec: FetchSpec, response: httpx.Response) -> None:
        status = response.status_code
        where = f"{spec.dest.name}: HTTP {status} from {response.url.host}"
        if is_retryable_status(status):
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=self.clock.now(), cap=self.policy.retry_after_cap
            )
            raise _Transient(f"HTTP {status}", retry_after=retry_after)
        if status == 401:
            raise AuthError(f"{where}: credentials rejected (after one refresh)", hint="check the provider's credentials")
        if status == 403:
            raise AuthError(f"{where}: access denied", hint="the account may lack the licence/EULA or permission for this product")
        raise ProviderResponseError(f"{where} for {redact(str(response.url))[:200]}")

    @staticmethod
    def _remember_validators(part: PartFile, sidecar: Sidecar, response: httpx.Response) -> None:
        sidecar.etag = response.headers.get("ETag")
        sidecar.last_modified = response.headers.get("Last-Modified")
        part.save_sidecar(sidecar)

    def _stream_body(self, spec, part, response, offset, total, stopped, progress, hasher) -> None:  # type: ignore[no-untyped-def]
        written = 0
        window_start = self.clock.monotonic()
        window_bytes = 0
        first = True
        watchdog = _CancelWatchdog(stopped, response)
        try:
            with PipelinedSink(part.open_for_append(), hasher) as sink:
                # No re-chunking: bytes are written as they arrive, so a reset loses nothing.
                for chunk in response.iter_raw():
                    if first and offset == 0:
                        reason = wrong_content_reason(chunk, response.headers.get("Content-Type"), spec.media_type)
                        if reason:
                            raise _Transient(reason, cause=ProviderResponseError(f"{spec.dest.name}: {reason}"))
                    first = False
                    sink.write(chunk)
                    written += len(chunk)
                    window_bytes += len(chunk)
                    if progress:
                        progress(spec.dest.name, offset + written, total)
                    self._check_stopped(stopped, spec)
                    now = self.clock.monotonic()
                    if now - window_start >= self.limits.throughput_window:
                        rate = window_bytes / (now - window_start)
                        if rate < self.limits.min_throughput:
                            raise _Transient(
                                f"too slow: {rate:.0f} B/s over {now - window_start:.0f} s",
                                cause=TooSlow(f"{spec.dest.name}: {rate:.0f} B/s is below {self.limits.min_throughput} B/s"),
                            )
                        window_start, window_bytes = now, 0
        except OSError as exc:
            if is_disk_full(exc):
                raise InsufficientSpace(
                    f"disk full while writing {part.part}",
                    hint="free some space; the partial download is kept and will resume",
                ) from None
            raise
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.StreamClosed) as exc:
            if watchdog.fired:
                raise DownloadCancelled(f"download of {spec.dest.name} cancelled; the partial is kept for resuming") from None
            raise _Transient(f"transfer interrupted after {written} bytes: {type(exc).__name__}", cause=exc) from None
        finally:
            watchdog.stop()
        if watchdog.fired:
            raise DownloadCancelled(f"download of {spec.dest.name} cancelled; the partial is kept for resuming")
        if first and offset == 0 and total:
            raise _Transient("empty body")
        if total is not None and offset + written < total:
            raise _Transient(f"body ended early: {offset + written} of {total} bytes")

    @staticmethod
    def _reset(part: PartFile, sidecar: Sidecar) -> None:
        """Start over: empty the partial (keeping the locked inode) and forget its validators."""
        part.truncate()
        sidecar.etag = sidecar.last_modified = None
        part.save_sidecar(sidecar)

    def _verify(
        self, spec: FetchSpec, part: PartFile, sidecar: Sidecar, total: int | None, hasher: MultiHasher
    ) -> tuple[str, str | None]:
        size = part.size()
        expected = spec.size if spec.size is not None else total
        if expected is not None and size != expected:
            self._reset(part, sidecar)
            raise _Transient(
                f"size {size} does not match the expected {expected}",
                cause=IntegrityError(f"{spec.dest.name}: {size} bytes instead of {expected}"),
            )
        digests = hasher.hexdigests()
        verified: str | None = None
        for checksum in spec.checksums:
            got = digests.get(checksum.algorithm)
            if got is None:
                continue
            if got != checksum.value:
                self._reset(part, sidecar)
                raise _Transient(
                    f"{checksum.algorithm} mismatch",
                    cause=IntegrityError(
                        f"{spec.dest.name}: {checksum.algorithm} {got} does not match the provider's {checksum.value}"
                    ),
                )
            verified = f"{checksum.algorithm}:{checksum.source}"
        return digests["sha256"], verified

    # -- waiting and cancellation ------------------------------------------------------------
    def _check_stopped(self, stopped: Callable[[], bool], spec: FetchSpec) -> None:
        if stopped():
            raise DownloadCancelled(f"download of {spec.dest.name} cancelled; the partial is kept for resuming")

    def _sleep(self, seconds: float, stopped: Callable[[], bool], spec: FetchSpec) -> None:
        deadline = self.clock.monotonic() + seconds
        while True:
            self._check_stopped(stopped, spec)
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return
            self.clock.sleep(min(left, 0.2))

