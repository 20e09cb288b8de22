"""JSON requests to provider APIs: guarded, bounded retries, size limits, clear errors."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from typing import Any, Callable

import httpx

from eoharvest.adapters import json_codec
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.sending import send_guarded
from eoharvest.adapters.clock import SystemClock
from eoharvest.domain.errors import AuthError, ProviderResponseError, RetryExhausted
from eoharvest.domain.ports import Clock
from eoharvest.domain.redaction import redact
from eoharvest.domain.retry import RetryPolicy, is_retryable_status, parse_retry_after

log = logging.getLogger("eoharvest.http")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: A JSON body decoder: bytes in, the parsed value out, ValueError on malformed JSON.
Decoder = Callable[[bytes], Any]
_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class JsonAnswer:
    """A successful answer: its status, headers (paging and count headers live there) and JSON body."""

    status: int
    headers: httpx.Headers
    body: Any


class JsonApi:
    """One provider's JSON endpoint family (search, token, activation...)."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        guard: UrlGuard,
        provider: str,
        auth: httpx.Auth | None = None,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        error_hint: Callable[[int, Any], str | None] | None = None,
    ) -> None:
        self.client = client
        self.guard = guard
        self.provider = provider
        self.auth = auth
        self.policy = policy or RetryPolicy(max_attempts=4, max_seconds=300, base_delay=1.0, max_delay=30)
        self.clock = clock or SystemClock()
        self.max_bytes = max_bytes
        self.error_hint = error_hint
        self._rng = random.Random()

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def request(
        self, method: str, url: str, *, expect: tuple[int, ...] = (200,), decode: Decoder | None = None, **kwargs: Any
    ) -> Any:
        """The parsed JSON body of a successful answer; retries 408/429/5xx and network errors.
        ``decode`` replaces the JSON decoder for the body (it raises ValueError on bad JSON)."""
        return self.exchange(method, url, expect=expect, decode=decode, **kwargs).body

    def exchange(
        self, method: str, url: str, *, expect: tuple[int, ...] = (200,), decode: Decoder | None = None, **kwargs: Any
    ) -> JsonAnswer:
        """Like :meth:`request`, with the answer's status and headers."""
        started = self.clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = send_guarded(
                    self.client, method, url, guard=self.guard, auth=self.auth, stream=True, **kwargs
                )
                try:
                    body = self._read_limited(response)
                finally:
                    response.close()
                if response.status_code in expect:
                    return JsonAnswer(response.status_code, response.headers, self._parse(response, body, decode))
                if not is_retryable_status(response.status_code):
                    self._raise_for(response, body)
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), now=self.clock.now(), cap=self.policy.retry_after_cap
                )
                reason = f"HTTP {response.status_code}"
            except _TRANSIENT_ERRORS as exc:
                reason = type(exc).__name__
            delay = self.policy.delay(attempt, retry_after, self._rng)
            elapsed = self.clock.monotonic() - started
            if not self.policy.allows(attempt, elapsed, delay):
                hint = (
                    "cannot connect: check the network, the provider's URL in the settings, and set EOHARVEST_PROXY if you need a proxy"
                    if reason in ("ConnectError", "ConnectTimeout")
                    else "the provider may be down or rate-limiting; try again later"
                )
                raise RetryExhausted(
                    f"{self.provider}: {method} {self._show(url)} failed {attempt} times; last: {reason}", hint=hint
                )
            log.warning("%s: %s %s: %s; retrying in %.1f s", self.provider, method, self._show(url), reason, delay)
            self.clock.sleep(delay)

    # -- helpers ---------------------------------------------------------------------------
    def _read_limited(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise ProviderResponseError(
                f"{self.provider}: response of {declared} bytes exceeds the {self.max_bytes}-byte limit"
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise ProviderResponseError(
                    f"{self.provider}: response exceeds the {self.max_bytes}-byte limit",
                    hint="narrow the search (smaller page size or date range)",
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, response: httpx.Response, body: bytes, decode: Decoder | None = None) -> Any:
        if response.status_code in (202, 204) and not body.strip():
            return None  # accepted / no content (e.g. an activation request): nothing to parse
        content_type = response.headers.get("Content-Type", "")
        if "html" in content_type.lower():
            raise ProviderResponseError(
                f"{self.provider}: expected JSON, got {content_type.split(';')[0]} (HTTP {response.status_code}): "
                f"{self._preview(body)}",
                hint="the service may be in maintenance; try again later",
            )
        try:
            return (decode or json_codec.loads)(body)
        except RecursionError:
            raise ProviderResponseError(f"{self.provider}: JSON nested too deeply") from None
        except ValueError as exc:
            raise ProviderResponseError(
                f"{self.provider}: malformed JSON (HTTP {response.status_code}, {content_type or 'no content type'}): "
                f"{exc}; starts with {self._preview(body)}"
            ) from None

    def _raise_for(self, response: httpx.Response, body: bytes) -> None:
        status = response.status_code
        try:
            payload: Any = json.loads(body)
        except (ValueError, RecursionError):
            payload = None
        hint = self.error_hint(status, payload) if self.error_hint else None
        message = f"{self.provider}: HTTP {status} from {self._show(str(response.request.url))}: {self._preview(body)}"
        if status in (401, 403):
            raise AuthError(message, hint=hint or "check the credentials and the account's permissions")
        raise ProviderResponseError(message, hint=hint)

    @staticmethod
    def _preview(body: bytes) -> str:
        text = body[:200].decode("utf-8", "replace")
        return repr(redact(text))

    @staticmethod
    def _show(url: str) -> str:
        return redact(url)[:200]
