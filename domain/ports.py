"""Ports: the interfaces the application needs from the outside world.

Adapters satisfy these structurally (nothing inherits from them); ``tests/fakes/`` has an
in-memory double of each.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Collection, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from shapely.geometry.base import BaseGeometry

from eoharvest.domain.budgets import BudgetKey
from eoharvest.domain.catalog_query import (
    AvailableFile,
    CatalogFilter,
    CatalogRecord,
    CatalogStats,
    ExtractedMember,
    SceneFile,
    StoredFile,
    StoredMember,
)
from eoharvest.domain.jobs import ClaimedJob, DaemonRecord
from eoharvest.domain.models import Activation, Checksum, DownloadDescriptor, Scene, SearchPage
from eoharvest.domain.orders import Order, OrderFilter, OrderKey, OrderRef, OrderRequest, OrderStatus
from eoharvest.domain.providers import ProviderCapabilities
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.watch import SearchLease, SearchState

#: ``progress(file_name, bytes_done, total_or_None)``, called as bytes arrive.
Progress = Callable[[str, int, "int | None"], None]


@runtime_checkable
class SceneSource(Protocol):
    """A provider's search and download-preparation API."""

    name: str
    #: declared by the provider's table entry; the application checks it before relying on a feature
    capabilities: ProviderCapabilities

    def supported_platforms(self) -> Sequence[str]:
        """Canonical platform names this source can search."""
        ...

    def search_page(self, query: SearchQuery, ref: Any | None) -> SearchPage:
        """Fetch one page. ``ref`` is None for the first page, else the previous page's next_ref."""
        ...

    def activate(self, scene: Scene) -> Activation:
        """Ask for (or check) the scene's availability for download."""
        ...

    def download_descriptors(self, scene: Scene, assets: Sequence[str] | None = None) -> Sequence[DownloadDescriptor]:
        """The files to fetch for this scene; ``assets`` (names) only when
        ``capabilities.asset_selection`` is declared, else it must be None."""
        ...


@runtime_checkable
class OrderingSource(Protocol):
    """A provider that must prepare some products before they can be downloaded (tape
    retrieval, USGS ``download-request``, Planet asset activation). Kept apart from the search
    methods of ``SceneSource``; a source implements both and declares
    ``capabilities.ordering``. Orders themselves live in the catalog (domain/orders.py).
    """

    name: str
    capabilities: ProviderCapabilities

    def order_need(self, scene: Scene, assets: Sequence[str] | None) -> str:
        """Without asking the provider: ``none`` (download at once), ``order`` (place an order)
        or ``wait`` (the provider cannot order it for us; wait until it is online)."""
        ...

    def place_order(self, request: OrderRequest) -> OrderStatus:
        """Place the order under ``request.label``. ``intent`` in the answer: not accepted now
        (quota, rate limit), try again after ``retry_after``; ``failed``: refused for good."""
        ...

    def find_order(self, request: OrderRequest) -> OrderStatus | None:
        """Reconcile after a crash: the order placed under ``request.label`` (USGS by label,
        Planet by asset status), or None if the provider never accepted one."""
        ...

    def poll_order(self, request: OrderRequest, ref: OrderRef) -> OrderStatus:
        """The order's current state."""
        ...

    def cancel_order(self, request: OrderRequest, ref: OrderRef) -> None:
        """Remove the order at the provider (only when ``capabilities.order_cancel``)."""
        ...

    def order_descriptors(self, request: OrderRequest, ref: OrderRef | None) -> Sequence[DownloadDescriptor]:
        """The files of a ready order (``ref`` None: nothing had to be ordered)."""
        ...


@runtime_checkable
class AssetListing(Protocol):
    """A source with ``capabilities.asset_selection`` that can say which asset names a scene
    offers from its search record alone, so a mistyped name is caught before any download."""

    def asset_names(self, scene: Scene) -> Sequence[str]:
        """The names ``download_descriptors(scene, assets=[...])`` accepts; no request is made."""
        ...


