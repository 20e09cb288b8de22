"""The eoharvest error hierarchy and the CLI exit code of each class.

    EoharvestError (1)                      base of everything eoharvest raises on purpose
    ├── InputError (2)                      bad AOI, dates, cloud range, platform, filter, option
    ├── AuthError (3)                       missing/wrong credentials, refresh refused, licence not accepted
    ├── ProviderResponseError (4)           provider answered with something we cannot use
    ├── IntegrityError (5)                  size/checksum mismatch, truncated or corrupt archive
    ├── TransferError (6)                   the transfer itself could not be completed
    │   ├── RetryExhausted (6)              bounded retries used up
    │   ├── TooSlow (6)                     throughput stayed under the floor
    │   └── HostPaused (6)                  the host failed too often in a row and is paused
    ├── InsufficientSpace (7)               the disk is (or would be) full
    ├── UnsafeContent (8)                   something from the network we refuse to act on
    │   ├── UnsafeArchive (8)
    │   ├── UnsafeFilename (8)
    │   └── UnsafeURL (8)
    ├── CatalogError (9)                    the catalog cannot do what was asked
    │   └── CatalogBusy (9)
    │       └── DaemonAlreadyRunning (9)    another daemon holds this catalog
    ├── UnsupportedEnvironment (10)         no SpatiaLite, catalog on a network filesystem, ...
    ├── OrdersPending (11)                  orders not ready yet: not a failure, run again later
    ├── DownloadError (cause's code, or 1)  reference API: one scene failed (scene_id, msg)
    └── DownloadCancelled (130)             the caller asked to stop

Every message names the offending value (redacted when secret) and says what to do next.
"""

from __future__ import annotations


class EoharvestError(Exception):
    """Base class. ``hint`` says what the user can do about it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class InputError(EoharvestError, ValueError):
    """A value given by the user is invalid."""

    exit_code = 2


class AuthError(EoharvestError):
    """Credentials are missing, wrong, expired beyond refresh, or lack a licence."""

    exit_code = 3


class ProviderResponseError(EoharvestError):
    """A provider's answer is malformed, unexpected or an error we cannot recover from."""

    exit_code = 4


class IntegrityError(EoharvestError):
    """Downloaded bytes do not match what the provider promised, or an archive is corrupt."""

    exit_code = 5


class TransferError(EoharvestError):
    """A transfer could not be completed."""

    exit_code = 6


class RetryExhausted(TransferError):
    """Bounded retries (attempts or wall time) are used up."""


class TooSlow(TransferError):
    """Throughput stayed below the configured floor for the whole window."""


class HostPaused(TransferError):
    """The file's host failed too often in a row and is paused; nothing was asked of it.
    ``retry_in`` is how many seconds the pause still lasts."""

    def __init__(self, message: str, *, retry_in: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_in = retry_in


class InsufficientSpace(EoharvestError, OSError):
    """Not enough free space for the download; the job is paused, nothing corrupt is left."""

    exit_code = 7


class UnsafeContent(EoharvestError):
    """Content from the network that eoharvest refuses to write or follow."""

    exit_code = 8


class UnsafeArchive(UnsafeContent):
    """An archive member is a link, device, absolute/parent path, bomb or otherwise hostile."""


class UnsafeFilename(UnsafeContent):
    """A server-supplied name cannot be used as a local file name."""


class UnsafeURL(UnsafeContent):
    """A URL uses a forbidden scheme, userinfo, or points at a forbidden address."""


class CatalogError(EoharvestError):
    """The catalog cannot do what was asked."""

    exit_code = 9


class CatalogBusy(CatalogError):
    """Another writer held the catalog for longer than the busy timeout."""


class DaemonAlreadyRunning(CatalogBusy):
    """Another ``eoharvest daemon`` holds this catalog's daemon lock."""


class UnsupportedEnvironment(EoharvestError):
    """The machine lacks something eoharvest needs (SpatiaLite, a local filesystem, ...)."""

    exit_code = 10


#: Another name for UnsupportedEnvironment (it shadows the builtin alias of OSError only here).
EnvironmentError = UnsupportedEnvironment  # noqa: A001 - deliberate: the documented name


class OrdersPending(EoharvestError):
    """Products were ordered (or wait to come online) and are not ready yet.

    Not a failure: the orders are kept in the catalog and the next run (or the daemon) picks
    them up. The CLI exits with this code when nothing failed but something is still pending.
    """

    exit_code = 11


class DownloadError(EoharvestError):
    """A scene could not be downloaded (reference API: ``DownloadError(scene_id, msg)``).

    When raised from a more specific error, the CLI exit code is the cause's.
    """

    def __init__(self, scene_id: str, msg: str, *, hint: str | None = None) -> None:
        self.scene_id = scene_id
        super().__init__(f"{scene_id}: {msg}", hint=hint)
        self.args = (scene_id, msg)

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        cause = self.__cause__
        if isinstance(cause, EoharvestError):
            return cause.exit_code
        return 1


class DownloadCancelled(EoharvestError):
    """Raised when the cancel callback returned True."""

    exit_code = 130

    def __init__(self, message: str = "download cancelled", *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)


EXIT_CODES: dict[type[EoharvestError], int] = {
    cls: cls.exit_code
    for cls in (
        InputError,
        AuthError,
        ProviderResponseError,
        IntegrityError,
        TransferError,
        InsufficientSpace,
        UnsafeContent,
        CatalogError,
        UnsupportedEnvironment,
        OrdersPending,
        DownloadCancelled,
    )
}