class CatalogRepository(Protocol):
    """Durable record of scenes seen and files fetched (SpatiaLite, later PostGIS).

    Identity is (provider, scene_id); ``product_key`` groups the same product across
    providers. Queries take a ``CatalogFilter`` and answer with ``CatalogRecord``,
    ``CatalogStats``, ``AvailableFile`` and ``StoredFile`` (:mod:`eoharvest.domain.catalog_query`);
    the sync daemon's per-search state is a ``SearchState`` (:mod:`eoharvest.domain.watch`).
    Saved search definitions are stored as the JSON objects ``WatchDefinition.to_json`` makes.
    """

    # -- scenes ---------------------------------------------------------------------------
    def upsert_scenes(self, scenes: Iterable[Scene], *, seen_at: datetime | None = None) -> int:
        """Insert or update scenes by (provider, scene_id); returns how many were new."""
        ...

    def get_scene(self, provider: str, scene_id: str) -> Scene | None:
        """The scene stored under (provider, scene_id), or None."""
        ...

    def count(self) -> int:
        """How many (provider, scene_id) rows the catalog holds."""
        ...

    def query(self, criteria: CatalogFilter) -> Sequence[CatalogRecord]:
        """Scenes matching ``criteria``, sorted and limited, with download state and verified files."""
        ...

    def stats(self) -> CatalogStats:
        """Counts per platform, year and download state; bytes and number of verified files."""
        ...

    # -- files and downloads --------------------------------------------------------------
    def record_file(
        self,
        provider: str,
        scene_id: str,
        name: str,
        *,
        href: str | None = None,
        size: int | None = None,
        checksum: Checksum | None = None,
        asset: str | None = None,
    ) -> int:
        """Register (or update) a file of a catalogued scene; returns the file id. ``asset``
        names what the file is (the provider's asset name: a STAC asset key, a band,
        ``product`` for a whole-product archive); None keeps what was recorded."""
        ...

    def set_file_state(
        self, file_id: int, state: str, *, local_path: str | None = None, sha256: str | None = None
    ) -> None:
        """Move a file to a download state; "available" needs its local path and SHA-256."""
        ...

    def record_extraction(
        self, file_id: int, *, local_path: str, sha256: str, members: Sequence[ExtractedMember]
    ) -> None:
        """Mark an archive file available (as :meth:`set_file_state`) and record what its
        extraction put in the product folder, in one transaction: each member's path, size,
        SHA-256 and on-disk identity (replacing the members an earlier extraction recorded)."""
        ...

    def stored_members(self, product_key: str | None = None) -> Sequence[StoredMember]:
        """The recorded members of every available archive (optionally of one product), in
        archive order: what ``verify`` re-hashes."""
        ...

    def refresh_member(self, member_id: int) -> None:
        """Record a member's size, modification time and inode as they are now (its bytes were
        just found to still match its SHA-256)."""
        ...

    def available_files(self, product_key: str) -> Sequence[str]:
        """Local paths of verified files of this product from any provider (dedup)."""
        ...

    def available_file_records(self, product_key: str) -> Sequence[AvailableFile]:
        """Verified files of this product from any provider that have a local path, oldest first,
        with their asset names and the size and checksums recorded when they were verified."""
        ...

    def scene_files(self, provider: str, scene_id: str) -> Sequence[SceneFile]:
        """Every file recorded for the scene ``scene_id`` of ``provider``, in any state, with
        the state of its newest download job (oldest file first)."""
        ...

    def stored_files(self, product_key: str | None = None) -> Sequence[StoredFile]:
        """Every verified file with a local path and its recorded SHA-256 (optionally of one
        product), oldest first: what ``verify`` re-hashes."""
        ...

    def enqueue_download(self, file_id: int) -> int:
        """Queue a download job for a file; returns the job id."""
        ...

    def claim_job(self, owner: str, lease_seconds: float) -> int | None:
        """Lease the oldest due queued job to ``owner`` (it becomes fetching), or None."""
        ...

    def transition_job(
        self,
        job_id: int,
        state: str,
        *,
        error_class: str | None = None,
        error_message: str | None = None,
    ) -> None:
        """Move a job along the download state machine; an illegal move is a CatalogError."""
        ...

    def job_state(self, job_id: int) -> str | None:
        """The state of a download job, or None if there is no such job."""
        ...

    # -- saved searches and their sync state ----------------------------------------------
    def save_search(self, name: str, query: Mapping[str, object], *, enabled: bool = True) -> None:
        """Store (or replace) a named search (a JSON object) for the sync daemon."""
        ...

    def saved_searches(self) -> dict[str, Mapping[str, object]]:
        """Every saved search's JSON object, by name (sorted)."""
        ...

    def search_enabled(self) -> dict[str, bool]:
        """Every saved search's ``enabled`` flag, by name (a disabled one is never scheduled)."""
        ...

    def set_search_enabled(self, name: str, enabled: bool) -> bool:
        """Enable or disable a saved search; False if there is none."""
        ...

    def remove_search(self, name: str) -> bool:
        """Delete a saved search and its sync state; False if there was none."""
        ...

    def search_states(self) -> dict[str, SearchState]:
        """The sync state of every saved search that has one, by name."""
        ...

    def put_search_state(self, name: str, state: SearchState) -> bool:
        """Commit a saved search's sync state; False if the search no longer exists."""
        ...

    def verified_bytes_since(self, since: datetime) -> int:
        """Bytes of files verified (made available) at or after ``since``."""
        ...

    # -- one pass of a saved search at a time: a lease per search ---------------------------
    def take_search_lease(self, name: str, owner: str, seconds: float, *, replacing: str | None = None) -> bool:
        """Atomically take (or renew) the lease of saved search ``name`` for ``owner`` until
        ``seconds`` from now. True when it was free, expired, already ``owner``'s, or held by
        ``replacing`` (a holder the caller knows is gone); False when another holder's lease is
        live or there is no such search."""
        ...

    def search_lease(self, name: str) -> SearchLease | None:
        """The lease of saved search ``name`` (live or expired), or None."""
        ...

    def release_search_lease(self, name: str, owner: str) -> None:
        """End ``owner``'s lease of ``name`` (another holder's lease is left alone)."""
        ...

    # -- orders (domain/orders.py) --------------------------------------------------------
    def create_order(self, order: Order) -> Order | None:
        """Insert a new order (an ``intent``); None when the key already has one (another
        process got there first). The returned order carries its id."""
        ...

    def update_order(self, order: Order) -> Order | None:
        """Write ``order`` if the stored row still has ``order.version``; the stored order (new
        version) or None when another process changed or removed it meanwhile."""
        ...

    def get_order(self, key: OrderKey) -> Order | None:
        ...

    def claim_order_poll(self, order: Order, owner: str, now: datetime, until: datetime) -> Order | None:
        """Take the poll lease of ``order`` for ``owner`` until ``until``, when the stored row
        still has ``order.version``, its due time (``next_poll_at``) has come at ``now`` and no
        other live lease holds it: the claimed order (new version), else None. On PostgreSQL
        claimers skip a row another one is claiming (``FOR UPDATE SKIP LOCKED``), so one of any
        number of daemons polls."""
        ...

    def find_orders(self, criteria: OrderFilter) -> Sequence[Order]:
        """Orders matching ``criteria``, oldest first."""
        ...

    def order_by_id(self, order_id: int) -> Order | None:
        ...

    def delete_order(self, order: Order) -> bool:
        """Remove the order if it still has ``order.version``; False otherwise."""
        ...

    def order_counts(self) -> dict[str, int]:
        """Orders per state, every state present."""
        ...

    def close(self) -> None:
        """Release the catalog's connections."""
        ...


class LeaseHolder(Protocol):
    """Who takes leases (e.g. of a saved search's pass) in this process, and whether another
    holder is known to be gone, so its lease need not run out before it is taken over."""

    #: unique per holder; shown in messages ("host:pid:token" for a local process)
    name: str

    def is_gone(self, holder: str) -> bool:
        """True only when ``holder`` certainly no longer runs (False when unsure)."""
        ...


class DownloadQueue(Protocol):
    """Download jobs shared by every daemon on one catalog (one live job per file).

    Claims are leases: a worker renews them through :meth:`renew` (or its daemon's heartbeat)
    and completes or fails a job naming the attempt it claimed, so a worker whose lease was
    taken over can change nothing. Expired leases go back to the queue (:meth:`requeue_expired`).
    """

    def enqueue(self, file_id: int) -> int | None:
        """Queue a job for the file; None when the file already has a live job."""
        ...

    def claim(self, owner: str, lease_seconds: float) -> ClaimedJob | None:
        """Lease the oldest due queued job to ``owner`` (``FOR UPDATE SKIP LOCKED``), or None."""
        ...

    def renew(self, owner: str, lease_seconds: float, job_ids: Collection[int]) -> set[int]:
        """Extend ``owner``'s leases of ``job_ids`` (the jobs its workers are on: a job no worker
        is on any more expires); the ids of those it still holds."""
        ...

    def holds(self, job: ClaimedJob) -> bool:
        """Whether ``job``'s lease (owner and attempt) is still the job's current one."""
        ...

    def complete(
        self, job: ClaimedJob, local_path: str, sha256: str, bytes_received: int,
        *, members: Sequence[ExtractedMember] = (),
    ) -> bool:  # fmt: skip
        """Mark the job and its file available, once, with an extracted archive's ``members``
        recorded in the same transaction: False when the lease was lost."""
        ...

    def fail(self, job: ClaimedJob, error: BaseException, *, retry: bool, paused: bool = False) -> bool:
        """End the attempt: back to the queue after a backoff (``retry``), ``paused`` (disk
        full), else ``failed``. False when the lease was lost."""
        ...

    def release(self, job: ClaimedJob, *, delay_seconds: float = 0.0) -> bool:
        """Give the job back untried (a stop, a paused host): queued again, due after
        ``delay_seconds``."""
        ...

    def requeue_expired(self, *, owners: Sequence[str] = ()) -> list[ClaimedJob]:
        """Return jobs whose lease expired (or, at once, those of ``owners``, known gone) to
        the queue with a backoff; the jobs as they were claimed."""
        ...

    def counts(self) -> dict[str, int]:
        """Jobs per state."""
        ...


class DaemonRegistry(Protocol):
    """The daemons serving one catalog: registered at start, heartbeating, marked stopped."""

    def register(self, record: DaemonRecord) -> None:
        ...

    def heartbeat(self, owner: str) -> bool:
        """Record that ``owner`` is alive; False if its row is gone (it was pruned)."""
        ...

    def stopped(self, owner: str) -> None:
        ...

    def daemons(self) -> Sequence[DaemonRecord]:
        """Every registered daemon with the number of jobs it holds, newest first."""
        ...


class ProviderBudgets(Protocol):
    """What a provider grants one account, shared by everything that uses the account: in this
    process (SpatiaLite catalogs), or in every process of every machine on one PostgreSQL
    catalog (kept in the catalog's server, released when a holder dies). Keys: domain/budgets.py.
    """

    def slot(
        self, key: BudgetKey, limit: int, stopped: Callable[[], bool] | None = None
    ) -> AbstractContextManager[None]:
        """Hold one of ``key``'s ``limit`` slots for the ``with`` block (a limit of 1 is a mutex:
        one request in flight). Waits while all are held; ``stopped()`` true while waiting
        raises DownloadCancelled."""
        ...

    def pace(self, key: BudgetKey, rate: float, stopped: Callable[[], bool] | None = None) -> None:
        """Return when the next call of ``key`` may go: calls are let through at least
        ``1 / rate`` seconds apart. ``stopped()`` true while waiting raises DownloadCancelled."""
        ...

    def close(self) -> None:
        """Release what the budgets hold (connections, slots)."""
        ...


class FileStore(Protocol):
    """Where downloaded bytes end up: part files, atomic publish, free space."""

    def free_bytes(self, directory: str) -> int:
        ...

    def exists(self, path: str) -> bool:
        ...


class Clock(Protocol):
    """Wall and monotonic time, and sleeping; injected so tests need not wait."""

    def now(self) -> datetime:
        ...

    def monotonic(self) -> float:
        ...

    def sleep(self, seconds: float) -> None:
        ...


@dataclass(frozen=True)
class Credentials:
    """A username/password pair or a token/API key; never logged (repr hides the secret)."""

    username: str | None = None
    secret: str | None = None
    source: str = ""

    def __repr__(self) -> str:
        shown = "set" if self.secret else "unset"
        return f"Credentials(username={self.username!r}, secret={shown}, source={self.source!r})"


class CredentialsProvider(Protocol):
    """Looks up a provider's credentials (arguments, environment, netrc, keyring)."""

    def get(self, provider: str) -> Credentials | None:
        ...

    def searched(self, provider: str) -> Sequence[str]:
        """Human-readable list of places looked in, for error messages."""
        ...


@dataclass(frozen=True)
class VectorLayer:
    """The shapes of one vector layer, and the CRS they are in (None when unknown)."""

    geometries: tuple[BaseGeometry, ...]
    crs: str | None
    layer: str | None = None


class VectorReader(Protocol):
    """Reads vector files (shapefile, GeoPackage, GeoJSON, KML, ...)."""

    def read(self, path: str, layer: str | int | None = None) -> VectorLayer:
        ...


@dataclass(frozen=True)
class TransferResult:
    """A file that is complete and verified at its final path."""

    path: str
    sha256: str
    #: it was already there, verified, and nothing was transferred
    existing: bool = False
    #: bytes received over the network for it in this call (a resumed file: only the rest)
    transferred: int = 0


class FileTransfer(Protocol):
    """Moves one provider file to a final path: resumable, verified, fsynced, renamed into place."""

    def hold_directory(
        self, directory: str, stopped: Callable[[], bool] | None = None, *, shared: bool = False
    ) -> AbstractContextManager[bool]:
        """Hold the product folder ``directory`` while a product is fetched into it, across
        processes: another process fetching the same product finishes first (waiting is not a
        failure; ``stopped()`` ends it). Yields whether it had to wait. ``shared``: for one file
        of the product (a queued job): shared holders write together, and never while an
        exclusive holder (a whole product's download) writes."""
        ...

    def prepare_directory(self, directory: str) -> None:
        """Finish or remove what a killed process left half-done in ``directory``."""
        ...

    def fetch(
        self,
        provider: str,
        descriptor: DownloadDescriptor,
        dest: str,
        *,
        overwrite: bool = False,
        stopped: Callable[[], bool] | None = None,
        progress: Progress | None = None,
        validate: Callable[[str], None] | None = None,
    ) -> TransferResult:
        """Fetch ``descriptor`` to ``dest`` with ``provider``'s credentials; ``validate(part)``
        checks the complete bytes before they are renamed into place (raise to refuse them)."""
        ...


class ArchiveHandler(Protocol):
    """Checks and unpacks product archives (zip, tar) without letting them escape their folder."""

    def verify(self, path: str) -> None:
        """Raise IntegrityError / UnsafeArchive unless the archive is complete and safe."""
        ...

    def member_digests(self, path: str) -> Mapping[str, tuple[int, str]]:
        """Every file member of an archive, read to its end: member path -> (size, SHA-256).
        Raises IntegrityError / UnsafeArchive as :meth:`verify` does."""
        ...

    def extract(self, archive: str, into: str, *, protected: Sequence[str] = ()) -> Sequence[ExtractedMember]:
        """Unpack an archive that :meth:`verify` accepted into ``into``; the extracted files
        (path in ``into``, size, SHA-256 of the bytes written), in archive order.

        Never replaces anything in ``into``: a file already there with a member's bytes is kept,
        anything else in a member's way, or a top-level member named like one of ``protected``
        (the archive itself, the product's other files), is an UnsafeArchive and nothing is
        extracted."""
        ...
